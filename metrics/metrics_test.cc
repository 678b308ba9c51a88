#include "metrics/metrics.h"

#include <doctest/doctest.h>
#include <prometheus/text_serializer.h>

#include <string>

namespace shoal::metrics {
namespace {

std::string Scrape(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

TEST_CASE("probes of two registries do not share counters") {
  auto a = Metrics::Create("");
  auto b = Metrics::Create("");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  RequestProbe pa((*a)->registry());
  RequestProbe pb((*b)->registry());
  pa.Request(RequestProbe::Op::kPut, Code::kOk, std::chrono::milliseconds(3));
  pa.Request(RequestProbe::Op::kPut, Code::kOk, std::chrono::milliseconds(3));
  pb.Request(RequestProbe::Op::kGet, Code::kTimeout,
             std::chrono::milliseconds(2000));
  const std::string ta = Scrape((*a)->registry());
  const std::string tb = Scrape((*b)->registry());
  CHECK(ta.find("shoal_requests_total{op=\"put\",result=\"ok\"} 2") !=
        std::string::npos);
  CHECK(tb.find("shoal_requests_total{op=\"put\",result=\"ok\"} 0") !=
        std::string::npos);
  CHECK(tb.find("shoal_requests_total{op=\"get\",result=\"timeout\"} 1") !=
        std::string::npos);
  CHECK(ta.find("shoal_build_info{version=\"0.1.0\"} 1") != std::string::npos);
}

TEST_CASE("quorum probe counts freshness and repairs") {
  auto m = Metrics::Create("");
  REQUIRE(m.ok());
  QuorumProbe probe((*m)->registry());
  using F = quorum::CoordinatorObserver::Freshness;
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

TEST_CASE("aae probe counts exchanges, repairs, bytes and divergence ages") {
  auto m = Metrics::Create("");
  REQUIRE(m.ok());
  AaeProbe probe((*m)->registry());
  probe.Exchanged(true);
  probe.Exchanged(true);
  probe.Exchanged(false);
  probe.KeysRepaired(5);
  probe.BytesExchanged(1000);
  probe.BytesExchanged(24);
  probe.DivergenceAge(2.0);
  probe.DivergenceAge(7200.0);
  const std::string t = Scrape((*m)->registry());
  CHECK(t.find("shoal_aae_exchanges_total{result=\"ok\"} 2") !=
        std::string::npos);
  CHECK(t.find("shoal_aae_exchanges_total{result=\"error\"} 1") !=
        std::string::npos);
  CHECK(t.find("shoal_aae_keys_repaired_total 5") != std::string::npos);
  CHECK(t.find("shoal_aae_bytes_total 1024") != std::string::npos);
  CHECK(t.find("shoal_aae_divergence_age_seconds_count 2") !=
        std::string::npos);
  CHECK(t.find("shoal_aae_divergence_age_seconds_bucket{le=\"5\"} 1") !=
        std::string::npos);
}

TEST_CASE("label sets are bounded: no request detail becomes a label") {
  auto m = Metrics::Create("");
  REQUIRE(m.ok());
  RequestProbe probe((*m)->registry());
  const size_t before = (*m)->registry().Collect().size();
  size_t series_before = 0;
  for (const auto& f : (*m)->registry().Collect())
    series_before += f.metric.size();
  for (int i = 0; i < 1000; ++i) {
    probe.Request(RequestProbe::Op::kGet, static_cast<Code>(i % 10),
                  std::chrono::microseconds(i));
    probe.Siblings(i % 7);
  }
  size_t series_after = 0;
  for (const auto& f : (*m)->registry().Collect())
    series_after += f.metric.size();
  CHECK((*m)->registry().Collect().size() == before);
  CHECK(series_after == series_before);
}

TEST_CASE("an exposer on a taken address is a clean error") {
  auto first = Metrics::Create("127.0.0.1:0");
  REQUIRE(first.ok());
  auto bad = Metrics::Create("256.1.1.1:80");
  CHECK_FALSE(bad.ok());
  CHECK(bad.status().message().find("cannot serve metrics") !=
        std::string::npos);
}

}  // namespace
}  // namespace shoal::metrics
