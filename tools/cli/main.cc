// `shoal`: the command-line client and local ring launcher.
//
//   shoal put|get|del KEY ...    one request to one node (--node, or the
//                                first running node of the ring in --dir)
//   shoal status                 one node's view of the cluster
//   shoal hints                  one node's hinted-handoff state
//   shoal metrics                one node's key figures from its /metrics
//   shoal ring up|down|status|kill|start|pause|resume|where
//   shoal bench                  load-test a ring (or Redis): tools/bench/
//   shoal fault ...              inject faults (doc/faults.md)
//   shoal check ...              a Jepsen-style run: tools/check/
//
// Main only wires: each verb group (verbs.h, one file each) adds its
// subcommands; the parse picks one, and Main runs it. Exit codes and the
// shared options: common.h.
//
// One io_context per process: a client verb co_spawns its one call and runs
// the context until the call completes.
#include <CLI/CLI.hpp>
#include <string>

#include "tools/cli/common.h"
#include "tools/cli/verbs.h"

namespace shoal::tools::cli {
namespace {

int Main(int argc, char** argv) {
  CLI::App app{
      "shoal: client and local ring launcher for the shoal key-value store"};
  app.require_subcommand(1);
  Verbs verbs{.default_dir = DefaultRingDir(),
              .self = argc > 0 ? argv[0] : "shoal",
              .chosen = {}};

  // In the order `shoal --help` lists them.
  AddKvVerbs(app, verbs);
  AddAdminVerbs(app, verbs);
  AddClusterVerbs(app, verbs);
  AddRingVerbs(app, verbs);
  AddFaultVerbs(app, verbs);
  AddCheckVerb(app, verbs);
  AddBenchVerb(app, verbs);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!verbs.chosen) return UsageError("no command given");
  return verbs.chosen();
}

}  // namespace
}  // namespace shoal::tools::cli

int main(int argc, char** argv) { return shoal::tools::cli::Main(argc, argv); }
