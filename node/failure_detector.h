// Per-peer failure detector: up/down from heartbeats and request outcomes.
//
// Evidence in:
//   Heard(t)     a frame from the peer arrived at t          -> up (unless
//                it predates the failure that marked it down)
//   Failed(now)  a connect failed, the connection dropped, or
//                a request to the peer timed out              -> down
//   Tick(now)    called periodically: silence longer than
//                `down_after` while up                        -> down
// A peer starts kUnknown, which callers treat as "worth trying".
//
// Pure: the caller supplies the time, so tests drive it with a fake clock.
// Not thread-safe (the node's io_context thread).
#pragma once

#include <chrono>
#include <optional>

namespace shoal::node {

class FailureDetector {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  enum class State { kUnknown, kUp, kDown };

  explicit FailureDetector(std::chrono::milliseconds down_after)
      : down_after_(down_after) {}

  void Heard(TimePoint now);
  void Failed(TimePoint now);
  void Tick(TimePoint now);

  State state() const { return state_; }
  // Up, or never judged yet.
  bool LooksUp() const { return state_ != State::kDown; }
  std::optional<TimePoint> last_heard() const { return last_heard_; }
  // When the current state began (meaningless while kUnknown).
  TimePoint since() const { return since_; }
  // How many up -> down transitions so far.
  uint64_t downs() const { return downs_; }

 private:
  void Become(State s, TimePoint now);

  std::chrono::milliseconds down_after_;
  State state_ = State::kUnknown;
  std::optional<TimePoint> last_heard_;
  TimePoint since_{};
  uint64_t downs_ = 0;
};

}  // namespace shoal::node
