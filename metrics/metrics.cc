#include "metrics/metrics.h"

namespace shoal::metrics {

namespace {

// Request latency buckets (seconds): 100 µs to 10 s, about three per decade.
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};

const prometheus::Histogram::BucketBoundaries kSiblingBuckets = {1, 2, 3,  4,
                                                                 5, 8, 16, 32};

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

}  // namespace

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
}

void RequestProbe::Request(Op op, Code result,
                           std::chrono::nanoseconds latency) {
  const size_t o = static_cast<size_t>(op);
  const size_t c = static_cast<size_t>(result);
  if (o >= kOps || c >= kCodes) return;
  requests_[o][c]->Increment();
  duration_[o]->Observe(std::chrono::duration<double>(latency).count());
}

void RequestProbe::Siblings(size_t count) {
  siblings_->Observe(static_cast<double>(count));
}

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
  auto& repairs = prometheus::BuildCounter()
                      .Name("shoal_read_repairs_total")
                      .Help("Read repairs sent to stale or missing replicas")
                      .Register(registry);
  repairs_ok_ = &repairs.Add({{"result", "ok"}});
  repairs_failed_ = &repairs.Add({{"result", "failed"}});
}

void QuorumProbe::ReplicaFreshness(Freshness f) {
  freshness_[static_cast<size_t>(f)]->Increment();
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
                   .Help("Keys anti-entropy changed on either replica")
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

}  // namespace shoal::metrics
