// Ring construction: validation, the partition claim and preference lists.
//
// The claim is constructed directly (round-robin, or a column layout where
// round-robin breaks a wrapping window that some claim can satisfy) rather
// than searched for, so Create() costs O(Q * S) (the precomputed preference
// lists; the claim itself is O(Q)) and never backtracks.
#include "ring/ring.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <string>
#include <utility>

namespace shoal::ring {
namespace {

constexpr uint32_t kMaxPartitions = 65536;

Status Invalid(std::string message) {
  return Status(Code::kInvalidArgument, std::move(message));
}

// Round-robin: owners[p] = p mod S. Members 0..(Q mod S)-1 get ceil(Q/S)
// partitions, the rest floor(Q/S). Every non-wrapping window of k <= S
// consecutive partitions has k distinct owners; wrapping windows may not.
std::vector<NodeIndex> RoundRobinClaim(uint32_t q, uint32_t s) {
  std::vector<NodeIndex> owners(q);
  for (uint32_t p = 0; p < q; ++p) owners[p] = p % s;
  return owners;
}

// Circular claim, valid when m * k <= Q where m = ceil(Q/S).
//
// Lay the sequence 0^c0 1^c1 ... (S-1)^c(S-1) (member i repeated c_i times;
// c_i = m for i < Q mod S, else m - 1, or all m when S divides Q) into a grid
// of m rows column by column, then read the grid row by row; that is the
// claim. Why every circular window of k has k distinct owners: each row has
// floor(Q/m) or ceil(Q/m) cells, and floor(Q/m) >= k because m * k <= Q.
// Two consecutive occurrences of one member are either in one column and
// adjacent rows (a full row apart), or the bottom of one column and the top
// of the next (a full row + 1 apart), or, for a member with m - 1 cells that
// straddles two columns, wrap from the next column back to its first cell
// (at least two rows - 1 >= k apart). Members with m cells fill whole columns
// because they come first. When S divides Q this is plain round-robin.
std::vector<NodeIndex> ColumnClaim(uint32_t q, uint32_t s) {
  const uint32_t m = (q + s - 1) / s;  // rows = the largest share
  const uint32_t extra = q % s;        // members owning m (if extra > 0)
  // Column-major sequence of owners.
  std::vector<NodeIndex> sequence;
  sequence.reserve(q);
  for (NodeIndex i = 0; i < s; ++i) {
    const uint32_t count = (extra == 0 || i < extra) ? m : m - 1;
    sequence.insert(sequence.end(), count, i);
  }
  SHOAL_ASSERT(sequence.size() == q, "claim counts do not sum to Q");
  // Item j of the sequence sits at row j % m, column j / m. Reading row by
  // row, visit the rows in order and each row's columns in order; cells past
  // the end of the sequence (in the last, partial column) do not exist.
  std::vector<NodeIndex> owners;
  owners.reserve(q);
  for (uint32_t row = 0; row < m; ++row) {
    for (uint32_t j = row; j < q; j += m) owners.push_back(sequence[j]);
  }
  SHOAL_ASSERT(owners.size() == q, "claim grid lost a cell");
  return owners;
}

}  // namespace

uint64_t HashKey(std::string_view key) {
  return XXH3_64bits(key.data(), key.size());
}

Status Ring::CheckOptions(RingOptions options, size_t members) {
  const uint32_t q = options.partitions;
  if (q < 1 || q > kMaxPartitions) {
    return Invalid("partitions=" + std::to_string(q) + " is out of range 1.." +
                   std::to_string(kMaxPartitions));
  }
  if (!std::has_single_bit(q)) {
    return Invalid("partitions=" + std::to_string(q) +
                   " is not a power of two");
  }
  if (q < members) {
    return Invalid("partitions=" + std::to_string(q) + " is fewer than the " +
                   std::to_string(members) + " members");
  }
  if (options.n == 0) return Invalid("n=0: a key needs at least one replica");
  return Status();
}

Result<Ring> Ring::Create(std::vector<std::string> members,
                          RingOptions options) {
  if (members.empty()) return Invalid("a ring needs at least one member");
  std::sort(members.begin(), members.end());
  if (members.front().empty()) return Invalid("a member name is empty");
  for (size_t i = 1; i < members.size(); ++i) {
    if (members[i] == members[i - 1]) {
      return Invalid("duplicate member '" + members[i] + "'");
    }
  }
  if (Status st = CheckOptions(options, members.size()); !st.ok()) return st;
  const uint32_t q = options.partitions;

  const auto s = static_cast<uint32_t>(members.size());
  const uint32_t k = std::min(options.n, s);
  const uint32_t m = (q + s - 1) / s;

  Ring ring;
  ring.members_ = std::move(members);
  ring.retired_.assign(s, false);
  for (NodeIndex i = 0; i < s; ++i) {
    ring.by_name_.emplace_back(ring.members_[i], i);
  }
  ring.partitions_ = q;
  ring.n_ = options.n;
  ring.partition_shift_ = 64 - static_cast<uint32_t>(std::countr_zero(q));
  // Round-robin where its wrapping windows are fine (it ends with members
  // 0..r-1, r = Q mod S, right before partition 0's member 0: fine iff r == 0
  // or r >= k). Else the column layout where circular windows are possible
  // at all: every member's occurrences must be k apart around the ring, so
  // the largest share m must satisfy m * k <= Q. Else round-robin, which
  // then meets (b) for non-wrapping windows only.
  const uint32_t r = q % s;
  const bool round_robin_circular = r == 0 || r >= k;
  const bool circular_possible = uint64_t{m} * k <= q;
  ring.owners_ = (round_robin_circular || !circular_possible)
                     ? RoundRobinClaim(q, s)
                     : ColumnClaim(q, s);

  ring.BuildPreferenceLists();
  return ring;
}

Result<Ring> Ring::FromClaim(const std::vector<std::string>& owners,
                             RingOptions options) {
  std::vector<std::string> members(owners.begin(), owners.end());
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  if (members.empty()) return Invalid("a ring needs at least one member");
  if (members.front().empty()) return Invalid("a partition has no owner");
  if (Status st = CheckOptions(options, members.size()); !st.ok()) return st;
  if (owners.size() != options.partitions) {
    return Invalid("the claim has " + std::to_string(owners.size()) +
                   " partitions, the ring " +
                   std::to_string(options.partitions));
  }
  const std::vector<bool> retired(members.size(), false);
  return FromMembers(owners, options, std::move(members), retired);
}

Result<Ring> Ring::FromMembers(const std::vector<std::string>& owners,
                               RingOptions options,
                               std::vector<std::string> members,
                               const std::vector<bool>& retired) {
  if (retired.size() != members.size()) {
    return Invalid("retired flags for " + std::to_string(retired.size()) +
                   " members, but " + std::to_string(members.size()) +
                   " members");
  }
  std::vector<std::pair<std::string, NodeIndex>> by_name;
  size_t serving = 0;
  for (NodeIndex i = 0; i < members.size(); ++i) {
    if (members[i].empty()) return Invalid("a member name is empty");
    by_name.emplace_back(members[i], i);
    serving += !retired[i];
  }
  std::sort(by_name.begin(), by_name.end());
  for (size_t i = 1; i < by_name.size(); ++i) {
    if (by_name[i].first == by_name[i - 1].first) {
      return Invalid("duplicate member '" + by_name[i].first + "'");
    }
  }
  if (serving == 0) return Invalid("a ring needs at least one member");
  if (Status st = CheckOptions(options, serving); !st.ok()) return st;
  if (owners.size() != options.partitions) {
    return Invalid("the claim has " + std::to_string(owners.size()) +
                   " partitions, the ring " +
                   std::to_string(options.partitions));
  }
  Ring ring;
  ring.members_ = std::move(members);
  ring.retired_ = retired;
  ring.by_name_ = std::move(by_name);
  ring.partitions_ = options.partitions;
  ring.n_ = options.n;
  ring.partition_shift_ =
      64 - static_cast<uint32_t>(std::countr_zero(options.partitions));
  ring.owners_.reserve(owners.size());
  for (const std::string& owner : owners) {
    if (owner.empty()) return Invalid("a partition has no owner");
    auto index = ring.IndexOf(owner);
    if (!index.ok()) {
      return Invalid("owner '" + owner + "' is not a member");
    }
    if (ring.retired_[*index]) {
      return Invalid("owner '" + owner + "' is retired");
    }
    ring.owners_.push_back(*index);
  }
  ring.BuildPreferenceLists();
  return ring;
}

void Ring::BuildPreferenceLists() {
  const uint32_t q = partitions_;
  const auto s = static_cast<uint32_t>(members_.size());
  // Preference lists, built backwards: the list for p is owner(p) followed
  // by the list for p + 1 without owner(p). The list for Q - 1 is seeded by
  // walking Q - 1, 0, 1, ... once, then members owning nothing, in order.
  preference_.assign(q, {});
  {
    std::vector<bool> seen(s, false);
    std::vector<NodeIndex>& last = preference_[q - 1];
    last.reserve(s);
    for (uint32_t step = 0; step < q && last.size() < s; ++step) {
      const NodeIndex owner = owners_[(q - 1 + step) % q];
      if (!seen[owner]) {
        seen[owner] = true;
        last.push_back(owner);
      }
    }
    for (NodeIndex i = 0; i < s; ++i) {
      if (!seen[i] && !retired_[i]) last.push_back(i);
    }
  }
  for (uint32_t p = q - 1; p-- > 0;) {
    const NodeIndex owner = owners_[p];
    const std::vector<NodeIndex>& next = preference_[p + 1];
    std::vector<NodeIndex>& list = preference_[p];
    list.reserve(s);
    list.push_back(owner);
    for (NodeIndex i : next) {
      if (i != owner) list.push_back(i);
    }
  }
}

Result<NodeIndex> Ring::IndexOf(std::string_view name) const {
  auto it = std::lower_bound(
      by_name_.begin(), by_name_.end(), name,
      [](const auto& entry, std::string_view n) { return entry.first < n; });
  if (it == by_name_.end() || it->first != name) {
    return Status(Code::kNotFound,
                  "no member named '" + std::string(name) + "'");
  }
  return it->second;
}

KeyLocation Ring::Locate(std::string_view key) const {
  KeyLocation loc;
  loc.hash = HashKey(key);
  loc.partition = PartitionOf(loc.hash);
  loc.segment = static_cast<uint32_t>(loc.hash);
  return loc;
}

uint32_t Ring::PartitionOf(uint64_t hash) const {
  // Shifting a 64-bit value by 64 is undefined, hence Q == 1 apart.
  if (partition_shift_ >= 64) return 0;
  return static_cast<uint32_t>(hash >> partition_shift_);
}

std::vector<uint32_t> Ring::PartitionsOf(NodeIndex node) const {
  SHOAL_REQUIRE(node < members_.size(), "PartitionsOf: no such member");
  std::vector<uint32_t> result;
  for (uint32_t p = 0; p < partitions_; ++p) {
    if (owners_[p] == node) result.push_back(p);
  }
  return result;
}

std::vector<uint32_t> Ring::ReplicatedBy(NodeIndex node) const {
  SHOAL_REQUIRE(node < members_.size(), "ReplicatedBy: no such member");
  std::vector<uint32_t> result;
  for (uint32_t p = 0; p < partitions_; ++p) {
    const std::vector<NodeIndex>& list = preference_[p];
    const size_t count = std::min<size_t>(n_, list.size());
    if (std::find(list.begin(), list.begin() + count, node) !=
        list.begin() + count) {
      result.push_back(p);
    }
  }
  return result;
}

void Ring::SetPending(std::vector<std::vector<NodeIndex>> pending,
                      PendingKind kind) {
  SHOAL_REQUIRE(pending.empty() || pending.size() == partitions_,
                "SetPending: one list per partition");
  for (const auto& list : pending) {
    for (NodeIndex i : list) {
      SHOAL_REQUIRE(i < members_.size(), "SetPending: no such member");
    }
  }
  pending_ = std::move(pending);
  pending_kind_ = kind;
}

const std::vector<NodeIndex>& Ring::Pending(uint32_t partition) const {
  static const std::vector<NodeIndex> kNone;
  SHOAL_REQUIRE(partition < partitions_, "Pending: no such partition");
  return pending_.empty() ? kNone : pending_[partition];
}

std::vector<uint32_t> Ring::HeldBy(NodeIndex node) const {
  std::vector<uint32_t> held = ReplicatedBy(node);
  if (pending_.empty()) return held;
  for (uint32_t p = 0; p < partitions_; ++p) {
    const auto& list = pending_[p];
    if (std::find(list.begin(), list.end(), node) != list.end()) {
      held.push_back(p);
    }
  }
  std::sort(held.begin(), held.end());
  held.erase(std::unique(held.begin(), held.end()), held.end());
  return held;
}

std::vector<NodeIndex> Ring::PreferenceList(uint32_t partition) const {
  SHOAL_REQUIRE(partition < partitions_, "PreferenceList: no such partition");
  return preference_[partition];
}

std::vector<NodeIndex> Ring::Primaries(uint32_t partition) const {
  SHOAL_REQUIRE(partition < partitions_, "Primaries: no such partition");
  const std::vector<NodeIndex>& list = preference_[partition];
  const size_t count = std::min<size_t>(n_, list.size());
  return std::vector<NodeIndex>(list.begin(), list.begin() + count);
}

}  // namespace shoal::ring

namespace shoal::ring {

std::vector<ReplicaTarget> SloppyTargets(
    const std::vector<NodeIndex>& preference, uint32_t n,
    const std::function<bool(NodeIndex)>& is_up) {
  const size_t primaries = std::min<size_t>(n, preference.size());
  std::vector<ReplicaTarget> out;
  size_t next_fallback = primaries;
  for (size_t i = 0; i < primaries; ++i) {
    const NodeIndex p = preference[i];
    if (is_up(p)) {
      out.push_back({p, std::nullopt});
      continue;
    }
    while (next_fallback < preference.size() &&
           !is_up(preference[next_fallback])) {
      ++next_fallback;
    }
    if (next_fallback < preference.size()) {
      out.push_back({preference[next_fallback++], p});
    }
  }
  return out;
}

}  // namespace shoal::ring
