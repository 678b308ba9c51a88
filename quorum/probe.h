// QuorumProbe: the coordinators' observer (CoordinatorObserver), exported
// as Prometheus metrics (a push probe, metrics/probe.h). Part of the
// shoal::quorum target; quorum_core stays free of metrics.
//
// Threads: called on the io_context thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "quorum/coordinator.h"

namespace shoal::quorum {

// What coordinators observe about replicas: freshness of each replica in a
// get (current / stale / missing), how stale the stale ones were, read
// repairs sent, and each replica's ack lag in a put.
class QuorumProbe : public quorum::CoordinatorObserver {
 public:
  // `registry` must outlive the probe.
  explicit QuorumProbe(prometheus::Registry& registry);
  void ReplicaFreshness(Freshness f) override;
  void StaleReplicaAge(std::chrono::milliseconds age,
                       std::string_view dc) override;
  void ReadRepairSent(bool ok) override;
  void ReplicaAcked(std::chrono::nanoseconds lag, std::string_view dc) override;

 private:
  // The histogram of `family` labelled with datacenter `dc`, made on first
  // use ("" without datacenters: Prometheus reads an empty label as none).
  prometheus::Histogram& ForDc(
      prometheus::Family<prometheus::Histogram>& family,
      std::map<std::string, prometheus::Histogram*, std::less<>>& by_dc,
      const prometheus::Histogram::BucketBoundaries& buckets,
      std::string_view dc);

  std::array<prometheus::Counter*, 3> freshness_{};
  prometheus::Family<prometheus::Histogram>* stale_age_ = nullptr;
  std::map<std::string, prometheus::Histogram*, std::less<>> stale_by_dc_;
  prometheus::Counter* repairs_ok_ = nullptr;
  prometheus::Counter* repairs_failed_ = nullptr;
  prometheus::Family<prometheus::Histogram>* ack_lag_ = nullptr;
  std::map<std::string, prometheus::Histogram*, std::less<>> ack_by_dc_;
};

}  // namespace shoal::quorum
