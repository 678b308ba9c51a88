#include "node/faults.h"

namespace shoal::node {

FaultTable::FaultTable(std::string self, uint64_t seed)
    : self_(std::move(self)), rng_(seed) {}

Status FaultTable::Set(std::vector<wire::FaultRule> rules,
                       std::vector<wire::ClockSkew> skews) {
  for (const wire::FaultRule& r : rules) {
    if (r.from.empty()) {
      return Status(Code::kInvalidArgument, "fault rule without a source node");
    }
    if (r.to.empty() && !r.clients) {
      return Status(Code::kInvalidArgument,
                    "fault rule from " + r.from + " names no destination");
    }
    if (!r.clients && r.to == r.from) {
      return Status(Code::kInvalidArgument,
                    "fault rule from " + r.from + " to itself");
    }
    if (!(r.drop_percent >= 0 && r.drop_percent <= 100)) {
      return Status(Code::kInvalidArgument, "drop percentage " +
                                                std::to_string(r.drop_percent) +
                                                " is outside 0..100");
    }
  }
  rules_ = std::move(rules);
  skews_ = std::move(skews);
  skew_ms_ = 0;
  for (const wire::ClockSkew& s : skews_) {
    if (s.node == self_) skew_ms_ += s.skew_ms;
  }
  return Status::Ok();
}

wire::FrameFate FaultTable::Decide(const std::string& peer) {
  wire::FrameFate fate;
  const bool to_client = peer.empty();
  int64_t delay_ms = 0;
  for (const wire::FaultRule& r : rules_) {
    if (r.from != self_) continue;
    if (to_client ? !r.clients : (r.clients || r.to != peer)) continue;
    switch (r.kind) {
      case wire::FaultKind::kCut:
        fate.drop = true;
        break;
      case wire::FaultKind::kDrop: {
        std::uniform_real_distribution<double> pct(0.0, 100.0);
        if (pct(rng_) < r.drop_percent) fate.drop = true;
        break;
      }
      case wire::FaultKind::kDelay: {
        int64_t d = r.delay_ms;
        if (r.jitter_ms > 0) {
          std::uniform_int_distribution<int64_t> jitter(
              -static_cast<int64_t>(r.jitter_ms), r.jitter_ms);
          d += jitter(rng_);
        }
        delay_ms += std::max<int64_t>(0, d);
        break;
      }
    }
  }
  if (fate.drop) {
    ++dropped_;
    return fate;
  }
  if (delay_ms > 0) {
    ++delayed_;
    fate.delay = std::chrono::milliseconds(delay_ms);
  }
  return fate;
}

wire::FaultReply FaultTable::Report() const {
  wire::FaultReply reply;
  reply.node = self_;
  reply.rules = rules_;
  reply.skews = skews_;
  reply.frames_dropped = dropped_;
  reply.frames_delayed = delayed_;
  return reply;
}

}  // namespace shoal::node
