#include "metrics/metrics.h"

#include <doctest/doctest.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
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

bool Has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST_CASE("quorum probe observes stale ages and every replica ack lag") {
  auto m = Metrics::Create("");
  REQUIRE(m.ok());
  QuorumProbe probe((*m)->registry());
  probe.StaleReplicaAge(std::chrono::milliseconds(1500));
  probe.StaleReplicaAge(std::chrono::milliseconds(20));
  probe.ReplicaAcked(std::chrono::microseconds(300));
  probe.ReplicaAcked(std::chrono::milliseconds(40));
  probe.ReplicaAcked(std::chrono::seconds(3));
  const std::string t = (*m)->Text();
  CHECK(Has(t, "shoal_read_stale_age_seconds_count 2"));
  CHECK(Has(t, "shoal_read_stale_age_seconds_bucket{le=\"1\"} 1"));
  CHECK(Has(t, "shoal_read_stale_age_seconds_bucket{le=\"2.5\"} 2"));
  CHECK(Has(t, "shoal_write_replica_lag_seconds_count 3"));
  CHECK(Has(t, "shoal_write_replica_lag_seconds_bucket{le=\"0.0005\"} 1"));
  CHECK(Has(t, "shoal_write_replica_lag_seconds_bucket{le=\"5\"} 3"));
}

TEST_CASE("transport probe has one series per peer and counts downs") {
  auto m = Metrics::Create("");
  REQUIRE(m.ok());
  TransportProbe probe((*m)->registry(), {"n1", "n2", "n3"}, 0);
  std::string t = (*m)->Text();
  CHECK_FALSE(Has(t, "peer=\"n1\""));  // not self
  CHECK(Has(t, "shoal_peer_up{peer=\"n2\"} 1"));
  probe.PeerState(2, false);
  probe.PeerState(2, false);  // still down: one transition
  probe.PeerState(1, true);
  probe.PeerState(0, false);  // self: ignored
  probe.PeerState(7, false);  // out of range: ignored
  t = (*m)->Text();
  CHECK(Has(t, "shoal_peer_up{peer=\"n3\"} 0"));
  CHECK(Has(t, "shoal_peer_up{peer=\"n2\"} 1"));
  CHECK(Has(t, "shoal_peer_marked_down_total{peer=\"n3\"} 1"));
  CHECK(Has(t, "shoal_peer_marked_down_total{peer=\"n2\"} 0"));
}

TEST_CASE("storage probe reads its figures at scrape time") {
  auto m = Metrics::Create("");
  REQUIRE(m.ok());
  StorageFigures figures{10, 256, 1024, 0};
  {
    StorageProbe probe(**m, [&] { return figures; });
    CHECK(Has((*m)->Text(), "shoal_storage_keys 10"));
    figures.keys = 11;
    const std::string t = (*m)->Text();
    CHECK(Has(t, "shoal_storage_keys 11"));
    CHECK(Has(t, "shoal_storage_used_bytes 256"));
    CHECK(Has(t, "shoal_storage_map_size_bytes 1024"));
    CHECK(Has(t, "shoal_storage_map_usage_ratio 0.25"));
  }
  // Once the probe is gone its source is detached: nothing is read.
  CHECK_FALSE(Has((*m)->Text(), "shoal_storage_keys"));
}

TEST_CASE("handoff probe serves every target and counters from its source") {
  auto m = Metrics::Create("");
  REQUIRE(m.ok());
  HintFigures figures;
  figures.targets.push_back({"n3", 4, 400, 12.5});
  figures.targets.push_back({"gone", 1, 10, 1});  // no longer a member
  figures.stored = 9;
  figures.delivered = 4;
  figures.dropped_cap = 2;
  bool fail = false;
  HandoffProbe probe(**m, {"n2", "n3"}, [&]() -> Result<HintFigures> {
    if (fail) return Status(Code::kInternal, "boom");
    return figures;
  });
  std::string t = (*m)->Text();
  CHECK(Has(t, "shoal_hints_pending{target=\"n3\"} 4"));
  CHECK(Has(t, "shoal_hints_pending{target=\"n2\"} 0"));
  CHECK(Has(t, "shoal_hints_pending{target=\"gone\"} 1"));
  CHECK(Has(t, "shoal_hints_pending_bytes{target=\"n3\"} 400"));
  CHECK(Has(t, "shoal_hints_oldest_age_seconds{target=\"n3\"} 12.5"));
  CHECK(Has(t, "shoal_hints_stored_total 9"));
  CHECK(Has(t, "shoal_hints_delivered_total 4"));
  CHECK(Has(t, "shoal_hints_dropped_total{reason=\"cap\"} 2"));
  CHECK(Has(t, "# TYPE shoal_hints_stored_total counter"));
  CHECK(Has(t, "# TYPE shoal_hints_pending gauge"));
  // Drained: the series stay, at 0.
  figures.targets.clear();
  t = (*m)->Text();
  CHECK(Has(t, "shoal_hints_pending{target=\"n3\"} 0"));
  CHECK_FALSE(Has(t, "target=\"gone\""));
  fail = true;
  CHECK_FALSE(Has((*m)->Text(), "shoal_hints_pending"));
}

// Every label value a probe can produce, whatever the traffic: no key,
// value or request id ever becomes a label.
TEST_CASE("label sets of every probe are bounded under varied traffic") {
  auto m = Metrics::Create("");
  REQUIRE(m.ok());
  RequestProbe requests((*m)->registry());
  QuorumProbe quorum((*m)->registry());
  TransportProbe transport((*m)->registry(), {"a", "b", "c"}, 1);
  HandoffProbe handoff(**m, {"a", "c"}, []() -> Result<HintFigures> {
    return HintFigures{{{"a", 1, 1, 1}}, 1, 0, 0};
  });
  auto series = [&] {
    size_t n = 0;
    for (const auto& f : (*m)->registry().Collect()) n += f.metric.size();
    return n;
  };
  const size_t before = series();
  const std::string text_before = (*m)->Text();
  using F = quorum::CoordinatorObserver::Freshness;
  for (int i = 0; i < 2000; ++i) {
    requests.Request(static_cast<RequestProbe::Op>(i % 3),
                     static_cast<Code>(i % 10), std::chrono::microseconds(i));
    quorum.ReplicaFreshness(static_cast<F>(i % 3));
    quorum.StaleReplicaAge(std::chrono::milliseconds(i));
    quorum.ReplicaAcked(std::chrono::microseconds(i * 7));
    quorum.ReadRepairSent(i % 2 == 0);
    transport.PeerState(i % 3, i % 5 == 0);
  }
  CHECK(series() == before);
  // The label names in use are exactly the documented ones.
  for (const auto& f : (*m)->registry().Collect()) {
    for (const auto& metric : f.metric) {
      for (const auto& label : metric.label) {
        CAPTURE(f.name);
        CAPTURE(label.name);
        CHECK((label.name == "op" || label.name == "result" ||
               label.name == "freshness" || label.name == "peer" ||
               label.name == "version" || label.name == "le"));
      }
    }
  }
  const std::string text_after = (*m)->Text();
  CHECK(std::count(text_after.begin(), text_after.end(), '\n') ==
        std::count(text_before.begin(), text_before.end(), '\n'));
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
