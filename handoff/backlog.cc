#include "handoff/backlog.h"

#include <algorithm>
#include <chrono>

namespace shoal::handoff {

std::vector<TargetBacklog> BacklogView(
    const std::vector<storage::HintBacklog>& backlogs, int64_t now_ms) {
  std::vector<TargetBacklog> out;
  out.reserve(backlogs.size());
  for (const storage::HintBacklog& b : backlogs) {
    const int64_t age_ms =
        b.count == 0 ? 0 : std::max<int64_t>(0, now_ms - b.oldest_stored_at_ms);
    out.push_back(TargetBacklog{b.target, b.count, b.bytes, age_ms});
  }
  return out;
}

int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace shoal::handoff
