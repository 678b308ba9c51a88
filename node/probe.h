// The node's probes (metrics/probe.h): client requests (RequestProbe),
// peer links (TransportProbe), the cluster state (ClusterProbe), and load
// and the limits' defences (LoadProbe).
//
// Threads: push verbs are called on the io_context thread; LoadProbe's
// function runs on scrape threads.
#pragma once

#include <prometheus/counter.h>
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

#include "base/result.h"
#include "metrics/metrics.h"

namespace shoal::node {

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

// Peer links: whether this node's failure detector considers each peer up
// (shoal_peer_up{peer}) and how often it marked one down.
class TransportProbe {
 public:
  // One series per member except `self` (an index into `members`); every
  // peer starts up (1), as the failure detector does ("not judged yet").
  // `registry` must outlive the probe.
  TransportProbe(prometheus::Registry& registry,
                 const std::vector<std::string>& members, size_t self);
  // Follows the members of a new ring (indices never move): series for
  // members beyond the known ones, and none any more for retired ones (a
  // member that left is not a peer that is down).
  void Update(const std::vector<std::string>& members,
              const std::vector<bool>& retired);
  // The detector's current opinion of member `index` (not self). Counts a
  // marked-down transition when `up` is false and the peer was up.
  void PeerState(size_t index, bool up);

 private:
  prometheus::Family<prometheus::Gauge>& up_family_;
  prometheus::Family<prometheus::Counter>& downs_family_;
  size_t self_;
  std::vector<prometheus::Gauge*> up_;  // by member index; null: self, gone
  std::vector<prometheus::Counter*> downs_;  // by member index
};

// The cluster state as this node holds it (doc/membership.md):
// shoal_ring_epoch, shoal_cluster_state_conflicts_total (a peer reported a
// different state at our epoch), shoal_cluster_states_adopted_total and
// shoal_cluster_states_refused_total.
class ClusterProbe {
 public:
  // `registry` must outlive the probe.
  ClusterProbe(prometheus::Registry& registry, uint64_t epoch);
  void Epoch(uint64_t epoch);
  void Conflict();
  void Adopted();
  void Refused();
  // A replica request routed by an older epoch, answered with this node's
  // state instead of being served.
  void StaleRequest();
  // shoal_cluster_changing: 1 while the state held has a change in progress.
  void Changing(bool changing);
  // This node's transfers (node/transfers.h): partitions still to receive,
  // and when the receiving began (wall-clock ms; 0 = none).
  void Receiving(size_t remaining, int64_t started_wall_ms);
  void Received();  // one more partition received

 private:
  prometheus::Gauge* changing_ = nullptr;
  prometheus::Gauge* remaining_ = nullptr;
  prometheus::Gauge* started_ = nullptr;
  prometheus::Counter* received_ = nullptr;
  prometheus::Gauge* epoch_ = nullptr;
  prometheus::Counter* conflicts_ = nullptr;
  prometheus::Counter* adopted_ = nullptr;
  prometheus::Counter* refused_ = nullptr;
  prometheus::Counter* stale_ = nullptr;
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
  LoadProbe(metrics::Metrics& metrics, std::function<LoadFigures()> read);
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

}  // namespace shoal::node
