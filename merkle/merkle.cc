#include "merkle/merkle.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>

#include "base/assert.h"

namespace shoal::merkle {

namespace {
constexpr uint32_t kRingLeaves = 1u << 18;
}  // namespace

uint32_t SegmentsFor(uint32_t partitions) {
  SHOAL_REQUIRE(std::has_single_bit(partitions),
                "partitions must be a power of two");
  return std::max(kFanout, kRingLeaves / partitions);
}

uint32_t SegmentOf(uint32_t key_segment, uint32_t segments) {
  SHOAL_REQUIRE(std::has_single_bit(segments),
                "segments must be a power of two");
  const int bits = std::countr_zero(segments);
  if (bits == 0) return 0;
  return key_segment >> (32 - bits);
}

uint32_t FirstKeySegment(uint32_t segment, uint32_t segments) {
  const int bits = std::countr_zero(segments);
  if (bits == 0) return 0;
  return segment << (32 - bits);
}

uint32_t LastKeySegment(uint32_t segment, uint32_t segments) {
  const int bits = std::countr_zero(segments);
  if (bits == 0) return UINT32_MAX;
  return FirstKeySegment(segment, segments) | (UINT32_MAX >> bits);
}

uint64_t LeafHash(std::string_view key, uint64_t fingerprint) {
  if (fingerprint == 0) return 0;
  // The fingerprint seeds the hash of the key: hash(key ‖ fingerprint)
  // without building the concatenation.
  return XXH3_64bits_withSeed(key.data(), key.size(), fingerprint);
}

Tree::Tree(uint32_t segments)
    : leaves_(segments, 0),
      branch_(segments / kFanout, 0),
      dirty_(segments / kFanout, false) {
  SHOAL_REQUIRE(segments >= kFanout && std::has_single_bit(segments),
                "segments must be a power of two >= kFanout");
}

Status Tree::SetLeaves(std::span<const uint64_t> leaves) {
  if (leaves.size() != leaves_.size()) {
    return Status(Code::kInvalidArgument,
                  "a tree of " + std::to_string(leaves_.size()) +
                      " segments cannot take " + std::to_string(leaves.size()) +
                      " leaves");
  }
  std::copy(leaves.begin(), leaves.end(), leaves_.begin());
  std::fill(dirty_.begin(), dirty_.end(), true);
  any_dirty_ = true;
  return Status::Ok();
}

void Tree::Apply(uint32_t segment, uint64_t delta) {
  SHOAL_REQUIRE(segment < leaves_.size(), "segment out of range");
  if (delta == 0) return;
  leaves_[segment] ^= delta;
  dirty_[segment / kFanout] = true;
  any_dirty_ = true;
}

void Tree::Update(uint32_t segment, std::string_view key, uint64_t before,
                  uint64_t after) {
  if (before == after) return;
  Apply(segment, LeafHash(key, before) ^ LeafHash(key, after));
}

void Tree::Clear() {
  std::fill(leaves_.begin(), leaves_.end(), 0);
  std::fill(branch_.begin(), branch_.end(), 0);
  std::fill(dirty_.begin(), dirty_.end(), false);
  any_dirty_ = false;
}

void Tree::Refresh() {
  if (!any_dirty_) return;
  for (size_t b = 0; b < branch_.size(); ++b) {
    if (!dirty_[b]) continue;
    uint64_t h = 0;
    for (size_t i = b * kFanout; i < (b + 1) * kFanout; ++i) h ^= leaves_[i];
    branch_[b] = h;
    dirty_[b] = false;
  }
  any_dirty_ = false;
}

uint64_t Tree::Root() {
  Refresh();
  uint64_t root = 0;
  for (uint64_t b : branch_) root ^= b;
  return root;
}

std::vector<uint64_t> Tree::Branches() {
  Refresh();
  return branch_;
}

Result<std::vector<uint64_t>> Tree::LeavesOf(
    std::span<const uint32_t> branches) const {
  std::vector<uint64_t> out;
  out.reserve(branches.size() * kFanout);
  for (uint32_t b : branches) {
    if (b >= branch_.size()) {
      return Status(Code::kInvalidArgument, "branch " + std::to_string(b) +
                                                " out of range (the tree has " +
                                                std::to_string(branch_.size()) +
                                                " branches)");
    }
    out.insert(out.end(), leaves_.begin() + b * kFanout,
               leaves_.begin() + (b + 1) * kFanout);
  }
  return out;
}

size_t Tree::MemoryBytes() const {
  return leaves_.capacity() * sizeof(uint64_t) +
         branch_.capacity() * sizeof(uint64_t) + dirty_.capacity() / 8;
}

Result<std::vector<uint32_t>> Differing(std::span<const uint64_t> a,
                                        std::span<const uint64_t> b) {
  if (a.size() != b.size()) {
    return Status(Code::kInvalidArgument,
                  "hash lists of different lengths (" +
                      std::to_string(a.size()) + " and " +
                      std::to_string(b.size()) +
                      "): the trees have different shapes");
  }
  std::vector<uint32_t> out;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) out.push_back(static_cast<uint32_t>(i));
  }
  return out;
}

Result<std::vector<uint32_t>> Diff(Tree& a, Tree& b) {
  if (a.segments() != b.segments()) {
    return Status(Code::kInvalidArgument,
                  "trees of different shapes (" + std::to_string(a.segments()) +
                      " and " + std::to_string(b.segments()) + " segments)");
  }
  if (a.Root() == b.Root()) return std::vector<uint32_t>{};
  auto branches = Differing(a.Branches(), b.Branches());
  if (!branches) return branches.status();
  auto la = a.LeavesOf(*branches);
  auto lb = b.LeavesOf(*branches);
  if (!la) return la.status();
  if (!lb) return lb.status();
  auto leaves = Differing(*la, *lb);
  if (!leaves) return leaves.status();
  std::vector<uint32_t> out;
  for (uint32_t i : *leaves) {
    out.push_back((*branches)[i / kFanout] * kFanout + i % kFanout);
  }
  return out;
}

std::vector<std::string> DifferingKeys(std::vector<KeyFingerprint> a,
                                       std::vector<KeyFingerprint> b) {
  auto by_key = [](const KeyFingerprint& x, const KeyFingerprint& y) {
    return x.key < y.key;
  };
  std::sort(a.begin(), a.end(), by_key);
  std::sort(b.begin(), b.end(), by_key);
  std::vector<std::string> out;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].key < b[j].key)) {
      out.push_back(a[i++].key);
    } else if (i == a.size() || b[j].key < a[i].key) {
      out.push_back(b[j++].key);
    } else {
      if (a[i].fingerprint != b[j].fingerprint) out.push_back(a[i].key);
      ++i;
      ++j;
    }
  }
  return out;
}

}  // namespace shoal::merkle
