#include "quorum/tally.h"

#include <string>

#include "base/assert.h"

namespace shoal::quorum {

QuorumTally::QuorumTally(uint32_t contacted, uint32_t required)
    : contacted_(contacted), required_(required) {
  SHOAL_REQUIRE(required >= 1, "a quorum needs at least one reply");
  Decide();  // contacted < required fails at once
}

void QuorumTally::RecordSuccess() {
  SHOAL_REQUIRE(!all_replied(), "more replies than replicas contacted");
  ++successes_;
  Decide();
}

void QuorumTally::RecordFailure() {
  SHOAL_REQUIRE(!all_replied(), "more replies than replicas contacted");
  ++failures_;
  Decide();
}

QuorumTally::State QuorumTally::state() const {
  if (successes_ >= required_) return State::kMet;
  // successes + outstanding == contacted - failures: no overflow.
  if (successes_ + outstanding() < required_) return State::kFailed;
  return State::kPending;
}

void QuorumTally::Decide() {
  if (decision_ == State::kPending) decision_ = state();
}

Status QuorumTally::FailureStatus(std::string_view op,
                                  bool maybe_applied) const {
  const State now = state();
  SHOAL_REQUIRE(now != State::kMet, "FailureStatus of a met quorum");
  const bool is_read = op == "get";
  const Code code = now == State::kFailed ? Code::kUnavailable : Code::kTimeout;

  std::string msg(op);
  msg += now == State::kFailed ? " failed: " : " timed out: ";
  msg += std::to_string(successes_) + " of " + std::to_string(contacted_);
  msg += contacted_ == 1 ? " replica " : " replicas ";
  msg += is_read ? "replied, r=" : "acknowledged, w=";
  msg += std::to_string(required_) + " required";
  if (maybe_applied) msg += "; the write may have been applied";

  Status status(code, std::move(msg));
  status.WithQuorum(QuorumInfo{.acked = successes_,
                               .required = required_,
                               .contacted = contacted_,
                               .maybe_applied = maybe_applied});
  return status;
}

}  // namespace shoal::quorum
