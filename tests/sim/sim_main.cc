// shoal_sim: runs the deterministic simulator (tests/sim/README.md).
//
//   shoal_sim --seed 42 [--trace]          one run; --trace prints every
//                                          event of it
//   shoal_sim --seeds 1-1000 [--jobs 2]    many runs; exit 1 if any fails,
//                                          printing how to replay it
//   shoal_sim --seeds 1-200 --bug reuses-dot --expect-failure
//                                          a planted bug (doc/sim.md):
//                                          exit 0 once a seed catches it
//                                          (prints which), 1 if none does
//
// Every run's options come from its seed (OptionsForSeed); --bug plants
// one broken rule in every node. Exit status: 0 as described, 1 as
// described, 2 on a usage error.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/sim/world.h"

namespace {

using shoal::sim::PlantedBug;
using shoal::sim::SimOptions;
using shoal::sim::SimOutcome;

bool ParseRange(const std::string& text, uint64_t* first, uint64_t* last) {
  const auto dash = text.find('-');
  try {
    if (dash == std::string::npos) {
      *first = *last = std::stoull(text);
    } else {
      *first = std::stoull(text.substr(0, dash));
      *last = std::stoull(text.substr(dash + 1));
    }
  } catch (const std::exception&) {
    return false;
  }
  return *first <= *last;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shoal_sim: the deterministic simulator of a shoal cluster"};
  uint64_t seed = 0;
  std::string seeds;
  std::string bug_name = "none";
  bool trace = false;
  bool expect_failure = false;
  unsigned jobs = 1;
  app.add_option("--seed", seed, "run this one seed");
  app.add_option("--seeds", seeds, "run the seeds FIRST-LAST");
  app.add_option("--bug", bug_name,
                 "plant a bug: none, repair-skips-stale, ack-before-commit, "
                 "handoff-deletes-early, reuses-dot");
  app.add_flag("--trace", trace, "print the run's events (one seed)");
  app.add_flag("--expect-failure", expect_failure,
               "succeed once some seed fails (for planted bugs)");
  app.add_option("--jobs", jobs, "runs at once (threads), default 1");
  int removals = 0;
  app.add_option("--removals", removals,
                 "force-removals the nemesis draws per run (default 0)")
      ->check(CLI::Range(0, 8));
  std::string workload_name;
  app.add_option("--workload", workload_name,
                 "run every seed with this workload (set, register, delete, "
                 "session) instead of the one the seed draws");
  bool no_tokens = false;
  app.add_flag("--no-tokens", no_tokens,
               "session workload without session tokens (the control)");
  std::string log_level = "off";
  app.add_option("--log", log_level,
                 "the nodes' log level (off, error, warn, info, debug)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  PlantedBug bug;
  if (!shoal::sim::ParsePlantedBug(bug_name, &bug)) {
    std::fprintf(stderr, "shoal_sim: unknown bug '%s'\n", bug_name.c_str());
    return 2;
  }
  std::optional<shoal::tools::check::Workload> workload;
  if (!workload_name.empty()) {
    auto parsed = shoal::tools::check::ParseWorkload(workload_name);
    if (!parsed.ok()) {
      std::fprintf(stderr, "shoal_sim: %s\n",
                   parsed.status().message().c_str());
      return 2;
    }
    workload = *parsed;
  }
  uint64_t first = seed, last = seed;
  if (!seeds.empty() && !ParseRange(seeds, &first, &last)) {
    std::fprintf(stderr, "shoal_sim: bad --seeds '%s' (expected FIRST-LAST)\n",
                 seeds.c_str());
    return 2;
  }
  if (seeds.empty() && seed == 0) {
    std::fprintf(stderr, "shoal_sim: give --seed N or --seeds FIRST-LAST\n");
    return 2;
  }
  jobs = std::max(1u, jobs);

  const auto started = std::chrono::steady_clock::now();
  std::atomic<uint64_t> next{first};
  std::atomic<uint64_t> runs{0}, failures{0};
  std::atomic<bool> stop{false};
  std::optional<uint64_t> caught;
  std::mutex mu;
  auto worker = [&] {
    for (;;) {
      if (stop) return;
      const uint64_t s = next++;
      if (s > last) return;
      SimOptions options = shoal::sim::OptionsForSeed(s);
      options.bug = bug;
      options.removals = removals;
      options.keep_trace = trace;
      if (workload) options.workload = *workload;
      options.session_tokens = !no_tokens;
      const SimOutcome out = shoal::sim::RunSimulation(options);
      ++runs;
      std::lock_guard<std::mutex> lock(mu);
      if (trace) {
        for (const std::string& line : out.trace)
          std::printf("%s\n", line.c_str());
      }
      if (!out.valid) {
        ++failures;
        std::printf("%s\n", out.Summary(options).c_str());
        std::printf(
            "  replay: shoal_sim --seed %llu%s%s%s%s --trace\n",
            static_cast<unsigned long long>(s),
            bug == PlantedBug::kNone ? "" : (" --bug " + bug_name).c_str(),
            removals == 0 ? ""
                          : (" --removals " + std::to_string(removals)).c_str(),
            workload ? (" --workload " + workload_name).c_str() : "",
            no_tokens ? " --no-tokens" : "");
        if (expect_failure) {
          if (!caught || s < *caught) caught = s;
          stop = true;
        }
      } else if (first == last) {
        std::printf("%s\n", out.Summary(options).c_str());
      }
      std::fflush(stdout);
    }
  };
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < jobs; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  std::printf("%llu runs, %llu failed, %.1f s\n",
              static_cast<unsigned long long>(runs.load()),
              static_cast<unsigned long long>(failures.load()), seconds);
  if (expect_failure) {
    if (caught) {
      std::printf("planted bug %s caught by seed %llu\n",
                  no_tokens ? "no-session-tokens" : bug_name.c_str(),
                  static_cast<unsigned long long>(*caught));
      return 0;
    }
    std::printf("planted bug %s NOT caught in seeds %llu-%llu\n",
                no_tokens ? "no-session-tokens" : bug_name.c_str(),
                static_cast<unsigned long long>(first),
                static_cast<unsigned long long>(last));
    return 1;
  }
  return failures == 0 ? 0 : 1;
}
