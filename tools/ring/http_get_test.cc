#include "tools/ring/http_get.h"

#include <doctest/doctest.h>

namespace shoal::tools {
namespace {

TEST_CASE("an HTTP GET to a closed port is unavailable and does not hang") {
  auto r = HttpGet("127.0.0.1:1", "/metrics", std::chrono::milliseconds(500));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kUnavailable);
}

}  // namespace
}  // namespace shoal::tools
