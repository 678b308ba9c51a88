// `shoal ring ...`: a local ring of shoald processes (tools/ring/launcher.h),
// and where a key lives on it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

#include "base/duration.h"
#include "base/table.h"
#include "client/client.h"
#include "cluster/state.h"
#include "tools/cli/common.h"
#include "tools/cli/output.h"
#include "tools/cli/verbs.h"
#include "tools/ring/fault_ops.h"
#include "tools/ring/faults.h"
#include "tools/ring/launcher.h"

namespace shoal::tools::cli {
namespace {

namespace fs = std::filesystem;

// ---- ring verbs ----

// Shown after `ring up`: how to use the ring just started.
void PrintExamples(const std::string& self, const fs::path& ring_dir) {
  const bool is_default =
      fs::absolute(DefaultRingDir()).lexically_normal() == ring_dir;
  const std::string dir = is_default ? "" : " --dir " + ring_dir.string();
  std::cout << "\ntry:\n"
            << "  " << self << " put hello world" << dir << "\n"
            << "  " << self << " get hello" << dir << "\n"
            << "  " << self << " status" << dir << "\n"
            << "stop it with: " << self << " ring down" << dir << "\n";
}

json NodeJson(const RingNode& node) {
  json out{{"name", node.name},
           {"address", node.address},
           {"metrics_address", node.metrics_address},
           {"pid", node.pid},
           {"data_dir", node.data_dir},
           {"config", node.config},
           {"log", node.log}};
  if (!node.dc.empty()) {
    out["dc"] = node.dc;
    out["rack"] = node.rack;
  }
  return out;
}

// A ring with datacenters: [{"name", "n", "nodes": [names]}]; [] without.
json DcsJson(const RingState& state) {
  json out = json::array();
  for (const RingDc& dc : state.dcs) {
    json names = json::array();
    for (const RingNode& node : state.nodes) {
      if (node.dc == dc.name) names.push_back(node.name);
    }
    out.push_back(json{{"name", dc.name}, {"n", dc.n}, {"nodes", names}});
  }
  return out;
}

// "5 nodes, n=3 w=2 r=2, 64 partitions", with datacenters "6 nodes in 2
// datacenters, n=3 per datacenter (6 in all) w=2 r=2, 64 partitions" and
// each datacenter's count when one holds fewer (a datacenter smaller than
// --n).
std::string DescribeRing(const RingState& state) {
  std::string out = std::to_string(state.nodes.size()) + " nodes";
  if (state.dcs.empty()) {
    out += ", n=" + std::to_string(state.n);
  } else {
    bool capped = false;
    for (const RingDc& dc : state.dcs) capped |= dc.n != state.n;
    out += " in " + std::to_string(state.dcs.size()) + " datacenter" +
           (state.dcs.size() == 1 ? "" : "s") +
           ", n=" + std::to_string(state.n) + " per datacenter";
    if (capped) {
      out += " (";
      for (size_t i = 0; i < state.dcs.size(); ++i) {
        out += (i == 0 ? "" : " ") + state.dcs[i].name + "=" +
               std::to_string(state.dcs[i].n);
      }
      out += ")";
    }
    out += ", " + std::to_string(TotalReplicas(state)) + " in all,";
  }
  return out + " w=" + std::to_string(state.w) +
         " r=" + std::to_string(state.r) + ", " +
         std::to_string(state.partitions) + " partitions";
}

// The DC and RACK columns, for a ring with datacenters.
void AddSiteColumns(std::vector<std::string>& row, const RingNode& node) {
  row.push_back(node.dc.empty() ? "-" : node.dc);
  row.push_back(node.rack.empty() ? "-" : node.rack);
}

json PrometheusJson(const PrometheusInfo& p) {
  return json{{"config", p.config},
              {"address", p.pid != 0 ? json(p.address) : json(nullptr)},
              {"pid", p.pid != 0 ? json(p.pid) : json(nullptr)},
              {"data_dir", p.data_dir},
              {"log", p.log}};
}

int RunRingUp(const Common& common, const UpOptions& options,
              const std::string& self) {
  Launcher launcher = MakeLauncher(common);
  Result<RingState> state = launcher.Up(options);
  if (!state.ok()) return Fail(state.status(), common.json);
  const PrometheusInfo prometheus = launcher.Prometheus(*state);
  if (common.json) {
    json nodes = json::array();
    for (const RingNode& node : state->nodes) nodes.push_back(NodeJson(node));
    PrintJson(json{{"dir", launcher.dir().string()},
                   {"n", state->n},
                   {"w", state->w},
                   {"r", state->r},
                   {"partitions", state->partitions},
                   {"conflict", state->conflict},
                   {"dcs", DcsJson(*state)},
                   {"nodes", std::move(nodes)},
                   {"prometheus", PrometheusJson(prometheus)}});
    return kExitOk;
  }
  std::cout << "ring up in " << launcher.dir().string() << ": "
            << DescribeRing(*state) << "\n";
  if (!state->dcs.empty()) {
    std::cout << "datacenters: " << DescribeDcs(*state) << "\n";
  }
  if (state->conflict == "lww") {
    std::cout << "conflict = lww: concurrent writes are DISCARDED (last "
                 "write wins); for comparison only (doc/faults.md)\n";
  }
  const bool sites = !state->dcs.empty();
  std::vector<std::vector<std::string>> rows{
      {"NAME", "ADDRESS", "METRICS", "PID"}};
  if (sites) rows[0].insert(rows[0].end(), {"DC", "RACK"});
  for (const RingNode& node : state->nodes) {
    rows.push_back({node.name, node.address, node.metrics_address,
                    std::to_string(node.pid)});
    if (sites) AddSiteColumns(rows.back(), node);
  }
  std::cout << FormatTable(rows);
  std::cout << "logs and data: " << launcher.dir().string() << "/<name>/\n";
  std::cout << "metrics: " << self << " metrics [--node NAME]"
            << (common.dir == DefaultRingDir() ? "" : " --dir " + common.dir)
            << " sums up a node's /metrics\n";
  if (prometheus.pid != 0) {
    std::cout << "prometheus: http://" << prometheus.address << " (pid "
              << prometheus.pid << ", scraping every node each second; "
              << "stopped by ring down)\n";
  } else {
    std::cout << "prometheus config: " << prometheus.config
              << "\n  run Prometheus on it by hand: prometheus --config.file="
              << prometheus.config
              << " --storage.tsdb.path=" << prometheus.data_dir
              << " --web.listen-address=" << prometheus.address
              << "\n  (or start the ring with `ring up --prometheus`, which "
                 "also stops it at ring down)\n";
  }
  PrintExamples(self, launcher.dir());
  return kExitOk;
}

int RunRingStatus(const Common& common) {
  Launcher launcher = MakeLauncher(common);
  Result<RingState> state = launcher.Load();
  if (!state.ok()) return Fail(state.status(), common.json);
  json nodes = json::array();
  const bool sites = !state->dcs.empty();
  std::vector<std::vector<std::string>> rows{
      {"NAME", "ADDRESS", "METRICS", "PID", "STATE"}};
  if (sites) rows[0].insert(rows[0].end(), {"DC", "RACK"});
  for (const RingNode& node : state->nodes) {
    const NodeState st = ProbeNode(node);
    const bool alive = st != NodeState::kStopped;
    json item{{"name", node.name},
              {"address", node.address},
              {"metrics_address", node.metrics_address},
              {"pid", alive ? json(node.pid) : json(nullptr)},
              {"state", NodeStateName(st)}};
    if (!node.dc.empty()) {
      item["dc"] = node.dc;
      item["rack"] = node.rack;
    }
    nodes.push_back(std::move(item));
    rows.push_back({node.name, node.address, node.metrics_address,
                    alive ? std::to_string(node.pid) : "-", NodeStateName(st)});
    if (sites) AddSiteColumns(rows.back(), node);
  }
  const PrometheusInfo prometheus = launcher.Prometheus(*state);
  if (common.json) {
    PrintJson(json{{"dir", launcher.dir().string()},
                   {"n", state->n},
                   {"w", state->w},
                   {"r", state->r},
                   {"partitions", state->partitions},
                   {"dcs", DcsJson(*state)},
                   {"nodes", std::move(nodes)},
                   {"prometheus", PrometheusJson(prometheus)}});
  } else {
    if (prometheus.pid != 0) {
      rows.push_back({"prometheus", prometheus.address, "-",
                      std::to_string(prometheus.pid), "running"});
      if (sites) AddSiteColumns(rows.back(), RingNode{});
    }
    std::cout << "ring in " << launcher.dir().string() << ": "
              << DescribeRing(*state) << "\n";
    if (sites) std::cout << "datacenters: " << DescribeDcs(*state) << "\n";
    std::cout << FormatTable(rows);
  }
  return kExitOk;
}

json ActionJson(const NodeAction& action) {
  return json{{"node", action.node.name},
              {"pid", action.node.pid},
              {"before", NodeStateName(action.before)},
              {"after", NodeStateName(action.after)}};
}

int RunRingDown(const Common& common) {
  Launcher launcher = MakeLauncher(common);
  Result<std::vector<NodeAction>> actions = launcher.Down();
  if (!actions.ok()) return Fail(actions.status(), common.json);
  if (common.json) {
    json nodes = json::array();
    for (const NodeAction& a : *actions) nodes.push_back(ActionJson(a));
    PrintJson(
        json{{"dir", launcher.dir().string()}, {"nodes", std::move(nodes)}});
    return kExitOk;
  }
  size_t stopped = 0;
  for (const NodeAction& a : *actions) {
    if (a.before == NodeState::kStopped) continue;
    std::cout << "stopped " << a.node.name << " (pid " << a.node.pid << ")\n";
    ++stopped;
  }
  if (actions->empty()) {
    std::cout << "no ring in " << launcher.dir().string() << "\n";
  } else if (stopped == 0) {
    std::cout << "ring in " << launcher.dir().string() << " was not running\n";
  } else {
    std::cout << "ring in " << launcher.dir().string() << " is down\n";
  }
  return kExitOk;
}

}  // namespace

int RunNodeVerb(const Common& common, NodeVerb verb, const std::string& name) {
  Launcher launcher = MakeLauncher(common);
  Result<NodeAction> action = Status(Code::kInternal, "unreachable");
  switch (verb) {
    case NodeVerb::kKill:
      action = launcher.Kill(name);
      break;
    case NodeVerb::kStop:
      action = launcher.Stop(name);
      break;
    case NodeVerb::kStart:
      action = launcher.Start(name);
      break;
    case NodeVerb::kPause:
      action = launcher.Pause(name);
      break;
    case NodeVerb::kResume:
      action = launcher.Resume(name);
      break;
  }
  if (!action.ok()) return Fail(action.status(), common.json);
  if (verb == NodeVerb::kStart && action->before != action->after) {
    // A restarted node's fault table is empty: give it the ring's back.
    auto faults = LoadFaultSet(launcher.dir());
    if (faults.ok() && !faults->empty()) {
      asio::io_context io;
      std::vector<FaultTarget> one{
          {action->node.name, action->node.address, true}};
      std::optional<std::vector<PushOutcome>> pushed;
      asio::co_spawn(
          io,
          [&]() -> Awaitable<void> {
            pushed = co_await PushFaults(one, *faults,
                                         std::chrono::milliseconds(2000));
          },
          asio::detached);
      io.run();
      if (!pushed || pushed->empty() || !(*pushed)[0].status.ok()) {
        std::cerr << "warning: " << action->node.name
                  << " did not take the ring's fault table\n";
      } else if (!common.json) {
        std::cout << action->node.name << " got the ring's "
                  << DescribeFaults(*faults).size() << " active faults\n";
      }
    }
  }
  if (common.json) {
    PrintJson(ActionJson(*action));
    return kExitOk;
  }
  const NodeAction& a = *action;
  const std::string who =
      a.node.name + " (pid " + std::to_string(a.node.pid) + ")";
  const bool changed = a.before != a.after;
  switch (verb) {
    case NodeVerb::kKill:
      std::cout << (changed ? "killed " + who
                            : a.node.name + " was not running")
                << "\n";
      break;
    case NodeVerb::kStop:
      std::cout << (changed ? "stopped " + who + " (clean shutdown)"
                            : a.node.name + " was not running")
                << "\n";
      break;
    case NodeVerb::kStart:
      std::cout << (changed
                        ? "started " + who + ", answering on " + a.node.address
                        : who + " is already running")
                << "\n";
      break;
    case NodeVerb::kPause:
      std::cout << (changed ? "paused " + who : who + " was already paused")
                << "\n";
      break;
    case NodeVerb::kResume:
      std::cout << (changed ? "resumed " + who : who + " was not paused")
                << "\n";
      break;
  }
  return kExitOk;
}

namespace {

// Placed by the cluster state a running node holds (members change), or,
// when no node answers, by the ring's own member list (epoch 1).
int RunRingWhere(const Common& common, const std::string& key) {
  uint64_t epoch = 0;  // 0: placed without a node's state
  uint32_t partitions = 0;
  Result<KeyPlacement> placement = Status(Code::kInternal, "not placed");
  Result<std::string> address = ResolveNode(common);
  if (address.ok()) {
    asio::io_context io;
    client::Client client(io.get_executor(), *address);
    auto state = RunCall(io, client.ClusterState(std::chrono::seconds(2)));
    if (state.ok()) {
      epoch = state->epoch;
      partitions = state->options.partitions;
      placement = PlaceKey(*state, key);
      if (!placement.ok()) return Fail(placement.status(), common.json);
    }
  }
  if (epoch == 0) {
    Launcher launcher = MakeLauncher(common);
    Result<RingState> state = launcher.Load();
    if (!state.ok()) return Fail(state.status(), common.json);
    partitions = state->partitions;
    placement = PlaceKey(*state, key);
    if (!placement.ok()) return Fail(placement.status(), common.json);
  }
  char hash[19];
  std::snprintf(hash, sizeof(hash), "0x%016llx",
                static_cast<unsigned long long>(placement->hash));
  if (common.json) {
    auto list = [](const std::vector<RingNode>& nodes) {
      json out = json::array();
      for (const RingNode& node : nodes) {
        json item{{"name", node.name}, {"address", node.address}};
        if (!node.dc.empty()) {
          item["dc"] = node.dc;
          item["rack"] = node.rack;
        }
        out.push_back(std::move(item));
      }
      return out;
    };
    PrintJson(json{{"key", key},
                   {"hash", hash},
                   {"partition", placement->partition},
                   {"partitions", partitions},
                   {"epoch", epoch},
                   {"primaries", list(placement->primaries)},
                   {"fallbacks", list(placement->fallbacks)}});
    return kExitOk;
  }
  std::cout << "key " << key << ": partition " << placement->partition << " of "
            << partitions << " (hash " << hash << ")\n";
  std::cout << (epoch != 0 ? "cluster state epoch " + std::to_string(epoch) +
                                 " of " + *address
                           : std::string("no node answered: placed by the "
                                         "ring's member list"))
            << "\n";
  bool sites = false;  // a ring with datacenters: DC and RACK columns
  for (const auto* list : {&placement->primaries, &placement->fallbacks}) {
    for (const RingNode& node : *list) sites |= !node.dc.empty();
  }
  std::vector<std::vector<std::string>> rows{{"ROLE", "NAME", "ADDRESS"}};
  if (sites) rows[0].insert(rows[0].end(), {"DC", "RACK"});
  for (size_t i = 0; i < placement->primaries.size(); ++i) {
    const RingNode& node = placement->primaries[i];
    rows.push_back(
        {"primary " + std::to_string(i + 1), node.name, node.address});
    if (sites) AddSiteColumns(rows.back(), node);
  }
  for (size_t i = 0; i < placement->fallbacks.size(); ++i) {
    const RingNode& node = placement->fallbacks[i];
    rows.push_back(
        {"fallback " + std::to_string(i + 1), node.name, node.address});
    if (sites) AddSiteColumns(rows.back(), node);
  }
  std::cout << FormatTable(rows);
  return kExitOk;
}

// `ring add` / `ring remove NODE`: a membership change through the cluster
// (Launcher::Add, Remove), waited for up to --wait.
int RunMembershipVerb(const Common& common, bool add, const std::string& name,
                      const std::string& wait_text) {
  auto wait = ParseDuration(wait_text);
  if (!wait.ok()) return UsageError("--wait: " + wait.status().message());
  Launcher launcher = MakeLauncher(common);
  Result<NodeAction> action =
      add ? launcher.Add(*wait) : launcher.Remove(name, *wait);
  if (!action.ok()) return Fail(action.status(), common.json);
  if (common.json) {
    json j = ActionJson(*action);
    j["address"] = action->node.address;
    PrintJson(j);
    return kExitOk;
  }
  std::cout << (add ? "added " + action->node.name + " (pid " +
                          std::to_string(action->node.pid) + ") on " +
                          action->node.address + "; it holds its partitions"
                    : "removed " + action->node.name +
                          ": the others hold its partitions; it is stopped "
                          "and its directory deleted")
            << "\n";
  return kExitOk;
}

}  // namespace

void AddRingVerbs(CLI::App& app, Verbs& verbs) {
  CLI::App* ring = app.add_subcommand(
      "ring", "run a local ring of shoald processes (one directory each)");
  ring->require_subcommand(1);

  // ring up: every flag's value, and (through its CLI::Option) whether it
  // was given; unset ones come from the stopped ring in --dir.
  struct UpArgs {
    Common common;
    RingParams flags;  // each flag's value (RingParams' defaults if unset)
    bool fresh = false;
    bool with_prometheus = false;
  };
  auto up_args = std::make_shared<UpArgs>();
  up_args->common = Common{.json = false, .dir = verbs.default_dir, .node = ""};
  RingParams& flags = up_args->flags;
  CLI::App* up = ring->add_subcommand(
      "up",
      "start a ring: nodes n1..nN on 127.0.0.1:(base-port+i), metrics on "
      "base-port+100+i, optionally in datacenters (--dcs); restarts a "
      "stopped ring in --dir with its data (unset flags keep that ring's "
      "values)");
  CLI::Option* o_nodes =
      up->add_option("--nodes", flags.nodes, "number of nodes")
          ->capture_default_str();
  CLI::Option* o_n =
      up->add_option("--n", flags.n,
                     "replicas per key (with --dcs: per datacenter, at most "
                     "its node count)")
          ->capture_default_str();
  CLI::Option* o_dcs = up->add_option(
      "--dcs", flags.dcs,
      "split the nodes in order into this many datacenters dc1..dcN (7 "
      "nodes in 2: n1-n4, n5-n7), each holding n replicas on racks "
      "r1..rn (default: no datacenters)");
  CLI::Option* o_w =
      up->add_option("--w", flags.w, "write quorum")->capture_default_str();
  CLI::Option* o_r =
      up->add_option("--r", flags.r, "read quorum")->capture_default_str();
  CLI::Option* o_partitions = up->add_option("--partitions", flags.partitions,
                                             "partitions (a power of two)")
                                  ->capture_default_str();
  CLI::Option* o_sync =
      up->add_option("--sync", flags.sync, "storage sync policy")
          ->check(CLI::IsMember({"periodic", "always", "none"}))
          ->capture_default_str();
  CLI::Option* o_conflict =
      up->add_option("--conflict", flags.conflict,
                     "how concurrent writes are resolved: siblings, or lww "
                     "(last write wins; loses writes, for comparison only: "
                     "doc/faults.md)")
          ->check(CLI::IsMember({"siblings", "lww"}))
          ->capture_default_str();
  CLI::Option* o_base =
      up->add_option("--base-port", flags.base_port, "base port")
          ->check(CLI::Range(1, 65535))
          ->capture_default_str();
  up->add_flag("--fresh", up_args->fresh,
               "wipe --dir first (only a ring directory or an empty one)");
  up->add_flag("--prometheus", up_args->with_prometheus,
               "also start Prometheus on 127.0.0.1:(base-port+200) with "
               "--dir/prometheus.yml, data in --dir/prometheus/ (ring down "
               "stops it)");
  AddCommon(up, &up_args->common, false);
  verbs.On(up, [up_args, o_nodes, o_n, o_dcs, o_w, o_r, o_partitions, o_sync,
                o_conflict, o_base, self = verbs.self] {
    const RingParams& flags = up_args->flags;
    UpOptions options;
    if (o_nodes->count()) options.nodes = flags.nodes;
    if (o_n->count()) options.n = flags.n;
    if (o_dcs->count()) options.dcs = flags.dcs;
    if (o_w->count()) options.w = flags.w;
    if (o_r->count()) options.r = flags.r;
    if (o_partitions->count()) options.partitions = flags.partitions;
    if (o_base->count()) options.base_port = flags.base_port;
    if (o_sync->count()) options.sync = flags.sync;
    if (o_conflict->count()) options.conflict = flags.conflict;
    options.fresh = up_args->fresh;
    options.prometheus = up_args->with_prometheus;
    return RunRingUp(up_args->common, options, self);
  });

  // The other ring verbs share --json and --dir (only one runs).
  struct RingArgs {
    Common common;
    std::string node_name;  // kill, start, pause, resume
    std::string where_key;  // where
  };
  auto ring_args = std::make_shared<RingArgs>();
  ring_args->common =
      Common{.json = false, .dir = verbs.default_dir, .node = ""};
  CLI::App* ring_status =
      ring->add_subcommand("status",
                           "each node's address, pid and state (and its "
                           "datacenter and rack, in a ring with --dcs)");
  AddCommon(ring_status, &ring_args->common, false);
  verbs.On(ring_status,
           [ring_args] { return RunRingStatus(ring_args->common); });
  CLI::App* down = ring->add_subcommand(
      "down", "stop every node (SIGTERM, SIGKILL after 10 s); idempotent");
  AddCommon(down, &ring_args->common, false);
  verbs.On(down, [ring_args] { return RunRingDown(ring_args->common); });

  for (auto [verb, name, help] :
       {std::tuple{NodeVerb::kKill, "kill",
                   "crash a node (SIGKILL); its data stays"},
        std::tuple{NodeVerb::kStop, "stop",
                   "stop a node cleanly (SIGTERM): it finishes its writes, "
                   "saves its anti-entropy trees and exits; its data stays"},
        std::tuple{NodeVerb::kStart, "start",
                   "restart a stopped node with its data and wait until it "
                   "answers"},
        std::tuple{NodeVerb::kPause, "pause",
                   "freeze a node (SIGSTOP): a slow or partitioned node"},
        std::tuple{NodeVerb::kResume, "resume",
                   "unfreeze a paused node (SIGCONT)"}}) {
    CLI::App* cmd = ring->add_subcommand(name, help);
    cmd->add_option("node", ring_args->node_name, "node name, e.g. n3")
        ->required();
    AddCommon(cmd, &ring_args->common, false);
    verbs.On(cmd, [ring_args, verb = verb] {
      return RunNodeVerb(ring_args->common, verb, ring_args->node_name);
    });
  }

  struct MembershipArgs {
    Common common;
    std::string node_name;
    std::string wait = "10m";
  };
  for (const bool add : {true, false}) {
    auto args = std::make_shared<MembershipArgs>();
    args->common = Common{.json = false, .dir = verbs.default_dir, .node = ""};
    CLI::App* cmd = ring->add_subcommand(
        add ? "add" : "remove",
        add ? "a new node joins the running ring (committed through the "
              "cluster) and receives its partitions; waits until it has "
              "them"
            : "a node leaves the ring: the others receive its partitions, "
              "then it is stopped and its directory deleted");
    if (!add) {
      cmd->add_option("node", args->node_name, "node name, e.g. n3")
          ->required();
    }
    cmd->add_option("--wait", args->wait,
                    "how long to wait for the transfer, e.g. 10m, 30s")
        ->capture_default_str();
    AddCommon(cmd, &args->common, false);
    verbs.On(cmd, [args, add] {
      return RunMembershipVerb(args->common, add, args->node_name, args->wait);
    });
  }

  CLI::App* where = ring->add_subcommand(
      "where", "which partition and nodes hold a key (primaries, fallbacks)");
  where->add_option("key", ring_args->where_key, "the key")->required();
  AddCommon(where, &ring_args->common, true);
  verbs.On(where, [ring_args] {
    return RunRingWhere(ring_args->common, ring_args->where_key);
  });
}

}  // namespace shoal::tools::cli
