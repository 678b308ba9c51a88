#include "tools/bench/keygen.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cmath>

#include "base/assert.h"

namespace shoal::tools {

const char* DistributionName(Distribution d) {
  switch (d) {
    case Distribution::kUniform:
      return "uniform";
    case Distribution::kZipfian:
      return "zipfian";
  }
  return "unknown";
}

Result<Distribution> ParseDistribution(std::string_view text) {
  if (text == "uniform") return Distribution::kUniform;
  if (text == "zipfian") return Distribution::kZipfian;
  return Status(Code::kInvalidArgument, "unknown distribution '" +
                                            std::string(text) +
                                            "' (expected zipfian or uniform)");
}

double Zeta(uint64_t n, double theta) {
  // Summed from the smallest terms up, which loses less precision.
  double sum = 0;
  for (uint64_t i = n; i >= 1; --i)
    sum += std::pow(static_cast<double>(i), -theta);
  return sum;
}

ZipfianRanks::ZipfianRanks(uint64_t n, double theta)
    : n_(n), theta_(theta), zeta_n_(Zeta(n, theta)) {
  SHOAL_REQUIRE(n >= 1, "zipfian over no keys");
  SHOAL_REQUIRE(theta > 0 && theta < 1, "zipfian theta must be in (0, 1)");
  alpha_ = 1.0 / (1.0 - theta_);
  const double zeta_2 = Zeta(2, theta_);
  eta_ = (1.0 - std::pow(2.0 / static_cast<double>(n_), 1.0 - theta_)) /
         (1.0 - zeta_2 / zeta_n_);
  half_pow_ = 1.0 + std::pow(0.5, theta_);
}

uint64_t ZipfianRanks::Next(std::mt19937_64& rng) const {
  // u uniform in [0, 1). The first two ranks are handled exactly (their
  // cumulative probabilities are 1/zeta(n) and (1 + 2^-theta)/zeta(n)); the
  // rest follow the continuous approximation of the inverse CDF.
  const double u = std::generate_canonical<double, 53>(rng);
  const double uz = u * zeta_n_;
  if (uz < 1.0) return 0;
  if (uz < half_pow_) return std::min<uint64_t>(1, n_ - 1);
  const double x =
      static_cast<double>(n_) * std::pow(eta_ * u - eta_ + 1.0, alpha_);
  const auto rank = static_cast<uint64_t>(x);
  return std::min(rank, n_ - 1);
}

Scrambler::Scrambler(uint64_t n, uint64_t seed) : n_(n), seed_(seed) {
  SHOAL_REQUIRE(n >= 1, "scrambler over no keys");
  // Smallest even bit count whose domain holds n (at least 2 bits).
  int bits = n <= 1 ? 0 : 64 - std::countl_zero(n - 1);
  bits = std::max(bits, 2);
  if (bits % 2 != 0) ++bits;
  half_bits_ = bits / 2;
  half_mask_ = (uint64_t{1} << half_bits_) - 1;
}

uint64_t Scrambler::Round(uint64_t half, int round) const {
  return XXH3_64bits_withSeed(&half, sizeof(half),
                              seed_ + static_cast<uint64_t>(round)) &
         half_mask_;
}

uint64_t Scrambler::Map(uint64_t index) const {
  SHOAL_REQUIRE(index < n_, "scrambler index out of range");
  if (n_ == 1) return 0;
  // A 4-round Feistel network permutes [0, 2^(2 * half_bits_)); applying it
  // again until the result is below n (cycle-walking) restricts it to a
  // permutation of [0, n). The domain is less than 4n, so this takes fewer
  // than 4 rounds of the network on average.
  uint64_t x = index;
  do {
    uint64_t left = x >> half_bits_;
    uint64_t right = x & half_mask_;
    for (int round = 0; round < 4; ++round) {
      const uint64_t next = left ^ Round(right, round);
      left = right;
      right = next;
    }
    x = (left << half_bits_) | right;
  } while (x >= n_);
  return x;
}

KeyChooser::KeyChooser(Distribution distribution, uint64_t keys)
    : distribution_(distribution),
      keys_(keys),
      ranks_(distribution == Distribution::kZipfian ? keys : 1),
      scrambler_(keys) {
  SHOAL_REQUIRE(keys >= 1, "key chooser over no keys");
}

uint64_t KeyChooser::Next(std::mt19937_64& rng) const {
  if (distribution_ == Distribution::kUniform) {
    return std::uniform_int_distribution<uint64_t>(0, keys_ - 1)(rng);
  }
  return scrambler_.Map(ranks_.Next(rng));
}

uint64_t KeyChooser::IndexOfRank(uint64_t rank) const {
  if (distribution_ == Distribution::kUniform) return rank;
  return scrambler_.Map(rank);
}

std::string KeyName(uint64_t index) { return "user" + std::to_string(index); }

}  // namespace shoal::tools
