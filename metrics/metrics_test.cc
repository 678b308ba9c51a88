#include "metrics/metrics.h"

#include <doctest/doctest.h>

#include <string>

namespace shoal::metrics {
namespace {

TEST_CASE("an exposer on a taken address is a clean error") {
  auto first = Metrics::Create("127.0.0.1:0");
  REQUIRE(first.ok());
  auto bad = Metrics::Create("256.1.1.1:80");
  CHECK_FALSE(bad.ok());
  CHECK(bad.status().message().find("cannot serve metrics") !=
        std::string::npos);
}

}  // namespace
}  // namespace shoal::metrics
