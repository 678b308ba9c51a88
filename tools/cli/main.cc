// `shoal`: the command-line client and local ring launcher.
//
//   shoal put|get|del KEY ...    one request to one node (--node, or the
//                                first running node of the ring in --dir)
//   shoal status                 one node's view of the cluster
//   shoal hints                  one node's hinted-handoff state
//   shoal metrics                one node's key figures from its /metrics
//   shoal ring up|down|status|kill|start|pause|resume|where
//   shoal bench                  load-test a ring (or Redis): tools/bench.h
//   shoal fault ...              inject faults (doc/faults.md)
//   shoal check ...              a Jepsen-style run: tools/check.h
//
// Exit status: 0 success (a get of a missing key included), 1 error, 2 the
// command line did not parse. With --json every outcome, errors included,
// is one JSON document on stdout; otherwise errors go to stderr as
// "error: <code>: <message>".
//
// One io_context per process: a client verb co_spawns its one call and runs
// the context until the call completes.
#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

#include "base/base64.h"
#include "base/duration.h"
#include "client/client.h"
#include "ring/ring.h"
#include "tools/bench/bench.h"
#include "tools/check/check.h"
#include "tools/check/check_run.h"
#include "tools/cli/metrics_text.h"
#include "tools/cli/output.h"
#include "tools/ring/fault_ops.h"
#include "tools/ring/faults.h"
#include "tools/ring/http_get.h"
#include "tools/ring/launcher.h"
#include "wire/codec.h"

namespace shoal::tools {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using client::Client;
using client::GetOptions;
using client::GetResult;
using client::PutOptions;
using client::PutResult;
using wire::Awaitable;
using json = nlohmann::ordered_json;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// Options every verb has.
struct Common {
  bool json = false;
  std::string dir;   // ring directory
  std::string node;  // host:port; empty = first running node of `dir`
};

std::string DefaultRingDir() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    const passwd* pw = ::getpwuid(::getuid());
    home = pw != nullptr ? pw->pw_dir : ".";
  }
  return (fs::path(home) / ".shoal" / "ring").string();
}

void PrintJson(const json& j) {
  std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

int Fail(const Status& status, bool as_json) {
  if (as_json) {
    PrintJson(ErrorToJson(status));
  } else {
    std::cerr << ErrorToText(status) << "\n";
  }
  return kExitError;
}

int UsageError(const std::string& message) {
  std::cerr << message << "\nRun with --help for more information.\n";
  return kExitUsage;
}

// Stores a call's result for RunCall (co_spawn needs a default-constructible
// result type; Result<T> is not).
template <typename T>
Awaitable<void> StoreResult(Awaitable<Result<T>> call,
                            std::optional<Result<T>>* out) {
  *out = co_await std::move(call);
}

// Runs one client call to completion on `io`. The connection's reader may
// still be pending when the call completes; stopping the context leaves it
// to the Client's destructor.
template <typename T>
Result<T> RunCall(asio::io_context& io, Awaitable<Result<T>> call) {
  std::optional<Result<T>> out;
  std::exception_ptr error;
  asio::co_spawn(io, StoreResult(std::move(call), &out),
                 [&](std::exception_ptr e) {
                   error = e;
                   io.stop();
                 });
  io.restart();  // a previous call on `io` left it stopped
  io.run();
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      return Status(Code::kInternal, std::string("client call: ") + e.what());
    }
  }
  if (!out) return Status(Code::kInternal, "client call did not complete");
  return std::move(*out);
}

fs::path ShoaldPath() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return self.parent_path() / "shoald";
}

Launcher MakeLauncher(const Common& common) {
  return Launcher(common.dir, ShoaldPath(), [](const std::string& line) {
    std::cerr << line << std::endl;
  });
}

// --node: HOST:PORT, or the name of a member of the ring in --dir (n3);
// none = the first running node of that ring.
Result<std::string> ResolveNode(const Common& common) {
  if (common.node.empty()) return MakeLauncher(common).FirstRunningAddress();
  if (common.node.find(':') != std::string::npos) return common.node;
  Result<RingState> state = MakeLauncher(common).Load();
  if (!state.ok()) {
    return Status(Code::kInvalidArgument,
                  "--node " + common.node +
                      " is not HOST:PORT and names no member of a ring in " +
                      common.dir + " (" + state.status().message() + ")");
  }
  std::string names;
  for (const RingNode& n : state->nodes) {
    if (n.name == common.node) return n.address;
    names += (names.empty() ? "" : ", ") + n.name;
  }
  return Status(Code::kInvalidArgument,
                "--node " + common.node + ": no such node in the ring in " +
                    common.dir + " (it has " + names + ")");
}

// --context: base64 of the packed context bytes a get or put printed.
// The context must have been read from `key` (contexts are bound to keys).
Result<std::string> ParseContext(const std::string& text,
                                 const std::string& key) {
  Result<std::string> bytes = Base64Decode(text);
  if (!bytes.ok()) {
    return Status(Code::kInvalidArgument,
                  "--context is not base64 (" + bytes.status().message() +
                      "); pass the context a get or put printed");
  }
  Result<quorum::VersionVector> vv =
      wire::DecodeContext(*bytes, ring::HashKey(key));
  if (!vv.ok()) {
    return Status(Code::kInvalidArgument,
                  "--context: " + vv.status().message());
  }
  return bytes;
}

Result<std::string> ReadValueFile(const std::string& path) {
  std::ostringstream buf;
  if (path == "-") {
    buf << std::cin.rdbuf();
    if (std::cin.bad()) {
      return Status(Code::kInvalidArgument, "cannot read the value from stdin");
    }
    return buf.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(Code::kInvalidArgument, "--value-file: cannot open " + path);
  }
  buf << in.rdbuf();
  return buf.str();
}

// ---- client verbs ----

struct WriteArgs {
  Common common;
  std::string key;
  std::string value;
  bool has_value = false;  // VALUE was given (it may be empty)
  std::string value_file;
  std::string context;
  uint32_t w = 0;
  uint32_t pw = 0;
  uint32_t timeout_ms = 0;
};

int RunWrite(const WriteArgs& args, bool is_delete) {
  const bool as_json = args.common.json;
  PutOptions options;
  options.w = args.w;
  options.pw = args.pw;
  options.timeout_ms = args.timeout_ms;
  if (!args.context.empty()) {
    Result<std::string> context = ParseContext(args.context, args.key);
    if (!context.ok()) return Fail(context.status(), as_json);
    options.context = std::move(context).value();
  }
  std::string value;
  if (!is_delete) {
    if (!args.value_file.empty()) {
      Result<std::string> read = ReadValueFile(args.value_file);
      if (!read.ok()) return Fail(read.status(), as_json);
      value = std::move(read).value();
    } else {
      value = args.value;
    }
  }
  Result<std::string> address = ResolveNode(args.common);
  if (!address.ok()) return Fail(address.status(), as_json);

  asio::io_context io;
  Client client(io.get_executor(), *address);
  Result<PutResult> reply =
      is_delete ? RunCall(io, client.Delete(args.key, options))
                : RunCall(io, client.Put(args.key, std::move(value), options));
  if (!reply.ok()) return Fail(reply.status(), as_json);
  if (as_json) {
    PrintJson(PutResultToJson(*reply));
  } else {
    std::cout << PutResultToText(*reply);
  }
  return kExitOk;
}

struct GetArgs {
  Common common;
  std::string key;
  uint32_t r = 0;
  uint32_t pr = 0;
  uint32_t timeout_ms = 0;
  bool local = false;
};

int RunGet(const GetArgs& args) {
  const bool as_json = args.common.json;
  Result<std::string> address = ResolveNode(args.common);
  if (!address.ok()) return Fail(address.status(), as_json);
  asio::io_context io;
  Client client(io.get_executor(), *address);
  GetOptions options{.r = args.r,
                     .timeout_ms = args.timeout_ms,
                     .local = args.local,
                     .pr = args.pr};
  Result<GetResult> result = RunCall(io, client.Get(args.key, options));
  if (!result.ok()) return Fail(result.status(), as_json);
  if (as_json) {
    PrintJson(GetResultToJson(*result, args.local));
  } else {
    std::cout << GetResultToText(*result, args.local);
  }
  return kExitOk;
}

struct AdminArgs {
  Common common;
  uint32_t timeout_ms = 2000;
};

// Runs one operator request against the asked node and prints its reply:
// `to_json` for --json, `to_text` otherwise (given the node's address).
template <typename Reply, typename ToJson, typename ToText>
int RunAdmin(
    const AdminArgs& args,
    Awaitable<Result<Reply>> (Client::*call)(std::chrono::milliseconds),
    ToJson to_json, ToText to_text) {
  const bool as_json = args.common.json;
  Result<std::string> address = ResolveNode(args.common);
  if (!address.ok()) return Fail(address.status(), as_json);
  asio::io_context io;
  Client client(io.get_executor(), *address);
  Result<Reply> reply =
      RunCall(io, (client.*call)(std::chrono::milliseconds(args.timeout_ms)));
  if (!reply.ok()) return Fail(reply.status(), as_json);
  if (as_json) {
    PrintJson(to_json(*reply));
  } else {
    std::cout << to_text(*address, *reply);
  }
  return kExitOk;
}

Awaitable<Result<std::pair<wire::StatusReply, wire::FaultReply>>>
StatusAndFaults(Client* client, std::chrono::milliseconds timeout) {
  auto status = co_await client->Status(timeout);
  if (!status.ok()) co_return status.status();
  wire::FaultRequest ask;
  auto faults = co_await client->Fault(std::move(ask), timeout);
  if (!faults.ok()) co_return faults.status();
  co_return std::pair{std::move(status.value()), std::move(faults.value())};
}

FaultSet FaultSetOf(const wire::FaultReply& reply) {
  return FaultSet{reply.rules, reply.skews};
}

// The node's status, and every fault its table holds (so nobody forgets
// one is active).
int RunStatus(const AdminArgs& args) {
  const bool as_json = args.common.json;
  Result<std::string> address = ResolveNode(args.common);
  if (!address.ok()) return Fail(address.status(), as_json);
  asio::io_context io;
  Client client(io.get_executor(), *address);
  auto reply = RunCall(
      io, StatusAndFaults(&client, std::chrono::milliseconds(args.timeout_ms)));
  if (!reply.ok()) return Fail(reply.status(), as_json);
  const FaultSet faults = FaultSetOf(reply->second);
  if (as_json) {
    Json j = StatusReplyToJson(reply->first);
    j["faults"] = FaultSetToJson(faults);
    PrintJson(j);
    return kExitOk;
  }
  std::cout << "asked:      " << *address << "\n"
            << StatusReplyToText(reply->first);
  if (faults.empty()) {
    std::cout << "faults:     none\n";
  } else {
    std::cout << "FAULTS ACTIVE (shoal fault heal removes them):\n";
    for (const std::string& line : DescribeFaults(faults)) {
      std::cout << "  " << line << "\n";
    }
  }
  return kExitOk;
}

int RunHints(const AdminArgs& args) {
  return RunAdmin(args, &Client::Hints, HintsReplyToJson,
                  [](const std::string&, const wire::HintsReply& r) {
                    return HintsReplyToText(r);
                  });
}

int RunAaeStatus(const AdminArgs& args) {
  return RunAdmin(args, &Client::AaeStatus, AaeStatusToJson,
                  [](const std::string&, const wire::AaeStatusReply& r) {
                    return AaeStatusToText(r);
                  });
}

struct AaeRunArgs {
  AdminArgs admin;
  std::optional<uint32_t> partition;  // none = every partition it holds
};

// Exchanges now: one partition, or every partition the node replicates in
// turn, with a progress line per partition on stderr.
int RunAaeRun(const AaeRunArgs& args) {
  const bool as_json = args.admin.common.json;
  Result<std::string> address = ResolveNode(args.admin.common);
  if (!address.ok()) return Fail(address.status(), as_json);
  asio::io_context io;
  Client client(io.get_executor(), *address);
  const auto timeout = std::chrono::milliseconds(args.admin.timeout_ms);
  std::vector<uint32_t> partitions;
  std::string node;
  if (args.partition) {
    partitions.push_back(*args.partition);
  } else {
    Result<wire::AaeStatusReply> status = RunCall(io, client.AaeStatus());
    if (!status.ok()) return Fail(status.status(), as_json);
    node = status->node;
    for (const auto& p : status->partitions) partitions.push_back(p.partition);
  }
  std::vector<wire::AaeRunReply> runs;
  uint64_t repaired = 0;
  for (size_t i = 0; i < partitions.size(); ++i) {
    Result<wire::AaeRunReply> run =
        RunCall(io, client.AaeRun(partitions[i], timeout));
    if (!run.ok()) return Fail(run.status(), as_json);
    node = run->node;
    for (const auto& e : run->exchanges) repaired += e.keys_repaired;
    if (!as_json) std::cout << AaeRunToText(*run);
    if (partitions.size() > 1) {
      std::cerr << "aae run: " << i + 1 << "/" << partitions.size()
                << " partitions, " << repaired << " keys repaired\n";
    }
    runs.push_back(std::move(run).value());
  }
  const Json doc = AaeRunsToJson(node, runs);
  if (as_json) {
    PrintJson(doc);
  } else {
    std::cout << node << ": " << doc["keys_repaired"].get<uint64_t>()
              << " keys repaired in " << runs.size() << " partitions, "
              << doc["errors"].get<uint64_t>() << " exchanges failed\n";
  }
  return doc["errors"].get<uint64_t>() == 0 ? kExitOk : kExitError;
}

struct MetricsArgs {
  Common common;
  std::string metrics_address;  // fetch from here directly (no ring needed)
  uint32_t timeout_ms = 2000;
};

// `shoal metrics`: one node's /metrics, summed up (tools/metrics_text.h).
// --node names a member ("n2") or its client address; the metrics address
// comes from the ring in --dir.
int RunMetrics(const MetricsArgs& args) {
  const bool as_json = args.common.json;
  std::string name;
  std::string address = args.metrics_address;
  if (address.empty()) {
    Result<RingState> state = MakeLauncher(args.common).Load();
    if (!state.ok()) return Fail(state.status(), as_json);
    for (const RingNode& node : state->nodes) {
      const bool wanted = args.common.node.empty()
                              ? ProbeNode(node) == NodeState::kRunning
                              : node.name == args.common.node ||
                                    node.address == args.common.node;
      if (wanted) {
        name = node.name;
        address = node.metrics_address;
        break;
      }
    }
    if (address.empty()) {
      return Fail(
          Status(Code::kNotFound,
                 args.common.node.empty()
                     ? "no running node in the ring in " + args.common.dir
                     : "no node '" + args.common.node + "' in the ring in " +
                           args.common.dir +
                           " (give a name like n1 or its address, "
                           "or --metrics-address HOST:PORT)"),
          as_json);
    }
  }
  Result<std::string> page =
      HttpGet(address, "/metrics", std::chrono::milliseconds(args.timeout_ms));
  if (!page.ok()) return Fail(page.status(), as_json);
  const MetricsSummary summary = Summarize(ParsePrometheusText(*page));
  if (as_json) {
    json out{{"node", name}, {"metrics_address", address}};
    const json figures = MetricsSummaryToJson(summary);
    for (const auto& [k, v] : figures.items()) out[k] = v;
    PrintJson(out);
  } else {
    std::cout << "node:       " << (name.empty() ? "?" : name) << " (metrics "
              << address << ", shoal " << summary.version << ")\n"
              << MetricsSummaryToText(summary);
  }
  return kExitOk;
}

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
  return json{{"name", node.name},
              {"address", node.address},
              {"metrics_address", node.metrics_address},
              {"pid", node.pid},
              {"data_dir", node.data_dir},
              {"config", node.config},
              {"log", node.log}};
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
                   {"nodes", std::move(nodes)},
                   {"prometheus", PrometheusJson(prometheus)}});
    return kExitOk;
  }
  std::cout << "ring up in " << launcher.dir().string() << ": "
            << state->nodes.size() << " nodes, n=" << state->n
            << " w=" << state->w << " r=" << state->r << ", "
            << state->partitions << " partitions\n";
  if (state->conflict == "lww") {
    std::cout << "conflict = lww: concurrent writes are DISCARDED (last "
                 "write wins); for comparison only (doc/faults.md)\n";
  }
  std::vector<std::vector<std::string>> rows{
      {"NAME", "ADDRESS", "METRICS", "PID"}};
  for (const RingNode& node : state->nodes) {
    rows.push_back({node.name, node.address, node.metrics_address,
                    std::to_string(node.pid)});
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
  std::vector<std::vector<std::string>> rows{
      {"NAME", "ADDRESS", "METRICS", "PID", "STATE"}};
  for (const RingNode& node : state->nodes) {
    const NodeState st = ProbeNode(node);
    const bool alive = st != NodeState::kStopped;
    nodes.push_back(json{{"name", node.name},
                         {"address", node.address},
                         {"metrics_address", node.metrics_address},
                         {"pid", alive ? json(node.pid) : json(nullptr)},
                         {"state", NodeStateName(st)}});
    rows.push_back({node.name, node.address, node.metrics_address,
                    alive ? std::to_string(node.pid) : "-", NodeStateName(st)});
  }
  const PrometheusInfo prometheus = launcher.Prometheus(*state);
  if (common.json) {
    PrintJson(json{{"dir", launcher.dir().string()},
                   {"n", state->n},
                   {"w", state->w},
                   {"r", state->r},
                   {"partitions", state->partitions},
                   {"nodes", std::move(nodes)},
                   {"prometheus", PrometheusJson(prometheus)}});
  } else {
    if (prometheus.pid != 0) {
      rows.push_back({"prometheus", prometheus.address, "-",
                      std::to_string(prometheus.pid), "running"});
    }
    std::cout << "ring in " << launcher.dir().string() << ": "
              << state->nodes.size() << " nodes, n=" << state->n
              << " w=" << state->w << " r=" << state->r << ", "
              << state->partitions << " partitions\n"
              << FormatTable(rows);
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

enum class NodeVerb { kKill, kStart, kPause, kResume };

int RunNodeVerb(const Common& common, NodeVerb verb, const std::string& name) {
  Launcher launcher = MakeLauncher(common);
  Result<NodeAction> action = Status(Code::kInternal, "unreachable");
  switch (verb) {
    case NodeVerb::kKill:
      action = launcher.Kill(name);
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

// ---- fault ----

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
    return RunCall(io, AskNodes(std::move(addresses),
                                std::chrono::milliseconds(args.timeout_ms)));
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
  }
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
      if (w.empty()) return usage("missing the link A->B, e.g. n1->n2");
      auto link = ParseLink(w[0], scope->members);
      if (!link.ok()) return Fail(link.status(), as_json);
      wire::FaultRule rule = CutRule(link->first, link->second);
      if (verb == FaultVerb::kCut && w.size() != 1) {
        return usage("cut takes only the link A->B");
      }
      if (verb == FaultVerb::kDelay) {
        if (w.size() != 2 && !(w.size() == 4 && w[2] == "jitter")) {
          return usage(
              "delay takes A->B DELAY [jitter J], e.g. n1->n2 50ms "
              "jitter 20ms");
        }
        auto delay = ParseDuration(w[1]);
        if (!delay.ok()) return Fail(delay.status(), as_json);
        std::chrono::milliseconds jitter{0};
        if (w.size() == 4) {
          auto j = ParseDuration(w[3]);
          if (!j.ok()) return Fail(j.status(), as_json);
          jitter = *j;
        }
        rule = DelayRule(link->first, link->second, *delay, jitter);
      }
      if (verb == FaultVerb::kDrop) {
        if (w.size() != 2)
          return usage("drop takes A->B PERCENT, e.g. n1->n2 10%");
        auto pct = ParsePercent(w[1]);
        if (!pct.ok()) return Fail(pct.status(), as_json);
        rule = DropRule(link->first, link->second, *pct);
      }
      if (args.clients) {
        return usage("--clients applies to isolate only");
      }
      AddRules(set, {rule});
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

// ---- check ----

struct CheckArgs {
  Common common;
  std::string workload = "set";
  std::string nemesis = "mix";
  std::string duration = "60s";
  std::string clock_skew;  // "" = none
  std::string convergence_limit = "120s";
  std::optional<std::string> conflict;
  uint64_t seed = 1;
  uint32_t clients = 5;
  uint32_t keys = 5;
  std::string history;
};

int RunCheck(const CheckArgs& args) {
  const bool as_json = args.common.json;
  check::RunOptions options;
  options.dir = args.common.dir;
  options.shoald = ShoaldPath().string();
  auto workload = check::ParseWorkload(args.workload);
  if (!workload.ok()) return Fail(workload.status(), as_json);
  options.workload = *workload;
  auto nemesis = check::ParseNemesis(args.nemesis);
  if (!nemesis.ok()) return Fail(nemesis.status(), as_json);
  options.nemesis = *nemesis;
  auto duration = ParseDuration(args.duration);
  if (!duration.ok()) return Fail(duration.status(), as_json);
  options.duration = *duration;
  auto limit = ParseDuration(args.convergence_limit);
  if (!limit.ok()) return Fail(limit.status(), as_json);
  options.convergence_limit = *limit;
  if (!args.clock_skew.empty()) {
    auto skew = ParseSignedDuration(args.clock_skew, "clock skew");
    if (!skew.ok()) return Fail(skew.status(), as_json);
    options.clock_skew_ms = *skew;
  }
  options.conflict = args.conflict;
  options.seed = args.seed;
  options.clients = args.clients;
  options.keys = args.keys;
  options.history_path = args.history;
  auto report = check::Run(
      options, [](const std::string& line) { std::cerr << line << std::endl; });
  if (!report.ok()) return Fail(report.status(), as_json);
  if (as_json) {
    PrintJson(report->ToJson(options));
  } else {
    std::cout << report->ToText(options);
    if (!report->valid) {
      std::cout << "reproduce: shoal check --workload " << args.workload
                << " --nemesis " << args.nemesis << " --duration "
                << args.duration << " --seed " << args.seed
                << (args.clock_skew.empty()
                        ? ""
                        : " --clock-skew " + args.clock_skew)
                << " (same ring parameters; doc/faults.md)\n";
    }
  }
  return report->valid ? kExitOk : kExitError;
}

int RunRingWhere(const Common& common, const std::string& key) {
  Launcher launcher = MakeLauncher(common);
  Result<RingState> state = launcher.Load();
  if (!state.ok()) return Fail(state.status(), common.json);
  Result<KeyPlacement> placement = PlaceKey(*state, key);
  if (!placement.ok()) return Fail(placement.status(), common.json);
  char hash[19];
  std::snprintf(hash, sizeof(hash), "0x%016llx",
                static_cast<unsigned long long>(placement->hash));
  if (common.json) {
    auto list = [](const std::vector<RingNode>& nodes) {
      json out = json::array();
      for (const RingNode& node : nodes) {
        out.push_back(json{{"name", node.name}, {"address", node.address}});
      }
      return out;
    };
    PrintJson(json{{"key", key},
                   {"hash", hash},
                   {"partition", placement->partition},
                   {"partitions", state->partitions},
                   {"primaries", list(placement->primaries)},
                   {"fallbacks", list(placement->fallbacks)}});
    return kExitOk;
  }
  std::cout << "key " << key << ": partition " << placement->partition << " of "
            << state->partitions << " (hash " << hash << ")\n";
  std::vector<std::vector<std::string>> rows{{"ROLE", "NAME", "ADDRESS"}};
  for (size_t i = 0; i < placement->primaries.size(); ++i) {
    const RingNode& node = placement->primaries[i];
    rows.push_back(
        {"primary " + std::to_string(i + 1), node.name, node.address});
  }
  for (size_t i = 0; i < placement->fallbacks.size(); ++i) {
    const RingNode& node = placement->fallbacks[i];
    rows.push_back(
        {"fallback " + std::to_string(i + 1), node.name, node.address});
  }
  std::cout << FormatTable(rows);
  return kExitOk;
}

// ---- bench ----

struct BenchArgs {
  Common common;
  std::string workload = "a";
  std::string mix;
  std::string target;
  std::string nodes;
  std::string distribution = "zipfian";
  std::string csv;
  BenchOptions options;
};

// --target, else --nodes, else every running node of the ring in --dir.
Result<Target> ResolveBenchTarget(const BenchArgs& args) {
  if (!args.target.empty()) return ParseTarget(args.target);
  if (!args.nodes.empty()) return ParseTarget(args.nodes);
  Result<std::vector<std::pair<RingNode, NodeState>>> nodes =
      MakeLauncher(args.common).Probe();
  Target target;
  if (nodes.ok()) {
    for (const auto& [node, state] : *nodes) {
      if (state == NodeState::kRunning)
        target.addresses.push_back(node.address);
    }
  }
  if (target.addresses.empty()) {
    return Status(Code::kUnavailable,
                  "no running ring in " + args.common.dir +
                      "; start one with `shoal ring up` or pass --nodes or "
                      "--target");
  }
  return target;
}

// Exit 0 when the run completed (request errors are reported, not fatal),
// 1 when it could not run (no target reachable) or its CSV could not be
// written, 2 when the options are wrong.
int RunBenchVerb(BenchArgs args, bool has_mix, bool has_duration,
                 bool has_ops) {
  const bool as_json = args.common.json;
  BenchOptions& options = args.options;
  if (has_mix) {
    Result<Mix> mix = ParseMix(args.mix);
    if (!mix.ok()) return UsageError("bench: " + mix.status().message());
    options.mix = *mix;
    options.workload = "mix(" + MixToString(*mix) + ")";
  } else {
    Result<Mix> mix = WorkloadMix(args.workload);
    if (!mix.ok()) return UsageError("bench: " + mix.status().message());
    options.mix = *mix;
    options.workload = args.workload;
  }
  Result<Distribution> distribution = ParseDistribution(args.distribution);
  if (!distribution.ok()) {
    return UsageError("bench: --distribution: " +
                      distribution.status().message());
  }
  options.distribution = *distribution;
  if (!has_duration && !has_ops) options.duration_s = 10;
  Result<Target> target = ResolveBenchTarget(args);
  if (!target.ok()) {
    if (target.status().code() == Code::kInvalidArgument) {
      return UsageError("bench: " + target.status().message());
    }
    return Fail(target.status(), as_json);
  }
  options.target = std::move(target).value();
  Status valid = ValidateBenchOptions(options);
  if (!valid.ok()) return UsageError("bench: " + valid.message());

  std::cerr << "bench: workload " << options.workload << " ("
            << MixToString(options.mix) << ") against "
            << options.target.ToString() << ", " << options.keys << " keys ("
            << DistributionName(options.distribution) << "), "
            << options.value_size << " B values, "
            << (options.rate > 0
                    ? "open loop at " +
                          std::to_string(static_cast<uint64_t>(options.rate)) +
                          " ops/s over " + std::to_string(options.concurrency) +
                          " connections"
                    : "closed loop, " + std::to_string(options.concurrency) +
                          " connections")
            << std::endl;
  Result<BenchReport> report = RunBench(
      options, [](const std::string& line) { std::cerr << line << std::endl; });
  if (!report.ok()) return Fail(report.status(), as_json);
  if (!args.csv.empty()) {
    Status written = WriteBenchCsv(*report, args.csv);
    if (!written.ok()) return Fail(written, as_json);
  }
  if (as_json) {
    PrintJson(BenchReportToJson(*report));
  } else {
    std::cout << BenchReportToText(*report);
  }
  return kExitOk;
}

// ---- command line ----

void AddCommon(CLI::App* cmd, Common* common, bool with_node) {
  cmd->add_flag("--json", common->json, "print one JSON document on stdout");
  cmd->add_option("--dir", common->dir, "ring directory")
      ->default_str(common->dir);
  if (with_node) {
    cmd->add_option("--node", common->node,
                    "the node to ask: HOST:PORT or a member name of the ring "
                    "in --dir (default: its first running node)");
  }
}

int Main(int argc, char** argv) {
  CLI::App app{
      "shoal: client and local ring launcher for the shoal key-value store"};
  app.require_subcommand(1);
  const std::string default_dir = DefaultRingDir();
  const std::string self = argc > 0 ? argv[0] : "shoal";

  // put
  WriteArgs put_args;
  put_args.common.dir = default_dir;
  CLI::App* put = app.add_subcommand("put", "write a value");
  put->add_option("key", put_args.key, "the key (1..500 bytes)")->required();
  CLI::Option* put_value =
      put->add_option("value", put_args.value, "the value");
  CLI::Option* put_file = put->add_option("--value-file", put_args.value_file,
                                          "read the value from F (- = stdin)");
  put_value->excludes(put_file);
  put->add_option("--context", put_args.context,
                  "context (base64) from a get: the write supersedes what "
                  "that get saw; without it the write is blind and becomes "
                  "a sibling");
  put->add_option("--w", put_args.w, "acks to wait for (default: cluster w)");
  put->add_option("--pw", put_args.pw,
                  "of those, acks that must come from primary replicas "
                  "(a fallback keeping a hint counts toward --w, not --pw; "
                  "default 0)");
  put->add_option("--timeout", put_args.timeout_ms,
                  "request timeout in ms (default: node's, 2000)");
  AddCommon(put, &put_args.common, true);

  // get
  GetArgs get_args;
  get_args.common.dir = default_dir;
  CLI::App* get = app.add_subcommand("get", "read a key");
  get->add_option("key", get_args.key, "the key")->required();
  get->add_option("--r", get_args.r,
                  "replies to wait for (default: cluster r)");
  get->add_option("--pr", get_args.pr,
                  "of those, replies that must come from primary replicas "
                  "(default 0)");
  get->add_option("--timeout", get_args.timeout_ms,
                  "request timeout in ms (default: node's, 2000)");
  get->add_flag("--local", get_args.local,
                "diagnostic: the asked node's own stored copy, no quorum "
                "(shows tombstones and the version vector)");
  AddCommon(get, &get_args.common, true);

  // del
  WriteArgs del_args;
  del_args.common.dir = default_dir;
  CLI::App* del = app.add_subcommand("del", "delete a key (a tombstone)");
  del->add_option("key", del_args.key, "the key")->required();
  del->add_option("--context", del_args.context,
                  "context (base64) from a get: deletes what that get saw; "
                  "without it the delete is blind and removes nothing it "
                  "has not seen (it becomes a tombstone sibling)");
  del->add_option("--w", del_args.w, "acks to wait for (default: cluster w)");
  del->add_option("--pw", del_args.pw,
                  "of those, acks that must come from primary replicas "
                  "(a fallback keeping a hint counts toward --w, not --pw; "
                  "default 0)");
  del->add_option("--timeout", del_args.timeout_ms,
                  "request timeout in ms (default: node's, 2000)");
  AddCommon(del, &del_args.common, true);

  // status
  AdminArgs status_args;
  status_args.common.dir = default_dir;
  CLI::App* status = app.add_subcommand(
      "status", "the asked node's view: config, storage and members");
  status->add_option("--timeout", status_args.timeout_ms, "timeout in ms")
      ->default_val(2000);
  AddCommon(status, &status_args.common, true);

  // hints
  AdminArgs hints_args;
  hints_args.common.dir = default_dir;
  CLI::App* hints = app.add_subcommand(
      "hints",
      "the asked node's hinted handoff: hints it keeps for down primaries");
  hints->add_option("--timeout", hints_args.timeout_ms, "timeout in ms")
      ->default_val(2000);
  AddCommon(hints, &hints_args.common, true);

  // aae
  CLI::App* aae = app.add_subcommand(
      "aae", "anti-entropy: Merkle-tree exchanges between replicas");
  aae->require_subcommand(1);
  AdminArgs aae_status_args;
  aae_status_args.common.dir = default_dir;
  CLI::App* aae_status = aae->add_subcommand(
      "status",
      "the asked node's trees and exchanges, per partition it replicates");
  aae_status
      ->add_option("--timeout", aae_status_args.timeout_ms, "timeout in ms")
      ->default_val(2000);
  AddCommon(aae_status, &aae_status_args.common, true);
  AaeRunArgs aae_run_args;
  aae_run_args.admin.common.dir = default_dir;
  aae_run_args.admin.timeout_ms = 600'000;
  CLI::App* aae_run = aae->add_subcommand(
      "run",
      "exchange now with the other replicas (one partition or all the asked "
      "node replicates) and repair what differs");
  aae_run->add_option("--partition", aae_run_args.partition,
                      "only this partition (default: every one the node "
                      "replicates)");
  aae_run
      ->add_option("--timeout", aae_run_args.admin.timeout_ms,
                   "timeout per partition in ms")
      ->capture_default_str();
  AddCommon(aae_run, &aae_run_args.admin.common, true);

  // metrics
  MetricsArgs metrics_args;
  metrics_args.common.dir = default_dir;
  CLI::App* metrics = app.add_subcommand(
      "metrics",
      "a node's key figures from its /metrics: requests, stale reads, hint "
      "backlog, peers, storage (--node NAME or client address; default the "
      "first running node)");
  metrics->add_option("--metrics-address", metrics_args.metrics_address,
                      "HOST:PORT of a /metrics endpoint to read directly");
  metrics->add_option("--timeout", metrics_args.timeout_ms, "timeout in ms")
      ->default_val(2000);
  AddCommon(metrics, &metrics_args.common, true);

  // ring
  CLI::App* ring = app.add_subcommand(
      "ring", "run a local ring of shoald processes (one directory each)");
  ring->require_subcommand(1);

  Common up_common{.json = false, .dir = default_dir, .node = ""};
  RingParams defaults;
  uint32_t nodes = defaults.nodes, n = defaults.n, w = defaults.w,
           r = defaults.r, partitions = defaults.partitions,
           base_port = defaults.base_port;
  std::string sync = defaults.sync;
  bool fresh = false;
  std::string conflict = defaults.conflict;
  CLI::App* up = ring->add_subcommand(
      "up",
      "start a ring: nodes n1..nN on 127.0.0.1:(base-port+i), metrics on "
      "base-port+100+i; restarts a stopped ring in --dir with its data "
      "(unset flags keep that ring's values)");
  CLI::Option* o_nodes = up->add_option("--nodes", nodes, "number of nodes")
                             ->capture_default_str();
  CLI::Option* o_n =
      up->add_option("--n", n, "replicas per key")->capture_default_str();
  CLI::Option* o_w =
      up->add_option("--w", w, "write quorum")->capture_default_str();
  CLI::Option* o_r =
      up->add_option("--r", r, "read quorum")->capture_default_str();
  CLI::Option* o_partitions =
      up->add_option("--partitions", partitions, "partitions (a power of two)")
          ->capture_default_str();
  CLI::Option* o_sync =
      up->add_option("--sync", sync, "storage sync policy")
          ->check(CLI::IsMember({"periodic", "always", "none"}))
          ->capture_default_str();
  CLI::Option* o_conflict =
      up->add_option("--conflict", conflict,
                     "how concurrent writes are resolved: siblings, or lww "
                     "(last write wins; loses writes, for comparison only: "
                     "doc/faults.md)")
          ->check(CLI::IsMember({"siblings", "lww"}))
          ->capture_default_str();
  CLI::Option* o_base = up->add_option("--base-port", base_port, "base port")
                            ->check(CLI::Range(1, 65535))
                            ->capture_default_str();
  up->add_flag("--fresh", fresh,
               "wipe --dir first (only a ring directory or an empty one)");
  bool with_prometheus = false;
  up->add_flag("--prometheus", with_prometheus,
               "also start Prometheus on 127.0.0.1:(base-port+200) with "
               "--dir/prometheus.yml, data in --dir/prometheus/ (ring down "
               "stops it)");
  AddCommon(up, &up_common, false);

  Common ring_common{.json = false, .dir = default_dir, .node = ""};
  CLI::App* ring_status =
      ring->add_subcommand("status", "each node's address, pid and state");
  AddCommon(ring_status, &ring_common, false);
  CLI::App* down = ring->add_subcommand(
      "down", "stop every node (SIGTERM, SIGKILL after 10 s); idempotent");
  AddCommon(down, &ring_common, false);

  std::string node_name;
  struct NodeCmd {
    CLI::App* cmd;
    NodeVerb verb;
  };
  std::vector<NodeCmd> node_cmds;
  for (auto [verb, name, help] :
       {std::tuple{NodeVerb::kKill, "kill",
                   "crash a node (SIGKILL); its data stays"},
        std::tuple{NodeVerb::kStart, "start",
                   "restart a stopped node with its data and wait until it "
                   "answers"},
        std::tuple{NodeVerb::kPause, "pause",
                   "freeze a node (SIGSTOP): a slow or partitioned node"},
        std::tuple{NodeVerb::kResume, "resume",
                   "unfreeze a paused node (SIGCONT)"}}) {
    CLI::App* cmd = ring->add_subcommand(name, help);
    cmd->add_option("node", node_name, "node name, e.g. n3")->required();
    AddCommon(cmd, &ring_common, false);
    node_cmds.push_back({cmd, verb});
  }

  // fault
  CLI::App* fault = app.add_subcommand(
      "fault",
      "inject faults into the local ring (or --nodes): processes, the "
      "network between nodes, clocks (doc/faults.md); shoal status lists "
      "the active ones");
  fault->require_subcommand(1);
  FaultArgs fault_args;
  fault_args.common.dir = default_dir;
  std::vector<NodeCmd> fault_node_cmds;
  for (auto [verb, name, help] :
       {std::tuple{NodeVerb::kKill, "kill", "crash a node (SIGKILL)"},
        std::tuple{NodeVerb::kStart, "start",
                   "restart a stopped node with its data and the ring's "
                   "fault table"},
        std::tuple{NodeVerb::kPause, "pause", "freeze a node (SIGSTOP)"},
        std::tuple{NodeVerb::kResume, "resume",
                   "unfreeze a paused node (SIGCONT)"}}) {
    CLI::App* cmd = fault->add_subcommand(name, help);
    cmd->add_option("node", node_name, "node name, e.g. n3")->required();
    AddCommon(cmd, &fault_args.common, false);
    fault_node_cmds.push_back({cmd, verb});
  }
  struct FaultCmd {
    CLI::App* cmd;
    FaultVerb verb;
  };
  std::vector<FaultCmd> fault_cmds;
  for (auto [verb, name, help, words] :
       {std::tuple{FaultVerb::kPartition, "partition",
                   "cut peer traffic both ways between groups: 'n1,n2 | "
                   "n3,n4,n5'",
                   "GROUPS"},
        std::tuple{FaultVerb::kIsolate, "isolate",
                   "cut a node from every peer, both ways (--clients: also "
                   "from clients)",
                   "NODE"},
        std::tuple{FaultVerb::kCut, "cut", "drop every frame one way: A->B",
                   "A->B"},
        std::tuple{FaultVerb::kDelay, "delay",
                   "delay frames one way: A->B 50ms [jitter 20ms]",
                   "A->B DELAY [jitter J]"},
        std::tuple{FaultVerb::kDrop, "drop",
                   "drop a share of frames one way: A->B 10%", "A->B PERCENT"},
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
      cmd->add_option("args", fault_args.words, words)->required();
    }
    if (verb == FaultVerb::kIsolate) {
      cmd->add_flag("--clients", fault_args.clients,
                    "also drop the node's replies to clients");
    }
    cmd->add_option("--nodes", fault_args.nodes,
                    "HOST:PORT,... of the nodes to act on (default: the "
                    "ring in --dir, whose table is kept in --dir/faults.json)");
    cmd->add_option("--timeout", fault_args.timeout_ms,
                    "timeout per node in ms")
        ->capture_default_str();
    AddCommon(cmd, &fault_args.common, false);
    fault_cmds.push_back({cmd, verb});
  }

  // check
  CheckArgs check_args;
  check_args.common.dir = default_dir;
  CLI::App* check_cmd = app.add_subcommand(
      "check",
      "a Jepsen-style run against the local ring: clients run a workload "
      "while a nemesis injects faults, then heal, convergence and a check "
      "of the history (exit 0 only when nothing was lost or resurrected and "
      "the replicas converged)");
  check_cmd
      ->add_option("--workload", check_args.workload, "set | register | delete")
      ->capture_default_str();
  check_cmd
      ->add_option("--nemesis", check_args.nemesis,
                   "none | partition-random | isolate | kill | pause | mix")
      ->capture_default_str();
  check_cmd->add_option("--duration", check_args.duration, "e.g. 60s")
      ->capture_default_str();
  check_cmd
      ->add_option("--seed", check_args.seed,
                   "makes the nemesis schedule and the key choice repeatable")
      ->capture_default_str();
  check_cmd->add_option("--clients", check_args.clients, "concurrent clients")
      ->capture_default_str();
  check_cmd->add_option("--keys", check_args.keys, "keys the clients share")
      ->capture_default_str();
  check_cmd->add_option("--conflict", check_args.conflict,
                        "refuse to run unless the ring resolves conflicts "
                        "this way (siblings | lww)");
  check_cmd->add_option("--clock-skew", check_args.clock_skew,
                        "skew one node's write clock (chosen by the seed) "
                        "for the whole run, e.g. +5s");
  check_cmd
      ->add_option("--convergence-limit", check_args.convergence_limit,
                   "how long after the heal replicas may take to converge")
      ->capture_default_str();
  check_cmd->add_option("--history", check_args.history,
                        "where to write the history (JSON lines; default "
                        "--dir/check/history-SEED-TIME.jsonl)");
  AddCommon(check_cmd, &check_args.common, false);

  std::string where_key;
  CLI::App* where = ring->add_subcommand(
      "where", "which partition and nodes hold a key (primaries, fallbacks)");
  where->add_option("key", where_key, "the key")->required();
  AddCommon(where, &ring_common, false);

  // bench
  BenchArgs bench_args;
  bench_args.common.dir = default_dir;
  BenchOptions& bo = bench_args.options;
  CLI::App* bench = app.add_subcommand(
      "bench",
      "load-test a shoal ring (default: every running node of the ring in "
      "--dir) or a Redis server with YCSB-shaped workloads; progress on "
      "stderr each second, then a table (or --json) on stdout");
  CLI::Option* o_workload =
      bench
          ->add_option("--workload", bench_args.workload,
                       "a: 50% read / 50% update, b: 95/5, c: read only, "
                       "f: 50% read / 50% read-modify-write (get, then put "
                       "with its context), w: write only")
          ->capture_default_str();
  CLI::Option* o_mix = bench->add_option(
      "--mix", bench_args.mix,
      "instead of --workload: read=R,write=W,delete=D (percentages summing "
      "to 100; rmw=X too)");
  o_mix->excludes(o_workload);
  CLI::Option* o_target = bench->add_option(
      "--target", bench_args.target,
      "HOST:PORT[,HOST:PORT...] of shoal nodes, or redis://HOST:PORT");
  CLI::Option* o_nodes_list = bench->add_option("--nodes", bench_args.nodes,
                                                "HOST:PORT,... of shoal nodes");
  o_nodes_list->excludes(o_target);
  bench->add_option("--keys", bo.keys, "number of keys (user0 .. userN-1)")
      ->capture_default_str();
  bench->add_option("--value-size", bo.value_size, "value size in bytes")
      ->capture_default_str();
  bench
      ->add_option("--distribution", bench_args.distribution,
                   "key popularity: zipfian (theta 0.99, scrambled) or "
                   "uniform")
      ->capture_default_str();
  bench->add_flag("--load", bo.load,
                  "first write every key once (with progress)");
  bench
      ->add_option("--concurrency", bo.concurrency,
                   "closed loop: connections, each with one request "
                   "outstanding; open loop: connections the requests are "
                   "spread over (round-robin over the nodes)")
      ->capture_default_str();
  bench->add_option("--rate", bo.rate,
                    "open loop at this many ops/s; latency counts from each "
                    "request's intended start (coordinated omission "
                    "corrected)");
  bench
      ->add_option("--max-in-flight", bo.max_in_flight,
                   "open loop: requests beyond this many outstanding are "
                   "not sent and counted as shed")
      ->capture_default_str();
  CLI::Option* o_duration = bench->add_option(
      "--duration", bo.duration_s, "seconds to run (default 10 without --ops)");
  CLI::Option* o_ops =
      bench->add_option("--ops", bo.ops, "stop after this many operations");
  bench->add_option("--r", bo.r,
                    "shoal: read quorum per get (default: cluster r)");
  bench->add_option("--w", bo.w,
                    "shoal: write quorum per put (default: cluster w)");
  bench->add_option("--timeout", bo.timeout_ms,
                    "request timeout in ms (default 2000)");
  bench->add_flag("--blind", bo.blind,
                  "shoal: write without contexts (each write becomes a "
                  "sibling); by default a write carries the last context "
                  "seen for its key");
  bench->add_option("--redis-wait", bo.redis_wait,
                    "redis: WAIT N after each write (N replicas must "
                    "acknowledge)");
  bench
      ->add_option("--redis-wait-timeout", bo.redis_wait_timeout_ms,
                   "redis: WAIT's timeout in ms")
      ->capture_default_str();
  bench->add_option("--seed", bo.seed, "random seed (keys, ops, values)")
      ->capture_default_str();
  bench->add_option("--csv", bench_args.csv,
                    "also write DIR/summary.csv and DIR/<op>_latency.csv");
  AddCommon(bench, &bench_args.common, false);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (*put) {
    put_args.has_value = put_value->count() > 0;
    if (!put_args.has_value && put_args.value_file.empty()) {
      return UsageError("put: give VALUE or --value-file");
    }
    return RunWrite(put_args, /*is_delete=*/false);
  }
  if (*get) return RunGet(get_args);
  if (*del) return RunWrite(del_args, /*is_delete=*/true);
  if (*status) return RunStatus(status_args);
  if (*hints) return RunHints(hints_args);
  if (*aae_status) return RunAaeStatus(aae_status_args);
  if (*aae_run) return RunAaeRun(aae_run_args);

  if (*metrics) return RunMetrics(metrics_args);
  if (*up) {
    UpOptions options;
    if (o_nodes->count()) options.nodes = nodes;
    if (o_n->count()) options.n = n;
    if (o_w->count()) options.w = w;
    if (o_r->count()) options.r = r;
    if (o_partitions->count()) options.partitions = partitions;
    if (o_base->count()) options.base_port = base_port;
    if (o_sync->count()) options.sync = sync;
    if (o_conflict->count()) options.conflict = conflict;
    options.fresh = fresh;
    options.prometheus = with_prometheus;
    return RunRingUp(up_common, options, self);
  }
  if (*ring_status) return RunRingStatus(ring_common);
  if (*down) return RunRingDown(ring_common);
  for (const NodeCmd& c : node_cmds) {
    if (*c.cmd) return RunNodeVerb(ring_common, c.verb, node_name);
  }
  if (*where) return RunRingWhere(ring_common, where_key);
  for (const NodeCmd& c : fault_node_cmds) {
    if (*c.cmd) return RunNodeVerb(fault_args.common, c.verb, node_name);
  }
  for (const FaultCmd& c : fault_cmds) {
    if (*c.cmd) return RunFault(fault_args, c.verb);
  }
  if (*check_cmd) return RunCheck(check_args);
  if (*bench) {
    return RunBenchVerb(std::move(bench_args), o_mix->count() > 0,
                        o_duration->count() > 0, o_ops->count() > 0);
  }
  return UsageError("no command given");
}

}  // namespace
}  // namespace shoal::tools

int main(int argc, char** argv) { return shoal::tools::Main(argc, argv); }
