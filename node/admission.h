// Admission control: bounds the client requests one node coordinates at
// once (limits.max_requests). A request beyond the bound is answered at
// once with `overloaded` instead of queueing until its deadline passes, so
// clients learn to back off from a fast, honest answer rather than from
// timeouts (doc/impl.md, "Limits").
//
// It also tells background work (hinted handoff, anti-entropy) when the
// node is busy with foreground requests, so that they yield.
//
// Threads: the node's io_context thread; in_flight() may be read from any
// thread (metrics).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace shoal::node {

class Admission {
 public:
  using Clock = std::chrono::steady_clock;

  // max_requests 0 = no bound.
  explicit Admission(uint32_t max_requests) : max_(max_requests) {}
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // One admitted request; gives its place back when destroyed. Must not
  // outlive the Admission.
  class Slot {
   public:
    explicit Slot(Admission* owner) : owner_(owner) {}
    Slot(Slot&& other) noexcept : owner_(other.owner_) {
      other.owner_ = nullptr;
    }
    Slot& operator=(Slot&& other) noexcept {
      if (this != &other) {
        Release();
        owner_ = other.owner_;
        other.owner_ = nullptr;
      }
      return *this;
    }
    Slot(const Slot&) = delete;
    ~Slot() { Release(); }

   private:
    void Release() {
      if (owner_ != nullptr) --owner_->in_flight_;
      owner_ = nullptr;
    }
    Admission* owner_;
  };

  // A slot, or nullopt when max_requests requests are already in flight
  // (counted as refused).
  std::optional<Slot> TryAdmit(Clock::time_point now) {
    if (max_ != 0 && in_flight() >= max_) {
      ++refused_;
      last_refused_ = now;
      return std::nullopt;
    }
    ++in_flight_;
    return Slot(this);
  }

  // Foreground work is heavy: more than half of max_requests are in flight,
  // or a request was refused within the last second.
  bool Busy(Clock::time_point now) const {
    if (max_ != 0 && 2 * in_flight() > max_) return true;
    return last_refused_ && now - *last_refused_ < std::chrono::seconds(1);
  }

  uint32_t in_flight() const {
    return in_flight_.load(std::memory_order_relaxed);
  }
  uint32_t max_requests() const { return max_; }
  uint64_t refused() const { return refused_; }

 private:
  uint32_t max_;
  std::atomic<uint32_t> in_flight_{0};
  uint64_t refused_ = 0;
  std::optional<Clock::time_point> last_refused_;
};

}  // namespace shoal::node
