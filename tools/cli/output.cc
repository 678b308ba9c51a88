#include "tools/cli/output.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <vector>

#include "base/base64.h"
#include "base/table.h"
#include "base/utf8.h"
#include "cluster/state.h"

namespace shoal::tools {

using client::GetResult;
using client::PutResult;

namespace {

using json = nlohmann::ordered_json;

json DotToJson(const quorum::Dot& dot) {
  return json{{"actor", Hex64(dot.actor)}, {"counter", dot.counter}};
}

json SiblingToJson(const quorum::Sibling& sibling) {
  std::string encoding;
  std::string value = ValueText(sibling.value, &encoding);
  return json{{"value", std::move(value)},
              {"encoding", encoding},
              {"written_at_ms", sibling.written_at_ms},
              {"dot", DotToJson(sibling.dot)},
              {"tombstone", sibling.tombstone}};
}

// Hints waiting on the node: the sum over its targets.
uint64_t PendingHints(const wire::HintsReply& reply) {
  uint64_t pending = 0;
  for (const wire::HintTarget& t : reply.targets) pending += t.count;
  return pending;
}

}  // namespace

std::string Hex64(uint64_t value) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, value);
  return buf;
}

std::string ValueText(std::string_view value, std::string* encoding) {
  if (IsValidUtf8(value)) {
    *encoding = "utf8";
    return std::string(value);
  }
  *encoding = "base64";
  return Base64Encode(value);
}

json GetResultToJson(const GetResult& result, bool local) {
  json values = json::array();
  json siblings = json::array();
  for (const quorum::Sibling& sibling : result.values) {
    std::string encoding;
    values.push_back(ValueText(sibling.value, &encoding));
  }
  if (local) {
    for (const quorum::Sibling& sibling : result.object.siblings) {
      siblings.push_back(SiblingToJson(sibling));
    }
  } else {
    for (const quorum::Sibling& sibling : result.values) {
      siblings.push_back(SiblingToJson(sibling));
    }
  }
  json out{{"found", result.found},
           {"values", std::move(values)},
           {"siblings", std::move(siblings)},
           {"context", Base64Encode(result.context)}};
  if (local) {
    json vv = json::array();
    for (const quorum::Dot& dot : result.object.vv.entries()) {
      vv.push_back(DotToJson(dot));
    }
    out["vv"] = std::move(vv);
  }
  return out;
}

std::string GetResultToText(const GetResult& result, bool local) {
  std::string out;
  if (!result.found) {
    out += "not found\n";
  } else if (result.values.size() == 1) {
    out += result.values[0].value + "\n";
  } else {
    const size_t k = result.values.size();
    for (size_t i = 0; i < k; ++i) {
      out += "sibling " + std::to_string(i + 1) + "/" + std::to_string(k) +
             ": " + result.values[i].value + "\n";
    }
  }
  if (!result.context.empty()) {
    out += "context: " + Base64Encode(result.context) + "\n";
  }
  if (local) {
    out += "vv:";
    if (result.object.vv.empty()) out += " (empty)";
    for (const quorum::Dot& dot : result.object.vv.entries()) {
      out += " " + Hex64(dot.actor) + ":" + std::to_string(dot.counter);
    }
    out += "\n";
    for (const quorum::Sibling& s : result.object.siblings) {
      out += "stored sibling " + Hex64(s.dot.actor) + ":" +
             std::to_string(s.dot.counter) +
             " written_at_ms=" + std::to_string(s.written_at_ms) +
             (s.tombstone ? " tombstone"
                          : " value_bytes=" + std::to_string(s.value.size())) +
             "\n";
    }
  }
  return out;
}

json PutResultToJson(const PutResult& result) {
  return json{{"ok", true},
              {"context", Base64Encode(result.context)},
              {"siblings", result.siblings}};
}

std::string PutResultToText(const PutResult& result) {
  if (result.siblings > 1) {
    return "ok (the key now has " + std::to_string(result.siblings) +
           " siblings: read it before writing again)\n";
  }
  std::string out = "ok\n";
  if (!result.context.empty()) {
    out += "context: " + Base64Encode(result.context) + "\n";
  }
  return out;
}

json HintsReplyToJson(const wire::HintsReply& reply) {
  json targets = json::array();
  for (const wire::HintTarget& t : reply.targets) {
    targets.push_back(json{{"target", t.target},
                           {"count", t.count},
                           {"bytes", t.bytes},
                           {"oldest_age_ms", t.oldest_age_ms},
                           {"target_up", t.target_up}});
  }
  return json{{"node", reply.node},
              {"stored", reply.stored},
              {"delivered", reply.delivered},
              {"dropped", json{{"cap", reply.dropped_cap}}},
              {"delivered_per_sec", reply.delivered_per_sec},
              {"targets", std::move(targets)},
              {"pending", PendingHints(reply)}};
}

std::string HintsReplyToText(const wire::HintsReply& reply) {
  char rate[64];
  std::snprintf(rate, sizeof(rate), "%.1f", reply.delivered_per_sec);
  std::string out;
  out += "node:       " + reply.node + "\n";
  out += "totals:     stored " + std::to_string(reply.stored) + ", delivered " +
         std::to_string(reply.delivered) + ", dropped " +
         std::to_string(reply.dropped_cap) + " (cap)\n";
  out += "delivering: " + std::string(rate) + " hints/s (recent)\n";
  const uint64_t pending = PendingHints(reply);
  if (reply.targets.empty() || pending == 0) {
    out += "no hints waiting\n";
    return out;
  }
  out += "waiting:    " + std::to_string(pending) +
         (pending == 1 ? " hint" : " hints") + " for " +
         std::to_string(reply.targets.size()) +
         (reply.targets.size() == 1 ? " target" : " targets") + "\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"TARGET", "COUNT", "BYTES", "OLDEST", "TARGET-STATE"});
  for (const wire::HintTarget& t : reply.targets) {
    rows.push_back({t.target, std::to_string(t.count), FormatBytes(t.bytes),
                    FormatAgeMs(t.oldest_age_ms), t.target_up ? "up" : "down"});
  }
  out += FormatTable(rows);
  return out;
}

json AaeStatusToJson(const wire::AaeStatusReply& reply) {
  json parts = json::array();
  size_t ready = 0;
  for (const wire::AaePartitionStatus& p : reply.partitions) {
    ready += p.tree_ready ? 1 : 0;
    parts.push_back(json{{"partition", p.partition},
                         {"tree", p.tree_ready ? "ready" : "building"},
                         {"exchanges", p.exchanges},
                         {"last_exchange_ms_ago", p.last_exchange_ms_ago},
                         {"last_peer", p.last_peer},
                         {"last_result", p.last_result},
                         {"keys_repaired_last", p.keys_repaired_last},
                         {"keys_repaired_total", p.keys_repaired_total}});
  }
  return json{{"node", reply.node},
              {"enabled", reply.enabled},
              {"trees", reply.partitions.size()},
              {"trees_ready", ready},
              {"exchanges", reply.exchanges},
              {"keys_repaired", reply.keys_repaired},
              {"bytes", reply.bytes},
              {"partitions", std::move(parts)}};
}

std::string AaeStatusToText(const wire::AaeStatusReply& reply) {
  size_t ready = 0;
  for (const auto& p : reply.partitions) ready += p.tree_ready ? 1 : 0;
  std::string out;
  out += "node:       " + reply.node + "\n";
  out += "exchanges:  " +
         std::string(reply.enabled ? "automatic" : "manual only (aae run)") +
         ", " + std::to_string(reply.exchanges) + " run, " +
         std::to_string(reply.keys_repaired) + " keys repaired, " +
         FormatBytes(reply.bytes) + " exchanged\n";
  out += "trees:      " + std::to_string(ready) + " of " +
         std::to_string(reply.partitions.size()) + " ready\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"PARTITION", "TREE", "EXCHANGES", "LAST", "PEER",
                  "REPAIRED-LAST", "REPAIRED-TOTAL", "RESULT"});
  for (const wire::AaePartitionStatus& p : reply.partitions) {
    rows.push_back({std::to_string(p.partition),
                    p.tree_ready ? "ready" : "building",
                    std::to_string(p.exchanges),
                    p.last_exchange_ms_ago < 0
                        ? "never"
                        : FormatAgeMs(p.last_exchange_ms_ago) + " ago",
                    p.last_peer.empty() ? "-" : p.last_peer,
                    std::to_string(p.keys_repaired_last),
                    std::to_string(p.keys_repaired_total),
                    p.last_result.empty() ? "-" : p.last_result});
  }
  out += FormatTable(rows);
  return out;
}

json AaeRunToJson(const wire::AaeRunReply& reply) {
  json exchanges = json::array();
  uint64_t repaired = 0;
  for (const wire::AaeExchangeResult& e : reply.exchanges) {
    repaired += e.keys_repaired;
    exchanges.push_back(json{{"peer", e.peer},
                             {"result", e.result},
                             {"keys_repaired", e.keys_repaired},
                             {"segments_differing", e.segments_differing}});
  }
  return json{{"partition", reply.partition},
              {"keys_repaired", repaired},
              {"exchanges", std::move(exchanges)}};
}

json AaeRunsToJson(const std::string& node,
                   const std::vector<wire::AaeRunReply>& runs) {
  json parts = json::array();
  uint64_t repaired = 0, errors = 0;
  for (const wire::AaeRunReply& r : runs) {
    for (const auto& e : r.exchanges) {
      repaired += e.keys_repaired;
      errors += e.result == "ok" ? 0 : 1;
    }
    parts.push_back(AaeRunToJson(r));
  }
  return json{{"node", node},
              {"partitions", std::move(parts)},
              {"keys_repaired", repaired},
              {"errors", errors}};
}

std::string AaeRunToText(const wire::AaeRunReply& reply) {
  std::string out;
  for (const wire::AaeExchangeResult& e : reply.exchanges) {
    out += "partition " + std::to_string(reply.partition) + " with " + e.peer +
           ": " + e.result + ", " + std::to_string(e.segments_differing) +
           " segments differed, " + std::to_string(e.keys_repaired) +
           " keys repaired\n";
  }
  return out;
}

ClusterStatus SummarizeCluster(const wire::StatusReply& status,
                               const cluster::ClusterState& state) {
  ClusterStatus cs;
  cs.node = status.node;
  cs.epoch = state.epoch;
  cs.digest = state.Digest();
  cs.n = state.options.n;
  cs.partitions = state.options.partitions;
  cs.changing = state.changing();
  cs.switched = state.switched;
  for (const cluster::Member& m : state.members) {
    ClusterStatus::Row row;
    row.name = m.name;
    row.address = m.address;
    row.state = std::string(cluster::MemberStateName(m.state));
    for (const std::string& owner : state.claim) {
      row.partitions_owned += owner == m.name;
    }
    for (const wire::MemberStatus& s : status.members) {
      if (s.name != m.name) continue;
      row.self = s.is_self;
      row.up = s.is_self || s.up;
      row.epoch = s.epoch;
      row.conflict = s.conflict;
    }
    if (m.state != cluster::MemberState::kRemoved &&
        (row.epoch != cs.epoch || row.conflict)) {
      cs.lagging.push_back(m.name);
    }
    cs.members.push_back(std::move(row));
  }
  cs.converged = cs.lagging.empty();
  return cs;
}

namespace {

// A receiver's rate (bytes/s over its elapsed time) and its ETA in ms
// (elapsed per partition received, times the partitions left; -1 until one
// is received).
double TransferRate(const wire::TransferStatus& t) {
  return t.elapsed_ms == 0 ? 0.0 : t.bytes * 1000.0 / t.elapsed_ms;
}
int64_t TransferEtaMs(const wire::TransferStatus& t) {
  if (t.received == 0) return -1;
  return static_cast<int64_t>(t.elapsed_ms * (t.partitions - t.received) /
                              t.received);
}

}  // namespace

Json ClusterStatusToJson(const ClusterStatus& cs) {
  json transfers = json::array();
  for (const ClusterStatus::Transfer& t : cs.transfers) {
    json row{{"node", t.node}};
    if (!t.error.empty()) {
      row["error"] = t.error;
    } else {
      row.update(json{{"epoch", t.status.epoch},
                      {"partitions", t.status.partitions},
                      {"received", t.status.received},
                      {"keys", t.status.keys},
                      {"bytes", t.status.bytes},
                      {"elapsed_ms", t.status.elapsed_ms},
                      {"bytes_per_second", TransferRate(t.status)},
                      {"eta_ms", TransferEtaMs(t.status)}});
    }
    transfers.push_back(std::move(row));
  }
  json members = json::array();
  for (const ClusterStatus::Row& r : cs.members) {
    members.push_back(json{{"name", r.name},
                           {"address", r.address},
                           {"state", r.state},
                           {"self", r.self},
                           {"up", r.up},
                           {"epoch", r.epoch},
                           {"conflict", r.conflict},
                           {"partitions_owned", r.partitions_owned}});
  }
  return json{{"node", cs.node},
              {"epoch", cs.epoch},
              {"digest", Hex64(cs.digest)},
              {"n", cs.n},
              {"partitions", cs.partitions},
              {"changing", cs.changing},
              {"switched", cs.switched},
              {"converged", cs.converged},
              {"lagging", cs.lagging},
              {"members", std::move(members)},
              {"transfers", std::move(transfers)}};
}

std::string ClusterStatusToText(const ClusterStatus& cs) {
  std::string out;
  out +=
      "cluster:    epoch " + std::to_string(cs.epoch) + " (digest " +
      Hex64(cs.digest) + "), n=" + std::to_string(cs.n) +
      " partitions=" + std::to_string(cs.partitions) +
      (!cs.changing  ? ""
       : cs.switched ? ", a change switched: transfers done, reads on the new "
                       "owners; completes once every member holds this epoch"
                     : ", a change in progress") +
      "\n";
  out += "converged:  ";
  if (cs.converged) {
    out += "yes, every member reports epoch " + std::to_string(cs.epoch);
  } else {
    out += "no, not yet at this state:";
    for (const std::string& name : cs.lagging) out += " " + name;
  }
  out += "\nmembers (as " + cs.node + " sees them):\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"NAME", "ADDRESS", "STATE", "UP", "EPOCH", "PARTITIONS"});
  for (const ClusterStatus::Row& r : cs.members) {
    std::string epoch = r.epoch == 0 ? "-" : std::to_string(r.epoch);
    if (r.conflict) epoch += " CONFLICT";
    rows.push_back(
        {r.name, r.address, r.state, r.up ? "up" : "down", epoch,
         std::to_string(r.partitions_owned) + (r.self ? "  (self)" : "")});
  }
  out += FormatTable(rows);
  if (!cs.transfers.empty()) out += "transfers:\n";
  for (const ClusterStatus::Transfer& t : cs.transfers) {
    out += "  " + t.node + "  ";
    if (!t.error.empty()) {
      out += "(not answering: " + t.error + ")\n";
      continue;
    }
    const wire::TransferStatus& s = t.status;
    constexpr int kWidth = 20;
    const int filled =
        s.partitions == 0 ? kWidth : kWidth * s.received / s.partitions;
    const int64_t eta = TransferEtaMs(s);
    char line[160];
    std::snprintf(line, sizeof line,
                  "[%s%s] %u/%u partitions  %llu keys  %.1f MB  %.2f MB/s  "
                  "ETA %s\n",
                  std::string(filled, '#').c_str(),
                  std::string(kWidth - filled, '.').c_str(), s.received,
                  s.partitions, static_cast<unsigned long long>(s.keys),
                  s.bytes / 1e6, TransferRate(s) / 1e6,
                  eta < 0 ? "?"
                          : (s.received == s.partitions
                                 ? "done"
                                 : std::to_string((eta + 999) / 1000) + "s")
                                .c_str());
    out += line;
  }
  return out;
}

namespace {

// Partitions each member replicates (is a primary of) under `claim`.
std::map<std::string, uint32_t> ReplicasHeld(
    const ring::Claim& claim, const cluster::ClusterState& state) {
  std::map<std::string, uint32_t> held;
  auto primaries =
      cluster::PrimariesByName(claim, state.options, state.Sites());
  if (!primaries.ok()) return held;
  for (const auto& names : primaries.value()) {
    for (const std::string& name : names) ++held[name];
  }
  return held;
}

std::string DescribeChange(const cluster::Change& c) {
  switch (c.kind) {
    case cluster::Change::Kind::kJoin:
      return "join " + c.node + " at " + c.address;
    case cluster::Change::Kind::kLeave:
      return "leave " + c.node;
    case cluster::Change::Kind::kReplace:
      return "replace " + c.node + " with " + c.replacement + " at " +
             c.address;
    case cluster::Change::Kind::kForceRemove:
      return "force-remove " + c.node;
  }
  return "?";
}

}  // namespace

Result<PlanReport> MakePlanReport(
    const cluster::ClusterState& current,
    const std::vector<cluster::Change>& changes,
    const std::map<std::string, wire::StatusReply>& statuses) {
  auto plan = cluster::MakePlan(current, changes);
  if (!plan.ok()) return plan.status();
  const cluster::ClusterState& next = plan.value().next;
  PlanReport r;
  r.epoch = current.epoch;
  r.n = current.options.n;
  r.partitions = current.options.partitions;
  for (const cluster::Change& c : changes)
    r.changes.push_back(DescribeChange(c));
  r.partitions_changing_owner = plan.value().partitions_changing_owner;
  r.transfers = plan.value().transfers;
  r.replicas_to_copy = static_cast<uint32_t>(r.transfers.size());
  r.min_share = plan.value().shape.min_share;
  r.max_share = plan.value().shape.max_share;
  r.bad_windows = plan.value().shape.bad_windows;
  const auto held_now = ReplicasHeld(current.claim, next);
  const auto held_next = ReplicasHeld(next.next_claim, next);
  std::map<std::pair<std::string, std::string>, uint32_t> flows;
  for (const cluster::Transfer& t : r.transfers) ++flows[{t.from, t.to}];
  for (const auto& [pair, replicas] : flows) {
    PlanReport::Flow flow{pair.first, pair.second, replicas, {}, {}};
    auto status = statuses.find(pair.first);
    auto held = held_now.find(pair.first);
    if (status != statuses.end() && held != held_now.end() &&
        held->second > 0) {
      flow.keys = status->second.keys * replicas / held->second;
      flow.bytes = status->second.storage_bytes * replicas / held->second;
    }
    r.flows.push_back(std::move(flow));
  }
  auto count = [](const ring::Claim& claim, const std::string& name) {
    return static_cast<uint32_t>(std::count(claim.begin(), claim.end(), name));
  };
  for (const cluster::Member& m : next.members) {
    const cluster::Member* before = current.Find(m.name);
    if (before != nullptr && before->state == cluster::MemberState::kRemoved &&
        m.state == cluster::MemberState::kRemoved) {
      continue;  // long gone
    }
    PlanReport::Member row;
    row.name = m.name;
    row.state_now = before == nullptr
                        ? "-"
                        : std::string(cluster::MemberStateName(before->state));
    row.state_next = std::string(cluster::MemberStateName(m.state));
    row.partitions_now = count(current.claim, m.name);
    row.partitions_next = count(next.next_claim, m.name);
    auto now = held_now.find(m.name);
    auto after = held_next.find(m.name);
    row.replicas_now = now == held_now.end() ? 0 : now->second;
    row.replicas_next = after == held_next.end() ? 0 : after->second;
    r.members.push_back(std::move(row));
  }
  return r;
}

Json PlanReportToJson(const PlanReport& r) {
  json flows = json::array();
  for (const PlanReport::Flow& f : r.flows) {
    json j{{"from", f.from}, {"to", f.to}, {"replicas", f.replicas}};
    j["keys_estimate"] = f.keys ? json(*f.keys) : json(nullptr);
    j["bytes_estimate"] = f.bytes ? json(*f.bytes) : json(nullptr);
    flows.push_back(std::move(j));
  }
  json members = json::array();
  for (const PlanReport::Member& m : r.members) {
    members.push_back(json{{"name", m.name},
                           {"state", m.state_now},
                           {"state_next", m.state_next},
                           {"partitions", m.partitions_now},
                           {"partitions_next", m.partitions_next},
                           {"replicas", m.replicas_now},
                           {"replicas_next", m.replicas_next}});
  }
  json transfers = json::array();
  for (const cluster::Transfer& t : r.transfers) {
    transfers.push_back(
        json{{"partition", t.partition}, {"from", t.from}, {"to", t.to}});
  }
  return json{{"epoch", r.epoch},
              {"next_epoch", r.epoch + 1},
              {"n", r.n},
              {"partitions", r.partitions},
              {"changes", r.changes},
              {"partitions_changing_owner", r.partitions_changing_owner},
              {"replicas_to_copy", r.replicas_to_copy},
              {"flows", std::move(flows)},
              {"members", std::move(members)},
              {"min_share", r.min_share},
              {"max_share", r.max_share},
              {"windows_with_repeats", r.bad_windows},
              {"transfers", std::move(transfers)},
              {"committed", false}};
}

std::string PlanReportToText(const PlanReport& r) {
  std::string out = "plan:       epoch " + std::to_string(r.epoch) + " -> " +
                    std::to_string(r.epoch + 1) + ":";
  for (size_t i = 0; i < r.changes.size(); ++i) {
    out += (i == 0 ? " " : ", ") + r.changes[i];
  }
  out += "\nmoves:      " + std::to_string(r.partitions_changing_owner) +
         " of " + std::to_string(r.partitions) + " partitions change owner; " +
         std::to_string(r.replicas_to_copy) +
         " partition replicas to copy (n=" + std::to_string(r.n) + ")\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"FROM", "TO", "REPLICAS", "KEYS (EST.)", "BYTES (EST.)"});
  uint64_t keys = 0, bytes = 0;
  bool known = true;
  for (const PlanReport::Flow& f : r.flows) {
    rows.push_back({f.from, f.to, std::to_string(f.replicas),
                    f.keys ? std::to_string(*f.keys) : "?",
                    f.bytes ? FormatBytes(*f.bytes) : "?"});
    known = known && f.keys.has_value();
    if (f.keys) keys += *f.keys;
    if (f.bytes) bytes += *f.bytes;
  }
  out += FormatTable(rows);
  out += "to move:    about " + std::to_string(keys) + " keys, " +
         FormatBytes(bytes) +
         (known ? "" : " (and more: some sources did not answer)") + "\n";
  rows.clear();
  rows.push_back({"NAME", "STATE", "PARTITIONS", "REPLICAS"});
  for (const PlanReport::Member& m : r.members) {
    rows.push_back({m.name, m.state_now + " -> " + m.state_next,
                    std::to_string(m.partitions_now) + " -> " +
                        std::to_string(m.partitions_next),
                    std::to_string(m.replicas_now) + " -> " +
                        std::to_string(m.replicas_next)});
  }
  out += "members after the change:\n" + FormatTable(rows);
  out += "balance:    " + std::to_string(r.min_share) + ".." +
         std::to_string(r.max_share) + " partitions per member; " +
         std::to_string(r.bad_windows) +
         " windows of n consecutive partitions repeat an owner\n";
  out +=
      "not committed: committing a change (and moving partitions while "
      "serving) is not built yet\n";
  return out;
}

json StatusReplyToJson(const wire::StatusReply& reply) {
  json members = json::array();
  for (const wire::MemberStatus& m : reply.members) {
    members.push_back(json{{"name", m.name},
                           {"address", m.address},
                           {"up", m.up},
                           {"self", m.is_self},
                           {"last_heard_ms_ago", m.last_heard_ms_ago},
                           {"partitions_owned", m.partitions_owned},
                           {"state", m.state},
                           {"epoch", m.epoch},
                           {"conflict", m.conflict},
                           {"dc", m.dc},
                           {"rack", m.rack}});
  }
  return json{
      {"node", reply.node},
      {"actor", Hex64(reply.actor)},
      {"n", reply.n},
      {"w", reply.w},
      {"r", reply.r},
      {"partitions", reply.partitions},
      {"uptime_ms", reply.uptime_ms},
      {"keys", reply.keys},
      {"storage_bytes", reply.storage_bytes},
      {"data_bytes", reply.data_bytes},
      {"map_size_bytes", reply.map_size_bytes},
      {"epoch", reply.epoch},
      {"cluster_digest", Hex64(reply.cluster_digest)},
      {"tombstones", json{{"count", reply.tombstones.count},
                          {"reaped", reply.tombstones.reaped},
                          {"oldest_age_ms", reply.tombstones.oldest_age_ms},
                          {"waiting_for", reply.tombstones.waiting_for}}},
      {"members", std::move(members)}};
}

std::string StatusReplyToText(const wire::StatusReply& reply) {
  std::string out;
  out += "node:       " + reply.node + " (actor " + Hex64(reply.actor) + ")\n";
  out += "cluster:    n=" + std::to_string(reply.n) +
         " w=" + std::to_string(reply.w) + " r=" + std::to_string(reply.r) +
         " partitions=" + std::to_string(reply.partitions) + ", epoch " +
         std::to_string(reply.epoch) + "\n";
  out += "uptime:     " + FormatDurationMs(reply.uptime_ms) + "\n";
  out += "keys:       " + std::to_string(reply.keys) + "\n";
  out += "storage:    " + FormatBytes(reply.storage_bytes) + " used of a " +
         FormatBytes(reply.map_size_bytes) + " map (" +
         FormatBytes(reply.data_bytes) + " holding data, the rest free)\n";
  const wire::TombstoneStatus& t = reply.tombstones;
  out += "tombstones: " + std::to_string(t.count) + " stored, " +
         std::to_string(t.reaped) + " reaped since start";
  if (t.count > 0 && t.oldest_age_ms >= 0) {
    out += "; the oldest deleted " +
           FormatDurationMs(static_cast<uint64_t>(t.oldest_age_ms)) +
           " ago, waiting for " + t.waiting_for;
  }
  out += "\n";
  out += "members (as " + reply.node + " sees them):\n";

  // Datacenter and rack columns only for a ring that has them.
  const bool sited = std::any_of(reply.members.begin(), reply.members.end(),
                                 [](const wire::MemberStatus& m) {
                                   return !m.dc.empty() || !m.rack.empty();
                                 });
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"NAME", "ADDRESS", "STATE", "LAST HEARD", "PARTITIONS"});
  if (sited) rows.back().insert(rows.back().begin() + 2, {"DC", "RACK"});
  for (const wire::MemberStatus& m : reply.members) {
    std::string heard =
        m.is_self ? "-"
        : m.last_heard_ms_ago < 0
            ? "never"
            : FormatDurationMs(static_cast<uint64_t>(m.last_heard_ms_ago)) +
                  " ago";
    rows.push_back(
        {m.name, m.address, m.is_self || m.up ? "up" : "down", heard,
         std::to_string(m.partitions_owned) + (m.is_self ? "  (self)" : "")});
    if (sited) {
      rows.back().insert(
          rows.back().begin() + 2,
          {m.dc.empty() ? "-" : m.dc, m.rack.empty() ? "-" : m.rack});
    }
  }
  out += FormatTable(rows);
  return out;
}

json ErrorToJson(const Status& status) {
  json error{{"code", CodeName(status.code())}, {"message", status.message()}};
  if (status.quorum()) {
    const QuorumInfo& q = *status.quorum();
    error["acked"] = q.acked;
    error["required"] = q.required;
    error["contacted"] = q.contacted;
    error["maybe_applied"] = q.maybe_applied;
  }
  return json{{"ok", false}, {"error", std::move(error)}};
}

// The node's message already states a quorum failure's counts and whether
// the write may have been applied; the JSON form carries them as fields.
std::string ErrorToText(const Status& status) {
  return "error: " + status.ToString();
}

std::string FormatDurationMs(uint64_t ms) {
  if (ms < 1000) return std::to_string(ms) + "ms";
  uint64_t s = ms / 1000;
  const uint64_t h = s / 3600;
  const uint64_t m = (s % 3600) / 60;
  s %= 60;
  char buf[64];
  if (h > 0) {
    std::snprintf(buf, sizeof(buf),
                  "%" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s", h, m, s);
  } else if (m > 0) {
    std::snprintf(buf, sizeof(buf), "%" PRIu64 "m %02" PRIu64 "s", m, s);
  } else {
    std::snprintf(buf, sizeof(buf), "%" PRIu64 "s", s);
  }
  return buf;
}

std::string FormatAgeMs(int64_t ms) {
  if (ms <= 0) return "0ms";
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (ms < 60000) {
    char buf[32];
    // Truncate (not round) to tenths so that 59999 ms stays under a minute.
    std::snprintf(buf, sizeof(buf), "%" PRId64 ".%" PRId64 "s", ms / 1000,
                  (ms % 1000) / 100);
    return buf;
  }
  return FormatDurationMs(static_cast<uint64_t>(ms));
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[unit]);
  return buf;
}

}  // namespace shoal::tools
