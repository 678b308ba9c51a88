// The names `shoal ring` gives the nodes it starts: "n1", "n2", ... A node
// added later gets one past the highest index the ring or its cluster state
// ever used, so a name is never reused (the cluster remembers removed
// members). Shared by the launcher (tools/ring) and the check's nemesis
// plan (tools/check), which must predict the names the launcher will give.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace shoal {

// 7 for "n7"; 0 for any other name.
inline uint32_t NodeIndexOf(const std::string& name) {
  if (name.size() < 2 || name[0] != 'n') return 0;
  uint32_t index = 0;
  for (size_t i = 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    index = index * 10 + static_cast<uint32_t>(name[i] - '0');
  }
  return index;
}

// One past the highest index among `names` (1 when there is none).
inline uint32_t NextNodeIndex(const std::vector<std::string>& names) {
  uint32_t last = 0;
  for (const std::string& name : names)
    last = std::max(last, NodeIndexOf(name));
  return last + 1;
}

}  // namespace shoal
