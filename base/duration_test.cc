#include "base/duration.h"

#include <doctest/doctest.h>

namespace shoal {
namespace {

TEST_CASE("durations parse with their unit") {
  CHECK(ParseDuration("50ms")->count() == 50);
  CHECK(ParseDuration("1.5s")->count() == 1500);
  CHECK(ParseDuration(" 1m ")->count() == 60000);
  CHECK(ParseDuration("2h")->count() == 7'200'000);
  CHECK(ParseDuration("0s")->count() == 0);
  CHECK(*ParseSignedDuration("+5s") == 5000);
  CHECK(*ParseSignedDuration("-200ms") == -200);
}

TEST_CASE("a duration without a unit or below zero is refused, naming it") {
  auto bare = ParseDuration("50");
  REQUIRE_FALSE(bare.ok());
  CHECK(bare.status().code() == Code::kInvalidArgument);
  CHECK(bare.status().message().find("'50'") != std::string::npos);
  CHECK_FALSE(ParseDuration("-5ms").ok());
  CHECK_FALSE(ParseDuration("5 days").ok());
  CHECK_FALSE(ParseDuration("").ok());
  CHECK_FALSE(ParseSignedDuration("ten").ok());
  auto skew = ParseSignedDuration("soon", "clock skew");
  REQUIRE_FALSE(skew.ok());
  CHECK(skew.status().message().find("bad clock skew 'soon'") !=
        std::string::npos);
}

TEST_CASE("FormatDuration spells what ParseDuration reads back") {
  for (int64_t ms : {0, 1, 250, 1000, 1500, 10000, 60000, 90000, 3600000}) {
    const std::string text = FormatDuration(std::chrono::milliseconds(ms));
    auto back = ParseDuration(text);
    REQUIRE(back.ok());
    CHECK(back->count() == ms);
  }
  CHECK(FormatDuration(std::chrono::milliseconds(10000)) == "10s");
  CHECK(FormatDuration(std::chrono::milliseconds(300000)) == "5m");
  CHECK(FormatDuration(std::chrono::milliseconds(250)) == "250ms");
}

}  // namespace
}  // namespace shoal
