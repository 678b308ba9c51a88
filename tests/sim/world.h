// A simulated cluster (tests/sim/README.md): N real shoal nodes (node::Node
// with its real service, coordinators, peers, hinted handoff, anti-entropy
// and an LMDB store in a temporary directory) in one process and one
// thread, on a virtual clock, talking over the simulated network, driven
// by clients running `shoal check`'s workloads and by a nemesis that
// partitions, drops, delays, kills, restarts, pauses and skews clocks —
// all of it derived from one seed.
//
// A run has four phases:
//   1. workload: clients issue operations while the nemesis acts;
//   2. heal: every fault removed, killed nodes restarted, paused resumed;
//   3. settle: virtual time passes until every key's replicas hold the
//      same causal state (or a limit), hinted handoff, read repair and
//      anti-entropy doing their work;
//   4. check: every key read at r = n, the history judged by `shoal
//      check`'s checker, and the simulator's own invariants.
// The simulator checks invariants a black-box test cannot see, as the run
// goes:
//   - no dot ever names two different values (a coordinator never reuses
//     a dot), over every object in every frame and every store;
//   - a replica acknowledges a replicate only once its store holds the
//     object (ack after commit);
//   - a hint is deleted only once its target holds what the hint held;
//   - at the end, replicas agree (convergence), checked on the stores.
//
// Threads: the calling thread only. Not reentrant.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "tools/check/check.h"

namespace shoal::sim {

// Rules the simulator can break on purpose, one at a time, to show that it
// catches them (doc/sim.md, "Planted bugs"). Test-only switches; off in
// production.
enum class PlantedBug {
  kNone,
  kRepairSkipsStale,      // read repair leaves stale replicas alone
  kAckBeforeCommit,       // a replica acks a replicate before its commit
  kHandoffDeletesEarly,   // handoff deletes a hint before the target acked
  kCoordinatorReusesDot,  // the coordinator's new dot repeats its last one
};
const char* PlantedBugName(PlantedBug bug);
// "none", "repair-skips-stale", "ack-before-commit",
// "handoff-deletes-early", "reuses-dot".
bool ParsePlantedBug(const std::string& name, PlantedBug* out);

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 3;
  uint32_t n = 3, w = 2, r = 2;
  uint32_t partitions = 8;
  tools::check::Workload workload = tools::check::Workload::kSet;
  // The session workload: every client's requests carry its session
  // (false: the control, which must find violations).
  bool session_tokens = true;
  int clients = 3;
  int keys = 3;
  std::chrono::milliseconds workload_time{6000};  // virtual
  std::chrono::milliseconds op_interval{50};      // per client
  std::chrono::milliseconds settle_limit{60000};  // virtual
  bool antientropy = true;
  bool handoff = true;
  // Nemesis: how many fault steps, and which kinds may be drawn.
  int faults = 4;
  bool partitions_faults = true;
  bool kills = true;
  bool pauses = true;
  bool clock_skews = true;
  // Force-removals the nemesis draws (doc/sim.md): a member killed for
  // good and removed through the cluster state (adopted by one live node,
  // spread by gossip, applied by each). Drawn after the other faults, so 0
  // leaves a seed's run as it was. Skipped when fewer than n members would
  // remain, or when the removed ones could hold every acknowledgement of a
  // write (removals so far + 1 >= w).
  int removals = 0;
  double drop_rate = 0;       // background frame loss during the workload
  double duplicate_rate = 0;  // background duplicated requests
  PlantedBug bug = PlantedBug::kNone;
  bool keep_trace = false;  // keep the text of the trace (for printing)
  std::string work_dir;     // "" = a fresh directory under /dev/shm or TMPDIR
};

// The options a seed stands for: the shape of the ring, the workload and
// the faults are all drawn from it.
SimOptions OptionsForSeed(uint64_t seed);

struct SimOutcome {
  bool valid = false;
  uint64_t trace_hash = 0;
  uint64_t trace_events = 0;
  std::vector<std::string> trace;  // when keep_trace
  tools::check::Verdict verdict;
  std::vector<std::string> violations;  // invariants broken
  std::vector<std::string> nemesis_log;
  bool converged = false;
  int64_t virtual_ms = 0;  // of the whole run
  uint64_t ops = 0;        // client operations completed
  uint64_t reaped = 0;     // tombstoned keys reaped, summed over the nodes
  std::string error;       // the run itself failed (set up, final reads)
  // One line: valid or not, what was found, the options.
  std::string Summary(const SimOptions& options) const;
};

// Runs one simulated cluster to the end. Deterministic: the same options
// give the same trace.
SimOutcome RunSimulation(const SimOptions& options);

}  // namespace shoal::sim
