// Key choosers for `shoal bench`: which of N keys the next request uses.
//
// - Uniform: every key index in [0, N) equally likely.
// - Zipfian (constant theta = 0.99, YCSB's default): the key of popularity
//   rank i (0 = hottest) is drawn with probability (i+1)^-theta / zeta(N),
//   zeta(N) = sum_{i=1..N} i^-theta. Ranks are drawn with the closed-form
//   method of Gray et al., "Quickly Generating Billion-Record Synthetic
//   Databases" (SIGMOD 1994), the one YCSB uses: O(1) per draw after an
//   O(N) computation of zeta(N) at construction.
// - Scrambled zipfian: as in YCSB's ScrambledZipfian, the rank is then
//   hashed to a key index, so the hot keys are scattered over the key space
//   instead of being user0, user1, ... Unlike YCSB's hash-mod-N, the
//   scramble here is a bijection of [0, N) (a Feistel network over XXH3
//   with cycle-walking), so no two ranks collide on one key, every key can
//   be drawn, and the hottest key's frequency is exactly that of rank 0.
//
// Keys are formatted "user<index>", index in [0, N).
//
// Randomness: the caller's seeded std::mt19937_64, so a run is repeatable.
// Thread-safety: a KeyChooser is immutable after construction; Next() may
// be called from any thread with that thread's generator.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "base/result.h"

namespace shoal::tools {

enum class Distribution { kUniform, kZipfian };
const char* DistributionName(Distribution d);  // "uniform", "zipfian"
// "uniform" | "zipfian". Errors: kInvalidArgument.
Result<Distribution> ParseDistribution(std::string_view text);

inline constexpr double kZipfianTheta = 0.99;

// zeta(n, theta) = sum_{i=1..n} i^-theta.
double Zeta(uint64_t n, double theta);

// Draws popularity ranks in [0, n) from the Zipf distribution with
// exponent `theta` (0 < theta < 1). Not scrambled: rank 0 is the hottest.
class ZipfianRanks {
 public:
  // Requires n >= 1. Computes zeta(n) (O(n); ~10 ms per million keys).
  ZipfianRanks(uint64_t n, double theta = kZipfianTheta);
  uint64_t Next(std::mt19937_64& rng) const;
  uint64_t n() const { return n_; }
  double zeta_n() const { return zeta_n_; }

 private:
  uint64_t n_;
  double theta_;
  double zeta_n_;
  double alpha_;     // 1 / (1 - theta)
  double eta_;       // (1 - (2/n)^(1-theta)) / (1 - zeta(2)/zeta(n))
  double half_pow_;  // 1 + 0.5^theta: below it (times zeta(n)) is rank 1
};

// A bijection of [0, n) that looks random (a keyed Feistel network with
// cycle-walking). Same seed and n give the same permutation.
class Scrambler {
 public:
  explicit Scrambler(uint64_t n, uint64_t seed = 0);
  uint64_t Map(uint64_t index) const;

 private:
  uint64_t Round(uint64_t half, int round) const;

  uint64_t n_;
  uint64_t seed_;
  int half_bits_;  // the permuted domain is [0, 2^(2 * half_bits_))
  uint64_t half_mask_;
};

class KeyChooser {
 public:
  // Requires keys >= 1.
  KeyChooser(Distribution distribution, uint64_t keys);

  // The next key index in [0, keys).
  uint64_t Next(std::mt19937_64& rng) const;
  uint64_t keys() const { return keys_; }
  Distribution distribution() const { return distribution_; }
  // The key index that popularity rank `rank` maps to (zipfian: through
  // the scramble; uniform: itself).
  uint64_t IndexOfRank(uint64_t rank) const;

 private:
  Distribution distribution_;
  uint64_t keys_;
  ZipfianRanks ranks_;  // used when zipfian (n = 1 otherwise)
  Scrambler scrambler_;
};

// "user<index>".
std::string KeyName(uint64_t index);

}  // namespace shoal::tools
