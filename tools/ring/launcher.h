// The local ring launcher behind `shoal ring ...`: runs an N-node shoal ring
// as N shoald processes on 127.0.0.1, all state in one directory D.
//
// Layout of D:
//   D/ring.json        RingState (below): parameters, members, paths, pids
//   D/ring.lock        flock()ed by every command that changes the ring
//   D/<name>/node.toml the node's shoald config (node/config.h format)
//   D/<name>/data/     the node's LMDB data directory
//   D/<name>/shoald.log   the node's stdout and stderr, appended
//   D/prometheus.yml   a Prometheus config scraping every node's metrics
//   D/prometheus/      with `ring up --prometheus`: the Prometheus server's
//                      data/, prometheus.log and pid
// Node i (1-based) is named "n<i>", listens for clients and peers on
// 127.0.0.1:(base_port + i) and serves metrics on 127.0.0.1:(base_port + 100
// + i). A Prometheus started by `ring up --prometheus` listens on
// 127.0.0.1:(base_port + 200).
//
// Processes: shoald is started with fork + setsid + exec (its own session,
// so a Ctrl-C in the launching terminal does not reach it), stdin from
// /dev/null, output appended to its log, working directory D/<name>. A
// node's state is read from /proc, never trusted from ring.json alone: a pid
// whose /proc/<pid>/cmdline is not "shoald --config <its node.toml>" counts
// as stopped, because pids get reused.
//
// Thread-safety: a Launcher is used by one thread. Different processes may
// run launcher commands on the same D concurrently: the mutating ones
// serialize on D/ring.lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "cluster/state.h"

namespace shoal::tools {

namespace internal {
class DirLock;
}  // namespace internal

// JSON documents keep their keys in insertion order (the documented order).
using Json = nlohmann::ordered_json;

// Writes `text` to `path` through a temporary file and a rename, so a reader
// sees the old file or the new one, never half of one.
Status WriteFileAtomically(const std::filesystem::path& path,
                           const std::string& text);

inline constexpr int kRingStateVersion = 1;

struct RingNode {
  std::string name;             // "n1"
  std::string address;          // "127.0.0.1:7101", clients and peers
  std::string metrics_address;  // "127.0.0.1:7201"
  std::string data_dir;         // absolute paths from here on
  std::string config;
  std::string log;
  int pid = 0;  // the last process started for it; 0 = none
  // Its datacenter and rack ("dc1", "r2") in a ring with datacenters (`ring
  // up --dcs N`); both empty otherwise.
  std::string dc;
  std::string rack;
  friend bool operator==(const RingNode&, const RingNode&) = default;
};

// A datacenter of a ring started with `--dcs N` and how many replicas of
// each key it holds: --n, capped at its node count when it was planned.
struct RingDc {
  std::string name;  // "dc1"
  uint32_t n = 0;
  friend bool operator==(const RingDc&, const RingDc&) = default;
};

// The contents of D/ring.json.
struct RingState {
  int version = kRingStateVersion;
  // n is --n: replicas per key, or with datacenters per datacenter (each
  // one's own count, capped at its size, is in `dcs`; TotalReplicas() sums
  // them). w and r count replies from all datacenters together.
  uint32_t n = 3, w = 2, r = 2;
  uint32_t partitions = 64;
  uint32_t base_port = 7100;
  std::string sync = "periodic";      // storage sync policy of every node
  std::string conflict = "siblings";  // cluster.conflict: siblings | lww
  std::vector<RingNode> nodes;
  std::vector<RingDc> dcs;  // empty: no datacenters (every node's dc is "")
  friend bool operator==(const RingState&, const RingState&) = default;
};

// The parameters of `shoal ring up`.
struct RingParams {
  uint32_t nodes = 5;
  uint32_t n = 3, w = 2, r = 2;
  uint32_t partitions = 64;
  uint32_t base_port = 7100;
  std::string sync = "periodic";
  std::string conflict = "siblings";  // or "lww" (unsafe; doc/faults.md)
  uint32_t dcs = 0;                   // --dcs; 0 = no datacenters
  friend bool operator==(const RingParams&, const RingParams&) = default;
};

// Checks 1 <= nodes <= 100, dcs <= nodes, 1 <= n <= nodes, 1 <= w,r <= the
// total replica count (n, or with datacenters the sum of the per-datacenter
// counts), partitions a power of two in [nodes, 65536], every port in
// 1..65535, sync one of periodic|always|none, conflict one of siblings|lww.
// Errors: kInvalidArgument naming the flag(s) and the limit.
Status ValidateRingParams(const RingParams& params);
// "nodes=5 n=3 w=2 r=2 partitions=64 base-port=7100 sync=periodic" (and
// " dcs=2" with datacenters).
std::string DescribeRingParams(const RingParams& params);

// With `dcs` >= 1: datacenter d (1-based) of `nodes` nodes split in order
// into `dcs` datacenters, the first (nodes mod dcs) one node larger, as the
// node indexes [first, last] (1-based) it holds. E.g. 7 nodes in 2: dc1
// holds n1..n4, dc2 n5..n7.
std::pair<uint32_t, uint32_t> DcNodeRange(uint32_t nodes, uint32_t dcs,
                                          uint32_t d);
// The replicas of each key a datacenter of `size` nodes holds: min(n, size).
// It also has that many racks, r1..r<count>, dealt round-robin.
uint32_t DcReplicas(uint32_t n, uint32_t size);
// n, or with datacenters the sum of their replica counts.
uint32_t TotalReplicas(const RingState& state);
uint32_t TotalReplicas(const RingParams& params);
// "dc1: n1 n2 n3; dc2: n4 n5 n6" ("" without datacenters).
std::string DescribeDcs(const RingState& state);

// The ring `params` describes, laid out in `dir` (absolute). Pids are 0.
// With params.dcs, nodes get datacenters dc1..dc<dcs> (DcNodeRange) and,
// within one, racks r1, r2, ... round-robin (DcReplicas racks).
RingState PlanRing(const std::filesystem::path& dir, const RingParams& params);
RingParams ParamsOf(const RingState& state);
// The datacenter and rack a node added to `state` gets: the datacenter with
// the fewest nodes (the first of those), and its least used rack (the
// first of those). Both "" without datacenters.
std::pair<std::string, std::string> SiteForNewNode(const RingState& state);

// ring.json <-> RingState. Parsing validates types, required fields, the
// version and the parameters. Errors: kCorruption naming the field.
Json RingStateToJson(const RingState& state);
Result<RingState> RingStateFromJson(const Json& json);
Result<RingState> ParseRingState(std::string_view text);

// The node.toml for `node` (a member of `state`), written with toml++. With
// `seeds`, the node learns the cluster state from them (cluster.seeds)
// instead of listing the members, n and partitions: a node that joins a
// running ring (Launcher::Add). With `like`, the text of a member's
// node.toml, every setting of `like` other than the node's identity and
// [cluster] is kept (an operator's edits to [storage], [antientropy] ...):
// a node that joins runs as the members do. Errors: kInvalidArgument when
// `like` does not parse.
// With datacenters, the node's `dc` and `rack` are top-level keys, every
// member of [cluster].members carries its dc and rack, and [cluster].n is a
// table of replicas per datacenter ({ dc1 = 3, dc2 = 3 }).
Result<std::string> NodeConfigToml(const RingState& state, const RingNode& node,
                                   const std::vector<std::string>& seeds = {},
                                   std::string_view like = {});
// Node `index` (1-based) of a ring in `dir` with `base_port`: "n<index>",
// its addresses and paths as PlanRing lays them out.
RingNode NodeAt(const std::filesystem::path& dir, uint32_t base_port,
                uint32_t index);

// Where a key lives, computed like the nodes do: `nodetool getendpoints`.
struct KeyPlacement {
  uint64_t hash = 0;
  uint32_t partition = 0;
  std::vector<RingNode> primaries;  // ring.Primaries(), preference order
  std::vector<RingNode> fallbacks;  // the rest of the preference list
};
// The one placement function: `key` in `ring`, whose member i is `nodes[i]`
// (nodes.size() == ring.members().size()). The overloads below build the
// ring and the node list.
KeyPlacement PlaceKey(const ring::Ring& ring,
                      const std::vector<RingNode>& nodes, std::string_view key);
// By the ring's member list (ring::Ring::Create over ring.json's names,
// partitions and n, and with datacenters each node's site and the
// replicas per datacenter): a ring whose members never changed (epoch 1).
// Errors: whatever ring::Ring::Create reports for this member list.
Result<KeyPlacement> PlaceKey(const RingState& state, std::string_view key);
// By a cluster state a node holds (cluster::RingOf: its current claim), the
// members' names and addresses from the state. Errors: RingOf's.
Result<KeyPlacement> PlaceKey(const cluster::ClusterState& state,
                              std::string_view key);

// Prometheus for a ring: the scrape config `ring up` writes to
// D/prometheus.yml (every node's metrics address, scrape_interval 1s, the
// node's name as label `node`), and the server `ring up --prometheus` runs.
inline constexpr uint32_t kPrometheusPortOffset = 200;
std::string PrometheusConfigYaml(const RingState& state);
std::string PrometheusAddress(const RingState& state);  // 127.0.0.1:base+200

struct PrometheusInfo {
  std::string config;   // D/prometheus.yml
  std::string address;  // where `ring up --prometheus` serves it
  std::string data_dir;
  std::string log;
  int pid = 0;  // 0 = not running
};

enum class NodeState { kStopped, kRunning, kPaused };
const char* NodeStateName(NodeState state);

// The state of `node`'s recorded pid, from kill(pid, 0) and /proc: stopped
// when gone, a zombie or not this node's shoald; paused when stopped by a
// signal ('T'); running otherwise.
NodeState ProbeNode(const RingNode& node);

// What a command did to one node.
struct NodeAction {
  RingNode node;  // pid: the process acted on (or started)
  NodeState before = NodeState::kStopped;
  NodeState after = NodeState::kStopped;
};

// Flags given to `ring up`; unset ones come from the stopped ring in D (so
// `ring up --dir D` restarts it as it was), else from RingParams defaults.
struct UpOptions {
  std::optional<uint32_t> nodes, n, w, r, partitions, base_port;
  // --dcs N: N >= 1 datacenters (0 is refused); unset keeps the stopped
  // ring's (none for a new ring).
  std::optional<uint32_t> dcs;
  std::optional<std::string> sync;
  std::optional<std::string> conflict;
  bool fresh = false;       // wipe D first (only a ring directory or empty dir)
  bool prometheus = false;  // also start a Prometheus server (see above)
  std::chrono::milliseconds wait = std::chrono::seconds(30);
};

class Launcher {
 public:
  // Progress lines (no trailing newline) for a human, e.g. "waiting for 5
  // nodes: 3 up" and the log tail of a node that failed to start.
  using Progress = std::function<void(const std::string&)>;

  // `dir` is made absolute. `shoald` is the binary Up() and Start() run; it
  // is only checked when they need it. `progress` may be empty.
  Launcher(std::filesystem::path dir, std::filesystem::path shoald,
           Progress progress);

  const std::filesystem::path& dir() const { return dir_; }

  // D/ring.json. Errors: kNotFound "no ring in D ...", kCorruption.
  Result<RingState> Load() const;

  // Starts a ring (see UpOptions) and waits until every node answers a
  // status request (polled every 100 ms, up to options.wait), then (best
  // effort, up to 10 s) until every node reports every other one up. Refuses
  // when a node of a ring in D is running or paused, when D holds a stopped
  // ring with other parameters (unless fresh), when D is neither empty nor a
  // ring directory, when a port is in use or shoald is missing. On a start
  // failure it stops the nodes it started, reports the failing node's log
  // tail through progress, and returns the error.
  Result<RingState> Up(const UpOptions& options);

  // Stops every node: SIGCONT the paused ones, SIGTERM all, wait up to 10 s
  // for each to exit, then SIGKILL. Idempotent; no ring in D is not an
  // error (returns no actions).
  Result<std::vector<NodeAction>> Down();

  // Single-node faults. Errors: kNotFound listing the known names when
  // `name` is not a member.
  // SIGKILL (a crash, not a clean shutdown) and wait for the exit.
  Result<NodeAction> Kill(std::string_view name);
  // A clean stop of one node: SIGTERM (SIGCONT first when paused), wait up
  // to 10 s for the exit (it finishes its writes and saves its anti-entropy
  // trees), then SIGKILL. Its data stays; `Start` brings it back.
  Result<NodeAction> Stop(std::string_view name);
  // Restarts a stopped node with its data and waits until it answers (and,
  // best effort, until it and the running nodes see each other up); a
  // running node is left alone; a paused one is an error (resume it).
  Result<NodeAction> Start(std::string_view name);
  // Membership (doc/membership.md): a new node n<max+1> (max over ring.json
  // and every member the cluster state lists, removed ones included: their
  // names and addresses stay taken) joins the running
  // ring (its join staged and committed at a running node, then started
  // with the running nodes as seeds), and the call waits, up to `wait`,
  // until the change completed (the new node received its partitions).
  // Errors: no running node, a port in use, the commit's refusal, the node
  // failing to start, kTimeout when the change is still in progress (it
  // goes on; `shoal cluster status` shows it).
  Result<NodeAction> Add(std::chrono::milliseconds wait);
  // A member leaves: its leave is committed at another running node, the
  // call waits up to `wait` until the change completed (the others
  // received its partitions), then stops it and deletes its directory.
  Result<NodeAction> Remove(std::string_view name,
                            std::chrono::milliseconds wait);
  // A member is replaced by a new node n<max+1> (a lost disk): the member
  // is killed and its directory deleted, `replace OLD NEW@ADDRESS` is
  // committed at another running node, the new node is started with the
  // running nodes as seeds, and the call waits, up to `wait`, until the
  // change completed (the new node received the old one's partitions from
  // the other replicas). Errors as Add's; kTimeout when the change is still
  // in progress (it goes on).
  Result<NodeAction> Replace(std::string_view name,
                             std::chrono::milliseconds wait);
  // Waits, up to `wait`, until the cluster is settled: every running node
  // of the ring that is still a member holds one cluster state (same epoch
  // and digest) with no change in progress. Then stops the nodes that
  // state lists as removed (a Remove that timed out) and deletes their
  // directories. Returns the settled state and the names it stopped.
  // Errors: no running node, kTimeout naming what is still in progress.
  struct Settled {
    cluster::ClusterState state;
    std::vector<std::string> stopped;
  };
  Result<Settled> Settle(std::chrono::milliseconds wait);
  // The cluster state of the first running node that answers. Errors:
  // kUnavailable when none does.
  Result<cluster::ClusterState> ClusterStateOfRing() const;

  // SIGSTOP / SIGCONT. Pausing a stopped node is an error; pausing a paused
  // or resuming a running node changes nothing.
  Result<NodeAction> Pause(std::string_view name);
  Result<NodeAction> Resume(std::string_view name);

  // The ring's Prometheus paths and, when a server started by `ring up
  // --prometheus` is still running, its pid.
  PrometheusInfo Prometheus(const RingState& state) const;

  // Every node with its probed state, in member order.
  Result<std::vector<std::pair<RingNode, NodeState>>> Probe() const;

  // The address of the first running node, for the CLI's --node default.
  // Errors: kUnavailable "no running ring in D; ...".
  Result<std::string> FirstRunningAddress() const;

 private:
  Result<NodeAction> SignalRunning(std::string_view name, NodeState from,
                                   int signal);
  // Load() then, when there is a ring, lock D and Load() again.
  Result<RingState> LockAndLoad(internal::DirLock& lock) const;
  Status Save(const RingState& state) const;
  Status CheckShoald() const;
  Result<int> Spawn(const RingNode& node) const;
  // Starts `prometheus` (found in PATH) on D/prometheus.yml and waits up to
  // 30 s until it is ready. Errors: kNotFound (not installed), kUnavailable
  // (its port is taken, or it did not get ready; its log tail is reported).
  Result<PrometheusInfo> StartPrometheus(const RingState& state) const;
  // SIGTERM, up to 10 s, then SIGKILL; true when one was running.
  bool StopPrometheus(const RingState& state) const;
  // Polls each node until it answers or `budget` passes; on failure names
  // the node and reports its log tail.
  Status WaitUntilAnswering(const std::vector<RingNode>& nodes,
                            std::chrono::milliseconds budget) const;
  // Polls until every node reports every other one up (its failure
  // detector has seen them), so the first request after `ring up` does not
  // fail. Best effort: after `budget` it reports who lags and returns.
  void WaitUntilPeersSeen(const std::vector<RingNode>& nodes,
                          std::chrono::milliseconds budget) const;
  // SIGTERM (after SIGCONT), wait, SIGKILL. Returns the actions.
  std::vector<NodeAction> StopNodes(std::vector<RingNode>& nodes) const;
  void Report(const std::string& line) const;
  // Stages exactly `change` at `address` and commits it; the new epoch.
  Result<uint64_t> CommitChange(const std::string& address,
                                const cluster::Change& change) const;
  // Polls every one of `addresses` until its cluster state is past `epoch`
  // with no change in progress (each node completes a change by itself),
  // reporting progress, up to `wait`.
  Status WaitUntilChanged(const std::vector<std::string>& addresses,
                          uint64_t epoch, std::chrono::milliseconds wait) const;
  // The index of the next new node: one past the highest "n<i>" among
  // ring.json's nodes and every member (removed ones included, their names
  // and addresses stay taken) of the cluster state `address` holds.
  uint32_t NextIndex(const RingState& state, const std::string& address) const;
  // Starts `node` (committed as joining or replacing at `epoch`) from
  // `seeds`, adds it to ring.json, and waits until it and every seed
  // completed the change, up to `wait`.
  Result<NodeAction> StartNewMember(RingState& state, RingNode node,
                                    const std::vector<std::string>& seeds,
                                    uint64_t epoch,
                                    std::chrono::milliseconds wait);

  std::filesystem::path dir_;
  std::filesystem::path shoald_;
  Progress progress_;
};

// The last `lines` lines of a file ("" if unreadable).
std::string TailFile(const std::filesystem::path& path, size_t lines);

}  // namespace shoal::tools
