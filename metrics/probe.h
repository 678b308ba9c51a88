// What a probe needs besides prometheus-cpp's builders (redpanda's
// raft/probe.h is the model): a module owns a small probe with verbs
// (`probe.ReadRepaired()`), and only probes touch prometheus-cpp. Probes
// take the node's Metrics (metrics.h) or its registry from the node.
//
// Two kinds of probes:
// - push probes (RequestProbe, QuorumProbe, TransportProbe, AaeProbe) own
//   counters, gauges and histograms in the registry and are updated
//   through verbs;
// - pull probes (StorageProbe, HandoffProbe, LoadProbe's gauges) read
//   their figures at scrape time through a function the node gives them
//   (values that live elsewhere: LMDB sizes, hint backlogs and counters,
//   connection counts), so a scrape is never older than the data and
//   nothing polls in between. They serve a PullSource (below) and detach it
//   in their destructor.
//
// Labels never carry keys or request ids: their values come from small
// fixed sets (operations, result codes, freshness classes, reasons) or from
// the member list (peer, target).
//
// Thread-safety: PullSource locks itself; the helpers are pure functions.
// Push probes are called from the io_context thread; pull probes' functions
// run on scrape threads (they must be safe to call from any thread).
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace shoal::metrics {

// A collectable whose families come from a function, which can be detached
// (the probe that owns the function is gone; scrapes then see nothing).
// Collect runs on scrape threads; Detach on the probe owner's thread.
class PullSource : public prometheus::Collectable {
 public:
  using Fn = std::function<std::vector<prometheus::MetricFamily>()>;
  explicit PullSource(Fn fn) : fn_(std::move(fn)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return fn_ ? fn_() : std::vector<prometheus::MetricFamily>{};
  }
  // Waits for a scrape in progress, so the function is never called after.
  void Detach() {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = nullptr;
  }

 private:
  mutable std::mutex mu_;
  Fn fn_;
};

// A duration in seconds, the unit of every shoal_*_seconds metric.
double Seconds(std::chrono::nanoseconds d);

// Building a pull probe's families at scrape time: an empty family with
// its name, help text and type, and one gauge or counter sample in it.
prometheus::MetricFamily Family(const char* name, const char* help,
                                prometheus::MetricType type);
prometheus::ClientMetric Gauge(
    double value, std::vector<prometheus::ClientMetric::Label> labels = {});
prometheus::ClientMetric Counter(
    double value, std::vector<prometheus::ClientMetric::Label> labels = {});

}  // namespace shoal::metrics
