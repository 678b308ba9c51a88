// shoald: one shoal node. `shoald --config node.toml` (flags override the
// file; --print-config shows the result). Exits 0 after SIGTERM/SIGINT,
// 1 on a runtime error, 2 on a usage or configuration error.
//
// `shoald dump --data-dir DIR [--db objects|hints] [--json]` prints a data
// directory's records instead (node/dump.h), read-only, also while the node
// that owns DIR runs: exit 0, 1 on an error, 2 on a usage error.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <csignal>
#include <cstdio>

#include "metrics/metrics.h"
#include "node/config.h"
#include "node/node.h"

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
  auto node = node::Node::Create(io, config, **metrics);
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
