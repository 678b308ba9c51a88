#include "handoff/probe.h"

#include <set>

#include "handoff/backlog.h"
#include "metrics/probe.h"

namespace shoal::handoff {

using metrics::Counter;
using metrics::Family;
using metrics::Gauge;

class HandoffProbe::Source : public metrics::PullSource {
  using PullSource::PullSource;
};

Result<HintFigures> ReadHintFigures(const storage::Store& store) {
  auto backlogs = store.HintBacklogsCached();
  if (!backlogs) return backlogs.status();
  HintFigures out;
  for (const TargetBacklog& b : BacklogView(*backlogs, WallNowMs())) {
    out.targets.push_back(
        {b.target, b.count, b.bytes, b.oldest_age_ms / 1000.0});
  }
  const storage::HintCounters c = store.hint_counters();
  out.stored = c.stored;
  out.delivered = c.delivered;
  out.dropped_cap = c.dropped_cap;
  return out;
}

// ---- HandoffProbe ----

HandoffProbe::HandoffProbe(metrics::Metrics& metrics,
                           std::vector<std::string> targets,
                           std::function<Result<HintFigures>()> read) {
  source_ = std::make_shared<Source>([targets = std::move(targets),
                                      read = std::move(read)]() {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    Result<HintFigures> figures = read();
    if (!figures.ok()) return out;
    auto pending = Family("shoal_hints_pending",
                          "Hints this node keeps for the target, waiting "
                          "for handoff",
                          MetricType::Gauge);
    auto bytes = Family("shoal_hints_pending_bytes",
                        "Stored bytes of the hints waiting for the target",
                        MetricType::Gauge);
    auto oldest = Family("shoal_hints_oldest_age_seconds",
                         "Age of the oldest hint waiting for the target (0 "
                         "when none)",
                         MetricType::Gauge);
    std::set<std::string> seen;
    auto add = [&](const std::string& target, double count, double size,
                   double age) {
      if (!seen.insert(target).second) return;
      pending.metric.push_back(Gauge(count, {{"target", target}}));
      bytes.metric.push_back(Gauge(size, {{"target", target}}));
      oldest.metric.push_back(Gauge(age, {{"target", target}}));
    };
    for (const HintTargetFigures& t : figures->targets) {
      add(t.target, static_cast<double>(t.count), static_cast<double>(t.bytes),
          t.oldest_age_seconds);
    }
    for (const std::string& t : targets) add(t, 0, 0, 0);
    out.push_back(std::move(pending));
    out.push_back(std::move(bytes));
    out.push_back(std::move(oldest));
    out.push_back(Family("shoal_hints_stored_total",
                         "Hints written by this node (new, or merged with a "
                         "change); kept across restarts",
                         MetricType::Counter));
    out.back().metric.push_back(Counter(static_cast<double>(figures->stored)));
    out.push_back(Family("shoal_hints_delivered_total",
                         "Hints deleted after their target acknowledged "
                         "them; kept across restarts",
                         MetricType::Counter));
    out.back().metric.push_back(
        Counter(static_cast<double>(figures->delivered)));
    out.push_back(Family("shoal_hints_dropped_total",
                         "Hints refused, by reason (cap: the target's "
                         "handoff.max_hints_per_target); kept across restarts",
                         MetricType::Counter));
    out.back().metric.push_back(Counter(
        static_cast<double>(figures->dropped_cap), {{"reason", "cap"}}));
    return out;
  });
  metrics.Add(source_);
}

HandoffProbe::~HandoffProbe() { source_->Detach(); }

}  // namespace shoal::handoff
