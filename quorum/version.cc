#include "quorum/version.h"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <bit>
#include <iterator>

namespace shoal::quorum {

uint64_t VersionVector::Get(ActorId actor) const {
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), actor,
                       [](const Dot& e, ActorId a) { return e.actor < a; });
  return (it != entries_.end() && it->actor == actor) ? it->counter : 0;
}

bool VersionVector::Covers(const Dot& dot) const {
  return dot.counter <= Get(dot.actor);
}

bool VersionVector::Descends(const VersionVector& other) const {
  for (const Dot& e : other.entries_) {
    if (!Covers(e)) return false;
  }
  return true;
}

void VersionVector::Add(const Dot& dot) {
  if (dot.counter == 0) return;
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), dot.actor,
                       [](const Dot& e, ActorId a) { return e.actor < a; });
  if (it != entries_.end() && it->actor == dot.actor) {
    it->counter = std::max(it->counter, dot.counter);
  } else {
    entries_.insert(it, dot);
  }
}

void VersionVector::Merge(const VersionVector& other) {
  std::vector<Dot> out;
  out.reserve(entries_.size() + other.entries_.size());
  auto a = entries_.begin();
  auto b = other.entries_.begin();
  while (a != entries_.end() || b != other.entries_.end()) {
    if (b == other.entries_.end() ||
        (a != entries_.end() && a->actor < b->actor)) {
      out.push_back(*a++);
    } else if (a == entries_.end() || b->actor < a->actor) {
      out.push_back(*b++);
    } else {
      out.push_back({a->actor, std::max(a->counter, b->counter)});
      ++a;
      ++b;
    }
  }
  entries_ = std::move(out);
}

VersionVector VersionVector::Join(const VersionVector& a,
                                  const VersionVector& b) {
  VersionVector out = a;
  out.Merge(b);
  return out;
}

VersionVector VersionVector::FromEntries(std::vector<Dot> entries) {
  // Normalized in place (sorted by actor, one entry per actor holding the
  // highest counter, no zero counters), so decoding a vector costs no
  // allocation beyond the one the caller made.
  std::sort(entries.begin(), entries.end(), [](const Dot& a, const Dot& b) {
    return a.actor < b.actor || (a.actor == b.actor && a.counter > b.counter);
  });
  auto keep = entries.begin();
  for (const Dot& d : entries) {
    if (d.counter == 0) continue;
    if (keep != entries.begin() && std::prev(keep)->actor == d.actor) continue;
    *keep++ = d;
  }
  entries.erase(keep, entries.end());
  VersionVector out;
  out.entries_ = std::move(entries);
  return out;
}

bool Object::Found() const {
  return std::any_of(siblings.begin(), siblings.end(),
                     [](const Sibling& s) { return !s.tombstone; });
}

std::vector<const Sibling*> Object::LiveSiblings() const {
  std::vector<const Sibling*> out;
  for (const Sibling& s : siblings) {
    if (!s.tombstone) out.push_back(&s);
  }
  return out;
}

bool Object::HasDot(const Dot& dot) const {
  auto it = std::lower_bound(
      siblings.begin(), siblings.end(), dot,
      [](const Sibling& s, const Dot& d) { return s.dot < d; });
  return it != siblings.end() && it->dot == dot;
}

bool Object::SameCausalState(const Object& other) const {
  if (!(vv == other.vv) || siblings.size() != other.siblings.size()) {
    return false;
  }
  for (size_t i = 0; i < siblings.size(); ++i) {
    if (siblings[i].dot != other.siblings[i].dot) return false;
  }
  return true;
}

bool Object::SameOrReaped(const Object& other) const {
  if (SameCausalState(other)) return true;
  return (siblings.empty() && other.Deleted()) ||
         (other.siblings.empty() && Deleted());
}

size_t Object::ValueBytes() const {
  size_t total = 0;
  for (const Sibling& s : siblings) total += s.value.size();
  return total;
}

Object NewWrite(const Object& local, const VersionVector& context,
                ActorId coordinator, std::optional<std::string> value,
                int64_t written_at_ms) {
  const uint64_t counter =
      std::max(local.vv.Get(coordinator), context.Get(coordinator)) + 1;
  const Dot dot{coordinator, counter};

  Object out;
  out.vv = VersionVector::Join(local.vv, context);
  out.vv.Add(dot);
  for (const Sibling& s : local.siblings) {
    if (!context.Covers(s.dot)) out.siblings.push_back(s);
  }
  Sibling fresh;
  fresh.dot = dot;
  fresh.written_at_ms = written_at_ms;
  fresh.tombstone = !value.has_value();
  if (value) fresh.value = std::move(*value);
  // The new dot is above every counter of this actor seen so far, but other
  // actors' dots may sort after it: insert in order.
  auto pos = std::lower_bound(
      out.siblings.begin(), out.siblings.end(), dot,
      [](const Sibling& s, const Dot& d) { return s.dot < d; });
  out.siblings.insert(pos, std::move(fresh));
  return out;
}

void KeepLastWrite(Object& object) {
  if (object.siblings.size() < 2) return;
  auto last = std::max_element(object.siblings.begin(), object.siblings.end(),
                               [](const Sibling& a, const Sibling& b) {
                                 if (a.written_at_ms != b.written_at_ms) {
                                   return a.written_at_ms < b.written_at_ms;
                                 }
                                 return a.dot < b.dot;
                               });
  Sibling keep = std::move(*last);
  object.siblings.clear();
  object.siblings.push_back(std::move(keep));
}

Object Sync(const Object& a, const Object& b) {
  Object out;
  out.vv = VersionVector::Join(a.vv, b.vv);
  // Merge two dot-sorted sibling lists. A sibling on one side only survives
  // unless the other side has seen its dot (and so has dropped it).
  auto ia = a.siblings.begin();
  auto ib = b.siblings.begin();
  while (ia != a.siblings.end() || ib != b.siblings.end()) {
    if (ib == b.siblings.end() ||
        (ia != a.siblings.end() && ia->dot < ib->dot)) {
      if (!b.vv.Covers(ia->dot)) out.siblings.push_back(*ia);
      ++ia;
    } else if (ia == a.siblings.end() || ib->dot < ia->dot) {
      if (!a.vv.Covers(ib->dot)) out.siblings.push_back(*ib);
      ++ib;
    } else {
      out.siblings.push_back(*ia);  // same dot on both sides: same write
      ++ia;
      ++ib;
    }
  }
  return out;
}

bool Supersedes(const Object& newer, const Object& older) {
  return Sync(newer, older).SameCausalState(newer);
}

uint64_t CausalFingerprint(const Object& object) {
  if (object.vv.empty() && object.siblings.empty()) return 0;
  // Little-endian (actor, counter) words: the vector's entries, a marker,
  // then the sibling dots. Both lists are kept sorted, so equal causal
  // states give equal bytes.
  // Called for every committed change (anti-entropy trees), so a typical
  // object's words stay on the stack.
  const size_t n = 2 * (object.vv.size() + object.siblings.size()) + 1;
  std::array<uint64_t, 64> small;
  std::vector<uint64_t> big;
  uint64_t* words = small.data();
  if (n > small.size()) {
    big.resize(n);
    words = big.data();
  }
  size_t i = 0;
  for (const Dot& d : object.vv.entries()) {
    words[i++] = d.actor;
    words[i++] = d.counter;
  }
  words[i++] = object.vv.size();
  for (const Sibling& s : object.siblings) {
    words[i++] = s.dot.actor;
    words[i++] = s.dot.counter;
  }
  static_assert(std::endian::native == std::endian::little);
  const uint64_t h = XXH3_64bits(words, n * sizeof(uint64_t));
  return h == 0 ? 1 : h;
}

}  // namespace shoal::quorum
