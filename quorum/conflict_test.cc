#include "quorum/conflict.h"

#include <doctest/doctest.h>

namespace shoal::quorum {
namespace {

TEST_CASE("conflict policies are spelled siblings and lww, both ways") {
  for (ConflictPolicy p :
       {ConflictPolicy::kSiblings, ConflictPolicy::kLastWriteWins}) {
    CAPTURE(ConflictPolicyName(p));
    Result<ConflictPolicy> parsed = ParseConflictPolicy(ConflictPolicyName(p));
    REQUIRE(parsed.ok());
    CHECK(*parsed == p);
  }
  CHECK(std::string_view(ConflictPolicyName(ConflictPolicy::kSiblings)) ==
        "siblings");
  CHECK(std::string_view(ConflictPolicyName(ConflictPolicy::kLastWriteWins)) ==
        "lww");
  Result<ConflictPolicy> bad = ParseConflictPolicy("newest");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kInvalidArgument);
  CHECK(bad.status().message().find("newest") != std::string::npos);
  CHECK_FALSE(ParseConflictPolicy("").ok());
  CHECK_FALSE(ParseConflictPolicy("LWW").ok());
}

}  // namespace
}  // namespace shoal::quorum
