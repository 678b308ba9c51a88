#include "node/probe.h"

#include "metrics/probe.h"

namespace shoal::node {

namespace {

using metrics::Family;
using metrics::Gauge;
using metrics::Seconds;

// Request latency buckets (seconds): 100 µs to 10 s, about three per decade.
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};

const prometheus::Histogram::BucketBoundaries kSiblingBuckets = {1, 2, 3,  4,
                                                                 5, 8, 16, 32};
// Siblings after a write: up to the default limits.max_siblings (100).
const prometheus::Histogram::BucketBoundaries kWriteSiblingBuckets = {
    1, 2, 3, 5, 8, 16, 25, 50, 100, 200};

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

}  // namespace

class LoadProbe::Source : public metrics::PullSource {
  using PullSource::PullSource;
};

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

// ---- TransportProbe ----

ClusterProbe::ClusterProbe(prometheus::Registry& registry, uint64_t epoch) {
  epoch_ = &prometheus::BuildGauge()
                .Name("shoal_ring_epoch")
                .Help("Epoch of the cluster state this node serves")
                .Register(registry)
                .Add({});
  epoch_->Set(static_cast<double>(epoch));
  conflicts_ = &prometheus::BuildCounter()
                    .Name("shoal_cluster_state_conflicts_total")
                    .Help(
                        "Times a peer was found holding a different cluster "
                        "state at this node's epoch (never merged)")
                    .Register(registry)
                    .Add({});
  adopted_ = &prometheus::BuildCounter()
                  .Name("shoal_cluster_states_adopted_total")
                  .Help("Newer cluster states this node took from a peer")
                  .Register(registry)
                  .Add({});
  refused_ = &prometheus::BuildCounter()
                  .Name("shoal_cluster_states_refused_total")
                  .Help(
                      "Newer cluster states this node could not apply while "
                      "serving (a changed claim)")
                  .Register(registry)
                  .Add({});
  stale_ = &prometheus::BuildCounter()
                .Name("shoal_cluster_stale_requests_total")
                .Help(
                    "Replica requests this node did not serve because their "
                    "sender routed them by an older cluster epoch (answered "
                    "with this node's state)")
                .Register(registry)
                .Add({});
  changing_ = &prometheus::BuildGauge()
                   .Name("shoal_cluster_changing")
                   .Help(
                       "1 while the cluster state this node holds has a "
                       "change in progress (partitions moving)")
                   .Register(registry)
                   .Add({});
  remaining_ = &prometheus::BuildGauge()
                    .Name("shoal_transfer_partitions_remaining")
                    .Help(
                        "Partitions a change in progress gives this node "
                        "that it has not received yet")
                    .Register(registry)
                    .Add({});
  started_ = &prometheus::BuildGauge()
                  .Name("shoal_transfer_started_time_seconds")
                  .Help(
                      "Unix time this node began receiving the partitions "
                      "of the change in progress; 0 when it receives none")
                  .Register(registry)
                  .Add({});
  received_ = &prometheus::BuildCounter()
                   .Name("shoal_transfer_partitions_received_total")
                   .Help(
                       "Partitions this node received in a change (its "
                       "tree equal to every live source's)")
                   .Register(registry)
                   .Add({});
}

void ClusterProbe::Changing(bool changing) { changing_->Set(changing); }
void ClusterProbe::Receiving(size_t remaining, int64_t started_wall_ms) {
  remaining_->Set(static_cast<double>(remaining));
  started_->Set(static_cast<double>(started_wall_ms) / 1000.0);
}
void ClusterProbe::Received() { received_->Increment(); }

void ClusterProbe::Epoch(uint64_t epoch) {
  epoch_->Set(static_cast<double>(epoch));
}
void ClusterProbe::Conflict() { conflicts_->Increment(); }
void ClusterProbe::Adopted() { adopted_->Increment(); }
void ClusterProbe::Refused() { refused_->Increment(); }
void ClusterProbe::StaleRequest() { stale_->Increment(); }

TransportProbe::TransportProbe(prometheus::Registry& registry,
                               const std::vector<std::string>& members,
                               size_t self)
    : up_family_(prometheus::BuildGauge()
                     .Name("shoal_peer_up")
                     .Help("1 when this node's failure detector considers the "
                           "peer up (or has not judged it yet), 0 when down")
                     .Register(registry)),
      downs_family_(prometheus::BuildCounter()
                        .Name("shoal_peer_marked_down_total")
                        .Help("Times this node's failure detector marked the "
                              "peer down")
                        .Register(registry)),
      self_(self) {
  Update(members, std::vector<bool>(members.size(), false));
}

void TransportProbe::Update(const std::vector<std::string>& members,
                            const std::vector<bool>& retired) {
  for (size_t i = up_.size(); i < members.size(); ++i) {
    up_.push_back(nullptr);
    downs_.push_back(nullptr);
    if (i == self_ || retired[i]) continue;
    up_[i] = &up_family_.Add({{"peer", members[i]}});
    up_[i]->Set(1);
    downs_[i] = &downs_family_.Add({{"peer", members[i]}});
  }
  for (size_t i = 0; i < members.size(); ++i) {
    if (!retired[i] || up_[i] == nullptr) continue;
    up_family_.Remove(up_[i]);
    downs_family_.Remove(downs_[i]);
    up_[i] = nullptr;
    downs_[i] = nullptr;
  }
}

void TransportProbe::PeerState(size_t index, bool up) {
  if (index >= up_.size() || up_[index] == nullptr) return;
  const bool was_up = up_[index]->Value() != 0;
  if (was_up && !up) downs_[index]->Increment();
  up_[index]->Set(up ? 1 : 0);
}

// ---- LoadProbe ----

LoadProbe::LoadProbe(metrics::Metrics& metrics,
                     std::function<LoadFigures()> read) {
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

}  // namespace shoal::node
