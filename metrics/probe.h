// What a probe needs besides prometheus-cpp's builders: PullSource, a
// collectable whose families come from a function (pull probes), and the
// helpers that build those families at scrape time.
//
// Thread-safety: PullSource locks itself; the helpers are pure.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <vector>

namespace shoal::metrics {

// A collectable whose families come from a function, which can be detached
// (the probe that owns the function is gone; scrapes then see nothing).
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

double Seconds(std::chrono::nanoseconds d);

prometheus::MetricFamily Family(const char* name, const char* help,
                                prometheus::MetricType type);

prometheus::ClientMetric Gauge(
    double value, std::vector<prometheus::ClientMetric::Label> labels = {});

prometheus::ClientMetric Counter(
    double value, std::vector<prometheus::ClientMetric::Label> labels = {});

}  // namespace shoal::metrics
