// Prometheus metrics for one node: the registry, the /metrics exposer, and
// one Probe per module. Only this module touches prometheus-cpp; modules
// report through probe verbs (or observer interfaces they define, which the
// probes implement). No static or global metric objects: main() builds one
// Registry per node and hands probes a reference, so several nodes in one
// process never share a counter.
//
// Metric names and meanings: doc/impl.md, "Metrics" (prefix `shoal_`). Labels
// never carry keys or request ids.
//
// Threads: prometheus-cpp counters and histograms are thread-safe; probes
// are called from the io_context thread, the exposer scrapes from its own.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <memory>
#include <string>

#include "antientropy/antientropy.h"
#include "base/result.h"
#include "quorum/coordinator.h"

namespace shoal::metrics {

inline constexpr char kVersion[] = "0.1.0";

// Owns the registry and, when given an address, an HTTP exposer serving it
// at /metrics.
class Metrics {
 public:
  // listen: "HOST:PORT", or "" for no exposer (tests). Errors: kUnavailable
  // when the address cannot be bound.
  static Result<std::unique_ptr<Metrics>> Create(const std::string& listen);
  prometheus::Registry& registry() { return *registry_; }

 private:
  Metrics() = default;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

// Client requests: counts by op and result, latency per op, siblings per
// successful get, and shoal_build_info.
class RequestProbe {
 public:
  enum class Op { kGet = 0, kPut = 1, kDelete = 2 };
  static constexpr size_t kOps = 3;
  static constexpr size_t kCodes = 10;  // shoal::Code values

  // `registry` must outlive the probe.
  explicit RequestProbe(prometheus::Registry& registry);
  void Request(Op op, Code result, std::chrono::nanoseconds latency);
  void Siblings(size_t count);

 private:
  std::array<std::array<prometheus::Counter*, kCodes>, kOps> requests_{};
  std::array<prometheus::Histogram*, kOps> duration_{};
  prometheus::Histogram* siblings_ = nullptr;
};

// What coordinators observe about replicas: freshness of each replica in a
// get (current / stale / missing) and read repairs sent.
class QuorumProbe : public quorum::CoordinatorObserver {
 public:
  // `registry` must outlive the probe.
  explicit QuorumProbe(prometheus::Registry& registry);
  void ReplicaFreshness(Freshness f) override;
  void ReadRepairSent(bool ok) override;

 private:
  std::array<prometheus::Counter*, 3> freshness_{};
  prometheus::Counter* repairs_ok_ = nullptr;
  prometheus::Counter* repairs_failed_ = nullptr;
};

// Anti-entropy: exchanges by result, keys repaired, bytes exchanged, and how
// long each repaired difference had existed.
class AaeProbe : public antientropy::Observer {
 public:
  // `registry` must outlive the probe.
  explicit AaeProbe(prometheus::Registry& registry);
  void Exchanged(bool ok) override;
  void KeysRepaired(uint64_t keys) override;
  void BytesExchanged(uint64_t bytes) override;
  void DivergenceAge(double seconds) override;

 private:
  prometheus::Counter* exchanges_ok_ = nullptr;
  prometheus::Counter* exchanges_error_ = nullptr;
  prometheus::Counter* repaired_ = nullptr;
  prometheus::Counter* bytes_ = nullptr;
  prometheus::Histogram* divergence_age_ = nullptr;
};

}  // namespace shoal::metrics
