#include "quorum/probe.h"

#include <doctest/doctest.h>
#include <prometheus/text_serializer.h>

#include <string>

#include "metrics/metrics.h"

namespace shoal::quorum {
namespace {

std::string Scrape(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

bool Has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST_CASE("quorum probe counts freshness and repairs") {
  auto m = metrics::Metrics::Create("");
  REQUIRE(m.ok());
  QuorumProbe probe((*m)->registry());
  using F = CoordinatorObserver::Freshness;
  probe.ReplicaFreshness(F::kCurrent);
  probe.ReplicaFreshness(F::kCurrent);
  probe.ReplicaFreshness(F::kMissing);
  probe.ReadRepairSent(true);
  const std::string t = Scrape((*m)->registry());
  CHECK(t.find("shoal_read_replica_replies_total{freshness=\"current\"} 2") !=
        std::string::npos);
  CHECK(t.find("shoal_read_replica_replies_total{freshness=\"missing\"} 1") !=
        std::string::npos);
  CHECK(t.find("shoal_read_replica_replies_total{freshness=\"stale\"} 0") !=
        std::string::npos);
  CHECK(t.find("shoal_read_repairs_total{result=\"ok\"} 1") !=
        std::string::npos);
}

TEST_CASE("quorum probe observes stale ages and every replica ack lag") {
  auto m = metrics::Metrics::Create("");
  REQUIRE(m.ok());
  QuorumProbe probe((*m)->registry());
  probe.StaleReplicaAge(std::chrono::milliseconds(1500), "");
  probe.StaleReplicaAge(std::chrono::milliseconds(20), "");
  probe.ReplicaAcked(std::chrono::microseconds(300), "");
  probe.ReplicaAcked(std::chrono::milliseconds(40), "");
  probe.ReplicaAcked(std::chrono::seconds(3), "");
  const std::string t = (*m)->Text();
  CHECK(Has(t, "shoal_read_stale_age_seconds_count 2"));
  CHECK(Has(t, "shoal_read_stale_age_seconds_bucket{le=\"1\"} 1"));
  CHECK(Has(t, "shoal_read_stale_age_seconds_bucket{le=\"2.5\"} 2"));
  CHECK(Has(t, "shoal_write_replica_lag_seconds_count 3"));
  CHECK(Has(t, "shoal_write_replica_lag_seconds_bucket{le=\"0.0005\"} 1"));
  CHECK(Has(t, "shoal_write_replica_lag_seconds_bucket{le=\"5\"} 3"));
}

}  // namespace
}  // namespace shoal::quorum
