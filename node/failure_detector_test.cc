#include "node/failure_detector.h"

#include <doctest/doctest.h>

namespace shoal::node {
namespace {

using std::chrono::milliseconds;
using State = FailureDetector::State;

TEST_CASE("a peer is unknown until heard, then up") {
  FailureDetector fd(milliseconds(1000));
  const auto t0 = FailureDetector::TimePoint{} + std::chrono::hours(1);
  CHECK(fd.state() == State::kUnknown);
  CHECK(fd.LooksUp());
  fd.Tick(t0 + milliseconds(5000));  // no evidence: stays unknown
  CHECK(fd.state() == State::kUnknown);
  fd.Heard(t0);
  CHECK(fd.state() == State::kUp);
  CHECK(fd.last_heard() == t0);
}

TEST_CASE("silence longer than down_after marks a peer down") {
  FailureDetector fd(milliseconds(1000));
  const auto t0 = FailureDetector::TimePoint{} + std::chrono::hours(1);
  fd.Heard(t0);
  fd.Tick(t0 + milliseconds(1000));  // exactly the limit: still up
  CHECK(fd.state() == State::kUp);
  fd.Tick(t0 + milliseconds(1001));
  CHECK(fd.state() == State::kDown);
  CHECK_FALSE(fd.LooksUp());
  CHECK(fd.since() == t0 + milliseconds(1001));
  CHECK(fd.downs() == 1);
  // Heard again (it answered): up, and last_heard moves.
  fd.Heard(t0 + milliseconds(3000));
  CHECK(fd.state() == State::kUp);
  CHECK(fd.last_heard() == t0 + milliseconds(3000));
  // Steady heartbeats keep it up.
  for (int i = 1; i <= 10; ++i) {
    fd.Heard(t0 + milliseconds(3000 + 500 * i));
    fd.Tick(t0 + milliseconds(3000 + 500 * i + 400));
    CHECK(fd.state() == State::kUp);
  }
}

TEST_CASE("failures are immediate evidence, in any state") {
  FailureDetector fd(milliseconds(1000));
  const auto t0 = FailureDetector::TimePoint{} + std::chrono::hours(1);
  fd.Failed(t0);  // never reached: connect refused
  CHECK(fd.state() == State::kDown);
  CHECK(fd.downs() == 0);  // it was never up
  fd.Heard(t0 + milliseconds(10));
  fd.Failed(t0 + milliseconds(20));  // a request timed out
  CHECK(fd.state() == State::kDown);
  CHECK(fd.downs() == 1);
  // A stale "heard" does not move last_heard backwards, nor does a frame
  // from before the failure bring the peer back.
  fd.Heard(t0 + milliseconds(5));
  CHECK(fd.last_heard() == t0 + milliseconds(10));
  fd.Heard(t0 + milliseconds(20));
  CHECK(fd.state() == State::kDown);
  fd.Heard(t0 + milliseconds(21));
  CHECK(fd.state() == State::kUp);
}

}  // namespace
}  // namespace shoal::node
