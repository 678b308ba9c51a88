// `shoal bench`: its options, the target it resolves, and the report it
// prints; the engine is tools/bench/bench.h.
#include "tools/bench/bench.h"

#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tools/cli/common.h"
#include "tools/cli/verbs.h"
#include "tools/ring/launcher.h"

namespace shoal::tools::cli {
namespace {

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

}  // namespace

void AddBenchVerb(CLI::App& app, Verbs& verbs) {
  // bench
  auto bench_args = std::make_shared<BenchArgs>();
  bench_args->common.dir = verbs.default_dir;
  BenchOptions& bo = bench_args->options;
  CLI::App* bench = app.add_subcommand(
      "bench",
      "load-test a shoal ring (default: every running node of the ring in "
      "--dir) or a Redis server with YCSB-shaped workloads; progress on "
      "stderr each second, then a table (or --json) on stdout");
  CLI::Option* o_workload =
      bench
          ->add_option("--workload", bench_args->workload,
                       "a: 50% read / 50% update, b: 95/5, c: read only, "
                       "f: 50% read / 50% read-modify-write (get, then put "
                       "with its context), w: write only")
          ->capture_default_str();
  CLI::Option* o_mix = bench->add_option(
      "--mix", bench_args->mix,
      "instead of --workload: read=R,write=W,delete=D (percentages summing "
      "to 100; rmw=X too)");
  o_mix->excludes(o_workload);
  CLI::Option* o_target = bench->add_option(
      "--target", bench_args->target,
      "HOST:PORT[,HOST:PORT...] of shoal nodes, or redis://HOST:PORT");
  CLI::Option* o_nodes_list = bench->add_option("--nodes", bench_args->nodes,
                                                "HOST:PORT,... of shoal nodes");
  o_nodes_list->excludes(o_target);
  bench->add_option("--keys", bo.keys, "number of keys (user0 .. userN-1)")
      ->capture_default_str();
  bench->add_option("--value-size", bo.value_size, "value size in bytes")
      ->capture_default_str();
  bench
      ->add_option("--distribution", bench_args->distribution,
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
  bench->add_option("--level", bo.level,
                    "shoal: consistency level instead of --r/--w: quorum, "
                    "local_quorum (in each connection's node's datacenter) "
                    "or each_quorum");
  bench->add_option("--timeout", bo.timeout_ms,
                    "request timeout in ms (default 2000)");
  bench->add_flag("--blind", bo.blind,
                  "shoal: write without contexts (each write becomes a "
                  "sibling); by default a write carries the last context "
                  "seen for its key");
  bench->add_flag("--sessions", bo.sessions,
                  "shoal: every connection keeps a session its requests "
                  "carry (read-your-writes and monotonic reads; a read "
                  "waits for a replica that reflects the session)");
  bench->add_option("--redis-wait", bo.redis_wait,
                    "redis: WAIT N after each write (N replicas must "
                    "acknowledge)");
  bench
      ->add_option("--redis-wait-timeout", bo.redis_wait_timeout_ms,
                   "redis: WAIT's timeout in ms")
      ->capture_default_str();
  bench->add_option("--seed", bo.seed, "random seed (keys, ops, values)")
      ->capture_default_str();
  bench->add_option("--csv", bench_args->csv,
                    "also write DIR/summary.csv and DIR/<op>_latency.csv");
  AddCommon(bench, &bench_args->common, false);
  verbs.On(bench, [bench_args, o_mix, o_duration, o_ops] {
    return RunBenchVerb(*bench_args, o_mix->count() > 0,
                        o_duration->count() > 0, o_ops->count() > 0);
  });
}

}  // namespace shoal::tools::cli
