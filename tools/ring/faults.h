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
#include <functional>
#include <map>
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

// The names a group link may use besides members: each datacenter of the
// ring and its members, and, when there are none, why (added to the error
// for an unknown name, e.g. that datacenter names need a ring directory).
struct FaultNames {
  std::vector<std::string> members;
  std::map<std::string, std::vector<std::string>, std::less<>> dcs;
  std::string no_dcs;  // "" = the ring simply has no datacenters
};
// Whether `text` is a group link (it holds "<->"), not a one-way A->B.
bool IsGroupLink(std::string_view text);
// "A<->B": two sides, each a comma-separated list of member names and
// datacenter names (a datacenter stands for its members), e.g.
// "dc1<->dc2" or "n1,n2,n3<->n4,n5,n6". Returns each side's members,
// without repeats, in the order named. Errors (kInvalidArgument): an empty
// side or name, a name that is neither a member nor a datacenter (naming
// it and listing the known ones), a node on both sides.
Result<std::pair<std::vector<std::string>, std::vector<std::string>>>
ParseGroupLink(std::string_view text, const FaultNames& names);
// One rule per directed link between the sides, both directions: `make(a,
// b)` for every a of `left` and b of `right`, then `make(b, a)` (3 nodes
// each side: 18 rules).
std::vector<wire::FaultRule> GroupLinkRules(
    const std::vector<std::string>& left, const std::vector<std::string>& right,
    const std::function<wire::FaultRule(const std::string&,
                                        const std::string&)>& make);
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
// "clock n4 +5000ms". A link with the same rule both ways reads as one
// line: "delay n1<->n4 50ms" (a group delay between 3 and 3 nodes: 9
// lines).
std::vector<std::string> DescribeFaults(const FaultSet& set);

// {"rules": [{"from", "to", "clients", "kind", "delay_ms", "jitter_ms",
// "drop_percent"}], "skews": [{"node", "skew_ms"}], "active": [lines]}.
FaultJson FaultSetToJson(const FaultSet& set);
// Errors: kCorruption naming the field.
Result<FaultSet> FaultSetFromJson(const FaultJson& json);

}  // namespace shoal::tools
