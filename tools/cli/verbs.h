// The `shoal` verb groups, one file each. Every group adds its subcommands
// (and their options and help) to the app and registers how to run them
// with Verbs::On (common.h); main.cc calls them in the order `shoal --help`
// lists the verbs.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "tools/cli/common.h"

namespace shoal::tools::cli {

// kv.cc: put, get, del.
void AddKvVerbs(CLI::App& app, Verbs& verbs);
// admin.cc: status, hints, aae status|run, metrics.
void AddAdminVerbs(CLI::App& app, Verbs& verbs);
// cluster.cc: cluster status|plan|commit|clear and the staging verbs
// join|leave|replace|force-remove.
void AddClusterVerbs(CLI::App& app, Verbs& verbs);
// ring.cc: ring up|status|down|kill|start|pause|resume|where.
void AddRingVerbs(CLI::App& app, Verbs& verbs);
// fault.cc: fault kill|start|pause|resume (ring.cc's node verbs),
// partition|isolate|cut|delay|drop|clock|heal|list.
void AddFaultVerbs(CLI::App& app, Verbs& verbs);
// check.cc: check.
void AddCheckVerb(CLI::App& app, Verbs& verbs);
// bench.cc: bench.
void AddBenchVerb(CLI::App& app, Verbs& verbs);

// ring.cc's single-node verbs, also offered as `fault kill|start|pause|
// resume`: SIGKILL, restart (and hand the node the ring's fault table),
// SIGSTOP, SIGCONT.
enum class NodeVerb { kKill, kStop, kStart, kPause, kResume };
int RunNodeVerb(const Common& common, NodeVerb verb, const std::string& name);

}  // namespace shoal::tools::cli
