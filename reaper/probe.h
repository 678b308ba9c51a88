// ReaperProbe: the reaper's figures (Reaper::stats) as Prometheus metrics,
// read at scrape time (a pull probe, metrics/probe.h).
//
// Threads: the read function runs on scrape threads.
#pragma once

#include <functional>
#include <memory>

#include "metrics/metrics.h"
#include "reaper/reaper.h"

namespace shoal::reaper {

// shoal_tombstones_reaped_total and shoal_tombstone_oldest_age_seconds
// (now - the oldest tombstone's delete time; 0 when there is none).
class ReaperProbe {
 public:
  // `read` and `wall_ms` run on scrape threads until the probe is
  // destroyed. `metrics` must outlive the probe.
  ReaperProbe(metrics::Metrics& metrics, std::function<Stats()> read,
              std::function<int64_t()> wall_ms);
  ~ReaperProbe();
  ReaperProbe(const ReaperProbe&) = delete;
  ReaperProbe& operator=(const ReaperProbe&) = delete;

 private:
  class Source;
  std::shared_ptr<Source> source_;
};

}  // namespace shoal::reaper
