// The admin schema's messages (admin.capnp).
#include "wire/codec_internal.h"

namespace shoal::wire::internal {

void FillFaults(capnp::List<sc::FaultRule>::Builder rules,
                capnp::List<sc::ClockSkew>::Builder skews,
                const std::vector<FaultRule>& rule_values,
                const std::vector<ClockSkew>& skew_values) {
  for (size_t i = 0; i < rule_values.size(); ++i) {
    const FaultRule& r = rule_values[i];
    rules[i].setFrom(r.from);
    rules[i].setTo(r.to);
    rules[i].setClients(r.clients);
    rules[i].setKind(static_cast<sc::FaultKind>(r.kind));
    rules[i].setDelayMs(r.delay_ms);
    rules[i].setJitterMs(r.jitter_ms);
    rules[i].setDropPercent(r.drop_percent);
  }
  for (size_t i = 0; i < skew_values.size(); ++i) {
    skews[i].setNode(skew_values[i].node);
    skews[i].setSkewMs(skew_values[i].skew_ms);
  }
}

Status ReadFaults(capnp::List<sc::FaultRule>::Reader rules,
                  capnp::List<sc::ClockSkew>::Reader skews,
                  std::vector<FaultRule>* rule_values,
                  std::vector<ClockSkew>* skew_values) {
  for (auto r : rules) {
    const auto kind = static_cast<uint16_t>(r.getKind());
    if (kind > 2) return Status(Code::kInvalidArgument, "unknown fault kind");
    rule_values->push_back({r.getFrom().cStr(), r.getTo().cStr(),
                            r.getClients(), static_cast<FaultKind>(kind),
                            r.getDelayMs(), r.getJitterMs(),
                            r.getDropPercent()});
  }
  for (auto k : skews) {
    skew_values->push_back({k.getNode().cStr(), k.getSkewMs()});
  }
  return Status::Ok();
}

}  // namespace shoal::wire::internal
