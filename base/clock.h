// Time as the node's components see it. main() builds the one SystemClock
// and hands it down; the deterministic simulator (tests/sim) hands down a
// virtual clock instead, so the same code runs in virtual time
// (CONVENTIONS: no global clock, injected like storage and transport).
//
// A Clock gives
//   Now()     monotonic time (deadlines, intervals, timeouts), and
//   WallMs()  wall-clock milliseconds since the Unix epoch (metadata only:
//             a sibling's written_at, a hint's stored_at, ages in metrics);
// and Timers: a Timer is used like boost::asio::steady_timer (expires_at /
// expires_after / cancel / async_wait with any completion token), but waits
// on its Clock. A wait honours the cancellation slot of its handler, so a
// TaskGroup's Cancel() reaches it.
//
// Threads: Now() and WallMs() from any thread; a Timer on its executor's
// thread only (as an asio timer).
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace shoal {

class TimerImpl;

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  virtual int64_t WallMs() const = 0;
  // The implementation behind one Timer on `executor`.
  virtual std::unique_ptr<TimerImpl> NewTimer(
      boost::asio::any_io_executor executor) = 0;
  // True when this clock's Now() is steady_clock::now() unchanged: a Timer
  // on it is then a plain asio steady_timer, with no TimerImpl to allocate
  // and no type-erased handler per wait (the request path's fan-out timer).
  virtual bool IsSteadyClock() const { return false; }
};

// What a Clock implements for each Timer.
class TimerImpl {
 public:
  using Handler =
      boost::asio::any_completion_handler<void(boost::system::error_code)>;
  virtual ~TimerImpl() = default;
  virtual void ExpiresAt(Clock::TimePoint at) = 0;
  virtual Clock::TimePoint Expiry() const = 0;
  // Completes every pending wait with operation_aborted; how many.
  virtual size_t Cancel() = 0;
  // Completes `handler` with no error at the expiry (at once if it has
  // passed), or with operation_aborted on Cancel(), on the expiry being
  // moved, or when the handler's cancellation slot is emitted.
  virtual void Wait(Handler handler) = 0;
};

class Timer {
 public:
  // `clock` must outlive the timer.
  Timer(Clock& clock, boost::asio::any_io_executor executor) : clock_(clock) {
    if (clock.IsSteadyClock()) {
      steady_.emplace(std::move(executor));
    } else {
      impl_ = clock.NewTimer(std::move(executor));
    }
  }

  // Like asio's: moving the expiry cancels the waits pending on it.
  size_t expires_at(Clock::TimePoint at) {
    if (steady_) return steady_->expires_at(at);
    const size_t cancelled = impl_->Cancel();
    impl_->ExpiresAt(at);
    return cancelled;
  }
  size_t expires_after(Clock::Duration d) {
    return expires_at(clock_.Now() + d);
  }
  Clock::TimePoint expiry() const {
    return steady_ ? steady_->expiry() : impl_->Expiry();
  }
  size_t cancel() { return steady_ ? steady_->cancel() : impl_->Cancel(); }

  template <typename Token>
  auto async_wait(Token&& token) {
    if (steady_) return steady_->async_wait(std::forward<Token>(token));
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [](auto handler, TimerImpl* impl) {
          impl->Wait(TimerImpl::Handler(std::move(handler)));
        },
        token, impl_.get());
  }

 private:
  Clock& clock_;
  std::optional<boost::asio::steady_timer> steady_;  // on a steady clock
  std::unique_ptr<TimerImpl> impl_;                  // on any other
};

// steady_clock and system_clock; timers are asio steady_timers. Stateless.
class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  int64_t WallMs() const override;
  std::unique_ptr<TimerImpl> NewTimer(
      boost::asio::any_io_executor executor) override;
  bool IsSteadyClock() const override { return true; }
};

}  // namespace shoal
