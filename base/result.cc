#include "base/result.h"

#include <cstdio>
#include <cstdlib>

namespace shoal {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kNotFound:
      return "not_found";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kTooLarge:
      return "too_large";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kTimeout:
      return "timeout";
    case Code::kOverloaded:
      return "overloaded";
    case Code::kCorruption:
      return "corruption";
    case Code::kStorageFull:
      return "storage_full";
    case Code::kInternal:
      return "internal";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

namespace detail {
void AssertFail(const char* kind, const char* expr, const char* file, int line,
                const char* msg) {
  std::fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", file, line, kind, expr,
               msg);
  std::fflush(stderr);
  std::abort();
}
}  // namespace detail

}  // namespace shoal
