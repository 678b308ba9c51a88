// Key choosers: the zipfian generator's hottest key is drawn as often as
// theory says, the scramble is a permutation, uniform covers every key, and
// a seed repeats a run.
#include "tools/bench/keygen.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

namespace shoal::tools {
namespace {

TEST_CASE("zeta sums i^-theta") {
  CHECK(Zeta(1, 0.99) == doctest::Approx(1.0));
  CHECK(Zeta(2, 0.99) == doctest::Approx(1.0 + std::pow(2.0, -0.99)));
  CHECK(Zeta(3, 0.5) ==
        doctest::Approx(1.0 + 1.0 / std::sqrt(2.0) + 1.0 / std::sqrt(3.0)));
}

TEST_CASE("zipfian: rank 0 frequency matches 1/zeta(N) within 10 %") {
  for (uint64_t n : {1000ull, 100000ull}) {
    CAPTURE(n);
    ZipfianRanks ranks(n, 0.99);
    std::mt19937_64 rng(2024);
    constexpr int kDraws = 1000000;
    std::vector<uint64_t> counts(n, 0);
    for (int i = 0; i < kDraws; ++i) {
      const uint64_t r = ranks.Next(rng);
      REQUIRE(r < n);
      ++counts[r];
    }
    const double expected = 1.0 / Zeta(n, 0.99);  // P(rank 0)
    const double observed = static_cast<double>(counts[0]) / kDraws;
    CHECK(observed == doctest::Approx(expected).epsilon(0.10));
    // Rank 0 is the most frequent, and rank 1 follows theory too.
    CHECK(*std::max_element(counts.begin(), counts.end()) == counts[0]);
    const double expected1 = std::pow(2.0, -0.99) / Zeta(n, 0.99);
    CHECK(static_cast<double>(counts[1]) / kDraws ==
          doctest::Approx(expected1).epsilon(0.10));
  }
}

TEST_CASE("zipfian over one or two keys") {
  std::mt19937_64 rng(1);
  ZipfianRanks one(1);
  for (int i = 0; i < 100; ++i) CHECK(one.Next(rng) == 0);
  ZipfianRanks two(2);
  int zeros = 0;
  for (int i = 0; i < 100000; ++i) {
    const uint64_t r = two.Next(rng);
    REQUIRE(r < 2);
    zeros += r == 0;
  }
  // P(0) = 1 / (1 + 2^-0.99) ≈ 0.665.
  CHECK(zeros / 100000.0 == doctest::Approx(1.0 / Zeta(2, 0.99)).epsilon(0.02));
}

TEST_CASE("the scramble is a permutation of 0..n-1") {
  for (uint64_t n : {1ull, 2ull, 3ull, 4ull, 5ull, 16ull, 17ull, 1000ull,
                     1024ull, 1025ull, 65537ull}) {
    CAPTURE(n);
    Scrambler s(n);
    std::vector<bool> hit(n, false);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t m = s.Map(i);
      REQUIRE(m < n);
      REQUIRE_FALSE(hit[m]);
      hit[m] = true;
    }
  }
  // It does move things: the hot ranks do not land on user0, user1, ...
  Scrambler s(100000);
  int fixed = 0;
  for (uint64_t i = 0; i < 10; ++i) fixed += s.Map(i) == i;
  CHECK(fixed < 3);
}

TEST_CASE("scrambled zipfian: the hottest key is rank 0's key, as often") {
  constexpr uint64_t kKeys = 1000;
  KeyChooser chooser(Distribution::kZipfian, kKeys);
  std::mt19937_64 rng(5);
  constexpr int kDraws = 1000000;
  std::vector<uint64_t> counts(kKeys, 0);
  for (int i = 0; i < kDraws; ++i) ++counts[chooser.Next(rng)];
  const auto hottest = static_cast<uint64_t>(
      std::max_element(counts.begin(), counts.end()) - counts.begin());
  CHECK(hottest == chooser.IndexOfRank(0));
  CHECK(static_cast<double>(counts[hottest]) / kDraws ==
        doctest::Approx(1.0 / Zeta(kKeys, 0.99)).epsilon(0.10));
}

TEST_CASE("uniform covers every key about equally") {
  constexpr uint64_t kKeys = 100;
  KeyChooser chooser(Distribution::kUniform, kKeys);
  std::mt19937_64 rng(3);
  std::vector<uint64_t> counts(kKeys, 0);
  for (int i = 0; i < 200000; ++i) ++counts[chooser.Next(rng)];
  for (uint64_t c : counts) CHECK(c == doctest::Approx(2000).epsilon(0.15));
}

TEST_CASE("the same seed gives the same keys") {
  KeyChooser chooser(Distribution::kZipfian, 5000);
  std::mt19937_64 a(77), b(77), c(78);
  std::vector<uint64_t> xs, ys, zs;
  for (int i = 0; i < 1000; ++i) {
    xs.push_back(chooser.Next(a));
    ys.push_back(chooser.Next(b));
    zs.push_back(chooser.Next(c));
  }
  CHECK(xs == ys);
  CHECK(xs != zs);
}

TEST_CASE("key names and distribution names") {
  CHECK(KeyName(0) == "user0");
  CHECK(KeyName(123456) == "user123456");
  CHECK(ParseDistribution("zipfian").value() == Distribution::kZipfian);
  CHECK(ParseDistribution("uniform").value() == Distribution::kUniform);
  Result<Distribution> bad = ParseDistribution("latest");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kInvalidArgument);
  CHECK(std::string(DistributionName(Distribution::kZipfian)) == "zipfian");
}

}  // namespace
}  // namespace shoal::tools
