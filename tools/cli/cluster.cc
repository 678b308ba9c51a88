// `shoal cluster status`: the cluster state as the asked node holds it,
// and whether every member reports the same one (doc/membership.md).
#include <chrono>
#include <iostream>
#include <memory>
#include <utility>

#include "base/duration.h"
#include "client/client.h"
#include "tools/cli/common.h"
#include "tools/cli/output.h"
#include "tools/cli/verbs.h"

namespace shoal::tools::cli {
namespace {

using client::Client;

struct ClusterArgs {
  Common common;
  std::string timeout = "2s";
};

struct ClusterView {
  wire::StatusReply status;
  cluster::ClusterState state;
};

Awaitable<Result<ClusterView>> AskView(Client* client,
                                       std::chrono::milliseconds timeout) {
  auto status = co_await client->Status(timeout);
  if (!status.ok()) co_return status.status();
  auto state = co_await client->ClusterState(timeout);
  if (!state.ok()) co_return state.status();
  co_return ClusterView{std::move(status).value(), std::move(state).value()};
}

int RunClusterStatus(const ClusterArgs& args) {
  const bool as_json = args.common.json;
  auto timeout = ParseDuration(args.timeout);
  if (!timeout.ok()) {
    return UsageError("--timeout: " + timeout.status().message());
  }
  Result<std::string> address = ResolveNode(args.common);
  if (!address.ok()) return Fail(address.status(), as_json);
  asio::io_context io;
  Client client(io.get_executor(), *address);
  auto view = RunCall(io, AskView(&client, *timeout));
  if (!view.ok()) return Fail(view.status(), as_json);
  const ClusterStatus cs = SummarizeCluster(view->status, view->state);
  if (as_json) {
    Json j = ClusterStatusToJson(cs);
    j["asked"] = *address;
    PrintJson(j);
  } else {
    std::cout << "asked:      " << *address << "\n" << ClusterStatusToText(cs);
  }
  return kExitOk;
}

}  // namespace

void AddClusterVerbs(CLI::App& app, Verbs& verbs) {
  CLI::App* cluster = app.add_subcommand(
      "cluster", "membership: the cluster state every node holds");
  cluster->require_subcommand(1);
  auto status_args = std::make_shared<ClusterArgs>();
  status_args->common.dir = verbs.default_dir;
  CLI::App* status = cluster->add_subcommand(
      "status",
      "the asked node's cluster state (epoch, members, their states) and "
      "whether every member reports the same one");
  status->add_option("--timeout", status_args->timeout, "e.g. 2s, 500ms")
      ->capture_default_str();
  AddCommon(status, &status_args->common, true);
  verbs.On(status, [status_args] { return RunClusterStatus(*status_args); });
}

}  // namespace shoal::tools::cli
