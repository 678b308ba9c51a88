#include "quorum/probe.h"

#include "metrics/probe.h"

namespace shoal::quorum {

namespace {

using metrics::Seconds;

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

}  // namespace

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
                        "written_at of the newest sibling it lacked; "
                        "labelled with the replica's datacenter (dc)")
                    .Register(registry);
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
                      "after the w-th): time since the coordinator started; "
                      "labelled with the replica's datacenter (dc)")
                  .Register(registry);
  // Without datacenters the one series exists from the start.
  ForDc(*stale_age_, stale_by_dc_, kStaleAgeBuckets, "");
  ForDc(*ack_lag_, ack_by_dc_, kAckLagBuckets, "");
}

prometheus::Histogram& QuorumProbe::ForDc(
    prometheus::Family<prometheus::Histogram>& family,
    std::map<std::string, prometheus::Histogram*, std::less<>>& by_dc,
    const prometheus::Histogram::BucketBoundaries& buckets,
    std::string_view dc) {
  auto it = by_dc.find(dc);
  if (it == by_dc.end()) {
    prometheus::Histogram* h =
        dc.empty() ? &family.Add({}, buckets)
                   : &family.Add({{"dc", std::string(dc)}}, buckets);
    it = by_dc.emplace(std::string(dc), h).first;
  }
  return *it->second;
}

void QuorumProbe::ReplicaFreshness(Freshness f) {
  freshness_[static_cast<size_t>(f)]->Increment();
}

void QuorumProbe::StaleReplicaAge(std::chrono::milliseconds age,
                                  std::string_view dc) {
  ForDc(*stale_age_, stale_by_dc_, kStaleAgeBuckets, dc).Observe(Seconds(age));
}

void QuorumProbe::ReadRepairSent(bool ok) {
  (ok ? repairs_ok_ : repairs_failed_)->Increment();
}

void QuorumProbe::ReplicaAcked(std::chrono::nanoseconds lag,
                               std::string_view dc) {
  ForDc(*ack_lag_, ack_by_dc_, kAckLagBuckets, dc).Observe(Seconds(lag));
}

}  // namespace shoal::quorum
