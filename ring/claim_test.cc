// Tests for ring/claim.h: claims that change with membership keep the
// ring's shape and move the fewest partitions.
#include "ring/claim.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "ring/ring.h"

namespace shoal::ring {
namespace {

std::string Name(uint32_t i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "m%02u", i);
  return buf;
}

std::vector<std::string> Names(uint32_t s) {
  std::vector<std::string> names;
  for (uint32_t i = 0; i < s; ++i) names.push_back(Name(i));
  return names;
}

Claim Initial(uint32_t s, RingOptions options) {
  auto claim = InitialClaim(Names(s), options);
  REQUIRE_MESSAGE(claim.ok(), claim.status().ToString());
  return std::move(claim).value();
}

uint32_t Share(const Claim& claim, const std::string& member) {
  uint32_t count = 0;
  for (const std::string& owner : claim) count += owner == member;
  return count;
}

// Ring (a), balance, always; (b), distinct windows, when asked.
void CheckShape(const Claim& claim, uint32_t n, bool windows = true) {
  const ClaimShape shape = InspectClaim(claim, n);
  CHECK_MESSAGE(shape.balanced(), "shares ", shape.min_share, "..",
                shape.max_share);
  if (!windows) return;
  CHECK_MESSAGE(shape.bad_windows == 0, shape.bad_windows,
                " windows repeat an owner (k=", shape.window,
                ", circular=", shape.circular, ")");
}

// Replicas that must be copied to go from one claim to the other: for
// each partition, the primaries after that were not primaries before.
// This, not owner changes, is the data a change moves.
uint32_t ReplicaMoves(const Claim& before, const Claim& after, uint32_t n) {
  const RingOptions options{.partitions = static_cast<uint32_t>(before.size()),
                            .n = n};
  auto a = Ring::FromClaim(before, options);
  auto b = Ring::FromClaim(after, options);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  uint32_t moves = 0;
  for (uint32_t p = 0; p < before.size(); ++p) {
    std::set<std::string> had;
    for (NodeIndex i : a.value().Primaries(p)) {
      had.insert(a.value().members()[i]);
    }
    for (NodeIndex i : b.value().Primaries(p)) {
      moves += had.count(b.value().members()[i]) == 0;
    }
  }
  return moves;
}

TEST_CASE("the initial claim is Ring::Create's, and FromClaim rebuilds it") {
  for (uint32_t s : {1u, 3u, 5u, 7u}) {
    const RingOptions options{.partitions = 64, .n = 3};
    const Claim claim = Initial(s, options);
    auto created = Ring::Create(Names(s), options);
    auto rebuilt = Ring::FromClaim(claim, options);
    REQUIRE(created.ok());
    REQUIRE(rebuilt.ok());
    CHECK(rebuilt.value().members() == created.value().members());
    for (uint32_t p = 0; p < 64; ++p) {
      CHECK(rebuilt.value().PreferenceList(p) ==
            created.value().PreferenceList(p));
    }
  }
}

TEST_CASE("adding a member moves exactly its share, all to it") {
  for (uint32_t q : {16u, 64u, 256u, 1024u}) {
    for (uint32_t n : {1u, 2u, 3u, 5u}) {
      for (uint32_t s = 1; s < 16 && s + 1 <= q; ++s) {
        CAPTURE(q);
        CAPTURE(n);
        CAPTURE(s);
        const RingOptions options{.partitions = q, .n = n};
        const Claim before = Initial(s, options);
        auto change = AddToClaim(before, "new", options);
        REQUIRE_MESSAGE(change.ok(), change.status().ToString());
        const Claim& after = change.value().claim;
        // Measured: for n <= 3 every add keeps every window distinct.
        CheckShape(after, n, n <= 3);
        uint32_t moved = 0;
        for (uint32_t p = 0; p < q; ++p) {
          if (before[p] == after[p]) continue;
          ++moved;
          if (change.value().minimal) CHECK(after[p] == "new");
        }
        CHECK(moved == change.value().moved);
        // With more members than n, every add is minimal: the newcomer
        // takes floor(Q/(S+1)) partitions and n replicas of each, nothing
        // else moves. (With S+1 <= n every member holds every key.)
        if (s + 1 > n) {
          CHECK(change.value().minimal);
          CHECK(moved == q / (s + 1));
          CHECK(Share(after, "new") == q / (s + 1));
          CHECK(ReplicaMoves(before, after, n) == n * (q / (s + 1)));
        }
      }
    }
  }
}

TEST_CASE("removing a member moves only its partitions") {
  for (uint32_t q : {16u, 64u, 256u, 1024u}) {
    for (uint32_t n : {1u, 2u, 3u, 5u}) {
      for (uint32_t s = 2; s <= 16 && s <= q; ++s) {
        CAPTURE(q);
        CAPTURE(n);
        CAPTURE(s);
        const RingOptions options{.partitions = q, .n = n};
        const Claim before = Initial(s, options);
        for (uint32_t leaver : {0u, s / 2, s - 1}) {
          CAPTURE(leaver);
          const std::string gone = Name(leaver);
          auto change = RemoveFromClaim(before, gone, options);
          REQUIRE_MESSAGE(change.ok(), change.status().ToString());
          const Claim& after = change.value().claim;
          // Windows may repeat an owner: a round-robin claim has no room
          // for the leaver's partitions elsewhere (doc/membership.md).
          CheckShape(after, n, false);
          CHECK(Share(after, gone) == 0);
          uint32_t moved = 0;
          for (uint32_t p = 0; p < q; ++p) {
            if (before[p] == after[p]) continue;
            ++moved;
            if (change.value().minimal) CHECK(before[p] == gone);
          }
          CHECK(moved == change.value().moved);
          if (s - 1 > n) {
            CHECK(change.value().minimal);
            CHECK(moved == Share(before, gone));
            // Only the leaver's replicas are copied, n per partition.
            CHECK(ReplicaMoves(before, after, n) == n * Share(before, gone));
          }
        }
      }
    }
  }
}

TEST_CASE("a ring grown and shrunk one member at a time keeps its shape") {
  // Claims that are no longer Ring::Create's: each step starts from the
  // last one's result.
  for (uint32_t q : {64u, 256u}) {
    const RingOptions options{.partitions = q, .n = 3};
    Claim claim = Initial(3, options);
    uint32_t total_moved = 0, total_minimum = 0;
    for (uint32_t s = 3; s < 12; ++s) {
      CAPTURE(s);
      auto change = AddToClaim(claim, Name(s), options);
      REQUIRE(change.ok());
      CHECK(change.value().minimal);
      total_moved += ReplicaMoves(claim, change.value().claim, 3);
      total_minimum += 3 * (q / (s + 1));
      claim = change.value().claim;
      CheckShape(claim, 3);
    }
    for (uint32_t leaver : {4u, 0u, 11u, 7u, 2u, 9u}) {
      CAPTURE(leaver);
      const uint32_t share = Share(claim, Name(leaver));
      auto change = RemoveFromClaim(claim, Name(leaver), options);
      REQUIRE(change.ok());
      CHECK(change.value().minimal);
      total_moved += ReplicaMoves(claim, change.value().claim, 3);
      total_minimum += 3 * share;
      claim = change.value().claim;
      CheckShape(claim, 3, false);
    }
    CHECK(total_moved == total_minimum);
    CHECK(ClaimMembers(claim).size() == 6);
    auto ring = Ring::FromClaim(claim, options);
    REQUIRE(ring.ok());
    for (uint32_t p = 0; p < q; ++p) {
      const auto primaries = ring.value().Primaries(p);
      CHECK(primaries.size() == 3);
      CHECK(primaries[0] != primaries[1]);
      CHECK(primaries[1] != primaries[2]);
      CHECK(primaries[0] != primaries[2]);
    }
  }
}

TEST_CASE("a replacement takes exactly the old member's partitions") {
  const RingOptions options{.partitions = 64, .n = 3};
  const Claim before = Initial(5, options);
  auto change = ReplaceInClaim(before, "m02", "fresh");
  REQUIRE(change.ok());
  CHECK(change.value().moved == Share(before, "m02"));
  for (uint32_t p = 0; p < 64; ++p) {
    CHECK(change.value().claim[p] ==
          (before[p] == "m02" ? std::string("fresh") : before[p]));
  }
  CheckShape(change.value().claim, 3);
}

TEST_CASE(
    "small rings, where the window grows with S, fall back to a re-claim") {
  // S=2 -> 3 with n=3: windows of 2 distinct become windows of 3, which the
  // old owners' places cannot give; the fallback keeps the shape.
  const RingOptions options{.partitions = 64, .n = 3};
  auto change = AddToClaim(Initial(2, options), "m02", options);
  REQUIRE(change.ok());
  CheckShape(change.value().claim, 3);
  CHECK(change.value().moved <= 64);
}

TEST_CASE("claim changes refuse bad requests, naming the problem") {
  const RingOptions options{.partitions = 4, .n = 3};
  const Claim claim = Initial(4, options);
  auto again = AddToClaim(claim, "m01", options);
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().message() == "'m01' is already a member");
  auto too_many = AddToClaim(claim, "m04", options);
  REQUIRE_FALSE(too_many.ok());
  CHECK(too_many.status().message() ==
        "partitions=4 is fewer than the 5 members");
  auto unknown = RemoveFromClaim(claim, "nobody", options);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().code() == Code::kNotFound);
  auto last = RemoveFromClaim(Initial(1, options), "m00", options);
  REQUIRE_FALSE(last.ok());
  CHECK(last.status().message() ==
        "'m00' is the last member: a ring needs one");
  auto taken = ReplaceInClaim(claim, "m00", "m01");
  REQUIRE_FALSE(taken.ok());
  CHECK(taken.status().message() == "'m01' is already a member");
  auto wrong_size = Ring::FromClaim(claim, {.partitions = 8, .n = 3});
  REQUIRE_FALSE(wrong_size.ok());
  CHECK(wrong_size.status().message() ==
        "the claim has 4 partitions, the ring 8");
  auto no_owner = Ring::FromClaim({"a", "", "b", "c"}, options);
  REQUIRE_FALSE(no_owner.ok());
}

}  // namespace
}  // namespace shoal::ring
