// `shoal cluster status`: the cluster state as the asked node holds it,
// and whether every member reports the same one; `shoal cluster join|leave|
// replace|force-remove|clear`: stage changes at the asked node; `shoal
// cluster plan`: what the staged changes (or the ones given as flags) would
// move; `shoal cluster commit`: commit the staged ones (doc/membership.md).
#include <algorithm>
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

// The node a cluster verb asks and its --timeout; nullopt (with *exit set)
// after printing what is wrong with them.
struct Asked {
  std::string address;
  std::chrono::milliseconds timeout;
};
std::optional<Asked> Ask(const Common& common, const std::string& timeout_text,
                         int* exit) {
  auto timeout = ParseDuration(timeout_text);
  if (!timeout.ok()) {
    *exit = UsageError("--timeout: " + timeout.status().message());
    return std::nullopt;
  }
  Result<std::string> address = ResolveNode(common);
  if (!address.ok()) {
    *exit = Fail(address.status(), common.json);
    return std::nullopt;
  }
  return Asked{*address, *timeout};
}

int RunClusterStatus(const ClusterArgs& args) {
  const bool as_json = args.common.json;
  int exit = kExitOk;
  const auto asked = Ask(args.common, args.timeout, &exit);
  if (!asked) return exit;
  asio::io_context io;
  Client client(io.get_executor(), asked->address);
  auto view = RunCall(io, AskView(&client, asked->timeout));
  if (!view.ok()) return Fail(view.status(), as_json);
  ClusterStatus cs = SummarizeCluster(view->status, view->state);
  // Each receiver's own figures for the change in progress.
  for (const std::string& name : cluster::Receivers(view->state)) {
    ClusterStatus::Transfer t{name, {}, ""};
    const auto member =
        std::find_if(view->state.members.begin(), view->state.members.end(),
                     [&](const cluster::Member& m) { return m.name == name; });
    Client peer(io.get_executor(), member->address);
    auto status = RunCall(io, peer.Status(asked->timeout));
    if (status.ok()) {
      t.status = status->transfer;
    } else {
      t.error = status.status().message();
    }
    cs.transfers.push_back(std::move(t));
  }
  if (as_json) {
    Json j = ClusterStatusToJson(cs);
    j["asked"] = asked->address;
    PrintJson(j);
  } else {
    std::cout << "asked:      " << asked->address << "\n"
              << ClusterStatusToText(cs);
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
  auto changes = ChangesOf(args);
  if (!changes.ok()) return UsageError(changes.status().message());
  int exit = kExitOk;
  const auto asked = Ask(args.common, args.timeout, &exit);
  if (!asked) return exit;
  asio::io_context io;
  if (changes->empty()) {
    // No change given: what is staged at the asked node.
    Client client(io.get_executor(), asked->address);
    auto staged = RunCall(io, client.ClusterStage({}, asked->timeout));
    if (!staged.ok()) return Fail(staged.status(), as_json);
    if (staged->changes.empty()) {
      return Fail(Status(Code::kInvalidArgument,
                         "nothing is staged at " + asked->address +
                             ": stage changes (shoal cluster join, leave, "
                             "replace, force-remove) or give them as "
                             "--join, --leave, --replace, --force-remove"),
                  as_json);
    }
    *changes = std::move(staged->changes);
  }
  auto inputs = RunCall(io, AskPlanInputs(asked->address, asked->timeout));
  if (!inputs.ok()) return Fail(inputs.status(), as_json);
  auto report = MakePlanReport(inputs->state, *changes, inputs->statuses);
  if (!report.ok()) return Fail(report.status(), as_json);
  if (as_json) {
    Json j = PlanReportToJson(*report);
    j["asked"] = asked->address;
    PrintJson(j);
  } else {
    std::cout << "asked:      " << asked->address << "\n"
              << PlanReportToText(*report);
  }
  return kExitOk;
}

// One staging verb's arguments: the change is made from `first` and
// `second` (NAME, NAME@HOST:PORT or OLD NEW@HOST:PORT).
struct StageArgs {
  Common common;
  std::string timeout = "2s";
  std::string first;
  std::string second;
  std::string dc;    // join: the new member's datacenter
  std::string rack;  // join: its rack
};

Json StagedToJson(const std::string& asked, uint64_t epoch,
                  const std::vector<cluster::Change>& changes,
                  const char* key) {
  Json j;
  j["asked"] = asked;
  j["epoch"] = epoch;
  Json list = Json::array();
  for (const cluster::Change& c : changes) list.push_back(cluster::Describe(c));
  j[key] = list;
  return j;
}

// Sends `request` to the asked node and prints what is staged there.
int RunStage(const StageArgs& args, wire::ClusterStageRequest request) {
  const bool as_json = args.common.json;
  int exit = kExitOk;
  const auto asked = Ask(args.common, args.timeout, &exit);
  if (!asked) return exit;
  asio::io_context io;
  Client client(io.get_executor(), asked->address);
  auto staged =
      RunCall(io, client.ClusterStage(std::move(request), asked->timeout));
  if (!staged.ok()) return Fail(staged.status(), as_json);
  if (as_json) {
    PrintJson(
        StagedToJson(asked->address, staged->epoch, staged->changes, "staged"));
    return kExitOk;
  }
  std::cout << "staged at " << asked->address << " (epoch " << staged->epoch
            << "):";
  if (staged->changes.empty()) std::cout << " nothing";
  std::cout << "\n";
  for (size_t i = 0; i < staged->changes.size(); ++i) {
    std::cout << "  " << i + 1 << ". " << cluster::Describe(staged->changes[i])
              << "\n";
  }
  if (!staged->changes.empty()) {
    std::cout << "next: `shoal cluster plan --node " << asked->address
              << "` shows what it moves; `shoal cluster commit --node "
              << asked->address << "` commits it\n";
  }
  return kExitOk;
}

Result<wire::ClusterStageRequest> StageRequestOf(cluster::Change::Kind kind,
                                                 const StageArgs& args) {
  using Kind = cluster::Change::Kind;
  switch (kind) {
    case Kind::kJoin: {
      auto target = NameAt(args.first, "join");
      if (!target.ok()) return target.status();
      return wire::ClusterStageRequest{{cluster::Change::Join(
          target->first, target->second, args.dc, args.rack)}};
    }
    case Kind::kLeave:
      return wire::ClusterStageRequest{{cluster::Change::Leave(args.first)}};
    case Kind::kReplace: {
      auto target = NameAt(args.second, "replace");
      if (!target.ok()) return target.status();
      return wire::ClusterStageRequest{{cluster::Change::Replace(
          args.first, target->first, target->second)}};
    }
    case Kind::kForceRemove:
      return wire::ClusterStageRequest{
          {cluster::Change::ForceRemove(args.first)}};
  }
  return Status(Code::kInternal, "unknown change kind");
}

struct CommitArgs {
  Common common;
  std::string timeout = "5s";
};

int RunClusterCommit(const CommitArgs& args) {
  const bool as_json = args.common.json;
  int exit = kExitOk;
  const auto asked = Ask(args.common, args.timeout, &exit);
  if (!asked) return exit;
  asio::io_context io;
  Client client(io.get_executor(), asked->address);
  // What is staged, and on which epoch: the commit must be made on that
  // one (a change committed elsewhere since is refused, not overridden).
  auto staged = RunCall(io, client.ClusterStage({}, asked->timeout));
  if (!staged.ok()) return Fail(staged.status(), as_json);
  auto committed =
      RunCall(io, client.ClusterCommit(staged->epoch, asked->timeout));
  if (!committed.ok()) return Fail(committed.status(), as_json);
  if (as_json) {
    PrintJson(StagedToJson(asked->address, committed->epoch, staged->changes,
                           "committed"));
    return kExitOk;
  }
  std::cout << "committed at " << asked->address << ": epoch "
            << committed->epoch << "\n";
  for (const cluster::Change& c : staged->changes) {
    std::cout << "  " << cluster::Describe(c) << "\n";
  }
  std::cout << "the other members learn it within a heartbeat; `shoal cluster "
               "status` shows when every one holds it\n";
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
      "what the changes staged at the asked node (or the ones given as "
      "flags) would move, from its cluster state: partitions changing owner, "
      "replicas to copy from whom to whom (with "
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

  // Staging: one verb per kind of change, kept at the asked node.
  using Kind = cluster::Change::Kind;
  struct StageVerb {
    const char* name;
    Kind kind;
    const char* help;
    const char* first;
    const char* second;  // nullptr: one argument
  };
  const StageVerb stage_verbs[] = {
      {"join", Kind::kJoin,
       "stage a new member joining; after the commit, start it with "
       "cluster.seeds and it receives its partitions",
       "NAME@HOST:PORT of the new member", nullptr},
      {"leave", Kind::kLeave,
       "stage a member handing its partitions over and leaving",
       "the member's name", nullptr},
      {"replace", Kind::kReplace,
       "stage NEW taking exactly OLD's partitions, copied from the other "
       "replicas (OLD may be dead)",
       "OLD: the member replaced", "NEW@HOST:PORT of its replacement"},
      {"force-remove", Kind::kForceRemove,
       "stage removing a member that is gone for good: its partitions go to "
       "the others, refilled by read repair and anti-entropy",
       "the member's name", nullptr},
  };
  for (const StageVerb& v : stage_verbs) {
    auto args = std::make_shared<StageArgs>();
    args->common.dir = verbs.default_dir;
    CLI::App* cmd = cluster->add_subcommand(v.name, v.help);
    cmd->add_option(v.second ? "old" : "target", args->first, v.first)
        ->required();
    if (v.second) {
      cmd->add_option("new", args->second, v.second)->required();
    }
    if (v.kind == Kind::kJoin) {
      cmd->add_option("--dc", args->dc,
                      "the new member's datacenter (required when the ring "
                      "has datacenters)");
      cmd->add_option("--rack", args->rack, "the new member's rack");
    }
    cmd->add_option("--timeout", args->timeout, "e.g. 2s, 500ms")
        ->capture_default_str();
    AddCommon(cmd, &args->common, true);
    const Kind kind = v.kind;
    verbs.On(cmd, [args, kind] {
      auto request = StageRequestOf(kind, *args);
      if (!request.ok()) return UsageError(request.status().message());
      return RunStage(*args, std::move(request).value());
    });
  }
  auto clear_args = std::make_shared<StageArgs>();
  clear_args->common.dir = verbs.default_dir;
  CLI::App* clear = cluster->add_subcommand(
      "clear", "drop every change staged at the asked node");
  clear->add_option("--timeout", clear_args->timeout, "e.g. 2s, 500ms")
      ->capture_default_str();
  AddCommon(clear, &clear_args->common, true);
  verbs.On(clear, [clear_args] {
    return RunStage(*clear_args, wire::ClusterStageRequest{{}, true});
  });

  auto commit_args = std::make_shared<CommitArgs>();
  commit_args->common.dir = verbs.default_dir;
  CLI::App* commit = cluster->add_subcommand(
      "commit",
      "commit the changes staged at the asked node: it makes the new cluster "
      "state (refused while a member that stays is down or holds another "
      "state) and the others learn it with the heartbeats");
  commit->add_option("--timeout", commit_args->timeout, "e.g. 5s")
      ->capture_default_str();
  AddCommon(commit, &commit_args->common, true);
  verbs.On(commit, [commit_args] { return RunClusterCommit(*commit_args); });
}

}  // namespace shoal::tools::cli
