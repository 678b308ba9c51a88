// The verbs' shared helpers (common.h).
#include "tools/cli/common.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "tools/cli/output.h"

namespace shoal::tools::cli {

namespace fs = std::filesystem;

std::string DefaultRingDir() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    const passwd* pw = ::getpwuid(::getuid());
    home = pw != nullptr ? pw->pw_dir : ".";
  }
  return (fs::path(home) / ".shoal" / "ring").string();
}

void PrintJson(const json& j) {
  std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

int Fail(const Status& status, bool as_json) {
  if (as_json) {
    PrintJson(ErrorToJson(status));
  } else {
    std::cerr << ErrorToText(status) << "\n";
  }
  return kExitError;
}

int UsageError(const std::string& message) {
  std::cerr << message << "\nRun with --help for more information.\n";
  return kExitUsage;
}

fs::path ShoaldPath() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return self.parent_path() / "shoald";
}

Launcher MakeLauncher(const Common& common) {
  return Launcher(common.dir, ShoaldPath(), [](const std::string& line) {
    std::cerr << line << std::endl;
  });
}

Result<std::string> ResolveNode(const Common& common) {
  if (common.node.empty()) return MakeLauncher(common).FirstRunningAddress();
  if (common.node.find(':') != std::string::npos) return common.node;
  Result<RingState> state = MakeLauncher(common).Load();
  if (!state.ok()) {
    return Status(Code::kInvalidArgument,
                  "--node " + common.node +
                      " is not HOST:PORT and names no member of a ring in " +
                      common.dir + " (" + state.status().message() + ")");
  }
  std::string names;
  for (const RingNode& n : state->nodes) {
    if (n.name == common.node) return n.address;
    names += (names.empty() ? "" : ", ") + n.name;
  }
  return Status(Code::kInvalidArgument,
                "--node " + common.node + ": no such node in the ring in " +
                    common.dir + " (it has " + names + ")");
}

void AddCommon(CLI::App* cmd, Common* common, bool with_node) {
  cmd->add_flag("--json", common->json, "print one JSON document on stdout");
  cmd->add_option("--dir", common->dir, "ring directory")
      ->default_str(common->dir);
  if (with_node) {
    cmd->add_option("--node", common->node,
                    "the node to ask: HOST:PORT or a member name of the ring "
                    "in --dir (default: its first running node)");
  }
}

}  // namespace shoal::tools::cli
