// `shoal check`'s runner (doc/faults.md): N clients run a workload against
// the local ring in `dir` while a nemesis applies faults on a seeded
// schedule; then it heals everything, measures how long the replicas take
// to hold identical copies of every key (convergence, `get --local` on
// each primary), reads every key at r = n and checks the history
// (tools/check/check.h).
//
// Threads: the clients run on one io_context (the caller's thread); the
// nemesis runs on its own thread with its own io_context and Launcher, so
// a blocking `start` does not stall the clients. They share only the
// history (under a mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/result.h"
#include "tools/check/check.h"

namespace shoal::tools::check {

struct RunOptions {
  std::string dir;     // the ring directory (a running ring)
  std::string shoald;  // for restarting killed nodes
  Workload workload = Workload::kSet;
  Nemesis nemesis = Nemesis::kMix;
  std::chrono::milliseconds duration{60'000};
  uint64_t seed = 1;
  uint32_t clients = 5;
  uint32_t keys = 5;
  std::chrono::milliseconds op_interval{50};  // per client, between ops
  uint32_t op_timeout_ms = 2000;
  // session workload: every request carries the client's session token
  // (false = the control run, which should find violations).
  bool session_tokens = true;
  // The ring's conflict mode must be this one when set (ring up
  // --conflict), so a run cannot silently test the wrong thing.
  std::optional<std::string> conflict;
  // Skews the clock of one node (chosen by the seed) for the whole run.
  int64_t clock_skew_ms = 0;
  std::chrono::milliseconds convergence_limit{120'000};
  std::string history_path;  // "" = DIR/check/history-<seed>-<time>.jsonl
};

struct RunReport {
  Verdict verdict;
  uint64_t reads_failed = 0;  // reads before a write that failed (no op)
  std::string history_path;
  std::string conflict;
  std::string skewed_node;               // "" when no clock skew
  std::vector<std::string> nemesis_log;  // "t=12.3s partition n1 | n2,..."
  bool converged = false;
  int64_t convergence_ms = -1;  // heal -> identical replicas; -1 = never
  uint64_t keys_checked = 0;
  // The cluster state the run ended with (after any membership change
  // completed): its epoch and current members.
  uint64_t cluster_epoch = 0;
  std::vector<std::string> cluster_members;
  // lost = 0, resurrected = 0, no session violation, converged in time
  bool valid = false;
  CheckJson ToJson(const RunOptions& options) const;
  std::string ToText(const RunOptions& options) const;
};

// Errors: no running ring in dir, a node not running, a conflict mode
// other than options.conflict, faults already active (heal them first), a
// membership change in progress at the start, or one still in progress (or
// members holding different states) `convergence_limit` after the heal.
// Progress lines go to `progress` (may be empty).
Result<RunReport> Run(const RunOptions& options,
                      std::function<void(const std::string&)> progress);

}  // namespace shoal::tools::check
