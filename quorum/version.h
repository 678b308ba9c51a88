// Dotted version vectors: the causality rules every replica applies.
//
// An Object is a version vector VV (actor -> highest counter seen) plus the
// siblings still live: each carries the dot (actor, counter) of the write
// that made it, a value or a tombstone, and written_at (coordinator wall
// clock in ms; metadata only, never used for ordering).
//
// Rules (doc/impl.md, "Versioning"):
//   NewWrite (coordinator C, client context ctx):
//     counter = max(local.VV[C], ctx[C]) + 1, dot = (C, counter);
//     keep local siblings whose dot ctx does not cover; add the new sibling;
//     VV = local.VV ⊔ ctx ⊔ {dot}.
//   Sync (replica merge): keep a sibling of either side unless the other side
//     covers its dot and no longer holds it; VV = a.VV ⊔ b.VV.
// Sync is commutative, associative and idempotent; siblings are kept sorted
// by dot so equal causal states have equal representations.
//
// Pure: no I/O, no clocks. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace shoal::quorum {

using ActorId = uint64_t;

struct Dot {
  ActorId actor = 0;
  uint64_t counter = 0;  // >= 1 for a real dot
  friend bool operator==(const Dot&, const Dot&) = default;
  friend auto operator<=>(const Dot&, const Dot&) = default;
};

// actor -> max counter, as a vector of entries sorted by actor with no zero
// counters (so equal vectors compare equal).
class VersionVector {
 public:
  VersionVector() = default;

  // Counter for an actor (0 when absent).
  uint64_t Get(ActorId actor) const;
  // True when the dot is at or below this vector's entry for its actor.
  bool Covers(const Dot& dot) const;
  // True when this vector covers every entry of `other`.
  bool Descends(const VersionVector& other) const;
  // Raises the entry for dot.actor to at least dot.counter.
  void Add(const Dot& dot);
  // Pointwise max.
  void Merge(const VersionVector& other);
  static VersionVector Join(const VersionVector& a, const VersionVector& b);

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  const std::vector<Dot>& entries() const { return entries_; }

  // Builds a vector from arbitrary (actor, counter) pairs: entries for one
  // actor are combined by max and zero counters dropped.
  static VersionVector FromEntries(std::vector<Dot> entries);

  friend bool operator==(const VersionVector&, const VersionVector&) = default;

 private:
  std::vector<Dot> entries_;  // sorted by actor, counters > 0
};

struct Sibling {
  Dot dot;
  int64_t written_at_ms = 0;  // coordinator wall clock; metadata only
  bool tombstone = false;
  std::string value;  // empty for a tombstone
  friend bool operator==(const Sibling&, const Sibling&) = default;
};

struct Object {
  VersionVector vv;
  std::vector<Sibling> siblings;  // sorted by dot, unique dots

  // True when some sibling is not a tombstone.
  bool Found() const;
  // True when there are siblings and every one is a tombstone: the key was
  // deleted (and may be reaped, reaper/reaper.h).
  bool Deleted() const { return !siblings.empty() && !Found(); }
  // Siblings that are not tombstones, in dot order.
  std::vector<const Sibling*> LiveSiblings() const;
  // True when the object holds the sibling with this dot.
  bool HasDot(const Dot& dot) const;
  // Same version vector and the same set of sibling dots (values are not
  // compared: a dot names exactly one value).
  bool SameCausalState(const Object& other) const;
  // The same causal state, or one holds nothing (reaped) and the other only
  // tombstones: replicas that agree once reaping is taken into account
  // (every read answers "not found" from either, and the reaper removes the
  // tombstones once every replica answers its check).
  bool SameOrReaped(const Object& other) const;
  // Total bytes of sibling values (for limits and metrics).
  size_t ValueBytes() const;

  friend bool operator==(const Object&, const Object&) = default;
};

// The coordinator's step for a put or a delete (value == nullopt).
Object NewWrite(const Object& local, const VersionVector& context,
                ActorId coordinator, std::optional<std::string> value,
                int64_t written_at_ms);

// A 64-bit hash of the object's causal state: its version vector and its
// sibling dots (a dot names exactly one value, so values are not hashed).
// Equal for objects with SameCausalState; 0 only for an empty object (no
// version vector, no siblings), which anti-entropy treats as absent.
uint64_t CausalFingerprint(const Object& object);

// DVV sync of two replicas' objects.
Object Sync(const Object& a, const Object& b);

// Last write wins (conflict = "lww", unsafe: doc/faults.md): keeps only the
// sibling with the greatest (written_at_ms, dot) and drops the others; the
// version vector is unchanged, so the dropped writes stay covered and never
// come back. Every replica that applies it after each merge converges to
// the same sibling: the order is total and does not depend on who merges.
void KeepLastWrite(Object& object);

// True when `newer` holds everything `older` knows: merging older into newer
// would change nothing. Used to classify replicas as current or stale.
bool Supersedes(const Object& newer, const Object& older);

}  // namespace shoal::quorum
