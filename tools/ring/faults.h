// `shoal fault`'s pure part: parsing fault specifications, building the
// cluster's fault table (wire::FaultRule / wire::ClockSkew, applied by the
// nodes: node/faults.h) and describing it. doc/faults.md documents each
// fault.
//
// A FaultSet is the whole cluster's table: every node is sent all of it and
// applies the rules whose `from` is itself. The CLI keeps it in
// D/faults.json for a local ring, so a node restarted by `fault start` gets
// it back.
//
// Thread-safety: pure functions and plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "wire/messages.h"

namespace shoal::tools {

using FaultJson = nlohmann::ordered_json;

struct FaultSet {
  std::vector<wire::FaultRule> rules;
  std::vector<wire::ClockSkew> skews;
  bool empty() const { return rules.empty() && skews.empty(); }
  friend bool operator==(const FaultSet&, const FaultSet&) = default;
};

// Errors (kInvalidArgument) name the unknown node and list the members.
Status CheckMember(std::string_view name,
                   const std::vector<std::string>& members);
// "n1,n2 | n3,n4,n5": at least two non-empty groups of distinct members.
Result<std::vector<std::vector<std::string>>> ParseGroups(
    std::string_view text, const std::vector<std::string>& members);
// "A->B" between two different members.
Result<std::pair<std::string, std::string>> ParseLink(
    std::string_view text, const std::vector<std::string>& members);
// "10%" or "10", within 0..100.
Result<double> ParsePercent(std::string_view text);

// Both directions between every pair of nodes in different groups.
std::vector<wire::FaultRule> PartitionRules(
    const std::vector<std::vector<std::string>>& groups);
// Both directions between `node` and every other member; with `clients`
// also the node's replies to clients.
std::vector<wire::FaultRule> IsolateRules(
    const std::string& node, const std::vector<std::string>& members,
    bool clients);
wire::FaultRule CutRule(const std::string& from, const std::string& to);
wire::FaultRule DelayRule(const std::string& from, const std::string& to,
                          std::chrono::milliseconds delay,
                          std::chrono::milliseconds jitter);
wire::FaultRule DropRule(const std::string& from, const std::string& to,
                         double percent);

// The table a node holds, from its FaultReply.
FaultSet FaultSetOf(const wire::FaultReply& reply);

// Adds rules not already in the set (equal rules are kept once).
void AddRules(FaultSet& set, const std::vector<wire::FaultRule>& rules);
// Sets a node's clock skew; 0 removes it.
void SetSkew(FaultSet& set, const std::string& node, int64_t skew_ms);

// One line per fault, e.g. "cut n1<->n3" (both directions), "cut n1->n2",
// "delay n1->n2 50ms jitter 20ms", "drop n1->n2 10%", "cut n3->clients",
// "clock n4 +5000ms".
std::vector<std::string> DescribeFaults(const FaultSet& set);

// {"rules": [{"from", "to", "clients", "kind", "delay_ms", "jitter_ms",
// "drop_percent"}], "skews": [{"node", "skew_ms"}], "active": [lines]}.
FaultJson FaultSetToJson(const FaultSet& set);
// Errors: kCorruption naming the field.
Result<FaultSet> FaultSetFromJson(const FaultJson& json);

}  // namespace shoal::tools
