// Cluster state (doc/membership.md): the members, each one's state, and the
// claim, as one value with an epoch. Every change makes a new value with a
// higher epoch; nodes keep the value with the highest epoch they have seen.
// Two different values with one epoch mean two coordinators committed
// concurrently: Compare reports kConflict and nothing merges them.
//
//   ClusterState s = ClusterState::Initial(members, {.partitions=64, .n=3});
//   auto plan = MakePlan(s, {Change::Join("n4", "10.0.0.4:7000")});
//   // plan.value().transfers: what moves from whom to whom
//   s = plan.value().next;  // epoch + 1
//
// Pure: no I/O, clocks or threads. Depends on base/ and ring/.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ring/claim.h"
#include "ring/ring.h"

namespace shoal::cluster {

enum class MemberState : uint8_t {
  kJoining,  // in the next claim, not yet in the current one
  kValid,    // owns its partitions of the current claim
  kLeaving,  // in the current claim, not in the next one
  kRemoved,  // gone; kept so that a stale node learns it was removed
};
std::string_view MemberStateName(MemberState state);

struct Member {
  std::string name;
  std::string address;  // host:port peers and clients reach it at
  MemberState state = MemberState::kValid;
  std::string dc{};    // datacenter; empty without datacenters
  std::string rack{};  // empty: none
  bool operator==(const Member&) const = default;
};

struct ClusterState {
  uint64_t epoch = 0;
  ring::RingOptions options;
  // Every member the cluster has had, removed ones included, in the order
  // they joined (Initial sorts the first ones by name). A member's position
  // is its NodeIndex in every node's ring and never moves: a join appends,
  // a removal only changes the state (doc/membership.md).
  std::vector<Member> members;
  ring::Claim claim;  // who owns each partition now
  // Who will own each partition once the transfers are done; empty when no
  // change is in progress. While it is set, writes go to the owners of both
  // claims (pending ranges), and reads to the owners of the current claim
  // until `switched`, then to those of the next one.
  ring::Claim next_claim;
  // A change in progress whose transfers are done: reads have moved to the
  // next claim's owners, writes still reach both (doc/membership.md, "The
  // switch"). False when no change is in progress.
  bool switched = false;

  // The state of a ring that starts with these members, all valid, at
  // epoch 1, claimed as Ring::Create claims it.
  static Result<ClusterState> Initial(std::vector<Member> members,
                                      ring::RingOptions options);

  const Member* Find(std::string_view name) const;
  // Every member's datacenter and rack, for the ring.
  ring::Sites Sites() const;
  bool changing() const { return !next_claim.empty(); }
  // XXH3 of a canonical encoding of everything above but the epoch.
  uint64_t Digest() const;
  bool operator==(const ClusterState&) const = default;
};

// The ring a node serves `state` with: member indices as in
// `state.members`, removed members retired, joining ones fallbacks until
// they own; the ring's epoch is the state's. While a change transfers, the
// primaries are the current claim's and the pending replicas
// (ring::PendingKind::kIncoming) the next claim's primaries that are not
// primaries now. Once it is switched, the primaries are the next claim's
// and the pending replicas (kOutgoing) the current claim's primaries that
// are not primaries of the next one.
Result<ring::Ring> RingOf(const ClusterState& state);

// The primaries of every partition of `claim` by name, in preference
// order (Ring::FromClaim's), the members placed by `sites`. Errors as
// FromClaim's.
Result<std::vector<std::vector<std::string>>> PrimariesByName(
    const ring::Claim& claim, const ring::RingOptions& options,
    const ring::Sites& sites = {});

enum class Order { kOlder, kSame, kNewer, kConflict };
// How `theirs` relates to `mine`: kNewer if it has the higher epoch,
// kConflict if the epochs are equal and the values differ.
Order Compare(const ClusterState& mine, const ClusterState& theirs);

// A staged change (shoal cluster join|leave|replace|force-remove).
struct Change {
  // The values are the wire's (admin.capnp ClusterChangeKind).
  enum class Kind { kJoin = 0, kLeave = 1, kReplace = 2, kForceRemove = 3 };
  Kind kind;
  std::string node;         // joins, leaves, is replaced or removed
  std::string address;      // join: the new node's; replace: the new one's
  std::string replacement;  // replace: the new node's name
  // join: the new node's datacenter and rack (a replacement takes the old
  // node's)
  std::string dc{};
  std::string rack{};

  static Change Join(std::string node, std::string address, std::string dc = {},
                     std::string rack = {});
  static Change Leave(std::string node);
  static Change Replace(std::string node, std::string replacement,
                        std::string address);
  static Change ForceRemove(std::string node);
  bool operator==(const Change&) const = default;
};

// One replica to copy: partition `partition`'s data from `from` (a current
// primary) to `to` (a primary of the next claim that is not one now).
struct Transfer {
  uint32_t partition = 0;
  std::string from;
  std::string to;
  bool operator==(const Transfer&) const = default;
};

struct Plan {
  ClusterState next;  // epoch + 1, next_claim set, members' states moved
  std::vector<Transfer> transfers;  // by partition, then destination
  uint32_t partitions_changing_owner = 0;
  ring::ClaimShape shape;  // of next.next_claim
};

// The state after `changes` are staged on `current`, and the transfers it
// needs. Errors name the problem: a change already in progress (finish or
// abandon it first), an unknown or removed node, a name already taken, a
// leave or removal that would leave fewer members than n. A force-removed
// node's replicas are copied from the other current primaries (it is
// assumed gone), as is a replaced node's.
Result<Plan> MakePlan(const ClusterState& current,
                      const std::vector<Change>& changes);

// The state once every transfer of a plan is done: next_claim becomes the
// claim, joining members become valid, leaving ones removed; epoch + 1.
// Error if no change is in progress.
Result<ClusterState> Complete(const ClusterState& changing);

// The next step of a change in progress (doc/membership.md, "The switch"):
// a transferring state becomes switched (reads move to the next claim,
// writes still reach both claims' owners), epoch + 1; a switched one is
// Complete'd. Two steps, so that any two states one epoch apart route
// every read to replicas a write of the other reaches: nodes that have
// not yet heard of the newer epoch stay safe. Error if no change is in
// progress.
Result<ClusterState> Advance(const ClusterState& changing);

// The members that receive a transfer while `state`'s change transfers
// (primaries of the next claim that are not primaries now, of some
// partition), sorted; empty when no change is in progress or it is
// switched. The change switches once each has received its partitions.
std::vector<std::string> Receivers(const ClusterState& state);

// "join n4@10.0.0.4:7100", "leave n2", "replace n2 by n5@...",
// "force-remove n3": for logs and errors.
std::string Describe(const Change& change);

// The state a commit of the staged `changes` on `current` makes
// (doc/membership.md, "Committing a change"). `in_step` names the members
// known to hold `current` and to be reachable (the committing node
// included). Every member that stays (not removed, not force-removed or
// replaced by `changes`) must be in it: a member that missed the epoch the
// change is made on could commit another change on it. Errors: kUnavailable
// naming a member that is not in step; kInvalidArgument for nothing staged,
// a plan MakePlan refuses, or force-removals staged with other changes.
// Joins, leaves and replacements make the plan's state (epoch + 1, next
// claim set): the change is in progress until every receiver has its
// partitions, then Complete. A force-removal needs no transfer (the node's
// data is taken as lost; read repair and anti-entropy refill its
// partitions' new primaries), so it completes at once, at epoch + 1.
Result<ClusterState> CommitPlan(const ClusterState& current,
                                const std::vector<Change>& changes,
                                const std::set<std::string>& in_step);

}  // namespace shoal::cluster
