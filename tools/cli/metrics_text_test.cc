#include "tools/cli/metrics_text.h"

#include <doctest/doctest.h>

namespace shoal::tools {
namespace {

// What prometheus-cpp writes, trimmed.
constexpr char kPage[] = R"(# HELP shoal_build_info Build information
# TYPE shoal_build_info gauge
shoal_build_info{version="0.1.0"} 1
# TYPE shoal_requests_total counter
shoal_requests_total{op="get",result="ok"} 90
shoal_requests_total{op="get",result="not_found"} 5
shoal_requests_total{op="get",result="timeout"} 5
shoal_requests_total{op="put",result="ok"} 10
# TYPE shoal_request_duration_seconds histogram
shoal_request_duration_seconds_count{op="get"} 100
shoal_request_duration_seconds_sum{op="get"} 0.5
shoal_request_duration_seconds_bucket{op="get",le="0.001"} 50
shoal_request_duration_seconds_bucket{op="get",le="0.01"} 100
shoal_request_duration_seconds_bucket{op="get",le="+Inf"} 100
shoal_read_replica_replies_total{freshness="current"} 8
shoal_read_replica_replies_total{freshness="stale"} 2
shoal_read_replica_replies_total{freshness="missing"} 0
shoal_hints_pending{target="n2"} 3
shoal_hints_pending{target="n3"} 4
shoal_hints_oldest_age_seconds{target="n3"} 7.5
shoal_peer_up{peer="n2"} 0
shoal_peer_up{peer="n3"} 1
shoal_storage_map_usage_ratio 0.5
weird{a="x\"y\\z\nw"} 2 1700000000000
not a sample line
)";

TEST_CASE("the text format parser reads names and labels and escapes") {
  const auto samples = ParsePrometheusText(kPage);
  REQUIRE(samples.size() == 20);
  CHECK(samples[0].name == "shoal_build_info");
  CHECK(samples[0].labels.at("version") == "0.1.0");
  CHECK(samples.back().name == "weird");
  CHECK(samples.back().labels.at("a") == "x\"y\\z\nw");
  CHECK(samples.back().value == 2);
}

TEST_CASE("histogram quantiles interpolate within a bucket") {
  const auto samples = ParsePrometheusText(kPage);
  const std::map<std::string, std::string> get{{"op", "get"}};
  CHECK(HistogramQuantile(samples, "shoal_request_duration_seconds", 0.5,
                          get) == doctest::Approx(0.001));
  CHECK(HistogramQuantile(samples, "shoal_request_duration_seconds", 0.75,
                          get) == doctest::Approx(0.0055));
  CHECK(HistogramQuantile(samples, "nothing", 0.5) == -1);
}

TEST_CASE("the summary adds up requests and freshness and hints and peers") {
  const MetricsSummary m = Summarize(ParsePrometheusText(kPage));
  CHECK(m.version == "0.1.0");
  REQUIRE(m.requests.size() == 3);
  CHECK(m.requests[0].count == 100);
  CHECK(m.requests[0].errors == 5);  // notFound is not an error
  CHECK(m.requests[0].mean_seconds == doctest::Approx(0.005));
  CHECK(m.requests[1].count == 10);
  CHECK(m.requests[2].mean_seconds == -1);
  CHECK(m.stale_ratio == doctest::Approx(0.2));
  CHECK(m.hints_pending == 7);
  CHECK(m.hints_oldest_seconds == 7.5);
  REQUIRE(m.peers.size() == 2);
  CHECK_FALSE(m.peers[0].second);
  CHECK(m.storage_usage_ratio == 0.5);
  const auto j = MetricsSummaryToJson(m);
  CHECK(j["hints"]["pending"] == 7);
  CHECK(j["requests"]["delete"]["p99_seconds"].is_null());
  CHECK(MetricsSummaryToText(m).find("down: n2") != std::string::npos);
}

}  // namespace
}  // namespace shoal::tools
