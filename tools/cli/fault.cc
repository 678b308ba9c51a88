// `shoal fault ...`: the cluster's fault table (tools/ring/faults.h), kept
// in --dir/faults.json for a local ring and sent to every node; the process
// faults are ring.cc's node verbs.
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "base/duration.h"
#include "client/client.h"
#include "tools/cli/common.h"
#include "tools/cli/verbs.h"
#include "tools/ring/fault_ops.h"
#include "tools/ring/faults.h"
#include "tools/ring/launcher.h"

namespace shoal::tools::cli {
namespace {

using client::Client;

struct FaultArgs {
  Common common;
  std::string nodes;  // --nodes HOST:PORT,...; empty = the ring in --dir
  uint32_t timeout_ms = 2000;
  bool clients = false;
  std::vector<std::string> words;  // the verb's positional arguments
};

// Who a fault command acts on and where the cluster's table lives.
struct FaultScope {
  std::vector<FaultTarget> targets;
  std::vector<std::string> members;
  // The ring's datacenters and their members (from ring.json), for group
  // links such as dc1<->dc2; with --nodes, none (names.no_dcs says why).
  FaultNames names;
  bool ring = false;  // the table is kept in --dir/faults.json
  FaultSet current;
};

Awaitable<Result<FaultScope>> AskNodes(std::vector<std::string> addresses,
                                       std::chrono::milliseconds timeout) {
  FaultScope scope;
  auto ex = co_await asio::this_coro::executor;
  for (const std::string& address : addresses) {
    Client client(ex, address);
    auto status = co_await client.Status(timeout);
    if (!status.ok()) co_return status.status();
    scope.targets.push_back({status->node, address, true});
    if (scope.members.empty()) {
      for (const auto& m : status->members) scope.members.push_back(m.name);
      wire::FaultRequest ask;
      auto table = co_await client.Fault(std::move(ask), timeout);
      if (!table.ok()) co_return table.status();
      scope.current = FaultSetOf(*table);
    }
  }
  co_return scope;
}

Result<FaultScope> ResolveFaultScope(const FaultArgs& args) {
  if (!args.nodes.empty()) {
    std::vector<std::string> addresses;
    std::stringstream in(args.nodes);
    for (std::string a; std::getline(in, a, ',');) {
      if (!a.empty()) addresses.push_back(a);
    }
    if (addresses.empty()) {
      return Status(Code::kInvalidArgument, "--nodes lists no address");
    }
    asio::io_context io;
    auto scope =
        RunCall(io, AskNodes(std::move(addresses),
                             std::chrono::milliseconds(args.timeout_ms)));
    if (scope.ok()) {
      scope->names.members = scope->members;
      scope->names.no_dcs =
          "datacenter names need a ring directory (--dir), not --nodes: "
          "use node names";
    }
    return scope;
  }
  Launcher launcher = MakeLauncher(args.common);
  auto probed = launcher.Probe();
  if (!probed.ok()) return probed.status();
  FaultScope scope;
  scope.ring = true;
  for (const auto& [node, state] : *probed) {
    scope.members.push_back(node.name);
    scope.targets.push_back(
        {node.name, node.address, state != NodeState::kStopped});
    if (!node.dc.empty()) scope.names.dcs[node.dc].push_back(node.name);
  }
  scope.names.members = scope.members;
  auto current = LoadFaultSet(launcher.dir());
  if (!current.ok()) return current.status();
  scope.current = std::move(current.value());
  return scope;
}

// Saves (for a ring) and sends `set` to every node of the scope, then
// reports. Exit 1 when a running node did not take it.
int ApplyFaults(const FaultArgs& args, FaultScope& scope, const FaultSet& set) {
  const bool as_json = args.common.json;
  if (scope.ring) {
    if (Status st = SaveFaultSet(MakeLauncher(args.common).dir(), set);
        !st.ok()) {
      return Fail(st, as_json);
    }
  }
  asio::io_context io;
  std::optional<std::vector<PushOutcome>> outcomes;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        outcomes = co_await PushFaults(
            scope.targets, set, std::chrono::milliseconds(args.timeout_ms));
      },
      asio::detached);
  io.run();
  bool failed = false;
  Json nodes = Json::array();
  for (size_t i = 0; outcomes && i < outcomes->size(); ++i) {
    const PushOutcome& o = (*outcomes)[i];
    if (!o.status.ok() && scope.targets[i].running) failed = true;
    Json n{{"node", o.name}, {"ok", o.status.ok()}};
    if (!o.status.ok()) n["error"] = o.status.message();
    nodes.push_back(std::move(n));
  }
  if (as_json) {
    PrintJson(Json{{"ok", !failed},
                   {"faults", FaultSetToJson(set)},
                   {"nodes", std::move(nodes)}});
  } else {
    const auto lines = DescribeFaults(set);
    if (lines.empty()) {
      std::cout << "no fault active\n";
    } else {
      std::cout << "active faults:\n";
      for (const std::string& l : lines) std::cout << "  " << l << "\n";
    }
    for (const auto& n : nodes) {
      if (!n["ok"].get<bool>()) {
        std::cerr << "warning: " << n["node"].get<std::string>() << ": "
                  << n["error"].get<std::string>() << "\n";
      }
    }
  }
  return failed ? kExitError : kExitOk;
}

Awaitable<std::vector<std::pair<std::string, Result<wire::FaultReply>>>>
AskTables(std::vector<FaultTarget> targets, std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<std::pair<std::string, Result<wire::FaultReply>>> out;
  for (const FaultTarget& t : targets) {
    if (!t.running) {
      out.emplace_back(t.name, Status(Code::kUnavailable, "not running"));
      continue;
    }
    Client client(ex, t.address);
    wire::FaultRequest ask;
    auto reply = co_await client.Fault(std::move(ask), timeout);
    out.emplace_back(t.name, std::move(reply));
  }
  co_return out;
}

// `fault list`: the table kept for the ring, and what each node holds.
int RunFaultList(const FaultArgs& args, const FaultScope& scope) {
  asio::io_context io;
  std::optional<std::vector<std::pair<std::string, Result<wire::FaultReply>>>>
      tables;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        tables = co_await AskTables(scope.targets,
                                    std::chrono::milliseconds(args.timeout_ms));
      },
      asio::detached);
  io.run();
  Json nodes = Json::array();
  std::string text;
  for (const auto& [name, reply] : *tables) {
    Json n{{"node", name}};
    if (!reply.ok()) {
      n["error"] = reply.status().message();
      text += name + ": " + reply.status().message() + "\n";
    } else {
      const auto lines = DescribeFaults(FaultSetOf(*reply));
      n["active"] = lines;
      n["frames_dropped"] = reply->frames_dropped;
      n["frames_delayed"] = reply->frames_delayed;
      text += name + ": " +
              (lines.empty() ? std::string("no fault")
                             : std::to_string(lines.size()) + " active") +
              ", " + std::to_string(reply->frames_dropped) +
              " frames dropped, " + std::to_string(reply->frames_delayed) +
              " delayed\n";
    }
    nodes.push_back(std::move(n));
  }
  if (args.common.json) {
    PrintJson(Json{{"faults", FaultSetToJson(scope.current)},
                   {"nodes", std::move(nodes)}});
    return kExitOk;
  }
  const auto lines = DescribeFaults(scope.current);
  if (lines.empty()) {
    std::cout << "no fault active\n";
  } else {
    std::cout << "active faults:\n";
    for (const std::string& l : lines) std::cout << "  " << l << "\n";
  }
  std::cout << text;
  return kExitOk;
}

enum class FaultVerb {
  kPartition,
  kIsolate,
  kCut,
  kDelay,
  kDrop,
  kClock,
  kHeal,
  kList
};

int RunFault(const FaultArgs& args, FaultVerb verb) {
  const bool as_json = args.common.json;
  auto scope = ResolveFaultScope(args);
  if (!scope.ok()) return Fail(scope.status(), as_json);
  if (verb == FaultVerb::kList) return RunFaultList(args, *scope);
  const auto& w = args.words;
  auto usage = [&](const std::string& what) {
    return Fail(Status(Code::kInvalidArgument, what), as_json);
  };
  FaultSet set = scope->current;
  switch (verb) {
    case FaultVerb::kPartition: {
      std::string spec;
      for (const std::string& word : w)
        spec += (spec.empty() ? "" : " ") + word;
      auto groups = ParseGroups(spec, scope->members);
      if (!groups.ok()) return Fail(groups.status(), as_json);
      AddRules(set, PartitionRules(*groups));
      break;
    }
    case FaultVerb::kIsolate: {
      if (w.size() != 1) return usage("isolate takes one node, e.g. n3");
      if (Status st = CheckMember(w[0], scope->members); !st.ok()) {
        return Fail(st, as_json);
      }
      AddRules(set, IsolateRules(w[0], scope->members, args.clients));
      break;
    }
    case FaultVerb::kCut:
    case FaultVerb::kDelay:
    case FaultVerb::kDrop: {
      // One link one way (A->B), or every link both ways between two
      // groups of nodes or datacenters (A<->B: dc1<->dc2, n1,n2<->n3).
      if (w.empty()) {
        return usage(
            "missing the link A->B or A<->B, e.g. n1->n2 or dc1<->dc2");
      }
      // The rule for one directed link.
      std::function<wire::FaultRule(const std::string&, const std::string&)>
          make = CutRule;
      if (verb == FaultVerb::kCut && w.size() != 1) {
        return usage("cut takes only the link A->B or A<->B");
      }
      if (verb == FaultVerb::kDelay) {
        if (w.size() != 2 && !(w.size() == 4 && w[2] == "jitter")) {
          return usage(
              "delay takes A->B or A<->B, DELAY [jitter J], e.g. n1->n2 50ms "
              "jitter 20ms, or dc1<->dc2 50ms");
        }
        auto delay = ParseDuration(w[1]);
        if (!delay.ok()) return Fail(delay.status(), as_json);
        std::chrono::milliseconds jitter{0};
        if (w.size() == 4) {
          auto j = ParseDuration(w[3]);
          if (!j.ok()) return Fail(j.status(), as_json);
          jitter = *j;
        }
        make = [delay = *delay, jitter](const std::string& from,
                                        const std::string& to) {
          return DelayRule(from, to, delay, jitter);
        };
      }
      if (verb == FaultVerb::kDrop) {
        if (w.size() != 2) {
          return usage(
              "drop takes A->B or A<->B, PERCENT, e.g. n1->n2 10% or "
              "dc1<->dc2 1%");
        }
        auto pct = ParsePercent(w[1]);
        if (!pct.ok()) return Fail(pct.status(), as_json);
        make = [pct = *pct](const std::string& from, const std::string& to) {
          return DropRule(from, to, pct);
        };
      }
      if (args.clients) {
        return usage("--clients applies to isolate only");
      }
      if (IsGroupLink(w[0])) {
        auto sides = ParseGroupLink(w[0], scope->names);
        if (!sides.ok()) return Fail(sides.status(), as_json);
        AddRules(set, GroupLinkRules(sides->first, sides->second, make));
      } else {
        auto link = ParseLink(w[0], scope->members);
        if (!link.ok()) return Fail(link.status(), as_json);
        AddRules(set, {make(link->first, link->second)});
      }
      break;
    }
    case FaultVerb::kClock: {
      if (w.size() != 2) return usage("clock takes NODE SKEW, e.g. n3 +5s");
      if (Status st = CheckMember(w[0], scope->members); !st.ok()) {
        return Fail(st, as_json);
      }
      auto skew = ParseSignedDuration(w[1], "clock skew");
      if (!skew.ok()) return Fail(skew.status(), as_json);
      SetSkew(set, w[0], *skew);
      break;
    }
    case FaultVerb::kHeal:
      set = FaultSet{};
      break;
    case FaultVerb::kList:
      break;
  }
  return ApplyFaults(args, *scope, set);
}

}  // namespace

void AddFaultVerbs(CLI::App& app, Verbs& verbs) {
  CLI::App* fault = app.add_subcommand(
      "fault",
      "inject faults into the local ring (or --nodes): processes, the "
      "network between nodes, clocks (doc/faults.md); shoal status lists "
      "the active ones");
  fault->require_subcommand(1);
  auto fault_args = std::make_shared<FaultArgs>();
  fault_args->common.dir = verbs.default_dir;
  auto node_name = std::make_shared<std::string>();
  for (auto [verb, name, help] :
       {std::tuple{NodeVerb::kKill, "kill", "crash a node (SIGKILL)"},
        std::tuple{NodeVerb::kStart, "start",
                   "restart a stopped node with its data and the ring's "
                   "fault table"},
        std::tuple{NodeVerb::kPause, "pause", "freeze a node (SIGSTOP)"},
        std::tuple{NodeVerb::kResume, "resume",
                   "unfreeze a paused node (SIGCONT)"}}) {
    CLI::App* cmd = fault->add_subcommand(name, help);
    cmd->add_option("node", *node_name, "node name, e.g. n3")->required();
    AddCommon(cmd, &fault_args->common, false);
    verbs.On(cmd, [fault_args, node_name, verb = verb] {
      return RunNodeVerb(fault_args->common, verb, *node_name);
    });
  }
  for (auto [verb, name, help, words] :
       {std::tuple{FaultVerb::kPartition, "partition",
                   "cut peer traffic both ways between groups: 'n1,n2 | "
                   "n3,n4,n5'",
                   "GROUPS"},
        std::tuple{FaultVerb::kIsolate, "isolate",
                   "cut a node from every peer, both ways (--clients: also "
                   "from clients)",
                   "NODE"},
        std::tuple{FaultVerb::kCut, "cut",
                   "drop every frame one way: 'A->B'; or both ways between "
                   "groups of nodes or datacenters: 'dc1<->dc2', "
                   "'n1,n2<->n3,n4'",
                   "A->B|A<->B"},
        std::tuple{FaultVerb::kDelay, "delay",
                   "delay frames one way: 'A->B' 50ms [jitter 20ms]; or both "
                   "ways on every link between groups of nodes or "
                   "datacenters (a WAN): 'dc1<->dc2' 50ms, "
                   "'n1,n2,n3<->n4,n5,n6' 50ms (quote the link: < and > are "
                   "shell redirections)",
                   "A->B|A<->B DELAY [jitter J]"},
        std::tuple{FaultVerb::kDrop, "drop",
                   "drop a share of frames one way: 'A->B' 10%; or both ways "
                   "between groups: 'dc1<->dc2' 10%",
                   "A->B|A<->B PERCENT"},
        std::tuple{FaultVerb::kClock, "clock",
                   "skew the wall clock a node stamps on writes: NODE +5s "
                   "(0s removes it)",
                   "NODE SKEW"},
        std::tuple{FaultVerb::kHeal, "heal",
                   "remove every network and clock "
                   "fault",
                   ""},
        std::tuple{FaultVerb::kList, "list",
                   "the active faults, and what each node holds", ""}}) {
    CLI::App* cmd = fault->add_subcommand(name, help);
    if (std::string_view(words).size() > 0) {
      cmd->add_option("args", fault_args->words, words)->required();
    }
    if (verb == FaultVerb::kIsolate) {
      cmd->add_flag("--clients", fault_args->clients,
                    "also drop the node's replies to clients");
    }
    cmd->add_option("--nodes", fault_args->nodes,
                    "HOST:PORT,... of the nodes to act on (default: the "
                    "ring in --dir, whose table is kept in --dir/faults.json)");
    cmd->add_option("--timeout", fault_args->timeout_ms,
                    "timeout per node in ms")
        ->capture_default_str();
    AddCommon(cmd, &fault_args->common, false);
    verbs.On(cmd,
             [fault_args, verb = verb] { return RunFault(*fault_args, verb); });
  }
}

}  // namespace shoal::tools::cli
