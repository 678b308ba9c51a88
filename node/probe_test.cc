#include "node/probe.h"

#include <doctest/doctest.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <string>

#include "handoff/probe.h"
#include "quorum/probe.h"

namespace shoal::node {
namespace {

std::string Scrape(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

TEST_CASE("probes of two registries do not share counters") {
  auto a = metrics::Metrics::Create("");
  auto b = metrics::Metrics::Create("");
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

TEST_CASE("label sets are bounded: no request detail becomes a label") {
  auto m = metrics::Metrics::Create("");
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

TEST_CASE("transport probe has one series per peer and counts downs") {
  auto m = metrics::Metrics::Create("");
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

TEST_CASE("transport probe follows new members; a removed one has no series") {
  auto m = metrics::Metrics::Create("");
  REQUIRE(m.ok());
  TransportProbe probe((*m)->registry(), {"n1", "n2", "n3"}, 0);
  probe.PeerState(2, false);
  probe.Update({"n1", "n2", "n3", "n4"}, {false, false, true, false});
  const std::string t = (*m)->Text();
  CHECK_FALSE(Has(t, "peer=\"n3\""));  // left: not a peer that is down
  CHECK(Has(t, "shoal_peer_up{peer=\"n4\"} 1"));
  CHECK(Has(t, "shoal_peer_up{peer=\"n2\"} 1"));
  probe.PeerState(2, true);  // a late opinion about n3: ignored
  probe.PeerState(3, false);
  const std::string after = (*m)->Text();
  CHECK_FALSE(Has(after, "peer=\"n3\""));
  CHECK(Has(after, "shoal_peer_marked_down_total{peer=\"n4\"} 1"));
}

// Every label value a probe can produce, whatever the traffic: no key,
// value or request id ever becomes a label.
TEST_CASE("label sets of every probe are bounded under varied traffic") {
  auto m = metrics::Metrics::Create("");
  REQUIRE(m.ok());
  RequestProbe requests((*m)->registry());
  quorum::QuorumProbe quorum((*m)->registry());
  TransportProbe transport((*m)->registry(), {"a", "b", "c"}, 1);
  handoff::HandoffProbe handoff(
      **m, {"a", "c"}, []() -> Result<handoff::HintFigures> {
        return handoff::HintFigures{{{"a", 1, 1, 1}}, 1, 0, 0};
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
    quorum.StaleReplicaAge(std::chrono::milliseconds(i), "");
    quorum.ReplicaAcked(std::chrono::microseconds(i * 7), "");
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

}  // namespace
}  // namespace shoal::node
