// HandoffProbe: the hints this node keeps, as Prometheus metrics, read at
// scrape time (a pull probe, metrics/probe.h).
//
// Threads: the read function runs on scrape threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "metrics/metrics.h"
#include "storage/store.h"

namespace shoal::handoff {

// The hints a node keeps, read at scrape time.
struct HintTargetFigures {
  std::string target;  // the member the hints are for
  uint64_t count = 0;
  uint64_t bytes = 0;
  double oldest_age_seconds = 0;  // 0 when count is 0
};
struct HintFigures {
  std::vector<HintTargetFigures> targets;  // targets with hints waiting
  uint64_t stored = 0;
  uint64_t delivered = 0;
  uint64_t dropped_cap = 0;
};

// What the probe shows, read from `store`: the backlog per target from the
// store's cached tallies (Store::HintBacklogsCached, no full scan) through
// BacklogView (backlog.h), and the lifetime counters. Errors: the store's.
// Any thread (the probe calls it on scrape threads).
Result<HintFigures> ReadHintFigures(const storage::Store& store);

// shoal_hints_*: the backlog per target and the lifetime counters, which the
// store keeps on disk (so they are right after a restart). Pull probe.
class HandoffProbe {
 public:
  // `targets`: the members hints can be for (every member but this node);
  // each always has a series (0 when nothing waits), so sums over targets
  // return to 0 rather than vanish. A target with hints that is not listed
  // (no longer a member) is served too. `read` runs on scrape threads until
  // the probe is destroyed; an error skips the backlog families for that
  // scrape. `metrics` must outlive the probe.
  HandoffProbe(metrics::Metrics& metrics, std::vector<std::string> targets,
               std::function<Result<HintFigures>()> read);
  ~HandoffProbe();
  HandoffProbe(const HandoffProbe&) = delete;
  HandoffProbe& operator=(const HandoffProbe&) = delete;

 private:
  class Source;
  std::shared_ptr<Source> source_;
};

}  // namespace shoal::handoff
