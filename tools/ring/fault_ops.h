// `shoal fault`'s I/O: where the cluster's fault table is kept (D/faults.json
// for a local ring) and sending it to the nodes. Used by the CLI and by
// `shoal check`'s nemesis.
//
// Threads: PushFaults runs on the caller's io_context; the file functions
// are synchronous.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "base/result.h"
#include "tools/ring/faults.h"
#include "wire/connection.h"

namespace shoal::tools {

// D/faults.json; a missing file is an empty set. Errors: kCorruption.
Result<FaultSet> LoadFaultSet(const std::filesystem::path& ring_dir);
// Written atomically (a temporary file renamed). Errors: kInternal.
Status SaveFaultSet(const std::filesystem::path& ring_dir, const FaultSet& set);

struct FaultTarget {
  std::string name;
  std::string address;
  bool running = true;  // false: not sent (it gets the table when started)
};
struct PushOutcome {
  std::string name;
  Status status;  // ok, or why this node did not take the table
};

// Sends `set` to every running target, concurrently, each call bounded by
// `timeout`. A node that does not answer (paused, gone) is an error in its
// outcome, not a failure of the whole push.
wire::Awaitable<std::vector<PushOutcome>> PushFaults(
    std::vector<FaultTarget> targets, FaultSet set,
    std::chrono::milliseconds timeout);

}  // namespace shoal::tools
