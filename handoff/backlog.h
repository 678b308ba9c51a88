// The backlog view of hinted handoff: per target, how many hints wait, their
// bytes and how old the oldest is. One computation for both places that
// show it: `shoal hints` (Handoff::Report, from a full scan of the hints
// database) and the shoal_hints_* metrics (ReadHintFigures in probe.h, from
// the store's cached tallies).
//
// Thread-safety: pure functions (WallNowMs reads the system clock).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/types.h"

namespace shoal::handoff {

// One target's backlog as shown to operators.
struct TargetBacklog {
  std::string target;  // the member the hints are for
  uint64_t count = 0;
  uint64_t bytes = 0;
  // Now minus the oldest hint's stored_at: 0 when no hint waits, and never
  // negative (a clock that stepped back shows 0).
  int64_t oldest_age_ms = 0;
};

// The view of `backlogs` (Store::HintBacklogs or HintBacklogsCached) at
// wall-clock time `now_ms`, one entry per backlog, in the same order.
std::vector<TargetBacklog> BacklogView(
    const std::vector<storage::HintBacklog>& backlogs, int64_t now_ms);

// The wall clock in ms since the epoch: the clock hints' stored_at comes
// from.
int64_t WallNowMs();

}  // namespace shoal::handoff
