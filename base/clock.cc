#include "base/clock.h"

#include <boost/asio/steady_timer.hpp>

namespace shoal {
namespace {

class SteadyTimerImpl final : public TimerImpl {
 public:
  explicit SteadyTimerImpl(boost::asio::any_io_executor executor)
      : timer_(std::move(executor)) {}
  void ExpiresAt(Clock::TimePoint at) override { timer_.expires_at(at); }
  Clock::TimePoint Expiry() const override { return timer_.expiry(); }
  size_t Cancel() override { return timer_.cancel(); }
  void Wait(Handler handler) override { timer_.async_wait(std::move(handler)); }

 private:
  boost::asio::steady_timer timer_;
};

}  // namespace

int64_t SystemClock::WallMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<TimerImpl> SystemClock::NewTimer(
    boost::asio::any_io_executor executor) {
  return std::make_unique<SteadyTimerImpl>(std::move(executor));
}

}  // namespace shoal
