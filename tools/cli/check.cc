// `shoal check`: a Jepsen-style run against the local ring
// (tools/check/check_run.h), its report and how to reproduce it.
#include "tools/check/check.h"

#include <iostream>
#include <memory>
#include <optional>

#include "base/duration.h"
#include "tools/check/check_run.h"
#include "tools/cli/common.h"
#include "tools/cli/verbs.h"

namespace shoal::tools::cli {
namespace {

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
  std::string tokens = "on";
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
  if (args.tokens != "on" && args.tokens != "off") {
    return Fail(Status(Code::kInvalidArgument,
                       "--tokens must be on or off, not '" + args.tokens + "'"),
                as_json);
  }
  options.session_tokens = args.tokens == "on";
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
                << (options.workload == check::Workload::kSession
                        ? " --tokens " + args.tokens
                        : std::string())
                << (args.clock_skew.empty()
                        ? ""
                        : " --clock-skew " + args.clock_skew)
                << " (same ring parameters; doc/faults.md)\n";
    }
  }
  return report->valid ? kExitOk : kExitError;
}

}  // namespace

void AddCheckVerb(CLI::App& app, Verbs& verbs) {
  auto check_args = std::make_shared<CheckArgs>();
  check_args->common.dir = verbs.default_dir;
  CLI::App* check_cmd = app.add_subcommand(
      "check",
      "a Jepsen-style run against the local ring: clients run a workload "
      "while a nemesis injects faults, then heal, convergence and a check "
      "of the history (exit 0 only when nothing was lost or resurrected, no "
      "session guarantee was broken and the replicas converged)");
  check_cmd
      ->add_option("--workload", check_args->workload,
                   "set | register | delete | session (r=1 w=1 clients "
                   "checked for read-your-writes and monotonic reads)")
      ->capture_default_str();
  check_cmd
      ->add_option("--nemesis", check_args->nemesis,
                   "none | partition-random | isolate | kill | pause | delay "
                   "(one node's links slowed by 100-400ms) | mix (partition, "
                   "isolate, kill, pause) | membership (joins, leaves and "
                   "replacements of nodes alternating with the faults of "
                   "mix)")
      ->capture_default_str();
  check_cmd->add_option("--duration", check_args->duration, "e.g. 60s")
      ->capture_default_str();
  check_cmd
      ->add_option("--seed", check_args->seed,
                   "makes the nemesis schedule and the key choice repeatable")
      ->capture_default_str();
  check_cmd->add_option("--clients", check_args->clients, "concurrent clients")
      ->capture_default_str();
  check_cmd->add_option("--keys", check_args->keys, "keys the clients share")
      ->capture_default_str();
  check_cmd->add_option("--conflict", check_args->conflict,
                        "refuse to run unless the ring resolves conflicts "
                        "this way (siblings | lww)");
  check_cmd->add_option("--clock-skew", check_args->clock_skew,
                        "skew one node's write clock (chosen by the seed) "
                        "for the whole run, e.g. +5s");
  check_cmd
      ->add_option("--convergence-limit", check_args->convergence_limit,
                   "how long after the heal replicas may take to converge")
      ->capture_default_str();
  check_cmd
      ->add_option("--tokens", check_args->tokens,
                   "session workload: on = every request carries its "
                   "client's session token; off = the control run, which "
                   "should find violations")
      ->capture_default_str();
  check_cmd->add_option("--history", check_args->history,
                        "where to write the history (JSON lines; default "
                        "--dir/check/history-SEED-TIME.jsonl)");
  AddCommon(check_cmd, &check_args->common, false);
  verbs.On(check_cmd, [check_args] { return RunCheck(*check_args); });
}

}  // namespace shoal::tools::cli
