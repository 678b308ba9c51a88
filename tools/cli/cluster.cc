// `shoal cluster status`: the cluster state as the asked node holds it,
// and whether every member reports the same one; `shoal cluster plan`:
// what a set of changes would move (doc/membership.md).
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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

struct PlanArgs {
  Common common;
  std::string timeout = "2s";
  std::vector<std::string> joins;          // NAME@HOST:PORT
  std::vector<std::string> leaves;         // NAME
  std::vector<std::string> replaces;       // OLD=NEW@HOST:PORT
  std::vector<std::string> force_removes;  // NAME
};

// NAME@HOST:PORT
Result<std::pair<std::string, std::string>> NameAt(const std::string& text,
                                                   const char* flag) {
  const size_t at = text.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == text.size()) {
    return Status(Code::kInvalidArgument,
                  std::string(flag) + " '" + text +
                      "': expected NAME@HOST:PORT (e.g. n4@10.0.0.4:7100)");
  }
  return std::pair{text.substr(0, at), text.substr(at + 1)};
}

// The changes in the order MakePlan applies them: replacements, joins,
// leaves, force-removals.
Result<std::vector<cluster::Change>> ChangesOf(const PlanArgs& args) {
  std::vector<cluster::Change> changes;
  for (const std::string& r : args.replaces) {
    const size_t eq = r.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status(Code::kInvalidArgument,
                    "--replace '" + r +
                        "': expected OLD=NEW@HOST:PORT (e.g. "
                        "n2=n5@10.0.0.5:7100)");
    }
    auto target = NameAt(r.substr(eq + 1), "--replace");
    if (!target.ok()) return target.status();
    changes.push_back(cluster::Change::Replace(r.substr(0, eq), target->first,
                                               target->second));
  }
  for (const std::string& j : args.joins) {
    auto target = NameAt(j, "--join");
    if (!target.ok()) return target.status();
    changes.push_back(cluster::Change::Join(target->first, target->second));
  }
  for (const std::string& l : args.leaves) {
    changes.push_back(cluster::Change::Leave(l));
  }
  for (const std::string& f : args.force_removes) {
    changes.push_back(cluster::Change::ForceRemove(f));
  }
  if (changes.empty()) {
    return Status(Code::kInvalidArgument,
                  "no change given: use --join, --leave, --replace or "
                  "--force-remove");
  }
  return changes;
}

// The asked node's state, then the status of every member that answers
// (for the estimates).
struct PlanInputs {
  cluster::ClusterState state;
  std::map<std::string, wire::StatusReply> statuses;
};

Awaitable<Result<PlanInputs>> AskPlanInputs(std::string address,
                                            std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  PlanInputs in;
  {
    Client asked(executor, address);
    auto state = co_await asked.ClusterState(timeout);
    if (!state.ok()) co_return state.status();
    in.state = std::move(state).value();
  }
  for (const cluster::Member& m : in.state.members) {
    if (m.state == cluster::MemberState::kRemoved) continue;
    Client member(executor, m.address);
    auto status = co_await member.Status(timeout);
    if (status.ok()) in.statuses[m.name] = std::move(status).value();
  }
  co_return in;
}

int RunClusterPlan(const PlanArgs& args) {
  const bool as_json = args.common.json;
  auto timeout = ParseDuration(args.timeout);
  if (!timeout.ok()) {
    return UsageError("--timeout: " + timeout.status().message());
  }
  auto changes = ChangesOf(args);
  if (!changes.ok()) return UsageError(changes.status().message());
  Result<std::string> address = ResolveNode(args.common);
  if (!address.ok()) return Fail(address.status(), as_json);
  asio::io_context io;
  auto inputs = RunCall(io, AskPlanInputs(*address, *timeout));
  if (!inputs.ok()) return Fail(inputs.status(), as_json);
  auto report = MakePlanReport(inputs->state, *changes, inputs->statuses);
  if (!report.ok()) return Fail(report.status(), as_json);
  if (as_json) {
    Json j = PlanReportToJson(*report);
    j["asked"] = *address;
    PrintJson(j);
  } else {
    std::cout << "asked:      " << *address << "\n"
              << PlanReportToText(*report);
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

  auto plan_args = std::make_shared<PlanArgs>();
  plan_args->common.dir = verbs.default_dir;
  CLI::App* plan = cluster->add_subcommand(
      "plan",
      "what a change would move, from the asked node's cluster state: "
      "partitions changing owner, replicas to copy from whom to whom (with "
      "keys and bytes estimated from each source's status), and the "
      "balance after it; nothing is committed");
  plan->add_option("--join", plan_args->joins,
                   "a new member, NAME@HOST:PORT (repeatable)");
  plan->add_option("--leave", plan_args->leaves,
                   "a member that hands its partitions over and leaves");
  plan->add_option("--replace", plan_args->replaces,
                   "OLD=NEW@HOST:PORT: NEW takes exactly OLD's partitions, "
                   "copied from the other replicas");
  plan->add_option("--force-remove", plan_args->force_removes,
                   "a member that is gone for good (its data is not read)");
  plan->add_option("--timeout", plan_args->timeout, "per request, e.g. 2s")
      ->capture_default_str();
  AddCommon(plan, &plan_args->common, true);
  verbs.On(plan, [plan_args] { return RunClusterPlan(*plan_args); });
}

}  // namespace shoal::tools::cli
