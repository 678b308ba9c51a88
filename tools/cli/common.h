// What the `shoal` verb files share (tools/cli/README.md): the options
// every verb has, exit codes, printing JSON and errors, running one client
// call, finding the node to ask, and how a verb group hooks its subcommands
// into the command line (Verbs).
//
// Exit status: 0 success (a get of a missing key included), 1 error, 2 the
// command line did not parse. With --json every outcome, errors included,
// is one JSON document on stdout; otherwise errors go to stderr as
// "error: <code>: <message>".
//
// Threads: the CLI is single-threaded; a client verb runs its io_context on
// the main thread until its call completes.
#pragma once

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <exception>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/result.h"
#include "tools/ring/launcher.h"
#include "wire/connection.h"

namespace shoal::tools::cli {

namespace asio = boost::asio;
using json = nlohmann::ordered_json;
using wire::Awaitable;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// Options every verb has.
struct Common {
  bool json = false;
  std::string dir;   // ring directory
  std::string node;  // host:port; empty = first running node of `dir`
};

// Where the ring lives by default: ~/.shoal/ring.
std::string DefaultRingDir();

void PrintJson(const json& j);
// Prints `status` (as JSON on stdout, or as text on stderr); returns 1.
int Fail(const Status& status, bool as_json);
// Prints a usage problem on stderr; returns 2.
int UsageError(const std::string& message);

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

// The shoald binary next to this executable.
std::filesystem::path ShoaldPath();
// A launcher for the ring in common.dir, reporting progress on stderr.
Launcher MakeLauncher(const Common& common);
// --node: HOST:PORT, or the name of a member of the ring in --dir (n3);
// none = the first running node of that ring.
Result<std::string> ResolveNode(const Common& common);

// Adds --json and --dir (and, with_node, --node) to `cmd`, bound to
// `common`, whose dir must already hold the default.
void AddCommon(CLI::App* cmd, Common* common, bool with_node);

// What the verb groups share while the command line is set up and parsed.
// Each group (verbs.h) adds its subcommands to the app, binds their options
// to arguments it allocates, and calls On() so that the parsed subcommand
// becomes `chosen`; Main runs `chosen` after the parse. A verb's arguments
// are held (shared_ptr, as std::function copies its callable) by the
// subcommand's callback, which the app owns, and by `chosen`: CLI11 writes
// them through the pointers it was given, so they must live as long as the
// app.
struct Verbs {
  std::string default_dir;  // --dir's default (DefaultRingDir())
  std::string self;         // argv[0], for the examples `ring up` prints
  std::function<int()> chosen;

  // Makes `run` the verb to run when `cmd` is on the command line.
  void On(CLI::App* cmd, std::function<int()> run) {
    cmd->callback([this, run = std::move(run)] { chosen = run; });
  }
};

}  // namespace shoal::tools::cli
