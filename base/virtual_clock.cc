#include "base/virtual_clock.h"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <vector>

#include "base/assert.h"

namespace shoal {
namespace {

namespace asio = boost::asio;

// A timer whose waits are events of the VirtualClock. Each wait completes
// by being posted to its handler's executor (the node's io_context), with
// no error at the expiry or operation_aborted when cancelled.
class VirtualTimer final : public TimerImpl {
 public:
  VirtualTimer(VirtualClock& clock, asio::any_io_executor executor)
      : clock_(clock), executor_(std::move(executor)) {}
  // Pending waits are dropped, not completed: in the product a timer is
  // destroyed only after the task waiting on it has finished (its owner's
  // TaskGroup), so a wait left here is a lifetime bug, and its coroutine
  // never resuming shows it (a node's shutdown would not finish).
  ~VirtualTimer() override {
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (auto& [id, waiter] : waiters) {
      clock_.Unschedule(waiter.event);
      auto slot = asio::get_associated_cancellation_slot(waiter.handler);
      if (slot.is_connected()) slot.clear();
    }
  }

  void ExpiresAt(Clock::TimePoint at) override { expiry_ = at; }
  Clock::TimePoint Expiry() const override { return expiry_; }

  size_t Cancel() override {
    std::vector<uint64_t> ids;
    for (const auto& [id, waiter] : waiters_) ids.push_back(id);
    for (uint64_t id : ids) Complete(id, asio::error::operation_aborted);
    return ids.size();
  }

  void Wait(Handler handler) override {
    const uint64_t id = next_id_++;
    auto slot = asio::get_associated_cancellation_slot(handler);
    // Move-constructed in place: Boost 1.81's any_completion_handler move
    // assignment recurses without end.
    const uint64_t event =
        clock_.Schedule(expiry_, [this, id] { Complete(id, {}); });
    waiters_.emplace(id, Waiter{std::move(handler), event});
    if (slot.is_connected()) {
      // A TaskGroup's Cancel() reaches the wait through the slot.
      slot.assign([this, id](asio::cancellation_type) {
        Complete(id, asio::error::operation_aborted);
      });
    }
  }

 private:
  struct Waiter {
    Handler handler;
    uint64_t event = 0;
  };

  void Complete(uint64_t id, boost::system::error_code ec) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return;
    Handler handler = std::move(it->second.handler);
    clock_.Unschedule(it->second.event);
    waiters_.erase(it);
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) slot.clear();
    // Through the timer's executor (the waiting coroutine's io_context):
    // never inline, as an asio timer never completes inside the call that
    // cancels it.
    asio::post(executor_, [handler = std::move(handler), ec]() mutable {
      std::move(handler)(ec);
    });
  }

  VirtualClock& clock_;
  asio::any_io_executor executor_;
  Clock::TimePoint expiry_{};
  uint64_t next_id_ = 1;
  std::map<uint64_t, Waiter> waiters_;
};

}  // namespace

VirtualClock::VirtualClock(int64_t wall_start_ms)
    : start_(TimePoint{} + std::chrono::hours(24)),
      now_(start_),
      wall_start_ms_(wall_start_ms) {}

int64_t VirtualClock::WallMs() const {
  return wall_start_ms_ +
         std::chrono::duration_cast<std::chrono::milliseconds>(now_ - start_)
             .count();
}

std::unique_ptr<TimerImpl> VirtualClock::NewTimer(
    asio::any_io_executor executor) {
  return std::make_unique<VirtualTimer>(*this, std::move(executor));
}

uint64_t VirtualClock::Schedule(TimePoint at, std::function<void()> fn) {
  if (at < now_) at = now_;
  const uint64_t id = next_seq_++;
  events_.emplace(Key{at, id}, std::move(fn));
  by_id_.emplace(id, at);
  return id;
}

void VirtualClock::Unschedule(uint64_t id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  events_.erase(Key{it->second, id});
  by_id_.erase(it);
}

bool VirtualClock::RunNext() {
  if (events_.empty()) return false;
  auto it = events_.begin();
  SHOAL_ASSERT(it->first.first >= now_, "virtual time went backwards");
  now_ = it->first.first;
  std::function<void()> fn = std::move(it->second);
  by_id_.erase(it->first.second);
  events_.erase(it);
  fn();
  return true;
}

std::optional<Clock::TimePoint> VirtualClock::NextAt() const {
  if (events_.empty()) return std::nullopt;
  return events_.begin()->first.first;
}

}  // namespace shoal
