// `shoal status|hints|aae|metrics`: what one node says about itself.
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "client/client.h"
#include "tools/cli/common.h"
#include "tools/cli/metrics_text.h"
#include "tools/cli/output.h"
#include "tools/cli/verbs.h"
#include "tools/ring/faults.h"
#include "tools/ring/http_get.h"
#include "tools/ring/launcher.h"

namespace shoal::tools::cli {
namespace {

using client::Client;

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

// `shoal metrics`: one node's /metrics, summed up (tools/cli/metrics_text.h).
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

}  // namespace

void AddAdminVerbs(CLI::App& app, Verbs& verbs) {
  // status
  auto status_args = std::make_shared<AdminArgs>();
  status_args->common.dir = verbs.default_dir;
  CLI::App* status = app.add_subcommand(
      "status", "the asked node's view: config, storage and members");
  status->add_option("--timeout", status_args->timeout_ms, "timeout in ms")
      ->default_val(2000);
  AddCommon(status, &status_args->common, true);
  verbs.On(status, [status_args] { return RunStatus(*status_args); });

  // hints
  auto hints_args = std::make_shared<AdminArgs>();
  hints_args->common.dir = verbs.default_dir;
  CLI::App* hints = app.add_subcommand(
      "hints",
      "the asked node's hinted handoff: hints it keeps for down primaries");
  hints->add_option("--timeout", hints_args->timeout_ms, "timeout in ms")
      ->default_val(2000);
  AddCommon(hints, &hints_args->common, true);
  verbs.On(hints, [hints_args] { return RunHints(*hints_args); });

  // aae
  CLI::App* aae = app.add_subcommand(
      "aae", "anti-entropy: Merkle-tree exchanges between replicas");
  aae->require_subcommand(1);
  auto aae_status_args = std::make_shared<AdminArgs>();
  aae_status_args->common.dir = verbs.default_dir;
  CLI::App* aae_status = aae->add_subcommand(
      "status",
      "the asked node's trees and exchanges, per partition it replicates");
  aae_status
      ->add_option("--timeout", aae_status_args->timeout_ms, "timeout in ms")
      ->default_val(2000);
  AddCommon(aae_status, &aae_status_args->common, true);
  verbs.On(aae_status,
           [aae_status_args] { return RunAaeStatus(*aae_status_args); });
  auto aae_run_args = std::make_shared<AaeRunArgs>();
  aae_run_args->admin.common.dir = verbs.default_dir;
  aae_run_args->admin.timeout_ms = 600'000;
  CLI::App* aae_run = aae->add_subcommand(
      "run",
      "exchange now with the other replicas (one partition or all the asked "
      "node replicates) and repair what differs");
  aae_run->add_option("--partition", aae_run_args->partition,
                      "only this partition (default: every one the node "
                      "replicates)");
  aae_run
      ->add_option("--timeout", aae_run_args->admin.timeout_ms,
                   "timeout per partition in ms")
      ->capture_default_str();
  AddCommon(aae_run, &aae_run_args->admin.common, true);
  verbs.On(aae_run, [aae_run_args] { return RunAaeRun(*aae_run_args); });

  // metrics
  auto metrics_args = std::make_shared<MetricsArgs>();
  metrics_args->common.dir = verbs.default_dir;
  CLI::App* metrics = app.add_subcommand(
      "metrics",
      "a node's key figures from its /metrics: requests, stale reads, hint "
      "backlog, peers, storage (--node NAME or client address; default the "
      "first running node)");
  metrics->add_option("--metrics-address", metrics_args->metrics_address,
                      "HOST:PORT of a /metrics endpoint to read directly");
  metrics->add_option("--timeout", metrics_args->timeout_ms, "timeout in ms")
      ->default_val(2000);
  AddCommon(metrics, &metrics_args->common, true);
  verbs.On(metrics, [metrics_args] { return RunMetrics(*metrics_args); });
}

}  // namespace shoal::tools::cli
