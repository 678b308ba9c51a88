// base64: the RFC 4648 vectors, round trips, and the canonical-form rules
// of Base64Decode.
#include "base/base64.h"

#include <doctest/doctest.h>

#include <random>
#include <string>

namespace shoal {
namespace {

TEST_CASE("base64 encodes the RFC 4648 test vectors") {
  CHECK(Base64Encode("") == "");
  CHECK(Base64Encode("f") == "Zg==");
  CHECK(Base64Encode("fo") == "Zm8=");
  CHECK(Base64Encode("foo") == "Zm9v");
  CHECK(Base64Encode("foob") == "Zm9vYg==");
  CHECK(Base64Encode("fooba") == "Zm9vYmE=");
  CHECK(Base64Encode("foobar") == "Zm9vYmFy");
  CHECK(Base64Encode(std::string("\xff\xfe\x00", 3)) == "//4A");
}

TEST_CASE("base64 round-trips arbitrary bytes") {
  std::mt19937 rng(42);
  for (size_t len = 0; len < 200; ++len) {
    std::string bytes(len, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    const std::string text = Base64Encode(bytes);
    CHECK(text.size() == (len + 2) / 3 * 4);
    Result<std::string> back = Base64Decode(text);
    REQUIRE(back.ok());
    CHECK(*back == bytes);
  }
}

TEST_CASE("base64 rejects invalid input with a reason") {
  for (const char* bad :
       {"Zg", "Zg=", "Zm9", "Z===", "====", "Zg==Zg==", "Zm9v\n", "Zm 9",
        "Zm9-", "Zm9_", "Z=9v", "Zh==", "Zm9=", "Zm8=Zm8="}) {
    CAPTURE(bad);
    Result<std::string> r = Base64Decode(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK(r.status().message().find("invalid base64") != std::string::npos);
  }
  CHECK(Base64Decode("").ok());
}

}  // namespace
}  // namespace shoal
