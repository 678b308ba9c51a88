// IsValidUtf8 against RFC 3629's edge cases.
#include "base/utf8.h"

#include <doctest/doctest.h>

#include <string>

namespace shoal {
namespace {

TEST_CASE("UTF-8 validation follows RFC 3629") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("hello"));
  CHECK(IsValidUtf8(std::string("a\0b", 3)));
  CHECK(IsValidUtf8("\xc3\xa9"));          // é
  CHECK(IsValidUtf8("\xe2\x82\xac"));      // €
  CHECK(IsValidUtf8("\xf0\x9f\x90\x9f"));  // fish
  CHECK(IsValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
  CHECK_FALSE(IsValidUtf8("\xff"));
  CHECK_FALSE(IsValidUtf8("\x80"));
  CHECK_FALSE(IsValidUtf8("\xc3"));              // truncated
  CHECK_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  CHECK_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  CHECK_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(IsValidUtf8("\xe2\x82"));
  CHECK_FALSE(IsValidUtf8("\xe2\x28\xa1"));
}

}  // namespace
}  // namespace shoal
