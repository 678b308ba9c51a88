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

Status CheckDcs(const std::vector<DcReplicas>& dcs, uint32_t n) {
  if (dcs.empty()) return Status();
  uint64_t sum = 0;
  for (size_t i = 0; i < dcs.size(); ++i) {
    if (dcs[i].dc.empty()) return Invalid("a datacenter name is empty");
    if (i > 0 && dcs[i].dc <= dcs[i - 1].dc) {
      return Invalid("datacenter '" + dcs[i].dc +
                     "' is listed twice or out of order");
    }
    if (dcs[i].n == 0) {
      return Invalid("datacenter '" + dcs[i].dc +
                     "' keeps 0 replicas; each one listed keeps at least 1");
    }
    sum += dcs[i].n;
  }
  if (sum != n) {
    return Invalid("n=" + std::to_string(n) + " is not the sum " +
                   std::to_string(sum) + " of the per-datacenter replicas");
  }
  return Status();
}

Status Ring::CheckOptions(const RingOptions& options, size_t members) {
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
  return CheckDcs(options.dcs, options.n);
}

Status Ring::PlaceMembers(const RingOptions& options, const Sites& sites) {
  dcs_ = options.dcs;
  sites_.assign(members_.size(), Site{});
  dc_of_.assign(members_.size(), dcs_.empty() ? 0 : kNoDc);
  std::vector<uint32_t> serving(std::max<size_t>(dcs_.size(), 1), 0);
  for (NodeIndex i = 0; i < members_.size(); ++i) {
    auto it = sites.find(members_[i]);
    if (it != sites.end()) sites_[i] = it->second;
    if (dcs_.empty()) {
      serving[0] += !retired_[i];
      continue;
    }
    dc_of_[i] = DcIndex(sites_[i].dc);
    if (dc_of_[i] != kNoDc) {
      serving[dc_of_[i]] += !retired_[i];
    } else if (!retired_[i]) {
      std::string names;
      for (const DcReplicas& d : dcs_)
        names += (names.empty() ? "" : ", ") + d.dc;
      return Invalid("member '" + members_[i] + "' is in datacenter '" +
                     sites_[i].dc + "', which the placement (" + names +
                     ") does not name");
    }
  }
  replicas_ = 0;
  replicas_in_.assign(dcs_.size(), 0);
  for (size_t d = 0; d < dcs_.size(); ++d) {
    if (serving[d] == 0) {
      return Invalid("datacenter '" + dcs_[d].dc + "' has no member");
    }
    replicas_in_[d] = std::min(dcs_[d].n, serving[d]);
    replicas_ += replicas_in_[d];
  }
  if (dcs_.empty()) replicas_ = std::min(n_, serving[0]);
  return Status();
}

uint32_t Ring::DcIndex(std::string_view dc) const {
  for (uint32_t d = 0; d < dcs_.size(); ++d) {
    if (dcs_[d].dc == dc) return d;
  }
  return kNoDc;
}

Result<Ring> Ring::Create(std::vector<std::string> members, RingOptions options,
                          const Sites& sites) {
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

  if (Status st = ring.PlaceMembers(options, sites); !st.ok()) return st;
  ring.BuildPreferenceLists();
  return ring;
}

Result<Ring> Ring::FromClaim(const std::vector<std::string>& owners,
                             RingOptions options, const Sites& sites) {
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
  return FromMembers(owners, options, std::move(members), retired, sites);
}

Result<Ring> Ring::FromMembers(const std::vector<std::string>& owners,
                               RingOptions options,
                               std::vector<std::string> members,
                               const std::vector<bool>& retired,
                               const Sites& sites) {
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
  if (Status st = ring.PlaceMembers(options, sites); !st.ok()) return st;
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
  // Primaries first: per datacenter (one group without datacenters) the
  // first n_dc of the walk on racks not used yet, then the skipped ones.
  const size_t groups = std::max<size_t>(dcs_.size(), 1);
  std::vector<uint32_t> wanted(groups);
  for (size_t g = 0; g < groups; ++g) {
    wanted[g] = dcs_.empty() ? n_ : dcs_[g].n;
  }
  std::vector<uint32_t> taken(groups);
  std::vector<std::vector<std::string_view>> racks(groups);
  std::vector<bool> chosen(s);
  std::vector<uint32_t> racks_in(groups, 0);  // distinct racks per group
  {
    std::vector<std::vector<std::string_view>> all(groups);
    for (NodeIndex i = 0; i < s; ++i) {
      if (retired_[i] || dc_of_[i] == kNoDc) continue;
      auto& r = all[dc_of_[i]];
      if (std::find(r.begin(), r.end(), sites_[i].rack) == r.end()) {
        r.push_back(sites_[i].rack);
      }
    }
    for (size_t g = 0; g < groups; ++g) {
      racks_in[g] = static_cast<uint32_t>(all[g].size());
    }
  }
  for (std::vector<NodeIndex>& list : preference_) {
    std::fill(taken.begin(), taken.end(), 0);
    std::fill(chosen.begin(), chosen.end(), false);
    for (auto& r : racks) r.clear();
    for (int pass = 0; pass < 2; ++pass) {
      for (NodeIndex i : list) {
        const uint32_t g = dc_of_[i];
        if (g == kNoDc || chosen[i] || taken[g] >= wanted[g]) continue;
        auto& used = racks[g];
        const bool rack_used =
            std::find(used.begin(), used.end(), sites_[i].rack) != used.end();
        if (pass == 0 && rack_used && used.size() < racks_in[g]) continue;
        chosen[i] = true;
        ++taken[g];
        if (!rack_used) used.push_back(sites_[i].rack);
      }
    }
    std::stable_partition(list.begin(), list.end(),
                          [&chosen](NodeIndex i) { return chosen[i]; });
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
    const size_t count = replicas_;
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
  return std::vector<NodeIndex>(list.begin(), list.begin() + replicas_);
}

}  // namespace shoal::ring

namespace shoal::ring {

std::vector<ReplicaTarget> SloppyTargets(
    const std::vector<NodeIndex>& preference, uint32_t n,
    const std::function<bool(NodeIndex)>& is_up,
    const std::function<bool(NodeIndex, NodeIndex)>& near) {
  const size_t primaries = std::min<size_t>(n, preference.size());
  std::vector<ReplicaTarget> out;
  std::vector<bool> used(preference.size(), false);
  // The first live fallback not used yet, among those `fits`.
  auto take = [&](NodeIndex p, bool near_only) -> bool {
    for (size_t f = primaries; f < preference.size(); ++f) {
      const NodeIndex x = preference[f];
      if (used[f] || (near_only && !near(p, x)) || !is_up(x)) continue;
      used[f] = true;
      out.push_back({x, p});
      return true;
    }
    return false;
  };
  for (size_t i = 0; i < primaries; ++i) {
    const NodeIndex p = preference[i];
    if (is_up(p)) {
      out.push_back({p, std::nullopt});
      continue;
    }
    if (near && take(p, true)) continue;
    take(p, false);
  }
  return out;
}

}  // namespace shoal::ring
