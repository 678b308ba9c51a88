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
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "antientropy/antientropy.h"
#include "base/result.h"
#include "quorum/coordinator.h"

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
  // Siblings the key holds at the coordinator after a successful put or
  // delete (shoal_write_siblings).
  void WriteSiblings(size_t count);
  // A write left more than limits.warn_siblings siblings.
  void SiblingsWarning();

 private:
  std::array<std::array<prometheus::Counter*, kCodes>, kOps> requests_{};
  std::array<prometheus::Histogram*, kOps> duration_{};
  prometheus::Histogram* siblings_ = nullptr;
  prometheus::Histogram* write_siblings_ = nullptr;
  prometheus::Counter* sibling_warnings_ = nullptr;
};

// What coordinators observe about replicas: freshness of each replica in a
// get (current / stale / missing), how stale the stale ones were, read
// repairs sent, and each replica's ack lag in a put.
class QuorumProbe : public quorum::CoordinatorObserver {
 public:
  // `registry` must outlive the probe.
  explicit QuorumProbe(prometheus::Registry& registry);
  void ReplicaFreshness(Freshness f) override;
  void StaleReplicaAge(std::chrono::milliseconds age) override;
  void ReadRepairSent(bool ok) override;
  void ReplicaAcked(std::chrono::nanoseconds lag) override;

 private:
  std::array<prometheus::Counter*, 3> freshness_{};
  prometheus::Histogram* stale_age_ = nullptr;
  prometheus::Counter* repairs_ok_ = nullptr;
  prometheus::Counter* repairs_failed_ = nullptr;
  prometheus::Histogram* ack_lag_ = nullptr;
};

// Peer links: whether this node's failure detector considers each peer up
// (shoal_peer_up{peer}) and how often it marked one down.
class TransportProbe {
 public:
  // One series per member except `self` (an index into `members`); every
  // peer starts up (1), as the failure detector does ("not judged yet").
  // `registry` must outlive the probe.
  TransportProbe(prometheus::Registry& registry,
                 const std::vector<std::string>& members, size_t self);
  // The detector's current opinion of member `index` (not self). Counts a
  // marked-down transition when `up` is false and the peer was up.
  void PeerState(size_t index, bool up);

 private:
  std::vector<prometheus::Gauge*> up_;       // by member index; null: self
  std::vector<prometheus::Counter*> downs_;  // by member index
};

// LMDB figures, read at scrape time.
struct StorageFigures {
  uint64_t keys = 0;
  uint64_t used_bytes = 0;
  uint64_t map_size_bytes = 0;
  uint64_t sync_failures = 0;
  bool full = false;  // the last write batch was refused for lack of room
  uint64_t full_map_errors = 0;   // batches refused: map full
  uint64_t full_disk_errors = 0;  // batches refused: filesystem full
  uint64_t fs_free_bytes = 0;     // the data directory's filesystem
  uint64_t fs_size_bytes = 0;
};

// shoal_storage_*: keys, bytes used, map size, map usage ratio, sync
// failures, whether writes are refused for lack of room (and how often,
// map or filesystem), the filesystem's free and total bytes. Pull probe.
class StorageProbe {
 public:
  // `read` runs on scrape threads until the probe is destroyed; after that
  // the families are no longer served. `metrics` must outlive the probe.
  StorageProbe(Metrics& metrics, std::function<StorageFigures()> read);
  ~StorageProbe();
  StorageProbe(const StorageProbe&) = delete;
  StorageProbe& operator=(const StorageProbe&) = delete;

 private:
  class Source;
  std::shared_ptr<Source> source_;
};

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
  HandoffProbe(Metrics& metrics, std::vector<std::string> targets,
               std::function<Result<HintFigures>()> read);
  ~HandoffProbe();
  HandoffProbe(const HandoffProbe&) = delete;
  HandoffProbe& operator=(const HandoffProbe&) = delete;

 private:
  class Source;
  std::shared_ptr<Source> source_;
};

// A node's load and its defences, read at scrape time.
struct LoadFigures {
  uint64_t client_connections = 0;
  uint64_t peer_connections = 0;
  uint64_t requests_in_flight = 0;  // client requests being coordinated
  uint64_t inflight_bytes = 0;      // limits.max_inflight_bytes' account
};

// Connections, requests in flight and what the limits did (doc/impl.md,
// "Limits"): shoal_connections{kind}, shoal_requests_in_flight,
// shoal_inflight_bytes (pulled), shoal_connections_refused_total,
// shoal_connections_closed_total{reason}, shoal_read_pauses_total{reason}
// (pushed, from the io_context thread).
class LoadProbe {
 public:
  enum class Closed { kIdle, kFrameTimeout, kOutputBacklog, kBadFrame };
  enum class Paused { kInFlight, kBudget, kOutput };
  // `read` runs on scrape threads until the probe is destroyed; `metrics`
  // must outlive the probe.
  LoadProbe(Metrics& metrics, std::function<LoadFigures()> read);
  ~LoadProbe();
  LoadProbe(const LoadProbe&) = delete;
  LoadProbe& operator=(const LoadProbe&) = delete;
  void ConnectionRefused();
  void ConnectionClosed(Closed why);
  void ReadPaused(Paused why);

 private:
  class Source;
  std::shared_ptr<Source> source_;
  prometheus::Counter* refused_ = nullptr;
  std::array<prometheus::Counter*, 4> closed_{};
  std::array<prometheus::Counter*, 3> paused_{};
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
