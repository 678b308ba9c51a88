#include "quorum/tally.h"

#include <doctest/doctest.h>

#include <random>
#include <string>

namespace shoal::quorum {
namespace {

using State = QuorumTally::State;

TEST_CASE("met at exactly `required` successes, not before") {
  QuorumTally t(3, 2);
  CHECK(t.state() == State::kPending);
  CHECK(t.Decision() == State::kPending);
  t.RecordSuccess();
  CHECK(t.state() == State::kPending);
  CHECK(t.successes() == 1);
  CHECK(t.outstanding() == 2);
  t.RecordSuccess();
  CHECK(t.state() == State::kMet);
  CHECK(t.Decision() == State::kMet);
  CHECK(t.outstanding() == 1);
  CHECK_FALSE(t.all_replied());
}

TEST_CASE("a failure does not decide while the quorum is still reachable") {
  QuorumTally t(3, 2);
  t.RecordFailure();
  CHECK(t.state() == State::kPending);
  t.RecordSuccess();
  CHECK(t.state() == State::kPending);
  t.RecordSuccess();
  CHECK(t.state() == State::kMet);
  CHECK(t.all_replied());
}

TEST_CASE("failed as soon as the quorum can no longer be reached") {
  SUBCASE("3 contacted, r=2, two failures") {
    QuorumTally t(3, 2);
    t.RecordFailure();
    CHECK(t.state() == State::kPending);
    t.RecordFailure();
    CHECK(t.state() == State::kFailed);
    CHECK(t.Decision() == State::kFailed);
    CHECK(t.outstanding() == 1);  // decided before the last reply
  }
  SUBCASE("3 contacted, w=3, one failure") {
    QuorumTally t(3, 3);
    t.RecordSuccess();
    t.RecordSuccess();
    CHECK(t.state() == State::kPending);
    t.RecordFailure();
    CHECK(t.state() == State::kFailed);
  }
  SUBCASE("w=1: fails only when every replica failed") {
    QuorumTally t(3, 1);
    t.RecordFailure();
    t.RecordFailure();
    CHECK(t.state() == State::kPending);
    t.RecordFailure();
    CHECK(t.state() == State::kFailed);
  }
}

TEST_CASE("contacted < required fails at construction") {
  QuorumTally t(1, 2);
  CHECK(t.state() == State::kFailed);
  CHECK(t.Decision() == State::kFailed);
  CHECK(t.outstanding() == 1);

  QuorumTally none(0, 1);
  CHECK(none.state() == State::kFailed);
  CHECK(none.all_replied());
  Status s = none.FailureStatus("put", false);
  CHECK(s.code() == Code::kUnavailable);
  CHECK(s.message() ==
        "put failed: 0 of 0 replicas acknowledged, w=1 required");
}

TEST_CASE("contacted == required: every reply must succeed") {
  QuorumTally t(2, 2);
  CHECK(t.state() == State::kPending);
  t.RecordSuccess();
  t.RecordSuccess();
  CHECK(t.state() == State::kMet);
}

TEST_CASE("the decision is sticky; later replies still count") {
  SUBCASE("met, then failures") {
    QuorumTally t(3, 1);
    t.RecordSuccess();
    CHECK(t.Decision() == State::kMet);
    t.RecordFailure();
    t.RecordFailure();
    CHECK(t.Decision() == State::kMet);
    CHECK(t.state() == State::kMet);
    CHECK(t.successes() == 1);
    CHECK(t.failures() == 2);
    CHECK(t.all_replied());
  }
  SUBCASE("failed, then a late success") {
    QuorumTally t(3, 2);
    t.RecordFailure();
    t.RecordFailure();
    CHECK(t.Decision() == State::kFailed);
    t.RecordSuccess();
    CHECK(t.Decision() == State::kFailed);
    CHECK(t.state() == State::kFailed);
    CHECK(t.successes() == 1);
    CHECK(t.all_replied());
  }
}

TEST_CASE("accessors") {
  QuorumTally t(5, 3);
  CHECK(t.contacted() == 5);
  CHECK(t.required() == 3);
  t.RecordSuccess();
  t.RecordFailure();
  CHECK(t.successes() == 1);
  CHECK(t.failures() == 1);
  CHECK(t.outstanding() == 3);
  CHECK_FALSE(t.all_replied());
}

TEST_CASE("FailureStatus for a failed write, maybe applied") {
  QuorumTally t(3, 3);
  t.RecordSuccess();
  t.RecordSuccess();
  t.RecordFailure();
  REQUIRE(t.state() == State::kFailed);
  Status s = t.FailureStatus("put", true);
  CHECK_FALSE(s.ok());
  CHECK(s.code() == Code::kUnavailable);
  CHECK(s.message() ==
        "put failed: 2 of 3 replicas acknowledged, w=3 required; the write "
        "may have been applied");
  REQUIRE(s.quorum().has_value());
  CHECK(s.quorum()->acked == 2);
  CHECK(s.quorum()->required == 3);
  CHECK(s.quorum()->contacted == 3);
  CHECK(s.quorum()->maybe_applied);
}

TEST_CASE("FailureStatus for a failed read") {
  QuorumTally t(3, 2);
  t.RecordSuccess();
  t.RecordFailure();
  t.RecordFailure();
  REQUIRE(t.state() == State::kFailed);
  Status s = t.FailureStatus("get", false);
  CHECK(s.code() == Code::kUnavailable);
  CHECK(s.message() == "get failed: 1 of 3 replicas replied, r=2 required");
  CHECK(s.ToString() ==
        "unavailable: get failed: 1 of 3 replicas replied, r=2 required");
  REQUIRE(s.quorum().has_value());
  CHECK(s.quorum()->acked == 1);
  CHECK(s.quorum()->required == 2);
  CHECK(s.quorum()->contacted == 3);
  CHECK_FALSE(s.quorum()->maybe_applied);
}

TEST_CASE("FailureStatus while pending is a timeout") {
  SUBCASE("write") {
    QuorumTally t(3, 2);
    t.RecordSuccess();
    REQUIRE(t.state() == State::kPending);
    Status s = t.FailureStatus("delete", true);
    CHECK(s.code() == Code::kTimeout);
    CHECK(s.message() ==
          "delete timed out: 1 of 3 replicas acknowledged, w=2 required; the "
          "write may have been applied");
    REQUIRE(s.quorum().has_value());
    CHECK(s.quorum()->acked == 1);
    CHECK(s.quorum()->maybe_applied);
  }
  SUBCASE("read with no replies, one replica") {
    QuorumTally t(1, 1);
    Status s = t.FailureStatus("get", false);
    CHECK(s.code() == Code::kTimeout);
    CHECK(s.message() == "get timed out: 0 of 1 replica replied, r=1 required");
    CHECK(s.quorum()->acked == 0);
    CHECK(s.quorum()->contacted == 1);
  }
}

// Every order of replies: the decision equals the closed-form answer and is
// reached exactly at the first reply after which it is forced.
TEST_CASE("random reply sequences agree with the closed form") {
  std::mt19937_64 rng(42);
  for (int iter = 0; iter < 2000; ++iter) {
    const uint32_t contacted = rng() % 7;
    const uint32_t required = 1 + rng() % 5;
    QuorumTally t(contacted, required);
    uint32_t ok = 0, bad = 0;
    State first = contacted < required ? State::kFailed : State::kPending;
    CHECK(t.Decision() == first);
    for (uint32_t i = 0; i < contacted; ++i) {
      if (rng() % 2) {
        t.RecordSuccess();
        ++ok;
      } else {
        t.RecordFailure();
        ++bad;
      }
      const uint32_t left = contacted - ok - bad;
      State expect = ok >= required         ? State::kMet
                     : ok + left < required ? State::kFailed
                                            : State::kPending;
      CHECK(t.state() == expect);
      if (first == State::kPending) first = expect;
      CHECK(t.Decision() == first);
      CHECK(t.successes() == ok);
      CHECK(t.failures() == bad);
      CHECK(t.outstanding() == left);
    }
    CHECK(t.all_replied());
    CHECK(t.Decision() != State::kPending);  // all replied: always decided
  }
}

}  // namespace
}  // namespace shoal::quorum
