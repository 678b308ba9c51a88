// Histogram: known distributions give the right percentiles within the
// documented error (1/256 of the value), merging equals recording into one,
// and out-of-range values are clamped and counted.
#include "tools/bench/histogram.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace shoal::tools {
namespace {

constexpr double kBound = 1.0 / 256;  // documented in histogram.h
constexpr uint64_t kUs = 1000;

// |got - want| <= bound * want.
bool Within(double got, double want, double bound) {
  return std::abs(got - want) <= bound * want;
}

// The exact value at percentile q of sorted `values`, with the definition
// Histogram::Percentile uses (smallest value with at least ceil(q/100 * n)
// values at or below it).
uint64_t ExactPercentile(const std::vector<uint64_t>& sorted, double q) {
  const auto n = static_cast<double>(sorted.size());
  auto rank = static_cast<size_t>(std::ceil(q / 100.0 * n));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

TEST_CASE("bucket layout: contiguous, and no bucket wider than 1/128 of it") {
  for (size_t i = 0; i + 1 < Histogram::kBuckets; ++i) {
    CAPTURE(i);
    REQUIRE(Histogram::BucketLower(i) + Histogram::BucketWidth(i) ==
            Histogram::BucketLower(i + 1));
    if (Histogram::BucketLower(i) >= 2 * Histogram::kSubBuckets) {
      CHECK(Histogram::BucketWidth(i) * 128 <= Histogram::BucketLower(i));
    }
  }
  CHECK(Histogram::BucketIndex(Histogram::kMaxNs) < Histogram::kBuckets);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = Histogram::kMinNs + rng() % Histogram::kMaxNs;
    const size_t b = Histogram::BucketIndex(v);
    REQUIRE(b < Histogram::kBuckets);
    CHECK(Histogram::BucketLower(b) <= v);
    CHECK(v < Histogram::BucketLower(b) + Histogram::BucketWidth(b));
  }
}

TEST_CASE("uniform 1..100000 us: p50 and p99 within 1 %") {
  Histogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.Record(v * kUs);
  CHECK(h.Count() == 100000);
  CHECK(Within(static_cast<double>(h.Percentile(50)), 50000.0 * kUs, 0.01));
  CHECK(Within(static_cast<double>(h.Percentile(99)), 99000.0 * kUs, 0.01));
  // ... and within the tighter documented bound.
  CHECK(Within(static_cast<double>(h.Percentile(50)), 50000.0 * kUs, kBound));
  CHECK(Within(static_cast<double>(h.Percentile(99)), 99000.0 * kUs, kBound));
  CHECK(Within(static_cast<double>(h.Percentile(99.9)), 99900.0 * kUs, kBound));
  CHECK(h.Min() == 1 * kUs);
  CHECK(h.Max() == 100000 * kUs);
  CHECK(h.Percentile(0) == h.Min());
  CHECK(h.Percentile(100) == h.Max());
  CHECK(h.Mean() == doctest::Approx(50000.5 * kUs).epsilon(1e-12));
  CHECK(h.ClampedLow() == 0);
  CHECK(h.ClampedHigh() == 0);
}

TEST_CASE("a constant: every percentile is the constant, exactly") {
  Histogram h;
  for (int i = 0; i < 1000; ++i) h.Record(12345 * kUs);
  for (double q : {0.0, 1.0, 50.0, 99.0, 99.9, 100.0}) {
    CAPTURE(q);
    // Clamped to [min, max] = the constant itself.
    CHECK(h.Percentile(q) == 12345 * kUs);
  }
  CHECK(h.Mean() == doctest::Approx(12345.0 * kUs));
}

TEST_CASE("exponential with mean 1 ms: median ln2 ms, tail percentiles") {
  std::mt19937_64 rng(12345);
  std::exponential_distribution<double> exp(1.0 / 1e6);  // mean 1e6 ns
  Histogram h;
  std::vector<uint64_t> values;
  for (int i = 0; i < 1000000; ++i) {
    const auto v =
        std::max<uint64_t>(Histogram::kMinNs, static_cast<uint64_t>(exp(rng)));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  // Theory: median = ln 2 * mean; the sample median of 1e6 draws is within
  // ~0.2 % of it, the histogram adds at most 0.4 %.
  CHECK(
      Within(static_cast<double>(h.Percentile(50)), std::log(2.0) * 1e6, 0.01));
  // Against the exact order statistics: the documented bound.
  for (double q : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    CAPTURE(q);
    CHECK(Within(static_cast<double>(h.Percentile(q)),
                 static_cast<double>(ExactPercentile(values, q)), kBound));
  }
  // p99 of an exponential is ln(100) * mean.
  CHECK(Within(static_cast<double>(h.Percentile(99)), std::log(100.0) * 1e6,
               0.02));
}

TEST_CASE("merging equals recording everything into one histogram") {
  std::mt19937_64 rng(99);
  std::lognormal_distribution<double> lat(13.0, 1.5);  // ~0.4 ms median
  Histogram a, b, both;
  for (int i = 0; i < 50000; ++i) {
    const auto v = static_cast<uint64_t>(lat(rng));
    (i % 3 == 0 ? a : b).Record(v);
    both.Record(v);
  }
  Histogram merged = a;
  merged.Merge(b);
  CHECK(merged.Count() == both.Count());
  CHECK(merged.Min() == both.Min());
  CHECK(merged.Max() == both.Max());
  CHECK(merged.Mean() == doctest::Approx(both.Mean()).epsilon(1e-12));
  CHECK(merged.ClampedLow() == both.ClampedLow());
  CHECK(merged.ClampedHigh() == both.ClampedHigh());
  for (double q = 0; q <= 100; q += 0.5) {
    CAPTURE(q);
    CHECK(merged.Percentile(q) == both.Percentile(q));
  }
  // Merging an empty histogram changes nothing.
  Histogram empty;
  merged.Merge(empty);
  CHECK(merged.Count() == both.Count());
  CHECK(merged.Min() == both.Min());
}

TEST_CASE("values outside 1 us .. 60 s are clamped and counted") {
  Histogram h;
  h.Record(0);
  h.Record(10);                     // 10 ns
  h.Record(999);                    // just under 1 us
  h.Record(kUs);                    // exactly 1 us: in range
  h.Record(Histogram::kMaxNs);      // exactly 60 s: in range
  h.Record(Histogram::kMaxNs + 1);  // above
  h.Record(3'600'000'000'000ull);   // an hour
  CHECK(h.Count() == 7);
  CHECK(h.ClampedLow() == 3);
  CHECK(h.ClampedHigh() == 2);
  CHECK(h.Min() == Histogram::kMinNs);
  CHECK(h.Max() == Histogram::kMaxNs);
  CHECK(Within(static_cast<double>(h.Percentile(50)),
               static_cast<double>(Histogram::kMinNs), kBound));
  CHECK(h.Percentile(100) == Histogram::kMaxNs);
  CHECK(Within(static_cast<double>(h.Percentile(99)),
               static_cast<double>(Histogram::kMaxNs), kBound));
}

TEST_CASE("empty and reset histograms report zeros") {
  Histogram h;
  CHECK(h.Count() == 0);
  CHECK(h.Percentile(50) == 0);
  CHECK(h.Mean() == 0);
  CHECK(h.Min() == 0);
  CHECK(h.Max() == 0);
  h.Record(5 * kUs);
  h.Record(Histogram::kMaxNs * 2);
  h.Reset();
  CHECK(h.Count() == 0);
  CHECK(h.Percentile(99) == 0);
  CHECK(h.Max() == 0);
  CHECK(h.ClampedHigh() == 0);
  h.Record(7 * kUs);
  CHECK(h.Percentile(50) == 7 * kUs);
}

}  // namespace
}  // namespace shoal::tools
