// How concurrent writes to one key are resolved (cluster.conflict;
// doc/faults.md, "Last write wins"):
//   kSiblings       every write that did not see the others is kept as a
//                   sibling, and a client resolves them by writing with the
//                   context of a read. Loses nothing. The default.
//   kLastWriteWins  after every write and merge only the sibling
//                   KeepLastWrite (version.h) picks is kept: concurrent
//                   writes are discarded. Unsafe; for comparison only.
// The config file and the command lines spell them "siblings" and "lww";
// past the config parser the code uses the enum.
//
// Pure: part of quorum_core.
#pragma once

#include <string_view>

#include "base/result.h"

namespace shoal::quorum {

enum class ConflictPolicy { kSiblings, kLastWriteWins };

// "siblings" | "lww". Errors: kInvalidArgument naming the unknown name and
// the known ones.
Result<ConflictPolicy> ParseConflictPolicy(std::string_view name);
// "siblings" | "lww".
const char* ConflictPolicyName(ConflictPolicy policy);

}  // namespace shoal::quorum
