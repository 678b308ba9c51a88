// Claim changes that move the fewest partitions (claim.h).
//
// Adding a member X: the members above the new share give X their surplus,
// one partition each, at places spread evenly around the ring where X is at
// least k from its other partitions (no window then repeats X; taking a
// partition from someone cannot repeat anyone). If no spread does, X takes
// the partitions nearest the ideal places regardless.
// Removing a member Y: Y's partitions go to the members below the new
// share, a bipartite matching (each partition to a member not within k of
// it) solved with augmenting paths, which finds an assignment whenever one
// exists; partitions left over go to the member with room that repeats
// least. With S <= n the change is Ring::Create's claim for the new
// members, relabelled to keep the most owners in place.
#include "ring/claim.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "base/assert.h"

namespace shoal::ring {
namespace {

Status Invalid(std::string message) {
  return Status(Code::kInvalidArgument, std::move(message));
}

// Whether a balanced claim of q partitions over s members can keep every
// wrapping window of k distinct (ring.h): the largest share fits k apart.
bool CircularFeasible(uint32_t q, uint32_t s, uint32_t k) {
  return uint64_t{(q + s - 1) / s} * k <= q;
}

// How many partitions other than p within k of p `member` owns (around
// the ring when wrapping windows count).
uint32_t CountNear(const Claim& claim, uint32_t p, std::string_view member,
                   uint32_t k, bool circular) {
  const auto q = static_cast<uint32_t>(claim.size());
  uint32_t count = 0;
  for (uint32_t d = 1; d < k && d < q; ++d) {
    if (p + d < q || circular) count += claim[(p + d) % q] == member;
    if (p >= d || circular) count += claim[(p + q - d) % q] == member;
  }
  return count;
}

bool OwnsNear(const Claim& claim, uint32_t p, std::string_view member,
              uint32_t k, bool circular) {
  return CountNear(claim, p, member, k, circular) > 0;
}

Status CheckClaim(const Claim& claim) {
  if (claim.empty()) return Invalid("a claim needs at least one partition");
  for (uint32_t p = 0; p < claim.size(); ++p) {
    if (claim[p].empty()) {
      return Invalid("partition " + std::to_string(p) + " has no owner");
    }
  }
  return Status();
}

uint32_t Moved(const Claim& before, const Claim& after) {
  uint32_t moved = 0;
  for (size_t p = 0; p < before.size(); ++p) moved += before[p] != after[p];
  return moved;
}

// Targets for the new members: floor(Q/S) each, and one more for the
// Q mod S that own the most now (ties by name), so the fewest move.
std::map<std::string, uint32_t> Targets(
    const std::vector<std::string>& members,
    const std::map<std::string, uint32_t>& counts, uint32_t q) {
  std::vector<std::string> order = members;
  auto count_of = [&](const std::string& m) {
    auto it = counts.find(m);
    return it == counts.end() ? 0u : it->second;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](const std::string& a, const std::string& b) {
                     return count_of(a) > count_of(b);
                   });
  const auto s = static_cast<uint32_t>(members.size());
  std::map<std::string, uint32_t> targets;
  for (uint32_t i = 0; i < s; ++i) {
    targets[order[i]] = q / s + (i < q % s ? 1 : 0);
  }
  return targets;
}

std::map<std::string, uint32_t> Counts(const Claim& claim) {
  std::map<std::string, uint32_t> counts;
  for (const std::string& owner : claim) ++counts[owner];
  return counts;
}

// Balanced, and no window of k repeats an owner.
bool Acceptable(const Claim& claim, uint32_t n) {
  const ClaimShape shape = InspectClaim(claim, n);
  return shape.balanced() && shape.bad_windows == 0;
}

// Ring::Create's claim for `members`, its owners relabelled so that as many
// partitions as possible keep the owner they have in `before`.
Result<ClaimChange> Reclaim(const Claim& before,
                            std::vector<std::string> members,
                            RingOptions options) {
  auto fresh = InitialClaim(members, options);
  if (!fresh.ok()) return fresh.status();
  std::sort(members.begin(), members.end());
  // overlap[(slot, member)]: partitions the fresh claim gives `slot` that
  // `member` owns now. Greedy: the largest overlap first.
  std::map<std::pair<std::string, std::string>, uint32_t> overlap;
  for (size_t p = 0; p < before.size(); ++p) {
    ++overlap[{fresh.value()[p], before[p]}];
  }
  std::vector<std::pair<uint32_t, std::pair<std::string, std::string>>> pairs;
  for (const auto& [key, count] : overlap) pairs.push_back({count, key});
  std::stable_sort(
      pairs.begin(), pairs.end(),
      [](const auto& a, const auto& b) { return a.first > b.first; });
  std::map<std::string, std::string> label;  // fresh slot -> member
  std::set<std::string> used;
  const std::set<std::string> wanted(members.begin(), members.end());
  for (const auto& [count, key] : pairs) {
    const auto& [slot, member] = key;
    if (label.count(slot) || used.count(member) || !wanted.count(member)) {
      continue;
    }
    label[slot] = member;
    used.insert(member);
  }
  auto unused = members.begin();
  for (const std::string& slot : members) {  // fresh slots are member names
    if (label.count(slot)) continue;
    while (used.count(*unused)) ++unused;
    label[slot] = *unused;
    used.insert(*unused);
  }
  ClaimChange change;
  change.claim.reserve(before.size());
  for (const std::string& slot : fresh.value()) {
    change.claim.push_back(label[slot]);
  }
  change.moved = Moved(before, change.claim);
  change.minimal = false;
  return change;
}

// X's partitions placed near evenly spaced ideal positions, starting at
// `offset`; each taken from a member with surplus left. Strict: only where
// X is not within k of its other partitions, false if some ideal position
// has none left. Otherwise the nearest partition with surplus.
bool PlaceAdded(Claim& claim, const std::string& x, uint32_t share,
                std::map<std::string, uint32_t> surplus, uint32_t k,
                bool circular, uint32_t offset, bool strict) {
  const auto q = static_cast<uint32_t>(claim.size());
  for (uint32_t j = 0; j < share; ++j) {
    const uint32_t ideal =
        (offset + static_cast<uint32_t>(uint64_t{j} * q / share)) % q;
    bool placed = false;
    for (uint32_t step = 0; step < q && !placed; ++step) {
      // 0, +1, -1, +2, -2, ...
      const uint32_t d = (step + 1) / 2;
      const uint32_t p = step % 2 == 1 ? (ideal + d) % q : (ideal + q - d) % q;
      auto it = surplus.find(claim[p]);
      if (it == surplus.end() || it->second == 0) continue;
      if (strict && OwnsNear(claim, p, x, k, circular)) continue;
      --it->second;
      claim[p] = x;
      placed = true;
    }
    if (!placed) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> ClaimMembers(const Claim& claim) {
  std::set<std::string> names(claim.begin(), claim.end());
  return {names.begin(), names.end()};
}

ClaimShape InspectClaim(const Claim& claim, uint32_t n) {
  ClaimShape shape;
  if (claim.empty()) return shape;
  const auto counts = Counts(claim);
  const auto q = static_cast<uint32_t>(claim.size());
  shape.members = static_cast<uint32_t>(counts.size());
  shape.min_share = q;
  for (const auto& [name, count] : counts) {
    shape.min_share = std::min(shape.min_share, count);
    shape.max_share = std::max(shape.max_share, count);
  }
  shape.window = std::min(n, shape.members);
  shape.circular = CircularFeasible(q, shape.members, shape.window);
  const uint32_t k = shape.window;
  const uint32_t last_start = shape.circular ? q - 1 : q - std::min(k, q);
  for (uint32_t start = 0; start <= last_start; ++start) {
    std::set<std::string_view> seen;
    for (uint32_t j = 0; j < k; ++j) {
      if (!seen.insert(claim[(start + j) % q]).second) {
        ++shape.bad_windows;
        break;
      }
    }
  }
  return shape;
}

Result<Claim> InitialClaim(std::vector<std::string> members,
                           RingOptions options) {
  // The claim owns partitions; which owner is a primary in which
  // datacenter is the ring's business (PreferenceList), so it is claimed
  // as for one datacenter.
  options.dcs.clear();
  auto ring = Ring::Create(std::move(members), options);
  if (!ring.ok()) return ring.status();
  Claim claim;
  claim.reserve(ring.value().partitions());
  for (uint32_t p = 0; p < ring.value().partitions(); ++p) {
    claim.push_back(ring.value().members()[ring.value().Owner(p)]);
  }
  return claim;
}

Result<ClaimChange> AddToClaim(const Claim& claim, std::string_view member,
                               RingOptions options) {
  if (Status s = CheckClaim(claim); !s.ok()) return s;
  if (member.empty()) return Invalid("a member name is empty");
  std::vector<std::string> members = ClaimMembers(claim);
  const std::string x(member);
  if (std::binary_search(members.begin(), members.end(), x)) {
    return Invalid("'" + x + "' is already a member");
  }
  const auto q = static_cast<uint32_t>(claim.size());
  members.push_back(x);
  const auto s = static_cast<uint32_t>(members.size());
  if (q < s) {
    return Invalid("partitions=" + std::to_string(q) + " is fewer than the " +
                   std::to_string(s) + " members");
  }
  const auto counts = Counts(claim);
  const auto targets = Targets(members, counts, q);
  std::map<std::string, uint32_t> surplus;
  for (const auto& [name, count] : counts) {
    const uint32_t target = targets.at(name);
    surplus[name] = count > target ? count - target : 0;
  }
  const uint32_t share = targets.at(x);
  const uint32_t k = std::min(options.n, s);
  const bool circular = CircularFeasible(q, s, k);
  // With S <= n every member holds every partition whatever the claim, so
  // a re-claim moves no data and gives the best preference order.
  if (s <= options.n) return Reclaim(claim, std::move(members), options);
  const uint32_t spacing = std::max(1u, q / std::max(1u, share));
  for (uint32_t offset = 0; offset < spacing; ++offset) {
    Claim next = claim;
    if (!PlaceAdded(next, x, share, surplus, k, circular, offset, true)) {
      continue;
    }
    if (!Acceptable(next, options.n)) continue;
    return ClaimChange{std::move(next), share, true};
  }
  // No spacing keeps every window distinct: still move only the share,
  // and let InspectClaim report the windows that repeat an owner (the
  // preference lists skip repeats, so a key still gets n distinct nodes).
  Claim next = claim;
  const bool placed =
      PlaceAdded(next, x, share, surplus, k, circular, 0, false);
  SHOAL_ASSERT(placed, "surplus does not cover the new member's share");
  return ClaimChange{std::move(next), share, true};
}

Result<ClaimChange> RemoveFromClaim(const Claim& claim, std::string_view member,
                                    RingOptions options) {
  if (Status s = CheckClaim(claim); !s.ok()) return s;
  std::vector<std::string> members = ClaimMembers(claim);
  const std::string y(member);
  auto it = std::lower_bound(members.begin(), members.end(), y);
  if (it == members.end() || *it != y) {
    return Status(Code::kNotFound, "no member named '" + y + "'");
  }
  if (members.size() == 1) {
    return Invalid("'" + y + "' is the last member: a ring needs one");
  }
  members.erase(it);
  const auto q = static_cast<uint32_t>(claim.size());
  const auto s = static_cast<uint32_t>(members.size());
  if (s <= options.n) return Reclaim(claim, std::move(members), options);
  const uint32_t k = std::min(options.n, s);
  const bool circular = CircularFeasible(q, s, k);
  const auto counts = Counts(claim);
  const auto targets = Targets(members, counts, q);

  // Y's partitions (left) to the members below their target (right, with
  // capacity target - count), along edges where the member is not near.
  std::vector<uint32_t> orphans;
  for (uint32_t p = 0; p < q; ++p) {
    if (claim[p] == y) orphans.push_back(p);
  }
  std::map<std::string, uint32_t> room;
  for (const std::string& m : members) {
    const uint32_t count = counts.count(m) ? counts.at(m) : 0;
    const uint32_t target = targets.at(m);
    if (target > count) room[m] = target - count;
  }
  std::vector<std::vector<std::string>> edges(orphans.size());
  for (size_t i = 0; i < orphans.size(); ++i) {
    for (const auto& [m, cap] : room) {
      if (!OwnsNear(claim, orphans[i], m, k, circular)) edges[i].push_back(m);
    }
  }
  std::vector<std::string> match(orphans.size());  // "" = unmatched
  std::map<std::string, std::vector<size_t>> held;
  std::function<bool(size_t, std::set<std::string>&)> augment =
      [&](size_t i, std::set<std::string>& visited) {
        for (const std::string& m : edges[i]) {
          if (!visited.insert(m).second) continue;
          std::vector<size_t>& mine = held[m];
          if (mine.size() < room[m]) {
            mine.push_back(i);
            match[i] = m;
            return true;
          }
          for (size_t& j : mine) {
            if (augment(j, visited)) {
              j = i;
              match[i] = m;
              return true;
            }
          }
        }
        return false;
      };
  for (size_t i = 0; i < orphans.size(); ++i) {
    std::set<std::string> visited;
    augment(i, visited);
  }
  Claim next = claim;
  for (size_t i = 0; i < orphans.size(); ++i) {
    if (!match[i].empty()) next[orphans[i]] = match[i];
  }
  // Partitions no member can take without repeating in a window (a
  // round-robin claim leaves no room: every neighbour is near): the member
  // with room that repeats least. Only Y's partitions still move; the
  // preference lists skip repeats, and InspectClaim reports them.
  for (size_t i = 0; i < orphans.size(); ++i) {
    if (!match[i].empty()) continue;
    const uint32_t p = orphans[i];
    std::string best;
    uint32_t best_near = 0;
    for (const auto& [m, cap] : room) {
      if (held[m].size() >= cap) continue;
      const uint32_t near = CountNear(next, p, m, k, circular);
      if (best.empty() || near < best_near) {
        best = m;
        best_near = near;
      }
    }
    SHOAL_ASSERT(!best.empty(), "no room left for a leaving member's share");
    held[best].push_back(i);
    next[p] = best;
  }
  const auto moved = static_cast<uint32_t>(orphans.size());
  return ClaimChange{std::move(next), moved, true};
}

Result<ClaimChange> ReplaceInClaim(const Claim& claim,
                                   std::string_view old_member,
                                   std::string_view replacement) {
  if (Status s = CheckClaim(claim); !s.ok()) return s;
  if (replacement.empty()) return Invalid("a member name is empty");
  const std::vector<std::string> members = ClaimMembers(claim);
  if (!std::binary_search(members.begin(), members.end(), old_member)) {
    return Status(Code::kNotFound,
                  "no member named '" + std::string(old_member) + "'");
  }
  if (std::binary_search(members.begin(), members.end(), replacement)) {
    return Invalid("'" + std::string(replacement) + "' is already a member");
  }
  ClaimChange change{claim, 0, true};
  for (std::string& owner : change.claim) {
    if (owner == old_member) {
      owner = std::string(replacement);
      ++change.moved;
    }
  }
  return change;
}

}  // namespace shoal::ring
