// Cluster state values, their order and the plan of a staged change
// (state.h).
#include "cluster/state.h"

#include <xxhash.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace shoal::cluster {
namespace {

Status Invalid(std::string message) {
  return Status(Code::kInvalidArgument, std::move(message));
}

void SortMembers(std::vector<Member>& members) {
  std::sort(members.begin(), members.end(),
            [](const Member& a, const Member& b) { return a.name < b.name; });
}

Member* FindMutable(std::vector<Member>& members, std::string_view name) {
  for (Member& m : members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

}  // namespace

std::string_view MemberStateName(MemberState state) {
  switch (state) {
    case MemberState::kJoining:
      return "joining";
    case MemberState::kValid:
      return "valid";
    case MemberState::kLeaving:
      return "leaving";
    case MemberState::kRemoved:
      return "removed";
  }
  return "unknown";
}

Result<ClusterState> ClusterState::Initial(std::vector<Member> members,
                                           ring::RingOptions options) {
  std::vector<std::string> names;
  for (Member& m : members) {
    if (m.address.empty()) {
      return Invalid("member '" + m.name + "' has no address");
    }
    m.state = MemberState::kValid;
    names.push_back(m.name);
  }
  auto claim = ring::InitialClaim(names, options);  // checks the names
  if (!claim.ok()) return claim.status();
  ClusterState state;
  state.epoch = 1;
  state.options = options;
  state.members = std::move(members);
  SortMembers(state.members);
  state.claim = std::move(claim).value();
  return state;
}

ring::Sites ClusterState::Sites() const {
  ring::Sites sites;
  for (const Member& m : members) sites[m.name] = {m.dc, m.rack};
  return sites;
}

const Member* ClusterState::Find(std::string_view name) const {
  for (const Member& m : members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

uint64_t ClusterState::Digest() const {
  // Fields separated by a NUL, records by a 0x1e: names and addresses hold
  // neither (the config refuses control characters in them).
  std::string bytes;
  bytes += std::to_string(options.partitions) + '\0' +
           std::to_string(options.n) + '\x1e';
  for (const ring::DcReplicas& d : options.dcs) {
    bytes += d.dc + '\0' + std::to_string(d.n) + '\0';
  }
  bytes += '\x1e';
  for (const Member& m : members) {
    bytes += m.name + '\0' + m.address + '\0' +
             std::string(MemberStateName(m.state)) + '\0' + m.dc + '\0' +
             m.rack + '\x1e';
  }
  for (const std::string& owner : claim) bytes += owner + '\0';
  bytes += '\x1e';
  for (const std::string& owner : next_claim) bytes += owner + '\0';
  if (switched) bytes += "\x1eswitched";
  return XXH3_64bits(bytes.data(), bytes.size());
}

Result<ring::Ring> RingOf(const ClusterState& state) {
  std::vector<std::string> names;
  std::vector<bool> retired;
  for (const Member& m : state.members) {
    names.push_back(m.name);
    retired.push_back(m.state == MemberState::kRemoved);
  }
  // Reads go to the primaries of `serving`; writes to those of `other` too.
  const bool switched = state.changing() && state.switched;
  const ring::Claim& serving = switched ? state.next_claim : state.claim;
  const ring::Sites sites = state.Sites();
  auto ring =
      ring::Ring::FromMembers(serving, state.options, names, retired, sites);
  if (!ring.ok()) return ring;
  ring.value().SetEpoch(state.epoch);
  if (!state.changing()) return ring;
  const ring::Claim& other = switched ? state.claim : state.next_claim;
  auto next = ring::Ring::FromMembers(other, state.options, std::move(names),
                                      retired, sites);
  if (!next.ok()) return next.status();
  std::vector<std::vector<ring::NodeIndex>> pending(state.options.partitions);
  for (uint32_t p = 0; p < state.options.partitions; ++p) {
    const auto now = ring.value().Primaries(p);
    for (ring::NodeIndex i : next.value().Primaries(p)) {
      if (std::find(now.begin(), now.end(), i) == now.end()) {
        pending[p].push_back(i);
      }
    }
  }
  ring.value().SetPending(
      std::move(pending),
      switched ? ring::PendingKind::kOutgoing : ring::PendingKind::kIncoming);
  return ring;
}

// Primaries of every partition, by name, in preference order.
Result<std::vector<std::vector<std::string>>> PrimariesByName(
    const ring::Claim& claim, const ring::RingOptions& options,
    const ring::Sites& sites) {
  auto ring = ring::Ring::FromClaim(claim, options, sites);
  if (!ring.ok()) return ring.status();
  std::vector<std::vector<std::string>> out(claim.size());
  for (uint32_t p = 0; p < claim.size(); ++p) {
    for (ring::NodeIndex i : ring.value().Primaries(p)) {
      out[p].push_back(ring.value().members()[i]);
    }
  }
  return out;
}

Order Compare(const ClusterState& mine, const ClusterState& theirs) {
  if (theirs.epoch > mine.epoch) return Order::kNewer;
  if (theirs.epoch < mine.epoch) return Order::kOlder;
  return mine == theirs ? Order::kSame : Order::kConflict;
}

Change Change::Join(std::string node, std::string address, std::string dc,
                    std::string rack) {
  return {Kind::kJoin, std::move(node), std::move(address),
          {},          std::move(dc),   std::move(rack)};
}
Change Change::Leave(std::string node) {
  return {Kind::kLeave, std::move(node), {}, {}};
}
Change Change::Replace(std::string node, std::string replacement,
                       std::string address) {
  return {Kind::kReplace, std::move(node), std::move(address),
          std::move(replacement)};
}
Change Change::ForceRemove(std::string node) {
  return {Kind::kForceRemove, std::move(node), {}, {}};
}

Result<Plan> MakePlan(const ClusterState& current,
                      const std::vector<Change>& changes) {
  if (current.changing()) {
    return Invalid("epoch " + std::to_string(current.epoch) +
                   " is still moving partitions: let its transfers finish "
                   "before planning another change");
  }
  if (changes.empty()) return Invalid("no change is staged");
  Plan plan;
  ClusterState& next = plan.next;
  next = current;
  ring::Claim claim = current.claim;
  // Nodes whose data cannot be read: force-removed and replaced ones.
  std::set<std::string> gone;
  auto valid_member = [&](const std::string& name) -> Status {
    const Member* m = next.Find(name);
    if (m == nullptr) {
      return Status(Code::kNotFound, "no member named '" + name + "'");
    }
    if (m->state != MemberState::kValid) {
      return Invalid("'" + name + "' is " +
                     std::string(MemberStateName(m->state)) +
                     ", not a valid member");
    }
    return Status();
  };
  auto new_member = [&](const std::string& name,
                        const std::string& address) -> Status {
    if (name.empty()) return Invalid("a member name is empty");
    if (address.empty()) return Invalid("'" + name + "' needs an address");
    const Member* m = next.Find(name);
    if (m != nullptr && m->state != MemberState::kRemoved) {
      return Invalid("'" + name + "' is already a member");
    }
    for (const Member& other : next.members) {
      if (other.address == address && other.state != MemberState::kRemoved) {
        return Invalid("address " + address + " is already '" + other.name +
                       "''s");
      }
    }
    return Status();
  };
  // A new member goes last, so no other member's index moves; a removed
  // one that joins again gets its old place back.
  auto add_member = [&](const std::string& name, const std::string& address,
                        const std::string& dc, const std::string& rack) {
    const Member joining{name, address, MemberState::kJoining, dc, rack};
    if (Member* m = FindMutable(next.members, name)) {
      *m = joining;
    } else {
      next.members.push_back(joining);
    }
  };
  // In a ring with datacenters a new member names one of them.
  auto placed = [&](const std::string& name, const std::string& dc) -> Status {
    if (current.options.dcs.empty()) {
      if (dc.empty()) return Status();
      return Invalid("'" + name + "' names datacenter '" + dc +
                     "', but the ring has no datacenters");
    }
    std::string names;
    for (const ring::DcReplicas& d : current.options.dcs) {
      if (d.dc == dc) return Status();
      names += (names.empty() ? "" : ", ") + d.dc;
    }
    return Invalid(
        "'" + name + "' must join one of the ring's datacenters (" + names +
        ")" + (dc.empty() ? ": give its datacenter" : ", not '" + dc + "'"));
  };
  for (const Change& change : changes) {
    switch (change.kind) {
      case Change::Kind::kJoin: {
        if (Status s = new_member(change.node, change.address); !s.ok()) {
          return s;
        }
        if (Status s = placed(change.node, change.dc); !s.ok()) return s;
        auto c = ring::AddToClaim(claim, change.node, current.options);
        if (!c.ok()) return c.status();
        claim = std::move(c).value().claim;
        add_member(change.node, change.address, change.dc, change.rack);
        break;
      }
      case Change::Kind::kLeave:
      case Change::Kind::kForceRemove: {
        if (Status s = valid_member(change.node); !s.ok()) return s;
        auto c = ring::RemoveFromClaim(claim, change.node, current.options);
        if (!c.ok()) return c.status();
        claim = std::move(c).value().claim;
        const bool force = change.kind == Change::Kind::kForceRemove;
        FindMutable(next.members, change.node)->state =
            force ? MemberState::kRemoved : MemberState::kLeaving;
        if (force) gone.insert(change.node);
        break;
      }
      case Change::Kind::kReplace: {
        if (Status s = valid_member(change.node); !s.ok()) return s;
        if (Status s = new_member(change.replacement, change.address);
            !s.ok()) {
          return s;
        }
        auto c = ring::ReplaceInClaim(claim, change.node, change.replacement);
        if (!c.ok()) return c.status();
        claim = std::move(c).value().claim;
        // The replacement takes the old member's place: its datacenter
        // and rack too.
        Member* old = FindMutable(next.members, change.node);
        old->state = MemberState::kLeaving;
        const std::string dc = old->dc, rack = old->rack;
        add_member(change.replacement, change.address, dc, rack);
        gone.insert(change.node);
        break;
      }
    }
  }
  const auto owners = ring::ClaimMembers(claim);
  if (owners.size() < current.options.n) {
    return Invalid(
        "the change leaves " + std::to_string(owners.size()) +
        " members, fewer than n=" + std::to_string(current.options.n));
  }
  next.epoch = current.epoch + 1;
  next.next_claim = claim;
  plan.shape = ring::InspectClaim(claim, current.options.n);
  for (size_t p = 0; p < claim.size(); ++p) {
    plan.partitions_changing_owner += claim[p] != current.claim[p];
  }

  const ring::Sites sites = next.Sites();
  auto before = PrimariesByName(current.claim, current.options, sites);
  auto after = PrimariesByName(claim, current.options, sites);
  if (!before.ok()) return before.status();
  if (!after.ok()) return after.status();
  std::map<std::string, uint32_t> sending;  // transfers per source so far
  for (uint32_t p = 0; p < claim.size(); ++p) {
    const auto& had = before.value()[p];
    for (const std::string& to : after.value()[p]) {
      if (std::find(had.begin(), had.end(), to) != had.end()) continue;
      // The readable current primary with the fewest sends so far.
      const std::string* from = nullptr;
      for (const std::string& candidate : had) {
        if (gone.count(candidate)) continue;
        if (from == nullptr || sending[candidate] < sending[*from]) {
          from = &candidate;
        }
      }
      if (from == nullptr) {
        return Status(Code::kUnavailable,
                      "partition " + std::to_string(p) +
                          " has no primary left to copy from: every "
                          "current one is removed or replaced");
      }
      ++sending[*from];
      plan.transfers.push_back({p, *from, to});
    }
  }
  return plan;
}

Result<ClusterState> Complete(const ClusterState& changing) {
  if (!changing.changing()) {
    return Invalid("epoch " + std::to_string(changing.epoch) +
                   " has no change in progress");
  }
  ClusterState done = changing;
  done.epoch = changing.epoch + 1;
  done.claim = std::move(done.next_claim);
  done.next_claim.clear();
  done.switched = false;
  for (Member& m : done.members) {
    if (m.state == MemberState::kJoining) m.state = MemberState::kValid;
    if (m.state == MemberState::kLeaving) m.state = MemberState::kRemoved;
  }
  return done;
}

Result<ClusterState> Advance(const ClusterState& changing) {
  if (!changing.changing() || changing.switched) return Complete(changing);
  ClusterState switched = changing;
  switched.epoch = changing.epoch + 1;
  switched.switched = true;
  return switched;
}

std::vector<std::string> Receivers(const ClusterState& state) {
  if (!state.changing() || state.switched) return {};
  auto ring = RingOf(state);
  if (!ring.ok()) return {};
  std::set<std::string> receivers;
  for (uint32_t p = 0; p < ring.value().partitions(); ++p) {
    for (ring::NodeIndex i : ring.value().Pending(p)) {
      receivers.insert(ring.value().members()[i]);
    }
  }
  return {receivers.begin(), receivers.end()};
}

std::string Describe(const Change& change) {
  switch (change.kind) {
    case Change::Kind::kJoin:
      return "join " + change.node + "@" + change.address;
    case Change::Kind::kLeave:
      return "leave " + change.node;
    case Change::Kind::kReplace:
      return "replace " + change.node + " by " + change.replacement + "@" +
             change.address;
    case Change::Kind::kForceRemove:
      return "force-remove " + change.node;
  }
  return "?";
}

Result<ClusterState> CommitPlan(const ClusterState& current,
                                const std::vector<Change>& changes,
                                const std::set<std::string>& in_step) {
  if (changes.empty()) {
    return Invalid(
        "nothing is staged: stage changes first (shoal cluster join, leave, "
        "replace or force-remove)");
  }
  std::set<std::string, std::less<>> going;  // not expected to be in step
  size_t removals = 0;
  for (const Change& c : changes) {
    if (c.kind == Change::Kind::kForceRemove) ++removals;
    if (c.kind == Change::Kind::kForceRemove ||
        c.kind == Change::Kind::kReplace) {
      going.insert(c.node);
    }
  }
  if (removals > 0 && removals < changes.size()) {
    return Invalid(
        "force-removals complete at once and the other changes move "
        "partitions: commit the force-removals on their own first (shoal "
        "cluster clear, stage them, commit; then the rest)");
  }
  auto plan = MakePlan(current, changes);
  if (!plan.ok()) return plan.status();
  for (const Member& m : current.members) {
    if (m.state == MemberState::kRemoved || going.contains(m.name)) continue;
    if (!in_step.contains(m.name)) {
      return Status(
          Code::kUnavailable,
          "member " + m.name + " (" + m.address +
              ") is unreachable or has not reported epoch " +
              std::to_string(current.epoch) +
              " with this state: every member that stays must hold the "
              "state a change is made on; wait until `shoal cluster status` "
              "shows it converged, or force-remove it too");
    }
  }
  // Joins, leaves, replacements: the change is in progress until the
  // receivers have their partitions (pending ranges meanwhile).
  if (removals == 0) return plan.value().next;
  // Force-removals: nothing to transfer (the data is taken as lost), so the
  // plan's state and its completion are one step, one epoch on.
  auto done = Complete(plan.value().next);
  if (!done.ok()) return done.status();
  done.value().epoch = current.epoch + 1;
  return done;
}

}  // namespace shoal::cluster
