// shoald: one shoal node. `shoald --config node.toml` (flags override the
// file; --print-config shows the result). A config that lists seeds instead
// of members asks them for the cluster state first (up to 60 s). Exits 0 after
// SIGTERM/SIGINT, 1 on a runtime error, 2 on a usage or configuration error.
//
// `shoald dump --data-dir DIR [--db objects|hints] [--json]` prints a data
// directory's records instead (node/dump.h), read-only, also while the node
// that owns DIR runs: exit 0, 1 on an error, 2 on a usage error.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <csignal>
#include <cstdio>

#include "client/client.h"
#include "metrics/metrics.h"
#include "node/config.h"
#include "node/node.h"

namespace {

using namespace shoal;
namespace asio = boost::asio;

constexpr auto kLearnFor = std::chrono::seconds(60);

// Asks the seeds, in turn, for the cluster state until one answers, for up
// to kLearnFor; the error names every seed's last failure.
asio::awaitable<Result<cluster::ClusterState>> AskSeeds(
    std::vector<std::string> seeds) {
  auto executor = co_await asio::this_coro::executor;
  const auto until = std::chrono::steady_clock::now() + kLearnFor;
  std::vector<std::string> errors(seeds.size());
  for (int round = 0;; ++round) {
    for (size_t i = 0; i < seeds.size(); ++i) {
      client::Client seed(executor, seeds[i]);
      auto state = co_await seed.ClusterState(std::chrono::seconds(2));
      if (state.ok()) {
        spdlog::info("cluster state epoch {} from seed {}", state.value().epoch,
                     seeds[i]);
        co_return state;
      }
      errors[i] = seeds[i] + ": " + state.status().message();
      if (round == 0) spdlog::info("seed {}", errors[i]);
    }
    if (std::chrono::steady_clock::now() >= until) break;
    asio::steady_timer pause(executor, std::chrono::seconds(1));
    co_await pause.async_wait(asio::use_awaitable);
  }
  std::string all;
  for (const std::string& e : errors) all += (all.empty() ? "" : "; ") + e;
  co_return Status(Code::kUnavailable,
                   "no seed gave the cluster state within 60s (" + all + ")");
}

// Runs AskSeeds on `io` until it is done (before the node exists).
Result<cluster::ClusterState> LearnFromSeeds(
    asio::io_context& io, const std::vector<std::string>& seeds) {
  std::optional<Result<cluster::ClusterState>> learned;
  asio::co_spawn(
      io,
      [&learned, seeds]() -> asio::awaitable<void> {
        learned = co_await AskSeeds(seeds);
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  while (!learned && io.run_one() > 0) {
  }
  io.restart();
  if (!learned) return Status(Code::kInternal, "asking the seeds ended early");
  return std::move(*learned);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace shoal;
  auto parsed = node::ParseArgs(argc, argv);
  if (!parsed) {
    std::fprintf(stderr, "shoald: %s\n", parsed.status().message().c_str());
    return 2;
  }
  if (!parsed->help_text.empty()) {
    std::fputs(parsed->help_text.c_str(), stdout);
    return 0;
  }
  if (parsed->dump) {
    if (Status st = node::RunDump(*parsed->dump, stdout); !st.ok()) {
      std::fprintf(stderr, "shoald: %s\n", st.message().c_str());
      return 1;
    }
    return 0;
  }
  node::NodeConfig& config = parsed->config;
  if (Status st = node::Validate(config); !st.ok()) {
    std::fprintf(stderr, "shoald: %s\n", st.message().c_str());
    return 2;
  }
  if (parsed->print_only) {
    std::fputs(node::ToToml(config).c_str(), stdout);
    return 0;
  }

  auto logger = spdlog::stderr_color_mt("shoald");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  std::signal(SIGPIPE, SIG_IGN);

  // The node's metrics: one registry, served on metrics_listen (if set).
  // Built here, before the node, and destroyed after it.
  auto metrics = metrics::Metrics::Create(config.metrics_listen);
  if (!metrics) {
    spdlog::error("{}", metrics.status().message());
    return 1;
  }
  boost::asio::io_context io(1);
  node::NodeEnv env;
  if (!config.seeds.empty()) {
    auto learned = LearnFromSeeds(io, config.seeds);
    if (!learned) {
      spdlog::error("{}", learned.status().message());
      return 1;
    }
    env.learned = std::move(learned).value();
  }
  auto node = node::Node::Create(io, config, **metrics, std::move(env));
  if (!node) {
    spdlog::error("{}", node.status().message());
    return 1;
  }
  if (Status st = (*node)->Start(); !st.ok()) {
    spdlog::error("{}", st.message());
    return 1;
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", sig);
    // Every task of the node ends before the io_context stops.
    boost::asio::co_spawn(io, (*node)->Shutdown(),
                          [&io](std::exception_ptr) { io.stop(); });
  });
  io.run();
  node.value().reset();  // drains and syncs the store before exit
  spdlog::info("stopped");
  return 0;
}
