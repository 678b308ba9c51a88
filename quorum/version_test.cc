#include "quorum/version.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace shoal::quorum {
namespace {

// Actor ids deliberately not in creation order, so that sibling order (by
// dot, i.e. by actor first) differs from write order.
constexpr ActorId kA = 300;
constexpr ActorId kB = 100;
constexpr ActorId kC = 200;

Object Put(const Object& local, const VersionVector& ctx, ActorId coordinator,
           std::string value, int64_t at_ms = 0) {
  return NewWrite(local, ctx, coordinator, std::move(value), at_ms);
}

Object Delete(const Object& local, const VersionVector& ctx,
              ActorId coordinator, int64_t at_ms = 0) {
  return NewWrite(local, ctx, coordinator, std::nullopt, at_ms);
}

std::vector<Dot> Dots(const Object& o) {
  std::vector<Dot> out;
  for (const Sibling& s : o.siblings) out.push_back(s.dot);
  return out;
}

std::vector<std::string> LiveValues(const Object& o) {
  std::vector<std::string> out;
  for (const Sibling* s : o.LiveSiblings()) out.push_back(s->value);
  return out;
}

// Version vector entries sorted by actor with positive counters; siblings
// sorted by unique dot, each dot real and covered by the vv; tombstones hold
// no value.
bool IsCanonical(const Object& o) {
  const std::vector<Dot>& e = o.vv.entries();
  for (size_t i = 0; i < e.size(); ++i) {
    if (e[i].counter == 0) return false;
    if (i > 0 && !(e[i - 1].actor < e[i].actor)) return false;
  }
  for (size_t i = 0; i < o.siblings.size(); ++i) {
    const Sibling& s = o.siblings[i];
    if (s.dot.counter == 0 || !o.vv.Covers(s.dot)) return false;
    if (i > 0 && !(o.siblings[i - 1].dot < s.dot)) return false;
    if (s.tombstone && !s.value.empty()) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// VersionVector

TEST_CASE("VersionVector: empty") {
  VersionVector v;
  CHECK(v.empty());
  CHECK(v.size() == 0);
  CHECK(v.Get(kA) == 0);
  CHECK_FALSE(v.Covers(Dot{kA, 1}));
  CHECK(v.Descends(VersionVector()));
}

TEST_CASE("VersionVector: Add, Get, Covers") {
  VersionVector v;
  v.Add(Dot{kA, 3});
  CHECK(v.Get(kA) == 3);
  CHECK(v.Get(kB) == 0);
  v.Add(Dot{kA, 2});  // never lowers
  CHECK(v.Get(kA) == 3);
  v.Add(Dot{kA, 5});
  CHECK(v.Get(kA) == 5);
  v.Add(Dot{kB, 0});  // zero counters are not stored
  CHECK(v.size() == 1);
  v.Add(Dot{kB, 1});
  v.Add(Dot{kC, 7});
  CHECK(v.size() == 3);
  // Sorted by actor whatever the insertion order.
  CHECK(v.entries() == std::vector<Dot>{Dot{kB, 1}, Dot{kC, 7}, Dot{kA, 5}});

  CHECK(v.Covers(Dot{kA, 1}));
  CHECK(v.Covers(Dot{kA, 5}));
  CHECK_FALSE(v.Covers(Dot{kA, 6}));
  CHECK(v.Covers(Dot{kB, 1}));
  CHECK_FALSE(v.Covers(Dot{kB, 2}));
  CHECK_FALSE(v.Covers(Dot{999, 1}));
}

TEST_CASE("VersionVector: Descends") {
  const auto a = VersionVector::FromEntries({{kA, 2}, {kB, 1}});
  const auto b = VersionVector::FromEntries({{kA, 1}, {kB, 1}});
  const auto c = VersionVector::FromEntries({{kA, 1}, {kC, 1}});
  CHECK(a.Descends(a));
  CHECK(a.Descends(b));
  CHECK_FALSE(b.Descends(a));
  CHECK(a.Descends(VersionVector()));
  CHECK_FALSE(VersionVector().Descends(a));
  // Concurrent: neither descends.
  CHECK_FALSE(a.Descends(c));
  CHECK_FALSE(c.Descends(a));
}

TEST_CASE("VersionVector: Merge and Join are pointwise max") {
  auto a = VersionVector::FromEntries({{kA, 2}, {kB, 5}});
  const auto b = VersionVector::FromEntries({{kB, 3}, {kC, 4}});
  const auto expect = VersionVector::FromEntries({{kA, 2}, {kB, 5}, {kC, 4}});
  CHECK(VersionVector::Join(a, b) == expect);
  CHECK(VersionVector::Join(b, a) == expect);
  CHECK(VersionVector::Join(a, VersionVector()) == a);
  CHECK(VersionVector::Join(VersionVector(), b) == b);
  a.Merge(b);
  CHECK(a == expect);
  CHECK(a.entries() == std::vector<Dot>{Dot{kB, 5}, Dot{kC, 4}, Dot{kA, 2}});
}

TEST_CASE("VersionVector: FromEntries combines by max, drops zeros, sorts") {
  const auto v = VersionVector::FromEntries(
      {{kA, 1}, {kC, 0}, {kB, 2}, {kA, 4}, {kA, 3}, {kB, 0}});
  CHECK(v.entries() == std::vector<Dot>{Dot{kB, 2}, Dot{kA, 4}});
  CHECK(VersionVector::FromEntries({}) == VersionVector());
  CHECK(VersionVector::FromEntries({{kA, 0}}) == VersionVector());
  CHECK(VersionVector::FromEntries({{kA, 0}}).empty());
  // Equal vectors have equal representations whatever built them.
  VersionVector added;
  added.Add(Dot{kA, 4});
  added.Add(Dot{kB, 2});
  CHECK(v == added);
}

TEST_CASE("VersionVector: lattice laws on random vectors") {
  std::mt19937_64 rng(7);
  auto random_vv = [&] {
    std::vector<Dot> e;
    const int n = static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) e.push_back({rng() % 6, rng() % 4});
    return VersionVector::FromEntries(e);
  };
  for (int i = 0; i < 500; ++i) {
    const auto a = random_vv(), b = random_vv(), c = random_vv();
    const auto ab = VersionVector::Join(a, b);
    CHECK(ab == VersionVector::Join(b, a));
    CHECK(VersionVector::Join(ab, c) ==
          VersionVector::Join(a, VersionVector::Join(b, c)));
    CHECK(VersionVector::Join(a, a) == a);
    CHECK(ab.Descends(a));
    CHECK(ab.Descends(b));
    CHECK(a.Descends(b) == (ab == a));
    for (const Dot& d : ab.entries()) {
      CHECK(ab.Get(d.actor) == std::max(a.Get(d.actor), b.Get(d.actor)));
    }
  }
}

// ---------------------------------------------------------------------------
// Object basics

TEST_CASE("Object: Found, LiveSiblings, HasDot, ValueBytes") {
  Object o;
  CHECK_FALSE(o.Found());
  CHECK(o.LiveSiblings().empty());
  CHECK(o.ValueBytes() == 0);

  o = Put(o, {}, kA, "hello", 11);
  o = Delete(o, {}, kB);  // blind delete: concurrent with the put
  REQUIRE(o.siblings.size() == 2);
  CHECK(IsCanonical(o));
  CHECK(o.Found());
  CHECK(o.HasDot(Dot{kA, 1}));
  CHECK(o.HasDot(Dot{kB, 1}));
  CHECK_FALSE(o.HasDot(Dot{kA, 2}));
  CHECK_FALSE(o.HasDot(Dot{kC, 1}));
  CHECK(LiveValues(o) == std::vector<std::string>{"hello"});
  CHECK(o.LiveSiblings()[0]->written_at_ms == 11);
  CHECK(o.ValueBytes() == 5);
}

TEST_CASE("NewWrite: dot, vv and ordering") {
  SUBCASE("first write") {
    const Object o = Put({}, {}, kA, "x", 5);
    CHECK(o.vv == VersionVector::FromEntries({{kA, 1}}));
    REQUIRE(o.siblings.size() == 1);
    CHECK(o.siblings[0].dot == Dot{kA, 1});
    CHECK(o.siblings[0].value == "x");
    CHECK(o.siblings[0].written_at_ms == 5);
    CHECK_FALSE(o.siblings[0].tombstone);
  }
  SUBCASE("counter is max(local, context) + 1") {
    // The context may know a later counter of this actor than the local
    // copy does (e.g. the local copy was behind for this key).
    const auto ctx = VersionVector::FromEntries({{kA, 7}, {kB, 2}});
    const Object o = Put({}, ctx, kA, "x");
    CHECK(Dots(o) == std::vector<Dot>{Dot{kA, 8}});
    CHECK(o.vv == VersionVector::FromEntries({{kA, 8}, {kB, 2}}));
  }
  SUBCASE("new sibling inserted in dot order") {
    Object o = Put({}, {}, kA, "a");  // (300,1)
    o = Put(o, {}, kC, "c");          // (200,1) sorts before (300,1)
    o = Put(o, {}, kB, "b");          // (100,1) sorts first
    CHECK(IsCanonical(o));
    CHECK(Dots(o) == std::vector<Dot>{Dot{kB, 1}, Dot{kC, 1}, Dot{kA, 1}});
  }
}

// ---------------------------------------------------------------------------
// Put with a read's context

TEST_CASE("a put with a read's context supersedes exactly what was read") {
  // Three concurrent blind writes at three coordinators, replicated to C.
  const Object at_a = Put({}, {}, kA, "a1");
  Object at_b = Put({}, {}, kB, "b1");
  Object at_c = Sync(Sync(Put({}, {}, kC, "c1"), at_a), at_b);
  REQUIRE(at_c.siblings.size() == 3);
  const Object read = at_c;  // the client reads S = {a1, b1, c1}
  // After the read, C coordinates another blind write and receives a newer
  // blind write coordinated by B; the client saw neither.
  at_c = Put(at_c, {}, kC, "c2");
  at_b = Put(at_b, {}, kB, "b2");
  at_c = Sync(at_c, at_b);
  REQUIRE(LiveValues(at_c) ==
          std::vector<std::string>{"b1", "b2", "c1", "c2", "a1"});

  const Object out = Put(at_c, read.vv, kC, "resolved");
  CHECK(IsCanonical(out));
  // Only the new sibling plus what was written after the read survive.
  CHECK(LiveValues(out) == std::vector<std::string>{"b2", "c2", "resolved"});
  for (const Sibling& s : read.siblings) CHECK_FALSE(out.HasDot(s.dot));
  CHECK(Supersedes(out, read));
  CHECK(Supersedes(out, at_c));
  // A replica still holding the read state cannot bring it back.
  CHECK(Sync(out, read) == out);
  CHECK(Sync(read, out) == out);
}

TEST_CASE("a put whose context covers everything leaves one sibling") {
  Object o = Put({}, {}, kA, "v1");
  for (int i = 2; i <= 50; ++i) {
    o = Put(o, o.vv, (i % 2) ? kA : kB, "v" + std::to_string(i));
    CHECK(o.siblings.size() == 1);
  }
  CHECK(LiveValues(o) == std::vector<std::string>{"v50"});
}

TEST_CASE("blind writes never overwrite") {
  SUBCASE("same coordinator") {
    Object o = Put({}, {}, kA, "x");
    o = Put(o, {}, kA, "y");
    CHECK(Dots(o) == std::vector<Dot>{Dot{kA, 1}, Dot{kA, 2}});
    CHECK(LiveValues(o) == std::vector<std::string>{"x", "y"});
    o = Put(o, {}, kA, "z");
    CHECK(o.siblings.size() == 3);
  }
  SUBCASE("different coordinators, then replicated") {
    const Object at_a = Put({}, {}, kA, "x");
    const Object at_b = Put({}, {}, kB, "y");
    const Object merged = Sync(at_a, at_b);
    CHECK(LiveValues(merged) == std::vector<std::string>{"y", "x"});
    CHECK(merged == Sync(at_b, at_a));
  }
  SUBCASE("different coordinators, second sees the first replica's copy") {
    Object at_b = Put({}, {}, kA, "x");  // replicated from A to B
    at_b = Put(at_b, {}, kB, "y");
    CHECK(LiveValues(at_b) == std::vector<std::string>{"y", "x"});
  }
}

// ---------------------------------------------------------------------------
// riak_test #383: two clients, each always one write behind the other.

void CheckBounded(const Object& o) {
  CHECK(IsCanonical(o));
  CHECK(o.siblings.size() <= 2);
}

TEST_CASE("riak_test #383 interleaving: single coordinator") {
  SUBCASE("A reads, B reads, A writes, B writes") {
    Object at_c;
    for (int i = 0; i < 100; ++i) {
      const VersionVector ctx_a = at_c.vv;
      const VersionVector ctx_b = at_c.vv;
      at_c = Put(at_c, ctx_a, kC, "a" + std::to_string(i));
      CheckBounded(at_c);
      at_c = Put(at_c, ctx_b, kC, "b" + std::to_string(i));
      CheckBounded(at_c);
    }
    CHECK(LiveValues(at_c) == std::vector<std::string>{"a99", "b99"});
  }
  SUBCASE("staggered: B reads, A writes, A reads, B writes") {
    Object at_c;
    VersionVector ctx_a = at_c.vv;
    VersionVector ctx_b;
    for (int i = 0; i < 100; ++i) {
      ctx_b = at_c.vv;
      at_c = Put(at_c, ctx_a, kC, "a" + std::to_string(i));
      CheckBounded(at_c);
      ctx_a = at_c.vv;
      at_c = Put(at_c, ctx_b, kC, "b" + std::to_string(i));
      CheckBounded(at_c);
    }
    CHECK(LiveValues(at_c) == std::vector<std::string>{"a99", "b99"});
  }
}

TEST_CASE("riak_test #383 interleaving: alternating coordinators") {
  // n=3 replicas. A write goes to its coordinator and is replicated to one
  // more replica (w=2); a read merges two replicas (r=2), so r+w>n and each
  // client's read sees its own previous write but never the other client's
  // latest one. Occasionally anti-entropy brings the third replica along.
  const std::vector<ActorId> actors = {kA, kB, kC};
  for (uint64_t seed : {1u, 2u, 3u, 4u, 5u}) {
    INFO("seed ", seed);
    std::mt19937_64 rng(seed);
    std::vector<Object> r(3);
    auto read = [&] {
      const size_t i = rng() % 3, j = (i + 1 + rng() % 2) % 3;
      const Object seen = Sync(r[i], r[j]);
      CheckBounded(seen);
      return seen.vv;
    };
    auto write = [&](const VersionVector& ctx, size_t coord,
                     const std::string& value) {
      r[coord] = Put(r[coord], ctx, actors[coord], value);
      const size_t other = (coord + 1 + rng() % 2) % 3;
      r[other] = Sync(r[other], r[coord]);
      for (const Object& o : r) CheckBounded(o);
    };
    for (int i = 0; i < 100; ++i) {
      const VersionVector ctx_a = read();
      const VersionVector ctx_b = read();
      write(ctx_a, i % 3, "a" + std::to_string(i));
      write(ctx_b, (i + 1) % 3, "b" + std::to_string(i));
      if (rng() % 4 == 0) {
        const size_t x = rng() % 3, y = rng() % 3;
        r[x] = r[y] = Sync(r[x], r[y]);
        for (const Object& o : r) CheckBounded(o);
      }
    }
    const Object all = Sync(Sync(r[0], r[1]), r[2]);
    CheckBounded(all);
    std::vector<std::string> values = LiveValues(all);  // in dot order
    std::sort(values.begin(), values.end());
    CHECK(values == std::vector<std::string>{"a99", "b99"});
  }
}

// ---------------------------------------------------------------------------
// Tombstones

TEST_CASE("tombstones") {
  const Object written = Put({}, {}, kA, "v", 1);
  Object stale_b = written;  // B got the value, then missed the delete
  const Object deleted = Delete(written, written.vv, kA, 2);

  SUBCASE("a delete with context hides the value but keeps its causality") {
    CHECK_FALSE(deleted.Found());
    CHECK(deleted.LiveSiblings().empty());
    REQUIRE(deleted.siblings.size() == 1);
    CHECK(deleted.siblings[0].tombstone);
    CHECK(deleted.siblings[0].dot == Dot{kA, 2});
    CHECK(deleted.siblings[0].written_at_ms == 2);
    CHECK(deleted.vv.Covers(Dot{kA, 1}));
    CHECK(deleted.ValueBytes() == 0);
    CHECK(IsCanonical(deleted));
  }
  SUBCASE("a stale replica does not resurrect the value") {
    CHECK_FALSE(Sync(deleted, stale_b).Found());
    CHECK_FALSE(Sync(stale_b, deleted).Found());
    CHECK(Sync(stale_b, deleted) == deleted);
    CHECK(Supersedes(deleted, stale_b));
    CHECK_FALSE(Supersedes(stale_b, deleted));
    // Even after the stale replica took another write from a client that
    // read the stale value (so the delete is concurrent with that write
    // only, not with the value it replaced).
    stale_b = Put(stale_b, stale_b.vv, kB, "w");
    const Object merged = Sync(deleted, stale_b);
    CHECK(LiveValues(merged) == std::vector<std::string>{"w"});
    CHECK_FALSE(merged.HasDot(Dot{kA, 1}));
    CHECK(merged.HasDot(Dot{kA, 2}));  // the tombstone stays a sibling
  }
  SUBCASE("a write with the tombstone's context replaces the tombstone") {
    const Object again = Put(deleted, deleted.vv, kB, "new");
    CHECK(again.Found());
    CHECK(Dots(again) == std::vector<Dot>{Dot{kB, 1}});
    CHECK(LiveValues(again) == std::vector<std::string>{"new"});
    CHECK(Sync(again, stale_b) == again);
    CHECK(Sync(again, deleted) == again);
  }
  SUBCASE("a blind write concurrent with a delete keeps both") {
    const Object blind_at_b = Put(stale_b, {}, kB, "blind");
    const Object merged = Sync(deleted, blind_at_b);
    CHECK(merged == Sync(blind_at_b, deleted));
    CHECK(merged.Found());
    CHECK(LiveValues(merged) == std::vector<std::string>{"blind"});
    // The tombstone is a sibling, the value it deleted is gone.
    CHECK(Dots(merged) == std::vector<Dot>{Dot{kB, 1}, Dot{kA, 2}});
    CHECK(merged.siblings[1].tombstone);
  }
  SUBCASE("a blind delete does not hide concurrent values") {
    const Object o = Delete(written, {}, kA);
    CHECK(o.Found());
    CHECK(o.siblings.size() == 2);
  }
}

// ---------------------------------------------------------------------------
// Supersedes / SameCausalState

TEST_CASE("SameOrReaped: a reaped replica agrees only with tombstones") {
  const Object value = Put({}, {}, kA, "v");
  const Object deleted = Delete(value, value.vv, kA);
  const Object other_delete = Delete(value, value.vv, kB);
  REQUIRE(deleted.Deleted());
  CHECK(deleted.SameOrReaped(deleted));
  CHECK(deleted.SameOrReaped(Object{}));
  CHECK(Object{}.SameOrReaped(deleted));
  CHECK(Object{}.SameOrReaped(Object{}));
  // Two different tombstones, or a value and nothing, do not agree.
  CHECK_FALSE(deleted.SameOrReaped(other_delete));
  CHECK_FALSE(value.SameOrReaped(Object{}));
  CHECK_FALSE(Object{}.SameOrReaped(value));
  // A tombstone beside a live sibling is not a deleted key.
  const Object both = Sync(Put(value, value.vv, kB, "w"), deleted);
  REQUIRE_FALSE(both.Deleted());
  CHECK_FALSE(both.SameOrReaped(Object{}));
}

TEST_CASE("Supersedes and SameCausalState") {
  const Object base = Put({}, {}, kA, "v");
  const Object newer = Put(base, base.vv, kA, "w");
  const Object concurrent = Put(base, {}, kB, "x");

  CHECK(Supersedes(base, base));
  CHECK(base.SameCausalState(base));
  CHECK(Supersedes(base, Object{}));
  CHECK_FALSE(Supersedes(Object{}, base));

  // Only metadata differs: same causal state, not the same object.
  Object restamped = newer;
  restamped.siblings[0].written_at_ms = 99;
  CHECK(newer.SameCausalState(restamped));
  CHECK_FALSE(newer == restamped);
  CHECK(Supersedes(newer, restamped));
  CHECK(Supersedes(restamped, newer));

  // A stale replica is not superseding.
  CHECK(Supersedes(newer, base));
  CHECK_FALSE(Supersedes(base, newer));
  CHECK_FALSE(base.SameCausalState(newer));

  // Concurrent objects: neither supersedes; their merge supersedes both.
  const Object alt = Put(base, base.vv, kB, "y");
  CHECK_FALSE(Supersedes(newer, alt));
  CHECK_FALSE(Supersedes(alt, newer));
  const Object merged = Sync(newer, alt);
  CHECK(Supersedes(merged, newer));
  CHECK(Supersedes(merged, alt));
  CHECK_FALSE(Supersedes(newer, merged));
  CHECK(merged.siblings.size() == 2);

  // Same sibling dots, but one side has seen (and dropped) a dot the other
  // never saw: different causal states, and only the wider one supersedes.
  Object narrow = base;
  Object wide = base;
  wide.vv.Add(Dot{kC, 3});
  CHECK_FALSE(narrow.SameCausalState(wide));
  CHECK(Supersedes(wide, narrow));
  CHECK_FALSE(Supersedes(narrow, wide));

  // A blind write on top keeps the old sibling: it supersedes the old
  // state, not the reverse.
  CHECK(Supersedes(concurrent, base));
  CHECK_FALSE(Supersedes(base, concurrent));
}

// ---------------------------------------------------------------------------
// Property tests over random histories.
//
// 3-5 replicas with random distinct actors. Each step is one of:
//   - a read: merge 1-3 replicas (a quorum read), remember its vv as a
//     client context, sometimes read-repair the replicas read;
//   - a write at a random coordinator with the context of some earlier read
//     (possibly stale) or none (blind), a value or a tombstone;
//   - a one- or two-way sync between two replicas.
// Every state a replica or a read ever held is collected for the algebraic
// checks.

struct WriteRecord {
  Dot dot;
  VersionVector context;
  std::optional<std::string> value;
};

struct History {
  std::vector<ActorId> actors;
  std::vector<Object> replicas;
  std::vector<Object> reachable;
  std::vector<WriteRecord> writes;
};

// A replica's state only moves forward: its vv grows and a dot it has seen
// and dropped never comes back.
void CheckTransition(const Object& before, const Object& after) {
  CHECK(IsCanonical(after));
  CHECK(after.vv.Descends(before.vv));
  for (const Sibling& s : after.siblings) {
    CHECK_FALSE((before.vv.Covers(s.dot) && !before.HasDot(s.dot)));
  }
}

History RandomHistory(uint64_t seed, int steps) {
  std::mt19937_64 rng(seed);
  History h;
  const size_t n = 3 + rng() % 3;
  while (h.actors.size() < n) {
    const ActorId a = rng();
    if (std::find(h.actors.begin(), h.actors.end(), a) == h.actors.end()) {
      h.actors.push_back(a);
    }
  }
  h.replicas.resize(n);
  std::vector<Object> reads;  // what clients have seen

  for (int step = 0; step < steps; ++step) {
    const uint64_t op = rng() % 10;
    if (op < 3) {  // read
      std::vector<size_t> order(n);
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng);
      order.resize(1 + rng() % 3);
      Object seen;
      for (size_t i : order) seen = Sync(seen, h.replicas[i]);
      CHECK(IsCanonical(seen));
      reads.push_back(seen);
      h.reachable.push_back(seen);
      if (rng() % 2) {  // read repair
        for (size_t i : order) {
          const Object before = h.replicas[i];
          h.replicas[i] = Sync(before, seen);
          CheckTransition(before, h.replicas[i]);
          CHECK(h.replicas[i].SameCausalState(seen));
        }
      }
    } else if (op < 7) {  // write
      const size_t c = rng() % n;
      std::optional<Object> read;
      if (!reads.empty() && rng() % 4 != 0) {
        read = reads[rng() % reads.size()];
      }
      const VersionVector ctx = read ? read->vv : VersionVector();
      std::optional<std::string> value;
      if (rng() % 5 != 0) value = "v" + std::to_string(h.writes.size());

      const Object before = h.replicas[c];
      const Object after = NewWrite(before, ctx, h.actors[c], value, step);
      CheckTransition(before, after);

      const Dot dot{
          h.actors[c],
          std::max(before.vv.Get(h.actors[c]), ctx.Get(h.actors[c])) + 1};
      // The dot is fresh: no replica and no client context has seen it.
      for (const Object& r : h.replicas) CHECK_FALSE(r.vv.Covers(dot));
      for (const Object& r : reads) CHECK_FALSE(r.vv.Covers(dot));
      VersionVector expect_vv = VersionVector::Join(before.vv, ctx);
      expect_vv.Add(dot);
      CHECK(after.vv == expect_vv);
      // Exactly the local siblings the context did not cover, plus the new.
      std::vector<Dot> expect_dots;
      for (const Sibling& s : before.siblings) {
        if (!ctx.Covers(s.dot)) expect_dots.push_back(s.dot);
      }
      expect_dots.push_back(dot);
      std::sort(expect_dots.begin(), expect_dots.end());
      CHECK(Dots(after) == expect_dots);
      REQUIRE(after.HasDot(dot));
      if (read) {
        for (const Sibling& s : read->siblings)
          CHECK_FALSE(after.HasDot(s.dot));
        CHECK(Supersedes(after, *read));
      }
      CHECK(Supersedes(after, before));

      h.writes.push_back({dot, ctx, value});
      h.replicas[c] = after;
      h.reachable.push_back(after);
    } else {  // sync
      const size_t a = rng() % n, b = rng() % n;
      const Object before_b = h.replicas[b];
      const Object before_a = h.replicas[a];
      const Object merged = Sync(before_b, h.replicas[a]);
      CheckTransition(before_b, merged);
      h.replicas[b] = merged;
      if (rng() % 2) {
        CheckTransition(before_a, merged);
        h.replicas[a] = merged;
      }
      h.reachable.push_back(merged);
    }
  }
  return h;
}

void CheckSyncAlgebra(const Object& a, const Object& b, const Object& c) {
  const Object ab = Sync(a, b);
  CHECK(IsCanonical(ab));
  CHECK(ab == Sync(b, a));
  CHECK(Sync(ab, c) == Sync(a, Sync(b, c)));
  CHECK(Sync(a, a) == a);
  CHECK(Sync(a, Object{}) == a);
  CHECK(Sync(Object{}, a) == a);
  CHECK(ab.vv == VersionVector::Join(a.vv, b.vv));
  CHECK(Supersedes(ab, a));
  CHECK(Supersedes(ab, b));
  CHECK(Supersedes(a, b) == ab.SameCausalState(a));
  CHECK((Supersedes(a, b) && Supersedes(b, a)) == a.SameCausalState(b));
  // Every sibling of the merge comes from an input.
  for (const Sibling& s : ab.siblings) {
    CHECK((a.HasDot(s.dot) || b.HasDot(s.dot)));
  }
}

TEST_CASE("Sync algebra over reachable objects of random histories") {
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    INFO("seed ", seed);
    const History h = RandomHistory(seed, 40 + static_cast<int>(seed % 60));
    std::mt19937_64 rng(seed * 7919);
    const auto& pool = h.reachable;
    REQUIRE(!pool.empty());
    for (int i = 0; i < 40; ++i) {
      CheckSyncAlgebra(pool[rng() % pool.size()], pool[rng() % pool.size()],
                       pool[rng() % pool.size()]);
    }
  }
}

TEST_CASE("all replicas converge to the same state in any sync order") {
  for (uint64_t seed = 1001; seed <= 1150; ++seed) {
    INFO("seed ", seed);
    const History h = RandomHistory(seed, 80);
    std::mt19937_64 rng(seed);
    const size_t n = h.replicas.size();

    // Folding all replicas in any order gives one object.
    Object reference;
    for (const Object& r : h.replicas) reference = Sync(reference, r);
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    for (int k = 0; k < 5; ++k) {
      std::shuffle(order.begin(), order.end(), rng);
      Object folded;
      for (size_t i : order) folded = Sync(folded, h.replicas[i]);
      CHECK(folded == reference);
    }

    // Gossip: every pair syncs both ways once, pairs in random order.
    std::vector<std::pair<size_t, size_t>> pairs;
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = i + 1; j < n; ++j) pairs.emplace_back(i, j);
    }
    for (int k = 0; k < 3; ++k) {
      std::vector<Object> r = h.replicas;
      std::shuffle(pairs.begin(), pairs.end(), rng);
      for (auto [i, j] : pairs) {
        const Object m = (rng() % 2) ? Sync(r[i], r[j]) : Sync(r[j], r[i]);
        r[i] = r[j] = m;
      }
      for (const Object& o : r) CHECK(o == reference);
    }

    // Independent oracle: the survivors are exactly the writes that no
    // later write's context covered, each with its own value or tombstone.
    std::vector<const WriteRecord*> survivors;
    for (const WriteRecord& w : h.writes) {
      const bool covered = std::any_of(
          h.writes.begin(), h.writes.end(),
          [&](const WriteRecord& o) { return o.context.Covers(w.dot); });
      if (!covered) survivors.push_back(&w);
    }
    std::sort(survivors.begin(), survivors.end(),
              [](const WriteRecord* x, const WriteRecord* y) {
                return x->dot < y->dot;
              });
    REQUIRE(reference.siblings.size() == survivors.size());
    for (size_t i = 0; i < survivors.size(); ++i) {
      const Sibling& s = reference.siblings[i];
      CHECK(s.dot == survivors[i]->dot);
      CHECK(s.tombstone == !survivors[i]->value.has_value());
      CHECK(s.value == survivors[i]->value.value_or(""));
    }
    for (const WriteRecord& w : h.writes) CHECK(reference.vv.Covers(w.dot));
  }
}

}  // namespace
}  // namespace shoal::quorum

namespace shoal::quorum {
namespace {

TEST_CASE("causal fingerprints are equal iff causal states are equal") {
  const ActorId a = 11, b = 22;
  CHECK(CausalFingerprint(Object{}) == 0);
  const Object x = NewWrite(Object{}, {}, a, "v1", 1000);
  const Object y = NewWrite(Object{}, {}, b, "v2", 2000);
  CHECK(CausalFingerprint(x) != 0);
  CHECK(CausalFingerprint(x) != CausalFingerprint(y));
  // The same causal state reached in two orders, on two "replicas".
  const Object xy = Sync(x, y), yx = Sync(y, x);
  REQUIRE(xy.SameCausalState(yx));
  CHECK(CausalFingerprint(xy) == CausalFingerprint(yx));
  CHECK(CausalFingerprint(xy) != CausalFingerprint(x));
  // Values and timestamps are metadata of a dot: not part of the state.
  Object x2 = x;
  x2.siblings[0].written_at_ms += 5;
  CHECK(CausalFingerprint(x2) == CausalFingerprint(x));
  // A resolving write: one sibling, covering both; differs from the merge.
  const Object resolved = NewWrite(xy, xy.vv, a, "v3", 3000);
  CHECK(CausalFingerprint(resolved) != CausalFingerprint(xy));
  // Same dots but a different vector: different states.
  Object wider = x;
  wider.vv.Add(Dot{b, 7});
  CHECK(!wider.SameCausalState(x));
  CHECK(CausalFingerprint(wider) != CausalFingerprint(x));
  // Same vector, a sibling dropped: different.
  Object fewer = xy;
  fewer.siblings.pop_back();
  CHECK(CausalFingerprint(fewer) != CausalFingerprint(xy));
  // A vector entry cannot be confused with a dot (the marker between them).
  Object only_vv;
  only_vv.vv.Add(Dot{a, 1});
  Object only_dot;
  only_dot.siblings.push_back(Sibling{Dot{a, 1}, 0, true, ""});
  CHECK(CausalFingerprint(only_vv) != CausalFingerprint(only_dot));
}

TEST_CASE("fingerprints agree with SameCausalState over random histories") {
  std::mt19937_64 rng(5);
  std::vector<Object> states;
  for (int i = 0; i < 200; ++i) {
    Object o;
    if (!states.empty()) o = states[rng() % states.size()];
    const int op = static_cast<int>(rng() % 3);
    if (op == 0) {
      o = NewWrite(o, o.vv, 1 + rng() % 3, "v", 1);
    } else if (op == 1) {
      o = NewWrite(o, {}, 1 + rng() % 3, "w", 1);
    } else if (!states.empty()) {
      o = Sync(o, states[rng() % states.size()]);
    }
    states.push_back(o);
  }
  for (const Object& p : states) {
    for (const Object& q : states) {
      CHECK((CausalFingerprint(p) == CausalFingerprint(q)) ==
            p.SameCausalState(q));
    }
  }
}

}  // namespace
}  // namespace shoal::quorum

namespace shoal::quorum {
namespace {

TEST_CASE("last write wins keeps the latest sibling on every replica") {
  // Two concurrent writes; the later one by wall clock wins everywhere,
  // whichever order the replicas merge in.
  const Object a = NewWrite(Object{}, VersionVector{}, 300, "early", 1000);
  const Object b = NewWrite(Object{}, VersionVector{}, 100, "late", 2000);
  Object ab = Sync(a, b);
  Object ba = Sync(b, a);
  KeepLastWrite(ab);
  KeepLastWrite(ba);
  REQUIRE(ab.siblings.size() == 1);
  CHECK(ab.siblings[0].value == "late");
  CHECK(ab == ba);
  // The loser stays covered: merging it again does not bring it back.
  Object again = Sync(ab, a);
  KeepLastWrite(again);
  CHECK(again == ab);
}

TEST_CASE("last write wins breaks timestamp ties by dot") {
  const Object a = NewWrite(Object{}, VersionVector{}, 300, "x", 5);
  const Object b = NewWrite(Object{}, VersionVector{}, 100, "y", 5);
  Object m = Sync(a, b);
  KeepLastWrite(m);
  REQUIRE(m.siblings.size() == 1);
  CHECK(m.siblings[0].dot.actor == 300);
}

}  // namespace
}  // namespace shoal::quorum
