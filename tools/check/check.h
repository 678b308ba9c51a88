// `shoal check`'s pure part (doc/faults.md): the history a run records, the
// nemesis schedule, and the checkers that judge a history against the final
// state. No I/O, no clocks: the runner (tools/check/check_run.h) feeds them.
//
// A history is a list of events, as in Jepsen: each operation of a client
// ("process") is an `invoke` followed by exactly one of `ok` (acknowledged),
// `fail` (definitely not applied) or `info` (unknown: it may have been
// applied). The nemesis' actions are `info` events of process -1.
//
// Workloads and what their checker demands:
//   set       each op adds a unique element to a key's set (read, union the
//             siblings' sets, add, write with the read's context). Every
//             acknowledged element must be in the final set ("lost"
//             otherwise); a failed element found there is "unexpected"
//             (reported, not a failure).
//   register  each op reads a key, then writes a unique value with the
//             read's context. An acknowledged value must be in the final
//             siblings, or have been seen by the read of a later write that
//             used that read's context (acknowledged or unknown: it
//             superseded the value); anything else is lost.
//   delete    like register, but an op that reads a live value deletes
//             what it read instead of writing. Lost as for register; a
//             value an acknowledged delete removed that is in the final
//             state is "resurrected".
//   session   each op reads a key at r = 1 (a "read" op, through a node
//             chosen at random), and every other op then writes a unique
//             value with the read's context at w = 1; with tokens every
//             request carries the client's session (client::Session).
//             Lost as for register. Per client and key, a read must hold
//             every value the client wrote (acknowledged) and every value
//             it read before, or a value written with a context that saw
//             it (directly or through earlier writes): otherwise a
//             read-your-writes or monotonic-reads violation. A failed read
//             whose error names the guarantee is a refusal (not a
//             violation).
//
// Thread-safety: pure functions and plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/node_names.h"
#include "base/result.h"

namespace shoal::tools::check {

using CheckJson = nlohmann::ordered_json;

enum class Workload { kSet, kRegister, kDelete, kSession };
enum class Nemesis {
  kNone,
  kPartitionRandom,
  kIsolate,
  kKill,
  kPause,
  kMix,
  kMembership,
  kDelay,  // every link of one node slowed (not part of mix)
};
Result<Workload> ParseWorkload(std::string_view name);
Result<Nemesis> ParseNemesis(std::string_view name);
const char* WorkloadName(Workload w);
const char* NemesisName(Nemesis n);

enum class EventType { kInvoke, kOk, kFail, kInfo };
const char* EventTypeName(EventType t);

struct Event {
  EventType type = EventType::kInvoke;
  int process = 0;  // the client; -1 = the nemesis
  std::string f;    // "add", "write", "delete"; the nemesis' action
  std::string key;
  std::string value;              // the element or value written
  std::vector<std::string> seen;  // what the op's read returned
  int64_t time_ms = 0;            // since the run began
  std::string error;              // fail / info: why
};
// An event with the fields every history line has (time_ms and error are
// set by whoever records it).
Event MakeEvent(EventType type, int process, std::string f, std::string key,
                std::string value, std::vector<std::string> seen = {});
// One JSON line: {"type", "process", "f", "key", "value", "seen", "time_ms"
// [, "error"]}.
CheckJson EventToJson(const Event& e);

// A set value: its elements joined by ','; parsing ignores empty parts.
std::string FormatSet(const std::set<std::string>& elements);
std::set<std::string> ParseSet(std::string_view value);

// The final state read at r = n: per key, its live sibling values.
using FinalState = std::map<std::string, std::vector<std::string>>;

struct Verdict {
  uint64_t acknowledged = 0;  // ok writes (adds, writes, deletes)
  uint64_t failed = 0;
  uint64_t unknown = 0;  // info outcomes
  uint64_t lost = 0;
  uint64_t unexpected = 0;   // set: failed elements that are present
  uint64_t resurrected = 0;  // delete: removed values that came back
  // session: reads that missed what the same client wrote (read-your-writes)
  // or read before (monotonic reads); reads refused naming a guarantee.
  uint64_t ryw_violations = 0;
  uint64_t monotonic_violations = 0;
  uint64_t session_refusals = 0;
  uint64_t reads = 0;                 // session: read ops that returned
  std::vector<std::string> examples;  // a few "key: what" lines
};

Verdict CheckSet(const std::vector<Event>& history, const FinalState& final);
Verdict CheckRegister(const std::vector<Event>& history,
                      const FinalState& final);
Verdict CheckDelete(const std::vector<Event>& history, const FinalState& final);
Verdict CheckSession(const std::vector<Event>& history,
                     const FinalState& final);
Verdict CheckHistory(Workload workload, const std::vector<Event>& history,
                     const FinalState& final);

// The nemesis schedule: alternating fault and recovery, each phase 2..6 s
// long (chosen by the seed), from 2 s into the run until `duration` ends.
// Every fault step is followed by the step that undoes it; the last one
// ends by `duration`.
//
// kMembership alternates a membership change with a fault of `mix`: a
// change ("join" of a new node, "leave NODE" or "replace NODE by NEW"),
// 4..8 s for it to progress, a fault, its undo, 2..6 s of calm, the next
// change. The plan tracks the members: faults and changes name only nodes
// that are members at that step, a leave never takes the ring below `n`
// members, at most two more members than at the start are ever running,
// and new nodes are named "n<next_index>", "n<next_index+1>", ... as the
// launcher names them (next_index 0 = one past the highest "n<i>" in
// `members`).
struct NemesisStep {
  int64_t at_ms = 0;
  std::string action;  // partition | isolate | kill | pause | delay | heal |
                       // start | resume | join | leave | replace
  std::vector<std::vector<std::string>> groups;  // partition
  std::string node;         // isolate, kill, pause, ...; join: the new node
  std::string replacement;  // replace: the new node
  int64_t delay_ms = 0;     // delay: added to each message of the node's links
  std::string Describe() const;
  bool Membership() const {
    return action == "join" || action == "leave" || action == "replace";
  }
};
std::vector<NemesisStep> PlanNemesis(Nemesis nemesis,
                                     const std::vector<std::string>& members,
                                     std::chrono::milliseconds duration,
                                     uint64_t seed, uint32_t n = 3,
                                     uint32_t next_index = 0);

}  // namespace shoal::tools::check
