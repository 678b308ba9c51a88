// A log-linear latency histogram for `shoal bench` (HdrHistogram's bucket
// layout, with fixed parameters).
//
// Values are nanoseconds. Each power-of-two range [2^e, 2^(e+1)) is split
// into 128 equal sub-buckets, so a bucket is at most 1/128 of its lower
// bound wide. Percentile() reports the middle of the bucket the rank falls
// in, clamped to the exact min and max seen.
//
// Error bound: for any recorded value v in the covered range, the value
// reported in its place differs from v by at most v/256 (0.4 %). A
// percentile is therefore within 1/256 of the
// exact order statistic of the (clamped) recorded values, well inside the
// 1 % the bench promises. Min(), Max() and Mean() are exact for clamped
// values.
//
// Range: 1 µs to 60 s. A value below kMinNs is recorded as kMinNs, one above
// kMaxNs as kMaxNs, and each such value is counted (ClampedLow/High), so a
// report can say that its tail was cut off.
//
// Memory: 3,840 uint64 counters (30 KiB) per histogram; Record() is a few
// instructions with no allocation; Percentile() walks the counters.
//
// Hand-written because none of the libraries shoal builds on (Debian 12
// packages: Boost, Cap'n Proto/KJ, prometheus-cpp, ...) offers a
// log-linear histogram with percentile queries: prometheus-cpp's histogram
// has caller-chosen fixed buckets and no quantiles.
//
// Thread-safety: a plain value; not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace shoal::tools {

class Histogram {
 public:
  static constexpr uint64_t kMinNs = 1'000;           // 1 µs
  static constexpr uint64_t kMaxNs = 60'000'000'000;  // 60 s
  // 128 linear sub-buckets per power of two.
  static constexpr int kSubBucketBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  // Values below 2 * kSubBuckets get one bucket each; above, every power
  // of two up to 2^36 > kMaxNs gets kSubBuckets buckets.
  static constexpr int kTopExponent = 35;  // 2^35 <= kMaxNs < 2^36
  static constexpr size_t kBuckets =
      (kTopExponent - kSubBucketBits + 2) * kSubBuckets;

  Histogram() { Reset(); }

  // Records one value (clamped to [kMinNs, kMaxNs]).
  void Record(uint64_t ns);
  // Adds every value `other` recorded; the result equals recording both
  // series into one histogram.
  void Merge(const Histogram& other);
  // Forgets everything (e.g. at the start of each one-second window).
  void Reset();

  // The value at percentile `q` in [0, 100] (clamped): the smallest
  // recorded value with at least ceil(q/100 * Count()) values at or below
  // it, within the error bound above. Percentile(0) is Min(), Percentile(100)
  // is Max(). 0 when nothing was recorded.
  uint64_t Percentile(double q) const;
  // Exact mean, min and max of the clamped values; 0 when empty.
  double Mean() const;
  uint64_t Min() const { return count_ == 0 ? 0 : min_; }
  uint64_t Max() const { return max_; }
  uint64_t Count() const { return count_; }
  uint64_t ClampedLow() const { return clamped_low_; }
  uint64_t ClampedHigh() const { return clamped_high_; }

  // The bucket a value falls in, and the range [lower, lower + width) of
  // values a bucket holds. Exposed for tests.
  static size_t BucketIndex(uint64_t ns);
  static uint64_t BucketLower(size_t index);
  static uint64_t BucketWidth(size_t index);

 private:
  std::array<uint64_t, kBuckets> counts_;
  uint64_t count_ = 0;
  // Sum of values in ns; 128 bits cannot overflow (2^128 / 6e10 values).
  unsigned __int128 sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  uint64_t clamped_low_ = 0;
  uint64_t clamped_high_ = 0;
};

}  // namespace shoal::tools
