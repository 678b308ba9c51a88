// What the `shoal` CLI prints: JSON documents and human-readable text for
// get results, node status and errors. Pure functions of their inputs (no
// I/O, no clocks), so the formats are unit-tested and other tools (bench,
// check) can print the same shapes.
//
// JSON formats (keys in this order):
//   get:    {"found", "values":[str], "siblings":[{"value", "encoding",
//            "written_at_ms", "dot":{"actor","counter"}, "tombstone"}],
//            "context"}  (+ "vv":[{"actor","counter"}] when local)
//   put:    {"ok":true, "context", "siblings"}  (context "" when siblings > 1)
//   hints:  {"node", "stored", "delivered", "dropped":{"cap"},
//            "delivered_per_sec", "targets":[{"target", "count", "bytes",
//            "oldest_age_ms", "target_up"}], "pending"}
//   status: {"node", "actor", "n", "w", "r", "partitions", "uptime_ms",
//            "keys", "storage_bytes", "map_size_bytes", "members":[{"name",
//            "address", "up", "self", "last_heard_ms_ago",
//            "partitions_owned"}]}
//   aae status: {"node", "enabled", "trees", "trees_ready", "exchanges",
//            "keys_repaired", "bytes", "partitions":[{"partition", "tree",
//            "exchanges", "last_exchange_ms_ago", "last_peer",
//            "last_result", "keys_repaired_last", "keys_repaired_total"}]}
//   aae run: {"node", "partitions":[{"partition", "keys_repaired",
//            "exchanges":[{"peer", "result", "keys_repaired",
//            "segments_differing"}]}], "keys_repaired", "errors"}
//   error:  {"ok":false, "error":{"code", "message"[, "acked",
//            "required", "contacted", "maybe_applied"]}}
// Actors are 16 lower-case hex digits; contexts are base64; a value that is
// not valid UTF-8 is base64 with "encoding":"base64".
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "client/client.h"
#include "quorum/version.h"
#include "wire/messages.h"

namespace shoal::tools {

// JSON documents keep their keys in insertion order (the documented order).
using Json = nlohmann::ordered_json;

// An actor id or a digest as exactly 16 lower-case hex digits.
std::string Hex64(uint64_t value);

// A value as JSON text: itself when valid UTF-8, else base64. `encoding` is
// set to "utf8" or "base64".
std::string ValueText(std::string_view value, std::string* encoding);

// `local`: the reply came from GetOptions::local, so tombstone siblings and
// the version vector are included.
Json GetResultToJson(const client::GetResult& result, bool local);
// Human form: each live value on its own line ("sibling i/k: " prefixed when
// there are several) or "not found", then "context: <base64>" when there is
// a context. With `local`, also the version vector and every sibling's dot,
// write time and tombstone flag.
std::string GetResultToText(const client::GetResult& result, bool local);

// A put's or delete's reply. Text: "ok" then "context: <base64>" when
// there is a context; when the key now has several siblings, one line
// saying so (no context: read the key before writing again).
Json PutResultToJson(const client::PutResult& result);
std::string PutResultToText(const client::PutResult& result);

// A node's hinted-handoff state. Text: the node, lifetime totals, the recent
// delivery rate and one row per target with hints waiting (or "no hints
// waiting"). "pending" in the JSON is the sum of the targets' counts.
Json HintsReplyToJson(const wire::HintsReply& reply);
Json AaeStatusToJson(const wire::AaeStatusReply& reply);
std::string AaeStatusToText(const wire::AaeStatusReply& reply);
// One `aae run` partition, and the whole run's document.
Json AaeRunToJson(const wire::AaeRunReply& reply);
Json AaeRunsToJson(const std::string& node,
                   const std::vector<wire::AaeRunReply>& runs);
std::string AaeRunToText(const wire::AaeRunReply& reply);
std::string HintsReplyToText(const wire::HintsReply& reply);

// `shoal cluster status`: the asked node's cluster state with each
// member's reported epoch. Converged: every member that is not removed
// reports the asked node's epoch and no conflict.
struct ClusterStatus {
  std::string node;
  uint64_t epoch = 0;
  uint64_t digest = 0;
  uint32_t n = 0, partitions = 0;
  bool changing = false;
  bool switched = false;  // the change's reads are on the new owners
  struct Row {
    std::string name, address, state;
    bool self = false, up = false, conflict = false;
    uint64_t epoch = 0;  // reported; 0 = never
    uint32_t partitions_owned = 0;
  };
  std::vector<Row> members;  // the state's, removed ones included
  bool converged = false;
  std::vector<std::string> lagging;  // members not (yet) at our state
  // While a change is in progress: each receiver's transfer, as its own
  // status reports it (error set when it could not be asked).
  struct Transfer {
    std::string node;
    wire::TransferStatus status;
    std::string error;
  };
  std::vector<Transfer> transfers;
};
ClusterStatus SummarizeCluster(const wire::StatusReply& status,
                               const cluster::ClusterState& state);
Json ClusterStatusToJson(const ClusterStatus& cs);
std::string ClusterStatusToText(const ClusterStatus& cs);

// `shoal cluster plan`: what a set of changes would move, from the asked
// node's state and each member's status (keys and bytes are estimates:
// a source's keys, or bytes, divided by the partition replicas it holds,
// per replica it sends; unknown when its status could not be read).
struct PlanReport {
  uint64_t epoch = 0;  // the current state's; the plan's is epoch + 1
  uint32_t n = 0, partitions = 0;
  std::vector<std::string> changes;  // "join n4 at host:port", ...
  uint32_t partitions_changing_owner = 0;
  uint32_t replicas_to_copy = 0;  // one per transfer
  struct Flow {
    std::string from, to;
    uint32_t replicas = 0;
    std::optional<uint64_t> keys, bytes;  // estimates
  };
  std::vector<Flow> flows;  // by source, then destination
  struct Member {
    std::string name, state_now, state_next;
    uint32_t partitions_now = 0, partitions_next = 0;
    uint32_t replicas_now = 0, replicas_next = 0;  // partitions it serves
  };
  std::vector<Member> members;
  uint32_t min_share = 0, max_share = 0;
  uint32_t bad_windows = 0;  // windows of min(n, S) with a repeated owner
  std::vector<cluster::Transfer> transfers;
};
// `statuses`: by member name, those that answered.
Result<PlanReport> MakePlanReport(
    const cluster::ClusterState& current,
    const std::vector<cluster::Change>& changes,
    const std::map<std::string, wire::StatusReply>& statuses);
Json PlanReportToJson(const PlanReport& report);
std::string PlanReportToText(const PlanReport& report);

Json StatusReplyToJson(const wire::StatusReply& reply);
std::string StatusReplyToText(const wire::StatusReply& reply);

// Error forms. The text is "error: <code>: <message>" plus the quorum
// details when the status has them; no trailing newline.
Json ErrorToJson(const Status& status);
std::string ErrorToText(const Status& status);

// "1h 02m 03s", "4m 05s", "6s", "250ms": a duration for humans.
std::string FormatDurationMs(uint64_t ms);
// An age with one decimal under a minute: "250ms", "3.2s", "59.9s", then
// as FormatDurationMs ("4m 05s"). Negative ages print as "0ms".
std::string FormatAgeMs(int64_t ms);
// "512 B", "1.5 KiB", "3.0 GiB".
std::string FormatBytes(uint64_t bytes);

}  // namespace shoal::tools
