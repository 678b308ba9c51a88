#include "base/table.h"

#include <doctest/doctest.h>

namespace shoal {
namespace {

TEST_CASE("tables: columns padded to the widest cell, the last one not") {
  CHECK(FormatTable({{"A", "BB"}, {"ccc", "d"}}) == "  A    BB\n  ccc  d\n");
  CHECK(FormatTable({{"NAME", "UP", "KEYS"}, {"n1", "up", "12"}}) ==
        "  NAME  UP  KEYS\n  n1    up  12\n");
  // Rows may be shorter than others.
  CHECK(FormatTable({{"a", "b", "c"}, {"long"}}) == "  a     b  c\n  long\n");
  CHECK(FormatTable({}).empty());
}

}  // namespace
}  // namespace shoal
