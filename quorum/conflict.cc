#include "quorum/conflict.h"

#include <string>

namespace shoal::quorum {

Result<ConflictPolicy> ParseConflictPolicy(std::string_view name) {
  if (name == "siblings") return ConflictPolicy::kSiblings;
  if (name == "lww") return ConflictPolicy::kLastWriteWins;
  return Status(Code::kInvalidArgument, "unknown conflict policy '" +
                                            std::string(name) +
                                            "' (expected siblings or lww)");
}

const char* ConflictPolicyName(ConflictPolicy policy) {
  switch (policy) {
    case ConflictPolicy::kSiblings:
      return "siblings";
    case ConflictPolicy::kLastWriteWins:
      return "lww";
  }
  return "unknown";
}

}  // namespace shoal::quorum
