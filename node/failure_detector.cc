#include "node/failure_detector.h"

namespace shoal::node {

void FailureDetector::Become(State s, TimePoint now) {
  if (state_ == s) return;
  if (s == State::kDown && state_ == State::kUp) ++downs_;
  state_ = s;
  since_ = now;
}

void FailureDetector::Heard(TimePoint now) {
  if (!last_heard_ || now > *last_heard_) last_heard_ = now;
  // Evidence older than the failure that marked the peer down does not
  // bring it back up.
  if (state_ == State::kDown && now <= since_) return;
  Become(State::kUp, now);
}

void FailureDetector::Failed(TimePoint now) { Become(State::kDown, now); }

void FailureDetector::Tick(TimePoint now) {
  if (state_ != State::kUp || !last_heard_) return;
  if (now - *last_heard_ > down_after_) Become(State::kDown, now);
}

}  // namespace shoal::node
