#include "reaper/probe.h"

#include <algorithm>

#include "metrics/probe.h"

namespace shoal::reaper {

class ReaperProbe::Source : public metrics::PullSource {
  using PullSource::PullSource;
};

ReaperProbe::ReaperProbe(metrics::Metrics& metrics, std::function<Stats()> read,
                         std::function<int64_t()> wall_ms) {
  source_ = std::make_shared<Source>([read = std::move(read),
                                      wall_ms = std::move(wall_ms)]() {
    using prometheus::MetricType;
    const Stats s = read();
    std::vector<prometheus::MetricFamily> out;
    out.push_back(metrics::Family(
        "shoal_tombstones_reaped_total",
        "Tombstoned keys this node removed from its store since it started "
        "(each replica counts its own copy)",
        MetricType::Counter));
    out.back().metric.push_back(
        metrics::Counter(static_cast<double>(s.reaped)));
    out.push_back(metrics::Family(
        "shoal_tombstone_oldest_age_seconds",
        "Now minus the delete time of the oldest tombstone still stored here "
        "(0 when there is none); `shoal status` says what it waits for",
        MetricType::Gauge));
    const double age =
        s.oldest_deleted_at_ms == 0
            ? 0
            : std::max<double>(0, (wall_ms() - s.oldest_deleted_at_ms) / 1e3);
    out.back().metric.push_back(metrics::Gauge(age));
    return out;
  });
  metrics.Add(source_);
}

ReaperProbe::~ReaperProbe() { source_->Detach(); }

}  // namespace shoal::reaper
