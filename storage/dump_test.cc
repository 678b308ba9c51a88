// Tests for storage::DumpDirectory, the read-only dump. The main case dumps
// a directory while a Store in a child process holds it open (its flock and
// its writer threads included), as `shoald dump` does with a running node:
// LMDB does not allow one environment to be open twice in one process, so
// the Store and the dump cannot share this test's process. The error cases
// run after their Store has closed. Every case uses its own temporary
// directory, removed at the end.
#include "storage/dump.h"

#include <doctest/doctest.h>
#include <lmdb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <vector>

#include "storage/store.h"
#include "tests/temp_dir.h"
#include "wire/codec.h"

namespace shoal::storage {
namespace {

namespace fs = std::filesystem;

using ::shoal::testing::TempDir;

ring::KeyLocation Loc(uint32_t partition, uint32_t segment) {
  ring::KeyLocation loc;
  loc.partition = partition;
  loc.segment = segment;
  loc.hash = (uint64_t{partition} << 48) | segment;
  return loc;
}

StoreOptions Options(const TempDir& dir) {
  StoreOptions o;
  o.dir = dir.str();
  o.map_size_bytes = 64ull << 20;
  return o;
}

// Submits one op and blocks until its completion ran.
Result<WriteResult> Write(Store& store, WriteOp op) {
  std::promise<Result<WriteResult>> promise;
  std::future<Result<WriteResult>> future = promise.get_future();
  store.Submit(std::move(op), [&promise](Result<WriteResult> r) {
    promise.set_value(std::move(r));
  });
  return future.get();
}

WriteOp Put(std::string key, ring::KeyLocation loc,
            std::optional<std::string> value,
            quorum::VersionVector context = {}) {
  WriteOp op;
  op.kind = WriteOp::Kind::kCoordinate;
  op.key = std::move(key);
  op.loc = loc;
  op.context = std::move(context);
  op.value = std::move(value);
  op.written_at_ms = 1700000000000;
  return op;
}

WriteOp Merge(std::string key, ring::KeyLocation loc, quorum::Object object) {
  WriteOp op;
  op.kind = WriteOp::Kind::kMerge;
  op.key = std::move(key);
  op.loc = loc;
  op.incoming = std::move(object);
  return op;
}

WriteOp HintOp(std::string target, std::string key, ring::KeyLocation loc,
               quorum::Object object) {
  WriteOp op;
  op.kind = WriteOp::Kind::kHint;
  op.hint_target = std::move(target);
  op.key = std::move(key);
  op.loc = loc;
  op.incoming = std::move(object);
  return op;
}

// A dumped record, copied out of the callback.
struct Copy {
  uint32_t partition = 0;
  uint32_t segment = 0;
  std::string key, target, db_key, value;
  int64_t stored_at_ms = 0;
  quorum::Object object;
};

// Dumps `db` of `dir` into copies; the Status of the dump is in *status.
std::vector<Copy> DumpAll(const std::string& dir, DumpDb db,
                          Status* status = nullptr) {
  std::vector<Copy> out;
  Result<uint64_t> n = DumpDirectory(dir, db, [&out](const DumpRecord& r) {
    REQUIRE(r.object != nullptr);
    out.push_back(Copy{r.partition, r.segment, std::string(r.key),
                       std::string(r.target), std::string(r.db_key),
                       std::string(r.value), r.stored_at_ms, *r.object});
    return Status::Ok();
  });
  if (status != nullptr) {
    *status = n.status();
  } else {
    REQUIRE_MESSAGE(n.ok(), n.status().ToString());
  }
  if (n.ok()) CHECK(*n == out.size());
  return out;
}

// Writes raw bytes into a named database of a closed store's environment.
void PutRaw(const TempDir& dir, const char* db, std::string_view key,
            std::string_view value) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 8) == 0);
  REQUIRE(mdb_env_open(env, dir.str().c_str(), 0, 0644) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi;
  REQUIRE(mdb_dbi_open(txn, db, 0, &dbi) == 0);
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v{value.size(), const_cast<char*>(value.data())};
  REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

// The keys the main case writes, and where.
struct Written {
  std::string key;
  ring::KeyLocation loc;
};
const std::vector<Written>& ObjectKeys() {
  static const std::vector<Written> keys = {
      {"alpha", Loc(1, 10)},
      {"beta", Loc(1, 5)},                      // a value that is not UTF-8
      {std::string("\xc3\x28", 2), Loc(0, 7)},  // a key that is not UTF-8
      {"gone", Loc(2, 1)},                      // deleted: a tombstone
      {"sib", Loc(3, 3)},                       // two blind puts: siblings
      {"merged", Loc(65535, 0xffffffff)},       // another actor's write
  };
  return keys;
}

// The child's side of the main case: opens the store, writes, says so on
// `ready`, then holds the store open until `release` is closed. Exits 0 on
// success, or a code naming the step that failed (no doctest here: this is
// a forked copy of the test process).
[[noreturn]] void OwnDirectory(const StoreOptions& options, int ready,
                               int release) {
  auto store = Store::Open(options);
  if (!store.ok()) ::_exit(10);
  Store& s = **store;
  const auto& keys = ObjectKeys();
  if (!Write(s, Put(keys[0].key, keys[0].loc, "one")).ok()) ::_exit(11);
  if (!Write(s, Put(keys[1].key, keys[1].loc, std::string("\xff\x00\x01", 3)))
           .ok()) {
    ::_exit(12);
  }
  if (!Write(s, Put(keys[2].key, keys[2].loc, "x")).ok()) ::_exit(13);
  auto gone = Write(s, Put(keys[3].key, keys[3].loc, "soon gone"));
  if (!gone.ok()) ::_exit(14);
  if (!Write(s, Put(keys[3].key, keys[3].loc, std::nullopt, gone->after.vv))
           .ok()) {
    ::_exit(15);
  }
  if (!Write(s, Put(keys[4].key, keys[4].loc, "left")).ok()) ::_exit(16);
  if (!Write(s, Put(keys[4].key, keys[4].loc, "right")).ok()) ::_exit(17);
  if (!Write(s, Merge(keys[5].key, keys[5].loc,
                      quorum::NewWrite({}, {}, 42, std::string("m"), 5)))
           .ok()) {
    ::_exit(18);
  }
  const quorum::Object hinted =
      quorum::NewWrite({}, {}, 9, std::string("h"), 3);
  if (!Write(s, HintOp("n2", "h1", Loc(4, 4), hinted)).ok()) ::_exit(19);
  if (!Write(s, HintOp("n3", "h2", Loc(0, 1), hinted)).ok()) ::_exit(20);
  const char byte = 'r';
  if (::write(ready, &byte, 1) != 1) ::_exit(21);
  char ignored;
  while (::read(release, &ignored, 1) > 0) {
  }
  store->reset();  // a clean close
  ::_exit(0);
}

TEST_CASE("a dump reads a directory that a Store in another process holds") {
  TempDir dir;
  const StoreOptions options = Options(dir);
  int ready[2], release[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(release) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(ready[0]);
    ::close(release[1]);
    OwnDirectory(options, ready[1], release[0]);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char byte = 0;
  const bool child_ready = ::read(ready[0], &byte, 1) == 1;
  ::close(ready[0]);

  // While the child holds the directory (a second Store is refused) and its
  // writer threads run, the dump reads both databases.
  std::vector<Copy> objects, hints;
  Status dump_objects, dump_hints;
  Status second_store;
  if (child_ready) {
    objects = DumpAll(dir.str(), DumpDb::kObjects, &dump_objects);
    hints = DumpAll(dir.str(), DumpDb::kHints, &dump_hints);
    second_store = Store::Open(options).status();
  }
  ::close(release[1]);  // lets the child close its store and exit
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(child_ready);
  REQUIRE_MESSAGE(WIFEXITED(status), "child status " << status);
  REQUIRE_MESSAGE(WEXITSTATUS(status) == 0,
                  "child failed at step " << WEXITSTATUS(status));
  REQUIRE_MESSAGE(dump_objects.ok(), dump_objects.ToString());
  REQUIRE_MESSAGE(dump_hints.ok(), dump_hints.ToString());
  CHECK(second_store.code() == Code::kInvalidArgument);
  CHECK(second_store.message().find("already open") != std::string::npos);

  // What the dump saw is what the store holds, byte for byte, in LMDB
  // order.
  auto store = Store::Open(options);
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  const std::vector<std::string> storage_keys = (*store)->TEST_StorageKeys();
  REQUIRE(objects.size() == ObjectKeys().size());
  REQUIRE(storage_keys.size() == objects.size());
  for (size_t i = 0; i < objects.size(); ++i) {
    const Copy& c = objects[i];
    CAPTURE(i);
    CHECK(c.db_key == storage_keys[i]);
    CHECK(c.target.empty());
    CHECK(c.stored_at_ms == 0);
    const ring::KeyLocation loc = Loc(c.partition, c.segment);
    CHECK(EncodeStorageKey(c.key, loc) == c.db_key);
    auto got = (*store)->Get(c.key, loc);
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK(**got == c.object);
    CHECK(wire::EncodeObject(c.object) == c.value);
  }
  for (const Written& w : ObjectKeys()) {
    CAPTURE(w.key);
    auto it = std::find_if(objects.begin(), objects.end(),
                           [&w](const Copy& c) { return c.key == w.key; });
    REQUIRE(it != objects.end());
    CHECK(it->partition == w.loc.partition);
    CHECK(it->segment == w.loc.segment);
  }
  auto find = [&objects](std::string_view key) {
    return *std::find_if(objects.begin(), objects.end(),
                         [key](const Copy& c) { return c.key == key; });
  };
  CHECK(find("beta").object.siblings.at(0).value ==
        std::string("\xff\x00\x01", 3));
  REQUIRE(find("gone").object.siblings.size() == 1);
  CHECK(find("gone").object.siblings[0].tombstone);
  CHECK(find("sib").object.siblings.size() == 2);
  CHECK(find("merged").object.siblings.at(0).dot.actor == 42);
  CHECK(find("alpha").object.siblings.at(0).dot.actor == (*store)->actor());

  // Hints: in (target, storage key) order, with their stored-at time.
  REQUIRE(hints.size() == 2);
  CHECK(hints[0].target == "n2");
  CHECK(hints[0].key == "h1");
  CHECK(hints[0].partition == 4);
  CHECK(hints[1].target == "n3");
  CHECK(hints[1].key == "h2");
  auto n2 = (*store)->ScanHints("n2", "", 10);
  REQUIRE(n2.ok());
  REQUIRE(n2->size() == 1);
  CHECK(hints[0].object == (*n2)[0].object);
  CHECK(hints[0].stored_at_ms == (*n2)[0].stored_at_ms);
  CHECK(hints[0].value.size() == (*n2)[0].bytes);
  CHECK(hints[0].value.substr(8) == wire::EncodeObject(hints[0].object));
}

TEST_CASE("dumping something that is not a data directory says so") {
  TempDir dir;
  const std::string missing = dir.str() + "/nowhere";
  Status st;
  DumpAll(missing, DumpDb::kObjects, &st);
  CHECK(st.code() == Code::kInvalidArgument);
  CHECK(st.message() ==
        "no shoal data directory at " + missing + " (no data.mdb)");

  fs::create_directories(dir.str());
  DumpAll(dir.str(), DumpDb::kObjects, &st);
  CHECK(st.code() == Code::kInvalidArgument);
  CHECK(st.message() ==
        "no shoal data directory at " + dir.str() + " (no data.mdb)");
  // The failed dump left nothing behind.
  CHECK(fs::is_empty(dir.str()));

  // A data.mdb that is not LMDB's.
  std::ofstream(dir.str() + "/data.mdb") << std::string(8192, 'x');
  DumpAll(dir.str(), DumpDb::kObjects, &st);
  CHECK(st.code() == Code::kCorruption);
  CHECK(st.message().find(dir.str()) != std::string::npos);
}

TEST_CASE("database names") {
  CHECK(*ParseDumpDb("objects") == DumpDb::kObjects);
  CHECK(*ParseDumpDb("hints") == DumpDb::kHints);
  CHECK(std::string(DumpDbName(DumpDb::kObjects)) == "objects");
  CHECK(std::string(DumpDbName(DumpDb::kHints)) == "hints");
  for (const char* bad : {"meta", "", "Objects", "objects "}) {
    CAPTURE(bad);
    Result<DumpDb> db = ParseDumpDb(bad);
    REQUIRE_FALSE(db.ok());
    CHECK(db.status().code() == Code::kInvalidArgument);
    CHECK(db.status().message().find("expected objects or hints") !=
          std::string::npos);
  }
}

TEST_CASE("an empty store dumps no records") {
  TempDir dir;
  { REQUIRE(Store::Open(Options(dir)).ok()); }
  CHECK(DumpAll(dir.str(), DumpDb::kObjects).empty());
  CHECK(DumpAll(dir.str(), DumpDb::kHints).empty());
}

TEST_CASE("a record that does not decode stops the dump with kCorruption") {
  TempDir dir;
  {
    auto store = Store::Open(Options(dir));
    REQUIRE(store.ok());
    REQUIRE(Write(**store, Put("first", Loc(1, 1), "ok")).ok());
    REQUIRE(Write(**store, Put("last", Loc(9, 9), "ok")).ok());
  }
  // Sorts between the two good records: 7 bytes, not a whole word.
  PutRaw(dir, "objects", EncodeStorageKey("bad", Loc(5, 0)), "garbage");
  Status st;
  std::vector<Copy> seen = DumpAll(dir.str(), DumpDb::kObjects, &st);
  CHECK(st.code() == Code::kCorruption);
  CHECK(st.message().find("partition 5") != std::string::npos);
  CHECK(st.message().find("key of 3 bytes") != std::string::npos);
  CHECK(st.message().find("'objects'") != std::string::npos);
  CHECK(st.message().find(dir.str()) != std::string::npos);
  REQUIRE(seen.size() == 1);  // the record before it, and no further
  CHECK(seen[0].key == "first");
}

TEST_CASE("a key shorter than the storage key prefix is kCorruption") {
  TempDir dir;
  { REQUIRE(Store::Open(Options(dir)).ok()); }
  PutRaw(dir, "objects", "abc",
         wire::EncodeObject(quorum::NewWrite({}, {}, 1, std::string("v"), 1)));
  Status st;
  DumpAll(dir.str(), DumpDb::kObjects, &st);
  CHECK(st.code() == Code::kCorruption);
  CHECK(st.message().find("key of 3 bytes is shorter") != std::string::npos);
}

TEST_CASE("a hint that does not decode names its target") {
  TempDir dir;
  { REQUIRE(Store::Open(Options(dir)).ok()); }
  PutRaw(dir, "hints",
         std::string("\x02n2", 3) + EncodeStorageKey("k", Loc(3, 0)), "short");
  Status st;
  DumpAll(dir.str(), DumpDb::kHints, &st);
  CHECK(st.code() == Code::kCorruption);
  CHECK(st.message().find("hint for n2") != std::string::npos);
  CHECK(st.message().find("partition 3") != std::string::npos);
}

TEST_CASE("a different format version is refused") {
  TempDir dir;
  { REQUIRE(Store::Open(Options(dir)).ok()); }
  PutRaw(dir, "meta", "format", std::string("\x02\x00\x00\x00", 4));
  Status st;
  DumpAll(dir.str(), DumpDb::kObjects, &st);
  CHECK(st.code() == Code::kCorruption);
  CHECK(st.message().find("format version 2") != std::string::npos);
}

TEST_CASE("the callback's error stops the dump and is returned") {
  TempDir dir;
  {
    auto store = Store::Open(Options(dir));
    REQUIRE(store.ok());
    for (int i = 0; i < 5; ++i) {
      REQUIRE(
          Write(**store, Put("k" + std::to_string(i), Loc(i, 0), "v")).ok());
    }
  }
  int calls = 0;
  Result<uint64_t> n =
      DumpDirectory(dir.str(), DumpDb::kObjects, [&calls](const DumpRecord&) {
        return ++calls == 2 ? Status(Code::kInternal, "stdout is gone")
                            : Status::Ok();
      });
  REQUIRE_FALSE(n.ok());
  CHECK(n.status().code() == Code::kInternal);
  CHECK(n.status().message() == "stdout is gone");
  CHECK(calls == 2);
}

}  // namespace
}  // namespace shoal::storage
