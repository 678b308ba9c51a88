#include "antientropy/probe.h"

namespace shoal::antientropy {

namespace {

// How long a difference existed before anti-entropy repaired it (seconds):
// 100 ms to a day.
const prometheus::Histogram::BucketBoundaries kDivergenceBuckets = {
    0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900, 3600, 4 * 3600, 86400};

}  // namespace

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

}  // namespace shoal::antientropy
