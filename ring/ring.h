// The consistent-hash ring: key -> partition -> preference list.
//
// A fixed number of partitions Q (a power of two) is claimed by the S
// members so that:
//  (a) every member owns floor(Q/S) or ceil(Q/S) partitions (the first
//      Q mod S members by sorted name own the larger share), and
//  (b) every window of k = min(n, S) consecutive partitions has k distinct
//      owners. Windows are circular (Q-1 wraps to 0) whenever some
//      balanced claim allows it, i.e. when ceil(Q/S) * k <= Q. When
//      ceil(Q/S) * k > Q none does (e.g. S = n = 3, Q = 64: owners would
//      have to repeat with period 3, which does not divide 64); the claim is
//      then round-robin (p mod S) and (b) holds only for windows that do not
//      wrap (start p in 0..Q-k). The primaries of the last k-1 partitions
//      then reach past a repeated owner, so they are still k distinct
//      members, but not the owners of k consecutive partitions.
// The claim is a pure function of (sorted member names, Q, n): every node
// computes the same ring from the same member list. It is not designed to
// minimise movement when membership changes; a cluster whose members change
// keeps its claim as state, changes it with claim.h and builds its ring
// with FromClaim.
//
// Pure: no I/O, no clocks, no globals. Thread-safety: a Ring is immutable
// after construction and safe to share between threads.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace shoal::ring {

// Index into Ring::members(). Create and FromClaim sort the members by
// name; FromMembers keeps the order it is given, so that a cluster whose
// members change keeps every member's index (doc/membership.md).
using NodeIndex = uint32_t;

// Where a key lives. Derived from one XXH3-64 hash of the key:
// partition = top log2(Q) bits, segment = low 32 bits (so a Merkle leaf of
// any width up to 2^32 is a contiguous range of segments).
struct KeyLocation {
  uint64_t hash = 0;
  uint32_t partition = 0;
  uint32_t segment = 0;
};

// XXH3_64bits of the key bytes.
uint64_t HashKey(std::string_view key);

// Where a member runs (doc/impl.md, "Datacenters and racks"). Empty
// strings: no datacenter, no rack.
struct Site {
  std::string dc;
  std::string rack;
  bool operator==(const Site&) const = default;
};
// Members' sites by name; a member not listed has the empty site.
using Sites = std::map<std::string, Site, std::less<>>;

// Replicas a datacenter keeps of every key.
struct DcReplicas {
  std::string dc;
  uint32_t n = 0;
  bool operator==(const DcReplicas&) const = default;
};

struct RingOptions {
  uint32_t partitions = 64;  // Q: power of two, 1..65536, >= member count
  uint32_t n = 3;            // replicas per key, >= 1
  // Replicas per datacenter (`n = { dc1 = 3, dc2 = 2 }`), sorted by name;
  // empty: no datacenters. When set, n is their sum and every member that
  // is not retired belongs to one of them.
  std::vector<DcReplicas> dcs{};
  bool operator==(const RingOptions&) const = default;
};

// Checks `dcs` against n (the sum), names (non-empty, unique) and counts
// (>= 1); kInvalidArgument naming the problem.
Status CheckDcs(const std::vector<DcReplicas>& dcs, uint32_t n);

// What a ring's pending replicas are (Ring::SetPending).
enum class PendingKind { kIncoming, kOutgoing };

class Ring {
 public:
  // Builds the claim. Errors (kInvalidArgument) name the problem: no members,
  // duplicate names, Q not a power of two or out of range, Q < member count,
  // n == 0.
  // `sites` place the members in datacenters and racks (see PreferenceList);
  // with options.dcs set, every member must be in one of them.
  static Result<Ring> Create(std::vector<std::string> members,
                             RingOptions options, const Sites& sites = {});
  // The ring of an explicit claim (claim.h): owners[p] owns partition p;
  // the members are the distinct owners. Errors (kInvalidArgument) as
  // Create's, and an empty owner name, Q != owners.size().
  static Result<Ring> FromClaim(const std::vector<std::string>& owners,
                                RingOptions options, const Sites& sites = {});
  // The ring of a cluster state (cluster/state.h): owners[p] owns partition
  // p, and member i of `members` gets index i, whatever its name. A member
  // that owns nothing is a fallback in every preference list, after the
  // owners, in index order, unless it is retired (`retired[i]`, a member
  // that left or was removed): a retired member keeps its index and is in
  // no preference list. Errors (kInvalidArgument) as FromClaim's, and a
  // duplicate name, an owner not in `members` or retired, `retired` not
  // the size of `members`.
  static Result<Ring> FromMembers(const std::vector<std::string>& owners,
                                  RingOptions options,
                                  std::vector<std::string> members,
                                  const std::vector<bool>& retired,
                                  const Sites& sites = {});

  // Every member by index, retired ones included.
  const std::vector<std::string>& members() const { return members_; }
  // Whether member `node` left the ring (FromMembers); false for the others.
  bool retired(NodeIndex node) const { return retired_[node]; }
  uint32_t partitions() const { return partitions_; }
  uint32_t n() const { return n_; }
  // Primaries of every partition: min(n, members) without datacenters, the
  // sum over datacenters of min(n_dc, the DC's members) with them.
  uint32_t replicas() const { return replicas_; }

  // Datacenters (RingOptions::dcs); empty without them.
  const std::vector<DcReplicas>& dcs() const { return dcs_; }
  static constexpr uint32_t kNoDc = std::numeric_limits<uint32_t>::max();
  // Index into dcs() of a member's datacenter, or kNoDc (no datacenters, or
  // a retired member whose DC is not placed).
  uint32_t DcOf(NodeIndex node) const { return dc_of_[node]; }
  const Site& site(NodeIndex node) const { return sites_[node]; }
  // Primaries of every partition in datacenter `dc` (an index into dcs()):
  // min(n_dc, the DC's members).
  uint32_t ReplicasIn(uint32_t dc) const { return replicas_in_[dc]; }
  // ReplicasIn of every datacenter, by index; empty without datacenters.
  const std::vector<uint32_t>& replicas_per_dc() const { return replicas_in_; }
  // A datacenter's index in dcs() by name, or kNoDc.
  uint32_t DcIndex(std::string_view dc) const;
  // Index of a member by name, or error kNotFound.
  Result<NodeIndex> IndexOf(std::string_view name) const;

  KeyLocation Locate(std::string_view key) const;
  uint32_t PartitionOf(uint64_t hash) const;

  // Owner of partition p (p < partitions()).
  NodeIndex Owner(uint32_t partition) const { return owners_[partition]; }
  // Partitions owned by a member (node < members().size()), ascending.
  std::vector<uint32_t> PartitionsOf(NodeIndex node) const;
  // Partitions a member is a primary of (it holds a replica), ascending.
  std::vector<uint32_t> ReplicatedBy(NodeIndex node) const;

  // Every member, in preference order for partition p. Walk p, p+1, ...
  // (wrapping) and list the distinct owners met, then every member owning
  // nothing (the walk order). The primaries come first: in each datacenter
  // (or in the whole ring, without datacenters) the first n_dc members of
  // the walk, skipping a member whose rack already holds one of the DC's
  // replicas while the DC has racks not used yet, then, if racks run out,
  // the skipped ones in walk order. The primaries keep walk order among
  // themselves; the other members follow as fallbacks, in walk order.
  // Without racks and datacenters this is the first min(n, S) of the walk.
  // Requires partition < partitions(). Precomputed: Q * S entries in all.
  std::vector<NodeIndex> PreferenceList(uint32_t partition) const;
  // The first replicas() entries of PreferenceList(partition).
  std::vector<NodeIndex> Primaries(uint32_t partition) const;

  // Pending replicas (doc/membership.md, "Pending ranges"): while a change
  // is in progress, the members of a partition's other claim that are not
  // primaries of this one: while its transfer runs, those that will be
  // primaries once it is done (kIncoming: they receive the transfer); once
  // it is switched, those that were primaries until then (kOutgoing: they
  // keep their copy until the change is done). Writes go to them too;
  // reads do not. Empty when no change is in progress.
  // REQUIRE: pending.size() == partitions() or pending is empty; every
  // index a member.
  void SetPending(std::vector<std::vector<NodeIndex>> pending,
                  PendingKind kind = PendingKind::kIncoming);
  const std::vector<NodeIndex>& Pending(uint32_t partition) const;
  bool changing() const { return !pending_.empty(); }
  PendingKind pending_kind() const { return pending_kind_; }

  // The cluster state epoch this ring serves (cluster::RingOf); 0 for a
  // ring built from a member list alone. Coordinators stamp their replica
  // requests with it.
  uint64_t epoch() const { return epoch_; }
  void SetEpoch(uint64_t epoch) { epoch_ = epoch; }
  // Partitions `node` replicates now or is a pending replica of.
  std::vector<uint32_t> HeldBy(NodeIndex node) const;

 private:
  Ring() = default;
  static Status CheckOptions(const RingOptions& options, size_t members);
  // Sets sites_, dc_of_ and dcs_ from `sites` and options.dcs; errors name
  // a member outside every datacenter or a datacenter with no member.
  Status PlaceMembers(const RingOptions& options, const Sites& sites);
  // Fills preference_ and replicas_ from members_, retired_, owners_,
  // partitions_ and the sites.
  void BuildPreferenceLists();
  std::vector<std::string> members_;
  std::vector<bool> retired_;                               // by index
  std::vector<std::pair<std::string, NodeIndex>> by_name_;  // sorted, IndexOf
  std::vector<NodeIndex> owners_;                   // partition -> owner
  std::vector<std::vector<NodeIndex>> preference_;  // partition -> all members
  std::vector<std::vector<NodeIndex>> pending_;     // empty, or by partition
  std::vector<Site> sites_;                         // by index
  std::vector<uint32_t> dc_of_;                     // by index
  std::vector<DcReplicas> dcs_;
  std::vector<uint32_t> replicas_in_;  // by datacenter
  uint32_t replicas_ = 0;
  PendingKind pending_kind_ = PendingKind::kIncoming;
  uint64_t epoch_ = 0;
  uint32_t partitions_ = 0;
  uint32_t n_ = 0;
  uint32_t partition_shift_ = 0;  // 64 - log2(Q); 64 means Q == 1
};

}  // namespace shoal::ring

namespace shoal::ring {

// Sloppy quorum: where the n replicas of a write go when some primaries are
// down. Walks the first n entries of `preference` (the primaries): a live
// primary takes its own replica; a dead one is replaced by the next live
// fallback (preference[n], preference[n+1], ...) not used yet, which keeps a
// hint for it, preferring a fallback `near` it (same datacenter) when
// `near` is given. A dead primary with no fallback left gets no target.
struct ReplicaTarget {
  NodeIndex node;
  std::optional<NodeIndex> hint_for;  // set when `node` stands in for it
};
std::vector<ReplicaTarget> SloppyTargets(
    const std::vector<NodeIndex>& preference, uint32_t n,
    const std::function<bool(NodeIndex)>& is_up,
    const std::function<bool(NodeIndex, NodeIndex)>& near = {});

}  // namespace shoal::ring
