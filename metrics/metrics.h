// Prometheus metrics for one node: the registry, the /metrics exposer, and
// one Probe per module. Only this module touches prometheus-cpp; modules
// report through probe verbs (or observer interfaces they define, which the
// probes implement). No static or global metric objects: main() builds one
// Metrics per node and the node hands its probes a reference, so several
// nodes in one process never share a counter.
//
// Two kinds of probes:
// - push probes (RequestProbe, QuorumProbe, TransportProbe) own counters,
//   gauges and histograms in the registry and are updated through verbs;
// - pull probes (StorageProbe, HandoffProbe) read their figures at scrape
//   time through a function the node gives them (values that live in the
//   store: hint backlogs and counters, LMDB sizes), so a scrape is never
//   older than the data and nothing polls in between.
//
// Metric names, units, labels and how to read them: doc/metrics.md (prefix
// `shoal_`). Labels never carry keys or request ids: their values come from
// small fixed sets (operations, result codes, freshness classes, reasons)
// or from the member list (peer, target).
//
// Threads: prometheus-cpp counters, gauges and histograms are thread-safe;
// push probes are called from the io_context thread, the exposer scrapes
// from its own threads, and pull probes' functions run on those scrape
// threads (they must be safe to call from any thread).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace shoal::metrics {

inline constexpr char kVersion[] = "0.1.0";

// Owns the registry, the scrape-time collectables of pull probes and, when
// given an address, an HTTP exposer serving all of them at /metrics.
class Metrics {
 public:
  // listen: "HOST:PORT", or "" for no exposer (tests). Errors: kUnavailable
  // when the address cannot be bound.
  static Result<std::unique_ptr<Metrics>> Create(const std::string& listen);
  prometheus::Registry& registry() { return *registry_; }

  // Serves `collectable` next to the registry (kept alive by Metrics).
  void Add(std::shared_ptr<prometheus::Collectable> collectable);
  // Every family the exposer would serve, in the Prometheus text format
  // (tests and diagnostics). Any thread.
  std::string Text() const;

 private:
  Metrics() = default;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace shoal::metrics
