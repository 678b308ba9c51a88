#include "metrics/metrics.h"

#include <prometheus/text_serializer.h>

#include <mutex>
#include <set>

namespace shoal::metrics {

namespace {

// Request latency buckets (seconds): 100 µs to 10 s, about three per decade.
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};

// A replica's ack lag (seconds): 50 µs (a local commit) to the longest
// request deadline a client may set (60 s).
const prometheus::Histogram::BucketBoundaries kAckLagBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0, 60.0};

// How old the write a stale replica lacked was (seconds): from a write
// racing the read (ms) to a replica that was down for a day.
const prometheus::Histogram::BucketBoundaries kStaleAgeBuckets = {
    0.001, 0.005, 0.01, 0.05, 0.1,   0.25,  0.5,    1.0,     2.5,
    5.0,   10.0,  30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0};

const prometheus::Histogram::BucketBoundaries kSiblingBuckets = {1, 2, 3,  4,
                                                                 5, 8, 16, 32};
// Siblings after a write: up to the default limits.max_siblings (100).
const prometheus::Histogram::BucketBoundaries kWriteSiblingBuckets = {
    1, 2, 3, 5, 8, 16, 25, 50, 100, 200};

// How long a difference existed before anti-entropy repaired it (seconds):
// 100 ms to a day.
const prometheus::Histogram::BucketBoundaries kDivergenceBuckets = {
    0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900, 3600, 4 * 3600, 86400};

const char* OpName(RequestProbe::Op op) {
  switch (op) {
    case RequestProbe::Op::kGet:
      return "get";
    case RequestProbe::Op::kPut:
      return "put";
    case RequestProbe::Op::kDelete:
      return "delete";
  }
  return "unknown";
}

double Seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

prometheus::MetricFamily Family(const char* name, const char* help,
                                prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

prometheus::ClientMetric Gauge(
    double value, std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  return m;
}

prometheus::ClientMetric Counter(
    double value, std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  return m;
}

}  // namespace

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

class StorageProbe::Source : public PullSource {
  using PullSource::PullSource;
};
class HandoffProbe::Source : public PullSource {
  using PullSource::PullSource;
};
class LoadProbe::Source : public PullSource {
  using PullSource::PullSource;
};

// ---- Metrics ----

Result<std::unique_ptr<Metrics>> Metrics::Create(const std::string& listen) {
  std::unique_ptr<Metrics> m(new Metrics());
  m->registry_ = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name("shoal_build_info")
      .Help("Build information; the value is always 1")
      .Register(*m->registry_)
      .Add({{"version", kVersion}})
      .Set(1);
  if (!listen.empty()) {
    try {
      m->exposer_ = std::make_unique<prometheus::Exposer>(listen, 2);
    } catch (const std::exception& e) {
      return Status(Code::kUnavailable,
                    "cannot serve metrics on " + listen + ": " + e.what());
    }
    m->exposer_->RegisterCollectable(m->registry_);
  }
  return m;
}

void Metrics::Add(std::shared_ptr<prometheus::Collectable> collectable) {
  if (exposer_) exposer_->RegisterCollectable(collectable);
  collectables_.push_back(std::move(collectable));
}

std::string Metrics::Text() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (const auto& c : collectables_) {
    for (auto& f : c->Collect()) families.push_back(std::move(f));
  }
  return prometheus::TextSerializer().Serialize(families);
}

// ---- RequestProbe ----

RequestProbe::RequestProbe(prometheus::Registry& registry) {
  auto& requests = prometheus::BuildCounter()
                       .Name("shoal_requests_total")
                       .Help("Client requests handled, by operation and result")
                       .Register(registry);
  auto& duration = prometheus::BuildHistogram()
                       .Name("shoal_request_duration_seconds")
                       .Help("Client request latency at the node, by operation")
                       .Register(registry);
  for (size_t op = 0; op < kOps; ++op) {
    const char* name = OpName(static_cast<Op>(op));
    for (size_t c = 0; c < kCodes; ++c) {
      requests_[op][c] = &requests.Add(
          {{"op", name}, {"result", CodeName(static_cast<Code>(c))}});
    }
    duration_[op] = &duration.Add({{"op", name}}, kLatencyBuckets);
  }
  siblings_ = &prometheus::BuildHistogram()
                   .Name("shoal_read_siblings")
                   .Help("Live siblings returned per successful get")
                   .Register(registry)
                   .Add({}, kSiblingBuckets);
  write_siblings_ =
      &prometheus::BuildHistogram()
           .Name("shoal_write_siblings")
           .Help(
               "Siblings (tombstones included) a key holds at its "
               "coordinator after each successful put or delete")
           .Register(registry)
           .Add({}, kWriteSiblingBuckets);
  sibling_warnings_ = &prometheus::BuildCounter()
                           .Name("shoal_write_siblings_warnings_total")
                           .Help(
                               "Writes that left a key with more siblings than "
                               "limits.warn_siblings")
                           .Register(registry)
                           .Add({});
}

void RequestProbe::WriteSiblings(size_t count) {
  write_siblings_->Observe(static_cast<double>(count));
}

void RequestProbe::SiblingsWarning() { sibling_warnings_->Increment(); }

void RequestProbe::Request(Op op, Code result,
                           std::chrono::nanoseconds latency) {
  const size_t o = static_cast<size_t>(op);
  const size_t c = static_cast<size_t>(result);
  if (o >= kOps || c >= kCodes) return;
  requests_[o][c]->Increment();
  duration_[o]->Observe(Seconds(latency));
}

void RequestProbe::Siblings(size_t count) {
  siblings_->Observe(static_cast<double>(count));
}

// ---- QuorumProbe ----

QuorumProbe::QuorumProbe(prometheus::Registry& registry) {
  auto& replies =
      prometheus::BuildCounter()
          .Name("shoal_read_replica_replies_total")
          .Help("Replica replies to gets, classified against the merged result")
          .Register(registry);
  freshness_[static_cast<size_t>(Freshness::kCurrent)] =
      &replies.Add({{"freshness", "current"}});
  freshness_[static_cast<size_t>(Freshness::kStale)] =
      &replies.Add({{"freshness", "stale"}});
  freshness_[static_cast<size_t>(Freshness::kMissing)] =
      &replies.Add({{"freshness", "missing"}});
  stale_age_ = &prometheus::BuildHistogram()
                    .Name("shoal_read_stale_age_seconds")
                    .Help(
                        "For each stale replica reply to a get: now minus "
                        "written_at of the newest sibling it lacked")
                    .Register(registry)
                    .Add({}, kStaleAgeBuckets);
  auto& repairs = prometheus::BuildCounter()
                      .Name("shoal_read_repairs_total")
                      .Help("Read repairs sent to stale or missing replicas")
                      .Register(registry);
  repairs_ok_ = &repairs.Add({{"result", "ok"}});
  repairs_failed_ = &repairs.Add({{"result", "failed"}});
  ack_lag_ = &prometheus::BuildHistogram()
                  .Name("shoal_write_replica_lag_seconds")
                  .Help(
                      "For each replica ack of a put (all n, also those "
                      "after the w-th): time since the coordinator started")
                  .Register(registry)
                  .Add({}, kAckLagBuckets);
}

void QuorumProbe::ReplicaFreshness(Freshness f) {
  freshness_[static_cast<size_t>(f)]->Increment();
}

void QuorumProbe::StaleReplicaAge(std::chrono::milliseconds age) {
  stale_age_->Observe(Seconds(age));
}

void QuorumProbe::ReadRepairSent(bool ok) {
  (ok ? repairs_ok_ : repairs_failed_)->Increment();
}

AaeProbe::AaeProbe(prometheus::Registry& registry) {
  auto& exchanges = prometheus::BuildCounter()
                        .Name("shoal_aae_exchanges_total")
                        .Help("Anti-entropy exchanges run by this node")
                        .Register(registry);
  exchanges_ok_ = &exchanges.Add({{"result", "ok"}});
  exchanges_error_ = &exchanges.Add({{"result", "error"}});
  repaired_ = &prometheus::BuildCounter()
                   .Name("shoal_aae_keys_repaired_total")
                   .Help(
                       "Replica copies of keys that anti-entropy changed (a "
                       "key fixed on both "
                       "replicas of an exchange counts twice)")
                   .Register(registry)
                   .Add({});
  bytes_ = &prometheus::BuildCounter()
                .Name("shoal_aae_bytes_total")
                .Help(
                    "Frame bytes sent and received by the anti-entropy "
                    "exchanges this node ran")
                .Register(registry)
                .Add({});
  divergence_age_ =
      &prometheus::BuildHistogram()
           .Name("shoal_aae_divergence_age_seconds")
           .Help(
               "How long a difference repaired by anti-entropy had existed "
               "(now minus the write time of the oldest missing sibling)")
           .Register(registry)
           .Add({}, kDivergenceBuckets);
}

void AaeProbe::Exchanged(bool ok) {
  (ok ? exchanges_ok_ : exchanges_error_)->Increment();
}

void AaeProbe::KeysRepaired(uint64_t keys) {
  repaired_->Increment(static_cast<double>(keys));
}

void AaeProbe::BytesExchanged(uint64_t bytes) {
  bytes_->Increment(static_cast<double>(bytes));
}

void AaeProbe::DivergenceAge(double seconds) {
  divergence_age_->Observe(seconds);
}

void QuorumProbe::ReplicaAcked(std::chrono::nanoseconds lag) {
  ack_lag_->Observe(Seconds(lag));
}

// ---- TransportProbe ----

TransportProbe::TransportProbe(prometheus::Registry& registry,
                               const std::vector<std::string>& members,
                               size_t self)
    : up_(members.size(), nullptr), downs_(members.size(), nullptr) {
  auto& up = prometheus::BuildGauge()
                 .Name("shoal_peer_up")
                 .Help(
                     "1 when this node's failure detector considers the "
                     "peer up (or has not judged it yet), 0 when down")
                 .Register(registry);
  auto& downs = prometheus::BuildCounter()
                    .Name("shoal_peer_marked_down_total")
                    .Help(
                        "Times this node's failure detector marked the peer "
                        "down")
                    .Register(registry);
  for (size_t i = 0; i < members.size(); ++i) {
    if (i == self) continue;
    up_[i] = &up.Add({{"peer", members[i]}});
    up_[i]->Set(1);
    downs_[i] = &downs.Add({{"peer", members[i]}});
  }
}

void TransportProbe::PeerState(size_t index, bool up) {
  if (index >= up_.size() || up_[index] == nullptr) return;
  const bool was_up = up_[index]->Value() != 0;
  if (was_up && !up) downs_[index]->Increment();
  up_[index]->Set(up ? 1 : 0);
}

// ---- StorageProbe ----

StorageProbe::StorageProbe(Metrics& metrics,
                           std::function<StorageFigures()> read) {
  source_ = std::make_shared<Source>([read = std::move(read)]() {
    using prometheus::MetricType;
    const StorageFigures s = read();
    std::vector<prometheus::MetricFamily> out;
    out.push_back(Family("shoal_storage_keys",
                         "Keys in this node's objects database (hints not "
                         "included)",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(static_cast<double>(s.keys)));
    out.push_back(Family("shoal_storage_used_bytes",
                         "LMDB pages in use times the page size",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(static_cast<double>(s.used_bytes)));
    out.push_back(Family("shoal_storage_map_size_bytes",
                         "LMDB map size: the most the store can hold",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(static_cast<double>(s.map_size_bytes)));
    out.push_back(Family("shoal_storage_map_usage_ratio",
                         "used_bytes / map_size_bytes; writes fail with "
                         "storage_full at 1",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(
        s.map_size_bytes == 0 ? 0
                              : static_cast<double>(s.used_bytes) /
                                    static_cast<double>(s.map_size_bytes)));
    out.push_back(Family("shoal_storage_sync_failures_total",
                         "Failed periodic fsyncs since the node started",
                         MetricType::Counter));
    out.back().metric.push_back(Counter(static_cast<double>(s.sync_failures)));
    out.push_back(Family("shoal_storage_full",
                         "1 while writes are refused with storage_full (from "
                         "a refused batch to the next commit), else 0",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(s.full ? 1 : 0));
    out.push_back(Family("shoal_storage_full_errors_total",
                         "Write batches refused with storage_full since the "
                         "node started, by reason (map: storage.map_size "
                         "reached; disk: the filesystem is full)",
                         MetricType::Counter));
    out.back().metric.push_back(
        Counter(static_cast<double>(s.full_map_errors), {{"reason", "map"}}));
    out.back().metric.push_back(
        Counter(static_cast<double>(s.full_disk_errors), {{"reason", "disk"}}));
    out.push_back(Family("shoal_storage_filesystem_free_bytes",
                         "Bytes available on the filesystem holding the "
                         "data directory",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(static_cast<double>(s.fs_free_bytes)));
    out.push_back(Family("shoal_storage_filesystem_size_bytes",
                         "Size of the filesystem holding the data directory",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(static_cast<double>(s.fs_size_bytes)));
    return out;
  });
  metrics.Add(source_);
}

StorageProbe::~StorageProbe() { source_->Detach(); }

// ---- HandoffProbe ----

HandoffProbe::HandoffProbe(Metrics& metrics, std::vector<std::string> targets,
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

// ---- LoadProbe ----

LoadProbe::LoadProbe(Metrics& metrics, std::function<LoadFigures()> read) {
  source_ = std::make_shared<Source>([read = std::move(read)]() {
    using prometheus::MetricType;
    const LoadFigures f = read();
    std::vector<prometheus::MetricFamily> out;
    out.push_back(Family("shoal_connections",
                         "Open connections accepted by this node, by kind "
                         "(peer: another member introduced itself)",
                         MetricType::Gauge));
    out.back().metric.push_back(
        Gauge(static_cast<double>(f.client_connections), {{"kind", "client"}}));
    out.back().metric.push_back(
        Gauge(static_cast<double>(f.peer_connections), {{"kind", "peer"}}));
    out.push_back(Family("shoal_requests_in_flight",
                         "Client requests this node is coordinating "
                         "(limits.max_requests bounds it)",
                         MetricType::Gauge));
    out.back().metric.push_back(
        Gauge(static_cast<double>(f.requests_in_flight)));
    out.push_back(Family("shoal_inflight_bytes",
                         "Bytes held for client connections' frames: grown "
                         "receive buffers and requests being served "
                         "(limits.max_inflight_bytes bounds it)",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(static_cast<double>(f.inflight_bytes)));
    return out;
  });
  metrics.Add(source_);
  auto& registry = metrics.registry();
  refused_ = &prometheus::BuildCounter()
                  .Name("shoal_connections_refused_total")
                  .Help(
                      "Client connections refused at limits.max_connections "
                      "(answered `overloaded`, then closed)")
                  .Register(registry)
                  .Add({});
  auto& closed = prometheus::BuildCounter()
                     .Name("shoal_connections_closed_total")
                     .Help(
                         "Connections this node closed because of a limit, "
                         "by reason: idle (limits.idle_timeout), "
                         "frame_timeout (limits.frame_timeout), "
                         "output_backlog (replies not read), bad_frame")
                     .Register(registry);
  closed_[static_cast<size_t>(Closed::kIdle)] =
      &closed.Add({{"reason", "idle"}});
  closed_[static_cast<size_t>(Closed::kFrameTimeout)] =
      &closed.Add({{"reason", "frame_timeout"}});
  closed_[static_cast<size_t>(Closed::kOutputBacklog)] =
      &closed.Add({{"reason", "output_backlog"}});
  closed_[static_cast<size_t>(Closed::kBadFrame)] =
      &closed.Add({{"reason", "bad_frame"}});
  auto& paused = prometheus::BuildCounter()
                     .Name("shoal_read_pauses_total")
                     .Help(
                         "Times a client connection stopped reading its "
                         "socket (TCP backpressure), by reason: in_flight "
                         "(limits.max_in_flight), budget "
                         "(limits.max_inflight_bytes), output (replies not "
                         "read)")
                     .Register(registry);
  paused_[static_cast<size_t>(Paused::kInFlight)] =
      &paused.Add({{"reason", "in_flight"}});
  paused_[static_cast<size_t>(Paused::kBudget)] =
      &paused.Add({{"reason", "budget"}});
  paused_[static_cast<size_t>(Paused::kOutput)] =
      &paused.Add({{"reason", "output"}});
}

LoadProbe::~LoadProbe() { source_->Detach(); }

void LoadProbe::ConnectionRefused() { refused_->Increment(); }

void LoadProbe::ConnectionClosed(Closed why) {
  closed_[static_cast<size_t>(why)]->Increment();
}

void LoadProbe::ReadPaused(Paused why) {
  paused_[static_cast<size_t>(why)]->Increment();
}

}  // namespace shoal::metrics
