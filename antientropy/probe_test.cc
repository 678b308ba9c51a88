#include "antientropy/probe.h"

#include <doctest/doctest.h>
#include <prometheus/text_serializer.h>

#include <string>

#include "metrics/metrics.h"

namespace shoal::antientropy {
namespace {

std::string Scrape(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

TEST_CASE("aae probe counts exchanges, repairs, bytes and divergence ages") {
  auto m = metrics::Metrics::Create("");
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

}  // namespace
}  // namespace shoal::antientropy
