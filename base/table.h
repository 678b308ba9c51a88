// Text tables as the CLI and the bench print them.
#pragma once

#include <string>
#include <vector>

namespace shoal {

// Rows of cells as left-aligned columns separated by two spaces, each line
// indented by two spaces and ending in '\n'; the last cell of a row is not
// padded. rows[0] is usually a header. Widths count bytes (the cells are
// ASCII: names, numbers, units).
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace shoal
