#include "quorum/session.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

namespace shoal::quorum {
namespace {

constexpr ActorId kA = 1, kB = 2;
constexpr uint64_t kK = 0x6b, kMissing = 0x404;

VersionVector Vv(std::vector<Dot> dots) {
  return VersionVector::FromEntries(std::move(dots));
}

TEST_CASE("a written version is the floor until a read shows it or newer") {
  SessionToken t;
  Object v1 = NewWrite({}, {}, kA, "v1", 1);
  t.NoteWrite(kK, v1.vv, /*live=*/true);
  const SessionFloor* f = t.Find(kK);
  REQUIRE(f != nullptr);
  CHECK(f->wrote);
  CHECK(GuaranteeName(*f) == "read-your-writes");
  CHECK_FALSE(Satisfies(Object{}, *f));  // a replica that missed the write
  CHECK(Satisfies(v1, *f));
  // A later write (with v1's context) supersedes v1 and satisfies too.
  Object v2 = NewWrite(v1, v1.vv, kB, "v2", 2);
  CHECK(Satisfies(v2, *f));
  // A concurrent write alone does not.
  Object other = NewWrite({}, {}, kB, "other", 3);
  CHECK_FALSE(Satisfies(other, *f));
  CHECK(Satisfies(Sync(other, v1), *f));

  // Reading v1 back keeps it the session's write; reading v2 makes v2 the
  // floor, and the guarantee monotonic reads.
  t.NoteRead(kK, v1);
  CHECK(t.Find(kK)->wrote);
  t.NoteRead(kK, v2);
  f = t.Find(kK);
  CHECK_FALSE(f->wrote);
  CHECK(GuaranteeName(*f) == "monotonic reads");
  CHECK(f->vv == v2.vv);
  CHECK_FALSE(Satisfies(v1, *f));
}

TEST_CASE("a blind write concurrent with the floor asks for both") {
  SessionToken t;
  Object v1 = NewWrite({}, {}, kA, "v1", 1);
  t.NoteWrite(kK, v1.vv, true);
  Object v2 = NewWrite({}, {}, kB, "v2", 2);  // coordinator lacked v1
  t.NoteWrite(kK, v2.vv, true);
  const SessionFloor* f = t.Find(kK);
  CHECK(f->vv == Vv({{kA, 1}, {kB, 1}}));
  CHECK_FALSE(Satisfies(v1, *f));
  CHECK_FALSE(Satisfies(v2, *f));
  CHECK(Satisfies(Sync(v1, v2), *f));
}

TEST_CASE("a deleted key is reflected by any answer without a live value") {
  SessionToken t;
  Object v1 = NewWrite({}, {}, kA, "v1", 1);
  Object gone = NewWrite(v1, v1.vv, kA, std::nullopt, 2);
  t.NoteWrite(kK, gone.vv, /*live=*/false);
  const SessionFloor* f = t.Find(kK);
  CHECK(f->absent);
  CHECK(Satisfies(gone, *f));
  CHECK(Satisfies(Object{}, *f));  // reaped everywhere, or never stored
  CHECK_FALSE(Satisfies(v1, *f));  // the value the session deleted
  // Written again: the floor needs the new value.
  Object v3 = NewWrite(gone, gone.vv, kB, "v3", 3);
  t.NoteWrite(kK, v3.vv, true);
  CHECK_FALSE(t.Find(kK)->absent);
  CHECK_FALSE(Satisfies(Object{}, *t.Find(kK)));
}

TEST_CASE("reading a key never written leaves no floor") {
  SessionToken t;
  t.NoteRead(kMissing, Object{});
  CHECK(t.empty());
  CHECK(t.Find(kMissing) == nullptr);
}

TEST_CASE("the token keeps the keys touched last, most recent first") {
  SessionToken t;
  for (size_t i = 0; i < SessionToken::kMaxKeys + 10; ++i) {
    t.NoteWrite(1000 + i, Vv({{kA, i + 1}}), true);
  }
  CHECK(t.floors().size() == SessionToken::kMaxKeys);
  CHECK(t.floors().front().key_hash == 1073);
  CHECK(t.Find(1009) == nullptr);  // fell out
  CHECK(t.Find(1010) != nullptr);
  // Touching an old key moves it to the front.
  t.NoteRead(1010, NewWrite({}, Vv({{kA, 11}}), kB, "x", 1));
  CHECK(t.floors().front().key_hash == 1010);
  CHECK(t.floors().size() == SessionToken::kMaxKeys);

  // FromFloors keeps the order, the first floor of a key, and the bound.
  std::vector<SessionFloor> floors = t.floors();
  floors.push_back({1010, Vv({{kA, 99}}), false, false});
  floors.push_back({7, Vv({{kA, 1}}), false, false});
  SessionToken u = SessionToken::FromFloors(floors);
  CHECK(u == t);
}

TEST_CASE("a client adopts each reply's floor for the key it asked") {
  SessionToken client;
  client.NoteWrite(1, Vv({{kA, 1}}), true);
  client.NoteWrite(2, Vv({{kA, 2}}), true);
  // The request for key 1 carries only its floor.
  SessionToken request = client.Only(1);
  REQUIRE(request.floors().size() == 1);
  CHECK(request.floors()[0].key_hash == 1);
  CHECK(client.Only(3).empty());
  // The node notes the read on it; the client takes the result.
  request.NoteRead(1, NewWrite({}, Vv({{kA, 1}}), kB, "x", 1));
  client.Adopt(request.floors()[0]);
  CHECK(client.floors().size() == 2);
  CHECK(client.floors()[0].key_hash == 1);
  CHECK(client.Find(1)->vv == Vv({{kA, 1}, {kB, 1}}));
  CHECK(client.Find(2)->vv == Vv({{kA, 2}}));
}

}  // namespace
}  // namespace shoal::quorum
