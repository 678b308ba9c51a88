// Claims that change with membership (doc/membership.md): which member owns
// each partition, as names, and the changes that move the fewest
// partitions when a member joins, leaves or is replaced (issue 14).
//
// Ring::Create computes a claim from a sorted member list alone; that is
// right for a ring that never changes, but one more member reshuffles most
// of it. A cluster whose membership changes keeps its claim as state and
// changes it with these functions instead:
//
//   Claim c = InitialClaim(members, options).value();
//   c = AddToClaim(c, "n4", options).value();      // n4 takes ~Q/(S+1)
//   c = RemoveFromClaim(c, "n2", options).value(); // n2's ~Q/S go elsewhere
//   Ring ring = Ring::FromClaim(c, options).value();
//
// What a change keeps and moves, with S the new member count and
// k = min(n, S) (ring.h's (a) and (b)):
// - (a) always: each member owns floor(Q/S) or ceil(Q/S) partitions.
// - It moves the minimum. An added member takes exactly its share, each
//   partition from a member above the new share; a removed member's
//   partitions, and only those, move; a replacement takes exactly the old
//   member's. Counted in replicas to copy (the data), that is n per moved
//   partition.
// - (b) for an add: the newcomer is placed at least k from itself, so no
//   window repeats an owner (measured for n <= 3 in claim_test; with
//   larger n a few windows may). For a removal (b) can fail: in a
//   round-robin claim every member near a leaver's partition is within k
//   of it, so no one can take it without a repeat, and making room would
//   move more data. A window with a repeat does not lose a replica (the
//   preference list skips repeats), but its partitions' replicas reach one
//   member further, so replica load is less even (doc/membership.md).
// - With S <= n every member holds every partition whatever the claim, so
//   the change re-claims (Ring::Create's claim for the new members,
//   relabelled to keep owners): no data moves, the preference order is
//   the best one, and ClaimChange::minimal is false.
//
// Pure, like the rest of ring/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ring/ring.h"

namespace shoal::ring {

// Owner name of each partition, index = partition.
using Claim = std::vector<std::string>;

struct ClaimChange {
  Claim claim;
  uint32_t moved = 0;   // partitions whose owner changed
  bool minimal = true;  // false: re-claimed (S <= n)
};

// The claim Ring::Create builds for these members.
Result<Claim> InitialClaim(std::vector<std::string> members,
                           RingOptions options);

// `member` joins. Error if it is already a member or the claim is invalid.
Result<ClaimChange> AddToClaim(const Claim& claim, std::string_view member,
                               RingOptions options);
// `member` leaves; its partitions go to the others. Error if it is not a
// member or is the last one.
Result<ClaimChange> RemoveFromClaim(const Claim& claim, std::string_view member,
                                    RingOptions options);
// `replacement` takes exactly `old_member`'s partitions.
Result<ClaimChange> ReplaceInClaim(const Claim& claim,
                                   std::string_view old_member,
                                   std::string_view replacement);

// How a claim meets (a) and (b): for tests, plans and status.
struct ClaimShape {
  uint32_t members = 0;
  uint32_t min_share = 0;
  uint32_t max_share = 0;
  uint32_t window = 0;       // k = min(n, members)
  bool circular = false;     // whether wrapping windows are checked
  uint32_t bad_windows = 0;  // windows of k with a repeated owner
  bool balanced() const { return max_share - min_share <= 1; }
};
ClaimShape InspectClaim(const Claim& claim, uint32_t n);

// The distinct owners of a claim, sorted.
std::vector<std::string> ClaimMembers(const Claim& claim);

}  // namespace shoal::ring
