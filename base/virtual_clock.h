// Virtual time for the simulator (tests/sim/README.md) and for unit tests
// of code that waits on a Clock: a Clock whose Now()
// moves only when the simulator runs the next scheduled event, and whose
// timers are such events. Everything that happens at a virtual time (timer
// expiries, network deliveries, nemesis steps) is one queue ordered by
// (time, sequence number), so a run is a pure function of its seed.
//
// Threads: one; everything here runs on the thread that drives it
// (RunNext between polls of the io_context).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>

#include "base/clock.h"

namespace shoal {

class VirtualClock final : public Clock {
 public:
  // Now() starts at a day after the steady clock's epoch (so that "now -
  // some interval" stays positive), WallMs() at `wall_start_ms`.
  explicit VirtualClock(int64_t wall_start_ms = 1'767'225'600'000);

  TimePoint Now() const override { return now_; }
  int64_t WallMs() const override;
  std::unique_ptr<TimerImpl> NewTimer(
      boost::asio::any_io_executor executor) override;

  // Runs `fn` when virtual time reaches `at` (at once, in order, if `at`
  // has passed). Returns an id for Unschedule.
  uint64_t Schedule(TimePoint at, std::function<void()> fn);
  void Unschedule(uint64_t id);
  // Moves Now() to the earliest event's time and runs that event; false
  // when nothing is scheduled.
  bool RunNext();
  std::optional<TimePoint> NextAt() const;
  size_t scheduled() const { return events_.size(); }
  // Virtual time since the clock was made.
  Duration Elapsed() const { return now_ - start_; }

 private:
  using Key = std::pair<TimePoint, uint64_t>;
  TimePoint start_;
  TimePoint now_;
  int64_t wall_start_ms_;
  uint64_t next_seq_ = 1;
  std::map<Key, std::function<void()>> events_;
  std::unordered_map<uint64_t, TimePoint> by_id_;
};

// One node's view of a VirtualClock: the same monotonic time and timers,
// and a wall clock skewed by `skew_ms` (the nemesis' clock faults).
class SkewedClock final : public Clock {
 public:
  explicit SkewedClock(VirtualClock& base) : base_(base) {}
  TimePoint Now() const override { return base_.Now(); }
  int64_t WallMs() const override { return base_.WallMs() + skew_ms_; }
  std::unique_ptr<TimerImpl> NewTimer(
      boost::asio::any_io_executor executor) override {
    return base_.NewTimer(std::move(executor));
  }
  void set_skew_ms(int64_t skew_ms) { skew_ms_ = skew_ms; }
  int64_t skew_ms() const { return skew_ms_; }

 private:
  VirtualClock& base_;
  int64_t skew_ms_ = 0;
};

}  // namespace shoal
