// Tests for ring/: hashing, claim properties, preference lists, validation.
#include "ring/ring.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

namespace shoal::ring {
namespace {

// "m00", "m01", ...: sorted order equals creation order.
std::vector<std::string> Names(uint32_t s) {
  std::vector<std::string> names;
  for (uint32_t i = 0; i < s; ++i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "m%02u", i);
    names.emplace_back(buf);
  }
  return names;
}

Ring MakeRing(uint32_t s, uint32_t n, uint32_t q) {
  auto ring = Ring::Create(Names(s), RingOptions{.partitions = q, .n = n});
  REQUIRE_MESSAGE(ring.ok(), ring.status().ToString());
  return std::move(ring).value();
}

// Whether any claim can give every circular window of k distinct owners
// while staying balanced: the largest share must fit k apart around the ring.
bool CircularFeasible(uint32_t s, uint32_t n, uint32_t q) {
  const uint32_t k = std::min(n, s);
  return ((q + s - 1) / s) * k <= q;
}

// Returns "" if the claim meets (a) balance and (b) distinct owners in every
// window of min(n, S) (circular windows when feasible, else non-wrapping),
// otherwise a description of the first violation.
std::string ClaimViolation(const Ring& ring) {
  const auto s = static_cast<uint32_t>(ring.members().size());
  const uint32_t q = ring.partitions();
  const uint32_t k = std::min(ring.n(), s);
  std::vector<uint32_t> counts(s, 0);
  for (uint32_t p = 0; p < q; ++p) {
    if (ring.Owner(p) >= s) return "owner out of range at " + std::to_string(p);
    ++counts[ring.Owner(p)];
  }
  for (uint32_t i = 0; i < s; ++i) {
    if (counts[i] != q / s && counts[i] != (q + s - 1) / s) {
      return "member " + std::to_string(i) + " owns " +
             std::to_string(counts[i]);
    }
  }
  const bool circular = CircularFeasible(s, ring.n(), q);
  const uint32_t last_start = circular ? q - 1 : q - k;
  for (uint32_t start = 0; start <= last_start; ++start) {
    std::vector<bool> seen(s, false);
    for (uint32_t j = 0; j < k; ++j) {
      const NodeIndex owner = ring.Owner((start + j) % q);
      if (seen[owner]) {
        return "window at " + std::to_string(start) + " repeats member " +
               std::to_string(owner);
      }
      seen[owner] = true;
    }
  }
  return "";
}

// Returns "" if every preference list is a permutation of all members equal
// to the naive walk p, p+1, ... (then non-owners), whose primaries are its
// first min(n, S) entries and, where the window at p has distinct owners,
// the owners of p .. p+k-1.
std::string PreferenceViolation(const Ring& ring) {
  const auto s = static_cast<uint32_t>(ring.members().size());
  const uint32_t q = ring.partitions();
  const uint32_t k = std::min(ring.n(), s);
  const bool circular = CircularFeasible(s, ring.n(), q);
  for (uint32_t p = 0; p < q; ++p) {
    const std::vector<NodeIndex> list = ring.PreferenceList(p);
    const std::string where = "partition " + std::to_string(p) + ": ";
    if (list.size() != s) return where + "size " + std::to_string(list.size());
    std::vector<NodeIndex> sorted = list;
    std::sort(sorted.begin(), sorted.end());
    for (uint32_t i = 0; i < s; ++i) {
      if (sorted[i] != i) return where + "not a permutation";
    }
    std::vector<NodeIndex> walk;
    for (uint32_t step = 0; step < q; ++step) {
      const NodeIndex owner = ring.Owner((p + step) % q);
      if (std::find(walk.begin(), walk.end(), owner) == walk.end()) {
        walk.push_back(owner);
      }
    }
    for (NodeIndex i = 0; i < s; ++i) {
      if (std::find(walk.begin(), walk.end(), i) == walk.end()) {
        walk.push_back(i);
      }
    }
    if (walk != list) return where + "differs from the naive walk";
    const std::vector<NodeIndex> primaries = ring.Primaries(p);
    if (primaries != std::vector<NodeIndex>(list.begin(), list.begin() + k)) {
      return where + "primaries are not the first min(n, S)";
    }
    if (circular || p + k <= q) {
      for (uint32_t j = 0; j < k; ++j) {
        if (primaries[j] != ring.Owner((p + j) % q)) {
          return where + "primary " + std::to_string(j) +
                 " is not the owner of partition p+" + std::to_string(j);
        }
      }
    }
  }
  return "";
}

TEST_CASE("claim is balanced and every window has distinct owners") {
  // S = 1..16, n = 1..6, Q = 1..1024 (powers of two, Q >= S): covers the
  // round-robin, column-layout and infeasible-circular cases.
  int rings = 0, circular = 0;
  for (uint32_t s = 1; s <= 16; ++s) {
    for (uint32_t n = 1; n <= 6; ++n) {
      for (uint32_t q = 1; q <= 1024; q *= 2) {
        if (q < s) continue;
        CAPTURE(s);
        CAPTURE(n);
        CAPTURE(q);
        const Ring ring = MakeRing(s, n, q);
        CHECK(ClaimViolation(ring) == "");
        CHECK(PreferenceViolation(ring) == "");
        ++rings;
        circular += CircularFeasible(s, n, q) ? 1 : 0;
      }
    }
  }
  // Both regimes were exercised.
  CHECK(rings == 762);
  CHECK(circular > 0);
  CHECK(circular < rings);
}

TEST_CASE("claim at the largest partition count") {
  const Ring ring = MakeRing(7, 3, 65536);
  CHECK(ClaimViolation(ring) == "");
  CHECK(PreferenceViolation(ring) == "");
}

TEST_CASE("round-robin where it works, pinned") {
  // S divides Q.
  const Ring even = MakeRing(4, 3, 8);
  // r = Q mod S = 3 >= k = 3: round-robin's wrapping windows are fine.
  const Ring wide = MakeRing(5, 3, 8);
  for (uint32_t p = 0; p < 8; ++p) {
    CHECK(even.Owner(p) == p % 4);
    CHECK(wide.Owner(p) == p % 5);
  }
  CHECK(even.PreferenceList(3) == std::vector<NodeIndex>{3, 0, 1, 2});
  CHECK(even.Primaries(3) == std::vector<NodeIndex>{3, 0, 1});
  CHECK(wide.PreferenceList(6) == std::vector<NodeIndex>{1, 2, 0, 3, 4});
}

TEST_CASE("column layout where round-robin would repeat across the wrap") {
  // S = 5, n = 3, Q = 16: r = 1 < k = 3, so p mod 5 would put member 0 at
  // 15 and at 0; ceil(16/5) * 3 = 12 <= 16, so a circular claim exists.
  const Ring ring = MakeRing(5, 3, 16);
  const std::vector<NodeIndex> expected = {0, 1, 2, 3, 0, 1, 2, 4,
                                           0, 1, 3, 4, 0, 2, 3, 4};
  std::vector<NodeIndex> owners;
  for (uint32_t p = 0; p < 16; ++p) owners.push_back(ring.Owner(p));
  CHECK(owners == expected);
  CHECK(ring.Primaries(15) == std::vector<NodeIndex>{4, 0, 1});
  CHECK(ring.Primaries(14) == std::vector<NodeIndex>{3, 4, 0});
}

TEST_CASE("circular windows infeasible: round-robin, linear windows only") {
  // S = n = 3, Q = 64: no balanced claim has distinct owners in every
  // wrapping window; round-robin keeps non-wrapping windows distinct.
  REQUIRE_FALSE(CircularFeasible(3, 3, 64));
  const Ring ring = MakeRing(3, 3, 64);
  for (uint32_t p = 0; p < 64; ++p) CHECK(ring.Owner(p) == p % 3);
  CHECK(ring.Owner(63) == ring.Owner(0));  // the unavoidable repeat
  // Primaries stay distinct: they come from further along the ring.
  CHECK(ring.Primaries(63) == std::vector<NodeIndex>{0, 1, 2});
  CHECK(ring.Primaries(62) == std::vector<NodeIndex>{2, 0, 1});
}

TEST_CASE("single member and n larger than the member count") {
  const Ring one = MakeRing(1, 3, 4);
  for (uint32_t p = 0; p < 4; ++p) {
    CHECK(one.Owner(p) == 0);
    CHECK(one.PreferenceList(p) == std::vector<NodeIndex>{0});
    CHECK(one.Primaries(p) == std::vector<NodeIndex>{0});
  }
  const Ring two = MakeRing(2, 5, 2);
  CHECK(two.Primaries(1) == std::vector<NodeIndex>{1, 0});
}

TEST_CASE("claim is a pure function of the sorted member names") {
  const RingOptions options{.partitions = 64, .n = 3};
  auto a = Ring::Create({"carol", "alice", "erin", "bob", "dave"}, options);
  auto b = Ring::Create({"dave", "bob", "erin", "alice", "carol"}, options);
  auto c = Ring::Create({"dave", "bob", "erin", "alice", "carol"}, options);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  CHECK(a->members() ==
        std::vector<std::string>{"alice", "bob", "carol", "dave", "erin"});
  CHECK(b->members() == a->members());
  for (uint32_t p = 0; p < 64; ++p) {
    CHECK(a->Owner(p) == b->Owner(p));
    CHECK(b->Owner(p) == c->Owner(p));
    CHECK(a->PreferenceList(p) == b->PreferenceList(p));
    CHECK(b->PreferenceList(p) == c->PreferenceList(p));
  }
  CHECK(a->members()[a->Owner(0)] == "alice");
}

TEST_CASE("hash and partition mapping are pinned") {
  // XXH3_64bits reference values: a change of hash function, seed or bit
  // choice moves every key to another partition, so it must fail here.
  CHECK(HashKey("") == 0x2D06800538D394C2ULL);
  CHECK(HashKey("hello") == 0x9555E8555C62DCFDULL);
  const Ring ring = MakeRing(3, 3, 64);
  const KeyLocation loc = ring.Locate("hello");
  CHECK(loc.hash == 0x9555E8555C62DCFDULL);
  CHECK(loc.partition == 37);         // top 6 bits: 0x9555... >> 58
  CHECK(loc.segment == 0x5C62DCFDu);  // low 32 bits
  const Ring wide = MakeRing(3, 3, 65536);
  CHECK(wide.Locate("hello").partition == 0x9555);
}

TEST_CASE("PartitionOf uses the top log2(Q) bits") {
  const Ring q64 = MakeRing(2, 2, 64);
  CHECK(q64.PartitionOf(0) == 0);
  CHECK(q64.PartitionOf((1ULL << 58) - 1) == 0);
  CHECK(q64.PartitionOf(1ULL << 58) == 1);
  CHECK(q64.PartitionOf(~0ULL) == 63);
  const Ring q2 = MakeRing(2, 2, 2);
  CHECK(q2.PartitionOf(~0ULL >> 1) == 0);
  CHECK(q2.PartitionOf(1ULL << 63) == 1);
  // Q == 1: everything is partition 0 (no shift by 64).
  const Ring q1 = MakeRing(1, 1, 1);
  CHECK(q1.PartitionOf(0) == 0);
  CHECK(q1.PartitionOf(~0ULL) == 0);
  CHECK(q1.PartitionOf(1ULL << 63) == 0);
  CHECK(q1.Locate("hello").partition == 0);
}

TEST_CASE("segment is the low 32 bits and partition agrees with PartitionOf") {
  const Ring ring = MakeRing(4, 3, 256);
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "key-" + std::to_string(i);
    const KeyLocation loc = ring.Locate(key);
    CHECK(loc.hash == HashKey(key));
    CHECK(loc.segment == static_cast<uint32_t>(loc.hash & 0xFFFFFFFFULL));
    CHECK(loc.partition == (loc.hash >> 56));
    CHECK(loc.partition == ring.PartitionOf(loc.hash));
  }
}

TEST_CASE("IndexOf and PartitionsOf") {
  auto ring = Ring::Create({"b", "c", "a"}, RingOptions{.partitions = 8});
  REQUIRE(ring.ok());
  CHECK(ring->IndexOf("a").value() == 0);
  CHECK(ring->IndexOf("c").value() == 2);
  const auto missing = ring->IndexOf("d");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Code::kNotFound);
  CHECK(missing.status().message().find("'d'") != std::string::npos);
  CHECK_FALSE(ring->IndexOf("").ok());

  std::vector<uint32_t> all;
  for (NodeIndex i = 0; i < 3; ++i) {
    const std::vector<uint32_t> mine = ring->PartitionsOf(i);
    CHECK(std::is_sorted(mine.begin(), mine.end()));
    for (uint32_t p : mine) CHECK(ring->Owner(p) == i);
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(ring->PartitionsOf(0) == std::vector<uint32_t>{0, 3, 6});
  CHECK(ring->PartitionsOf(2) == std::vector<uint32_t>{2, 5});
}

TEST_CASE(
    "FromMembers keeps the given indices; retired members are in no list") {
  // Four partitions owned by z, a, z, a; "m" joined (owns nothing yet) and
  // "b" left. Indices follow the given order, not the names.
  const std::vector<std::string> owners = {"z", "a", "z", "a"};
  auto ring =
      Ring::FromMembers(owners, {.partitions = 4, .n = 2}, {"z", "b", "a", "m"},
                        {false, true, false, false});
  REQUIRE(ring.ok());
  CHECK(ring->members() == std::vector<std::string>{"z", "b", "a", "m"});
  CHECK(ring->IndexOf("z").value() == 0);
  CHECK(ring->IndexOf("a").value() == 2);
  CHECK(ring->IndexOf("m").value() == 3);
  CHECK(ring->IndexOf("b").value() == 1);
  CHECK(ring->retired(1));
  CHECK_FALSE(ring->retired(3));
  CHECK(ring->Owner(0) == 0);
  CHECK(ring->Owner(1) == 2);
  for (uint32_t p = 0; p < 4; ++p) {
    const auto list = ring->PreferenceList(p);
    CHECK(list.size() == 3);  // z, a, then the fallback m; never b
    CHECK(list.back() == 3);
    CHECK(std::find(list.begin(), list.end(), 1) == list.end());
  }
  CHECK(ring->PreferenceList(1) == std::vector<NodeIndex>{2, 0, 3});
  CHECK(ring->ReplicatedBy(0) == std::vector<uint32_t>{0, 1, 2, 3});
  CHECK(ring->ReplicatedBy(3).empty());  // a fallback holds no replica
  CHECK(ring->ReplicatedBy(1).empty());

  // The same claim and names in sorted order: the same lists by name.
  auto sorted = Ring::FromClaim(owners, {.partitions = 4, .n = 2});
  REQUIRE(sorted.ok());
  for (uint32_t p = 0; p < 4; ++p) {
    const auto a = ring->Primaries(p);
    const auto b = sorted->Primaries(p);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      CHECK(ring->members()[a[i]] == sorted->members()[b[i]]);
    }
  }
}

TEST_CASE("FromMembers refuses a bad member list, naming the problem") {
  const std::vector<std::string> owners = {"a", "b"};
  const RingOptions options{.partitions = 2, .n = 2};
  auto message = [&](std::vector<std::string> members,
                     std::vector<bool> retired) {
    auto ring = Ring::FromMembers(owners, options, std::move(members), retired);
    REQUIRE_FALSE(ring.ok());
    CHECK(ring.status().code() == Code::kInvalidArgument);
    return ring.status().message();
  };
  CHECK(message({"a", "b", "a"}, {false, false, false}) ==
        "duplicate member 'a'");
  CHECK(message({"a"}, {false}) == "owner 'b' is not a member");
  CHECK(message({"a", "b"}, {false, true}) == "owner 'b' is retired");
  CHECK(message({"a", "b"}, {false}) ==
        "retired flags for 1 members, but 2 members");
  CHECK(message({"a", ""}, {false, false}) == "a member name is empty");
}

// Expects Create to fail with kInvalidArgument and a message containing
// `needle`.
void CheckInvalid(std::vector<std::string> members, RingOptions options,
                  const std::string& needle) {
  auto ring = Ring::Create(std::move(members), options);
  REQUIRE_FALSE(ring.ok());
  CHECK(ring.status().code() == Code::kInvalidArgument);
  CHECK_MESSAGE(ring.status().message().find(needle) != std::string::npos,
                ring.status().message());
}

TEST_CASE("Create rejects bad input with a message naming the problem") {
  const std::vector<std::string> three = {"a", "b", "c"};
  CheckInvalid({}, RingOptions{}, "at least one member");
  CheckInvalid({"a", "", "b"}, RingOptions{}, "empty");
  CheckInvalid({"b", "a", "b"}, RingOptions{}, "duplicate member 'b'");
  CheckInvalid(three, RingOptions{.partitions = 48},
               "partitions=48 is not a power of two");
  CheckInvalid(three, RingOptions{.partitions = 0},
               "partitions=0 is out of range");
  CheckInvalid(three, RingOptions{.partitions = 131072},
               "partitions=131072 is out of range");
  CheckInvalid(three, RingOptions{.partitions = 2},
               "partitions=2 is fewer than the 3 members");
  CheckInvalid(three, RingOptions{.partitions = 64, .n = 0}, "n=0");
  // The limits themselves are accepted.
  CHECK(Ring::Create(three, RingOptions{.partitions = 4, .n = 1}).ok());
  CHECK(Ring::Create({"a"}, RingOptions{.partitions = 1, .n = 1}).ok());
  CHECK(Ring::Create(three, RingOptions{.partitions = 65536}).ok());
}

}  // namespace
}  // namespace shoal::ring

namespace shoal::ring {
namespace {

TEST_CASE("sloppy targets: live primaries first, fallbacks for dead ones") {
  const std::vector<NodeIndex> pref = {4, 1, 3, 0, 2};  // n=3: 4,1,3 primary
  auto up_except = [](std::initializer_list<NodeIndex> down) {
    std::vector<NodeIndex> d(down);
    return [d](NodeIndex x) {
      return std::find(d.begin(), d.end(), x) == d.end();
    };
  };
  SUBCASE("all up: the primaries, no hints") {
    auto t = SloppyTargets(pref, 3, up_except({}));
    REQUIRE(t.size() == 3);
    for (size_t i = 0; i < 3; ++i) {
      CHECK(t[i].node == pref[i]);
      CHECK_FALSE(t[i].hint_for.has_value());
    }
  }
  SUBCASE("one primary down: the first fallback holds its hint") {
    auto t = SloppyTargets(pref, 3, up_except({1}));
    REQUIRE(t.size() == 3);
    CHECK(t[0].node == 4);
    CHECK(t[1].node == 0);
    CHECK(t[1].hint_for == NodeIndex{1});
    CHECK(t[2].node == 3);
    CHECK_FALSE(t[2].hint_for.has_value());
  }
  SUBCASE("two primaries down: two fallbacks, in order") {
    auto t = SloppyTargets(pref, 3, up_except({4, 3}));
    REQUIRE(t.size() == 3);
    CHECK(t[0].node == 0);
    CHECK(t[0].hint_for == NodeIndex{4});
    CHECK(t[1].node == 1);
    CHECK(t[2].node == 2);
    CHECK(t[2].hint_for == NodeIndex{3});
  }
  SUBCASE("a dead fallback is skipped") {
    auto t = SloppyTargets(pref, 3, up_except({1, 0}));
    REQUIRE(t.size() == 3);
    CHECK(t[1].node == 2);
    CHECK(t[1].hint_for == NodeIndex{1});
  }
  SUBCASE("not enough live nodes: fewer targets") {
    auto t = SloppyTargets(pref, 3, up_except({4, 1, 0, 2}));
    REQUIRE(t.size() == 1);
    CHECK(t[0].node == 3);
  }
  SUBCASE(
      "every 1..n-1 primaries down on a real ring keeps n distinct targets") {
    auto ring = Ring::Create({"a", "b", "c", "d", "e"}, {64, 3});
    REQUIRE(ring.ok());
    for (uint32_t p = 0; p < 64; ++p) {
      const auto list = ring->PreferenceList(p);
      for (uint32_t mask = 1; mask < 7; ++mask) {  // subsets of primaries
        std::vector<NodeIndex> down;
        for (uint32_t i = 0; i < 3; ++i) {
          if (mask & (1u << i)) down.push_back(list[i]);
        }
        auto t = SloppyTargets(list, 3, [&](NodeIndex x) {
          return std::find(down.begin(), down.end(), x) == down.end();
        });
        REQUIRE(t.size() == 3);
        std::set<NodeIndex> nodes;
        size_t hints = 0;
        for (const auto& r : t) {
          nodes.insert(r.node);
          CHECK(std::find(down.begin(), down.end(), r.node) == down.end());
          if (r.hint_for) ++hints;
        }
        CHECK(nodes.size() == 3);
        CHECK(hints == down.size());
      }
    }
  }
}

// Two datacenters: dc1 has a1..a4 on racks r1, r1, r2, r3; dc2 has b1..b3
// on one rack each.
Sites TwoDcSites() {
  return {{"a1", {"dc1", "r1"}}, {"a2", {"dc1", "r1"}}, {"a3", {"dc1", "r2"}},
          {"a4", {"dc1", "r3"}}, {"b1", {"dc2", "x1"}}, {"b2", {"dc2", "x2"}},
          {"b3", {"dc2", "x3"}}};
}

TEST_CASE("datacenters: each partition has n_dc primaries in each DC") {
  const RingOptions options{
      .partitions = 64, .n = 5, .dcs = {{"dc1", 3}, {"dc2", 2}}};
  auto ring = Ring::Create({"a1", "a2", "a3", "a4", "b1", "b2", "b3"}, options,
                           TwoDcSites());
  REQUIRE_MESSAGE(ring.ok(), ring.status().ToString());
  CHECK(ring->replicas() == 5);
  std::vector<uint32_t> held(7, 0);
  for (uint32_t p = 0; p < 64; ++p) {
    const auto primaries = ring->Primaries(p);
    REQUIRE(primaries.size() == 5);
    std::set<std::string> racks1;
    uint32_t in1 = 0, in2 = 0;
    for (NodeIndex i : primaries) {
      ++held[i];
      if (ring->site(i).dc == "dc1") {
        ++in1;
        racks1.insert(ring->site(i).rack);
      } else {
        CHECK(ring->site(i).dc == "dc2");
        ++in2;
      }
    }
    CHECK(in1 == 3);
    CHECK(in2 == 2);
    // Three racks in dc1, three replicas: one on each rack.
    CHECK(racks1.size() == 3);
    // The fallbacks are every other member, after the primaries.
    CHECK(ring->PreferenceList(p).size() == 7);
    CHECK(ring->ReplicatedBy(primaries[0]).size() > 0);
  }
  // a1 and a2 share rack r1, so together they hold one replica of each
  // partition: a3 and a4 hold every partition.
  CHECK(held[*ring->IndexOf("a3")] == 64);
  CHECK(held[*ring->IndexOf("a4")] == 64);
  CHECK(held[*ring->IndexOf("a1")] + held[*ring->IndexOf("a2")] == 64);
  // dc2: 2 of 3 members per partition, each holds between 1/3 and 5/6.
  for (const char* b : {"b1", "b2", "b3"}) {
    CHECK(held[*ring->IndexOf(b)] >= 20);
    CHECK(held[*ring->IndexOf(b)] <= 54);
  }
  CHECK(ring->DcOf(*ring->IndexOf("b2")) == 1);
  CHECK(ring->DcIndex("dc2") == 1);
  CHECK(ring->DcIndex("dc9") == Ring::kNoDc);
}

TEST_CASE("racks run out: replicas share racks only then") {
  // 4 members on 2 racks, n=3: every partition uses both racks.
  const Sites sites = {{"m0", {"", "r1"}},
                       {"m1", {"", "r1"}},
                       {"m2", {"", "r1"}},
                       {"m3", {"", "r2"}}};
  auto ring = Ring::Create({"m0", "m1", "m2", "m3"}, {16, 3}, sites);
  REQUIRE(ring.ok());
  for (uint32_t p = 0; p < 16; ++p) {
    const auto primaries = ring->Primaries(p);
    REQUIRE(primaries.size() == 3);
    CHECK(std::find(primaries.begin(), primaries.end(), *ring->IndexOf("m3")) !=
          primaries.end());
  }
}

TEST_CASE("one rack, no datacenters: the primaries are the walk's first n") {
  auto plain = MakeRing(5, 3, 64);
  Sites one_rack;
  for (const std::string& name : Names(5)) one_rack[name] = {"", "r1"};
  auto sited = Ring::Create(Names(5), {64, 3}, one_rack);
  REQUIRE(sited.ok());
  for (uint32_t p = 0; p < 64; ++p) {
    CHECK(plain.PreferenceList(p) == sited->PreferenceList(p));
  }
}

TEST_CASE("datacenter placement errors name the problem") {
  const std::vector<std::string> names = {"a1", "a2", "a3", "a4",
                                          "b1", "b2", "b3"};
  auto message = [&](RingOptions o, const Sites& sites) {
    auto r = Ring::Create(names, o, sites);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    return r.status().message();
  };
  CHECK(message({64, 4, {{"dc1", 3}, {"dc2", 2}}}, TwoDcSites())
            .find("n=4 is not the sum 5") != std::string::npos);
  CHECK(message({64, 3, {{"dc1", 3}, {"dc2", 0}}}, TwoDcSites())
            .find("'dc2' keeps 0 replicas") != std::string::npos);
  CHECK(message({64, 5, {{"dc2", 2}, {"dc1", 3}}}, TwoDcSites())
            .find("out of order") != std::string::npos);
  Sites stray = TwoDcSites();
  stray["b3"].dc = "dc3";
  CHECK(message({64, 5, {{"dc1", 3}, {"dc2", 2}}}, stray)
            .find("member 'b3' is in datacenter 'dc3'") != std::string::npos);
  CHECK(message({64, 6, {{"dc1", 3}, {"dc2", 2}, {"dc3", 1}}}, TwoDcSites())
            .find("datacenter 'dc3' has no member") != std::string::npos);
}

TEST_CASE("sloppy targets prefer a fallback near the dead primary") {
  // Primaries 0 (dc A), 1 (dc B); fallbacks 2 (dc A), 3 (dc B).
  const std::vector<NodeIndex> pref = {0, 1, 2, 3};
  auto near = [](NodeIndex a, NodeIndex b) { return a % 2 == b % 2; };
  auto t = SloppyTargets(
      pref, 2, [](NodeIndex x) { return x != 1; }, near);
  REQUIRE(t.size() == 2);
  CHECK(t[1].node == 3);
  CHECK(t[1].hint_for == NodeIndex{1});
  // No near fallback alive: any other.
  auto u = SloppyTargets(
      pref, 2, [](NodeIndex x) { return x != 1 && x != 3; }, near);
  REQUIRE(u.size() == 2);
  CHECK(u[1].node == 2);
}

}  // namespace
}  // namespace shoal::ring
