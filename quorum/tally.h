// QuorumTally: counts the replies of one request's replicas against the
// number required (w for a put or delete, r for a get) and decides whether
// the quorum is met, can no longer be met, or is still pending.
//
// A coordinator creates one tally per request, feeds it one reply per
// contacted replica, and asks it for the outcome; at the deadline it turns a
// still-pending tally into a timeout error with FailureStatus(). Replies
// that arrive after the decision still update the counters (for lag metrics
// and hinted handoff) but never change the decision.
//
// Pure: no I/O, no clocks, no waiting. Thread-safety: not thread-safe; a
// tally belongs to one request and is used from that request's io thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/result.h"

namespace shoal::quorum {

class QuorumTally {
 public:
  enum class State : uint8_t {
    kPending,  // not decided yet: more replies may still meet the quorum
    kMet,      // successes >= required
    kFailed,   // successes + outstanding < required: cannot be met any more
  };

  // `contacted`: replicas the request was sent to (may be 0, or fewer than
  // `required`: the tally is then kFailed from the start).
  // `required`: successes needed; REQUIRE required >= 1.
  QuorumTally(uint32_t contacted, uint32_t required);

  // Records one replica's reply. Each contacted replica replies at most once:
  // REQUIRE !all_replied().
  void RecordSuccess();
  void RecordFailure();

  // The state given the replies so far: kMet once successes >= required,
  // kFailed once successes + outstanding < required, kPending otherwise.
  State state() const;
  // The first non-pending state the tally reached (kPending until then).
  // Sticky: later replies never change it. (With the rules above state() is
  // monotonic too, so the two agree; Decision() states the contract.)
  State Decision() const { return decision_; }

  uint32_t successes() const { return successes_; }
  uint32_t failures() const { return failures_; }
  uint32_t outstanding() const { return contacted_ - successes_ - failures_; }
  uint32_t contacted() const { return contacted_; }
  uint32_t required() const { return required_; }
  bool all_replied() const { return outstanding() == 0; }

  // The error to return for a request whose quorum was not met:
  //   kUnavailable when the tally is kFailed (too many replicas failed or
  //                were unreachable),
  //   kTimeout     when it is still kPending (the caller's deadline passed).
  // `op` names the request: "get" is a read (counts replies against r);
  // any other op ("put", "delete") is a write (counts acknowledgements
  // against w). `maybe_applied` says a write may have landed on some
  // replicas; the message says so and QuorumInfo carries it.
  // Example: "put failed: 2 of 3 replicas acknowledged, w=3 required; the
  // write may have been applied". REQUIRE state() != kMet.
  Status FailureStatus(std::string_view op, bool maybe_applied) const;

 private:
  void Decide();

  uint32_t contacted_;
  uint32_t required_;
  uint32_t successes_ = 0;
  uint32_t failures_ = 0;
  State decision_ = State::kPending;
};

}  // namespace shoal::quorum
