#include "storage/probe.h"

#include <doctest/doctest.h>

#include <string>

#include "metrics/metrics.h"

namespace shoal::storage {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST_CASE("storage probe reads its figures at scrape time") {
  auto m = metrics::Metrics::Create("");
  REQUIRE(m.ok());
  StoreStats figures;
  figures.keys = 10;
  figures.tombstones = 4;
  figures.used_bytes = 256;
  figures.map_size_bytes = 1024;
  {
    StorageProbe probe(**m, [&] { return figures; });
    CHECK(Has((*m)->Text(), "shoal_storage_keys 10"));
    figures.keys = 11;
    const std::string t = (*m)->Text();
    CHECK(Has(t, "shoal_storage_keys 11"));
    CHECK(Has(t, "shoal_storage_used_bytes 256"));
    CHECK(Has(t, "shoal_storage_tombstones 4"));
    CHECK(Has(t, "shoal_storage_map_size_bytes 1024"));
    CHECK(Has(t, "shoal_storage_map_usage_ratio 0.25"));
  }
  // Once the probe is gone its source is detached: nothing is read.
  CHECK_FALSE(Has((*m)->Text(), "shoal_storage_keys"));
}

}  // namespace
}  // namespace shoal::storage
