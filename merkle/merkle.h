// Incremental XOR hash trees for anti-entropy (tictac-style Merkle trees).
//
// One Tree per partition. Its leaves are `segments` buckets chosen by the
// key's hash; a leaf is the XOR of LeafHash(key, fingerprint) over the keys
// in it, where the fingerprint names the key's causal state (0 = absent).
// Leaves are grouped into branches of kFanout; a branch is the XOR of its
// leaves and the root the XOR of the branches. Because XOR is its own
// inverse, a write that changes a key from fingerprint a to b updates its
// leaf with LeafHash(k, a) ^ LeafHash(k, b) in O(1), whatever the order of
// writes; branches are refreshed lazily (a dirty bit per branch) when they
// are next read. Two trees are compared top down: roots, then branches,
// then only the leaves of differing branches.
//
// Pure: no I/O, clocks, threads or globals. A Tree is not thread-safe; the
// owner serialises access (antientropy/ holds one mutex per tree).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace shoal::merkle {

// Leaves per branch.
inline constexpr uint32_t kFanout = 64;

// Segments per tree for a ring of `partitions` partitions: 2^18 leaves for
// the whole ring (about 4 keys per leaf at 1M keys, 2 MiB of leaves), but at
// least kFanout per tree. doc/impl.md ("Anti-entropy") has the sizing.
uint32_t SegmentsFor(uint32_t partitions);

// The leaf of a key whose 32-bit storage segment (ring::KeyLocation::segment)
// is `key_segment`: its top log2(segments) bits, so one leaf is one
// contiguous range of storage keys. `segments` is a power of two.
uint32_t SegmentOf(uint32_t key_segment, uint32_t segments);
// The first and last 32-bit storage segment of a leaf.
uint32_t FirstKeySegment(uint32_t segment, uint32_t segments);
uint32_t LastKeySegment(uint32_t segment, uint32_t segments);

// hash(key ‖ fingerprint); 0 when fingerprint is 0 (an absent key adds
// nothing to its leaf).
uint64_t LeafHash(std::string_view key, uint64_t fingerprint);

class Tree {
 public:
  // `segments`: a power of two >= kFanout.
  explicit Tree(uint32_t segments);

  uint32_t segments() const { return static_cast<uint32_t>(leaves_.size()); }
  uint32_t branches() const { return static_cast<uint32_t>(branch_.size()); }

  // XORs `delta` into a leaf: adding and removing LeafHash(k, f) are the
  // same operation.
  void Apply(uint32_t segment, uint64_t delta);
  // A key's fingerprint changed from `before` to `after` (0 = absent).
  void Update(uint32_t segment, std::string_view key, uint64_t before,
              uint64_t after);
  // Sets every leaf to zero.
  void Clear();
  // Replaces every leaf (a tree saved with leaves(), loaded back).
  // Errors: kInvalidArgument when the count is not segments().
  Status SetLeaves(std::span<const uint64_t> leaves);
  const std::vector<uint64_t>& leaves() const { return leaves_; }

  uint64_t Root();
  // Every branch hash, in order.
  std::vector<uint64_t> Branches();
  // The leaves of the given branches, kFanout per branch, concatenated in
  // the order given. Errors: kInvalidArgument for a branch out of range.
  Result<std::vector<uint64_t>> LeavesOf(
      std::span<const uint32_t> branches) const;
  uint64_t Leaf(uint32_t segment) const { return leaves_[segment]; }

  // Heap bytes held by the tree.
  size_t MemoryBytes() const;

 private:
  void Refresh();

  std::vector<uint64_t> leaves_;
  std::vector<uint64_t> branch_;
  std::vector<bool> dirty_;  // per branch
  bool any_dirty_ = false;
};

// Indices where two equal-length hash lists differ (branches of two trees,
// or the leaves of the same branches). Errors: kInvalidArgument when the
// lengths differ (trees of different shapes).
Result<std::vector<uint32_t>> Differing(std::span<const uint64_t> a,
                                        std::span<const uint64_t> b);

// Segments whose leaves differ between two trees of the same shape, found by
// walking roots, then branches, then only the leaves of differing branches.
Result<std::vector<uint32_t>> Diff(Tree& a, Tree& b);

// A key and its fingerprint, as listed for a segment.
struct KeyFingerprint {
  std::string key;
  uint64_t fingerprint = 0;
  friend bool operator==(const KeyFingerprint&,
                         const KeyFingerprint&) = default;
};

// Keys whose fingerprints differ between two lists (any order, each key at
// most once per list), including keys present on one side only; sorted.
std::vector<std::string> DifferingKeys(std::vector<KeyFingerprint> a,
                                       std::vector<KeyFingerprint> b);

}  // namespace shoal::merkle
