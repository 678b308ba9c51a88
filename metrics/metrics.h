// Prometheus metrics for one node: the registry and the /metrics exposer.
// This module is at the bottom of the graph (base/ and prometheus-cpp only):
// the probes that fill the registry live beside the module they observe
// (quorum/probe.h, antientropy/probe.h, storage/probe.h, handoff/probe.h,
// node/probe.h) and are built on metrics/probe.h. No static or global
// metric objects: main() builds one Metrics per node and the node hands its
// probes a reference, so several nodes in one process never share a
// counter.
//
// Metric names, units, labels and how to read them: doc/metrics.md (prefix
// `shoal_`).
//
// Threads: prometheus-cpp's registry is thread-safe; the exposer scrapes
// from its own threads (two civetweb workers), which also run the pull
// probes' functions.
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

  // Serves `collectable` next to the registry (kept alive by Metrics; a
  // pull probe detaches its source rather than removing it). Called while
  // the node is built, before scrapes: not thread-safe.
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
