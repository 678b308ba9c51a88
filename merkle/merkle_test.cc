#include "merkle/merkle.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>

namespace shoal::merkle {
namespace {

// A reference model: the leaf of every segment recomputed from scratch.
struct Model {
  uint32_t segments;
  std::map<std::string, std::pair<uint32_t, uint64_t>> keys;  // seg, fp
  uint64_t LeafOf(uint32_t s) const {
    uint64_t h = 0;
    for (const auto& [k, v] : keys)
      if (v.first == s) h ^= LeafHash(k, v.second);
    return h;
  }
};

TEST_CASE("sizing keeps about 2^18 leaves per ring and at least a fanout") {
  CHECK(SegmentsFor(64) == 4096);
  CHECK(SegmentsFor(1) == (1u << 18));
  CHECK(SegmentsFor(65536) == kFanout);
  // Every tree of a node together: at most 64 MiB even at Q = 65536.
  Tree t(SegmentsFor(65536));
  CHECK(t.MemoryBytes() * 65536 <= 64ull << 20);
}

TEST_CASE("segments are contiguous ranges of the 32-bit storage segment") {
  const uint32_t segs = 4096;
  CHECK(SegmentOf(0, segs) == 0);
  CHECK(SegmentOf(UINT32_MAX, segs) == segs - 1);
  for (uint32_t s : {0u, 1u, 77u, 4095u}) {
    CHECK(SegmentOf(FirstKeySegment(s, segs), segs) == s);
    CHECK(SegmentOf(LastKeySegment(s, segs), segs) == s);
    if (s > 0) CHECK(SegmentOf(FirstKeySegment(s, segs) - 1, segs) == s - 1);
  }
  CHECK(LastKeySegment(4095, segs) == UINT32_MAX);
}

TEST_CASE("an absent key adds nothing and fingerprints change the leaf hash") {
  CHECK(LeafHash("k", 0) == 0);
  CHECK(LeafHash("k", 1) != 0);
  CHECK(LeafHash("k", 1) != LeafHash("k", 2));
  CHECK(LeafHash("k", 1) != LeafHash("j", 1));
}

TEST_CASE("update then undo returns the tree to its previous hashes") {
  Tree t(4096);
  t.Update(10, "a", 0, 111);
  t.Update(900, "b", 0, 222);
  const uint64_t root = t.Root();
  const auto branches = t.Branches();
  CHECK(root != 0);
  t.Update(10, "c", 0, 333);
  CHECK(t.Root() != root);
  t.Update(10, "c", 333, 0);  // undo
  CHECK(t.Root() == root);
  CHECK(t.Branches() == branches);
  t.Update(10, "a", 111, 0);
  t.Update(900, "b", 222, 0);
  CHECK(t.Root() == 0);
}

TEST_CASE("incremental updates in any order match a rebuild from scratch") {
  std::mt19937_64 rng(7);
  const uint32_t segs = 256;
  Tree t(segs);
  Model m{segs, {}};
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "k" + std::to_string(rng() % 400);
    const uint64_t fp = rng() % 5;  // 0 = delete
    const uint32_t seg =
        static_cast<uint32_t>(std::hash<std::string>{}(key) % segs);
    auto it = m.keys.find(key);
    const uint64_t before = it == m.keys.end() ? 0 : it->second.second;
    t.Update(seg, key, before, fp);
    if (fp == 0) {
      m.keys.erase(key);
    } else {
      m.keys[key] = {seg, fp};
    }
    if (i % 997 == 0) t.Root();  // refresh midway: dirty bits must be exact
  }
  Tree rebuilt(segs);
  for (uint32_t s = 0; s < segs; ++s) {
    CHECK(t.Leaf(s) == m.LeafOf(s));
    rebuilt.Apply(s, m.LeafOf(s));
  }
  CHECK(t.Root() == rebuilt.Root());
  CHECK(t.Branches() == rebuilt.Branches());
}

TEST_CASE("a tree loaded from saved leaves has the saved hashes") {
  Tree saved(256);
  for (int i = 0; i < 500; ++i) {
    const std::string key = "k" + std::to_string(i);
    saved.Update(static_cast<uint32_t>(i * 7) % 256, key, 0, i + 1);
  }
  Tree loaded(256);
  loaded.Update(3, "stale", 0, 9);  // replaced, not merged
  REQUIRE(loaded.SetLeaves(saved.leaves()).ok());
  CHECK(loaded.Root() == saved.Root());
  CHECK(loaded.Branches() == saved.Branches());
  auto diff = Diff(loaded, saved);
  REQUIRE(diff.ok());
  CHECK(diff->empty());
  // Later updates apply on top of the loaded leaves.
  loaded.Update(5, "new", 0, 1);
  saved.Update(5, "new", 0, 1);
  CHECK(loaded.Root() == saved.Root());
  // A wrong count is refused and the tree is unchanged.
  const std::vector<uint64_t> short_leaves(128, 1);
  Status st = loaded.SetLeaves(short_leaves);
  CHECK(st.code() == Code::kInvalidArgument);
  CHECK(loaded.Root() == saved.Root());
}

TEST_CASE("diff finds exactly the differing segments") {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 20; ++round) {
    Tree a(4096), b(4096);
    // Same content on both sides...
    for (int i = 0; i < 2000; ++i) {
      const uint32_t seg = rng() % 4096;
      const std::string key = "key" + std::to_string(i);
      const uint64_t fp = rng() | 1;
      a.Update(seg, key, 0, fp);
      b.Update(seg, key, 0, fp);
    }
    // ...then a known set of segments made different on one side, each by
    // its own key (a key lives in one segment only; the same leaf hash in
    // two leaves would cancel in their branch).
    std::vector<uint32_t> expected;
    const int k = static_cast<int>(rng() % 40);
    for (int i = 0; i < k; ++i) expected.push_back(rng() % 4096);
    std::sort(expected.begin(), expected.end());
    expected.erase(std::unique(expected.begin(), expected.end()),
                   expected.end());
    for (uint32_t s : expected) {
      const std::string key = "extra" + std::to_string(s);
      if (rng() % 2) {
        a.Update(s, key, 0, 5);
      } else {
        b.Update(s, key, 0, 6);
      }
    }
    auto diff = Diff(a, b);
    REQUIRE(diff.ok());
    CHECK(*diff == expected);
  }
}

TEST_CASE("diff of equal trees is empty and shapes must match") {
  Tree a(128), b(128), c(256);
  a.Update(3, "x", 0, 9);
  b.Update(3, "x", 0, 9);
  auto d = Diff(a, b);
  REQUIRE(d.ok());
  CHECK(d->empty());
  CHECK(Diff(a, c).status().code() == Code::kInvalidArgument);
  const std::vector<uint64_t> two = {1, 2}, three = {1, 2, 3};
  CHECK(!Differing(two, three).ok());
  CHECK(a.LeavesOf(std::vector<uint32_t>{2}).status().code() ==
        Code::kInvalidArgument);
}

TEST_CASE("leaves of the requested branches come back in request order") {
  Tree t(256);  // 4 branches
  t.Apply(64 * 2 + 5, 42);
  t.Apply(1, 7);
  auto leaves = t.LeavesOf(std::vector<uint32_t>{2, 0});
  REQUIRE(leaves.ok());
  REQUIRE(leaves->size() == 2 * kFanout);
  CHECK((*leaves)[5] == 42);
  CHECK((*leaves)[kFanout + 1] == 7);
}

TEST_CASE("differing keys: changed fingerprints and one-sided keys") {
  std::vector<KeyFingerprint> a = {{"c", 3}, {"a", 1}, {"b", 2}, {"e", 5}};
  std::vector<KeyFingerprint> b = {{"a", 1}, {"b", 9}, {"d", 4}, {"e", 5}};
  CHECK(DifferingKeys(a, b) == std::vector<std::string>{"b", "c", "d"});
  CHECK(DifferingKeys(a, a).empty());
  CHECK(DifferingKeys({}, b) == std::vector<std::string>{"a", "b", "d", "e"});
}

}  // namespace
}  // namespace shoal::merkle
