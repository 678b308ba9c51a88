#include "handoff/probe.h"

#include <doctest/doctest.h>

#include <string>

#include "metrics/metrics.h"

namespace shoal::handoff {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST_CASE("handoff probe serves every target and counters from its source") {
  auto m = metrics::Metrics::Create("");
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

}  // namespace
}  // namespace shoal::handoff
