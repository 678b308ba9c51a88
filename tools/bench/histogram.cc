// Bucket layout: index i < 2 * kSubBuckets holds the single value i; above
// that, the value v with highest set bit e (e >= kSubBucketBits + 1) is
// shifted right by s = e - kSubBucketBits, which leaves a number in
// [kSubBuckets, 2 * kSubBuckets); the bucket is (s + 1) * kSubBuckets plus
// that number's offset from kSubBuckets. Bucket width is 2^s and its lower
// bound at least kSubBuckets * 2^s, hence the 1/128 width bound.
#include "tools/bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace shoal::tools {

size_t Histogram::BucketIndex(uint64_t ns) {
  if (ns < 2 * kSubBuckets) return static_cast<size_t>(ns);
  const int e = 63 - std::countl_zero(ns);
  const int shift = e - kSubBucketBits;
  return static_cast<size_t>((shift + 1) * kSubBuckets +
                             ((ns >> shift) - kSubBuckets));
}

uint64_t Histogram::BucketLower(size_t index) {
  if (index < 2 * kSubBuckets) return index;
  const uint64_t shift = index / kSubBuckets - 1;
  const uint64_t sub = index % kSubBuckets + kSubBuckets;
  return sub << shift;
}

uint64_t Histogram::BucketWidth(size_t index) {
  if (index < 2 * kSubBuckets) return 1;
  return uint64_t{1} << (index / kSubBuckets - 1);
}

void Histogram::Record(uint64_t ns) {
  if (ns < kMinNs) {
    ns = kMinNs;
    ++clamped_low_;
  } else if (ns > kMaxNs) {
    ns = kMaxNs;
    ++clamped_high_;
  }
  ++counts_[BucketIndex(ns)];
  ++count_;
  sum_ += ns;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  clamped_low_ += other.clamped_low_;
  clamped_high_ += other.clamped_high_;
}

void Histogram::Reset() {
  counts_.fill(0);
  count_ = 0;
  sum_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  clamped_low_ = 0;
  clamped_high_ = 0;
}

uint64_t Histogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  if (!(q > 0)) return min_;  // also NaN
  if (q >= 100) return max_;
  // The rank (1-based) of the value asked for.
  const double exact = std::ceil(q / 100.0 * static_cast<double>(count_));
  const uint64_t rank =
      std::clamp<uint64_t>(static_cast<uint64_t>(exact), 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const uint64_t middle = BucketLower(i) + BucketWidth(i) / 2;
      return std::clamp(middle, min_, max_);
    }
  }
  return max_;  // unreachable: the counts add up to count_
}

double Histogram::Mean() const {
  if (count_ == 0) return 0;
  return static_cast<double>(sum_) / static_cast<double>(count_);
}

}  // namespace shoal::tools
