#include "metrics/metrics.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "metrics/probe.h"

namespace shoal::metrics {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST_CASE("Text serves the build info and every pull source until detached") {
  auto m = Metrics::Create("");
  REQUIRE(m.ok());
  double value = 1;
  auto source = std::make_shared<PullSource>([&value] {
    auto family = Family("shoal_test_value", "A test gauge",
                         prometheus::MetricType::Gauge);
    family.metric.push_back(Gauge(value, {{"kind", "test"}}));
    auto total = Family("shoal_test_total", "A test counter",
                        prometheus::MetricType::Counter);
    total.metric.push_back(Counter(3));
    return std::vector<prometheus::MetricFamily>{family, total};
  });
  (*m)->Add(source);
  CHECK(Has((*m)->Text(), "shoal_build_info{version=\"0.1.0\"} 1"));
  CHECK(Has((*m)->Text(), "shoal_test_value{kind=\"test\"} 1"));
  value = 2;
  CHECK(Has((*m)->Text(), "shoal_test_value{kind=\"test\"} 2"));
  CHECK(Has((*m)->Text(), "# TYPE shoal_test_total counter"));
  CHECK(Has((*m)->Text(), "shoal_test_total 3"));
  source->Detach();
  CHECK_FALSE(Has((*m)->Text(), "shoal_test_value"));
  CHECK(Seconds(std::chrono::milliseconds(1500)) == doctest::Approx(1.5));
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
