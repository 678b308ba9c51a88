// Tests for storage::Store: every case uses its own fresh temporary
// directory, removed at the end. A few cases poke the LMDB environment
// directly (with no Store open on it) to plant bad bytes.
#include "storage/store.h"

#include <doctest/doctest.h>
#include <lmdb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <future>
#include <latch>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/virtual_clock.h"
#include "tests/temp_dir.h"

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

StoreOptions Options(const TempDir& dir,
                     SyncPolicy sync = SyncPolicy::kPeriodic) {
  StoreOptions o;
  o.dir = dir.str();
  o.sync = sync;
  o.map_size_bytes = 64ull << 20;
  return o;
}

std::unique_ptr<Store> MustOpen(const StoreOptions& options) {
  Result<std::unique_ptr<Store>> store = Store::Open(options);
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  return std::move(store).value();
}

WriteOp Coordinate(std::string key, ring::KeyLocation loc,
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

WriteOp Merge(std::string key, ring::KeyLocation loc, quorum::Object incoming) {
  WriteOp op;
  op.kind = WriteOp::Kind::kMerge;
  op.key = std::move(key);
  op.loc = loc;
  op.incoming = std::move(incoming);
  return op;
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

quorum::Object MustGet(const Store& store, std::string_view key,
                       const ring::KeyLocation& loc) {
  Result<std::optional<quorum::Object>> got = store.Get(key, loc);
  REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  REQUIRE(got->has_value());
  return **got;
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

TEST_CASE("the actor is minted once per data directory") {
  TempDir dir;
  quorum::ActorId first = 0;
  {
    auto store = MustOpen(Options(dir));
    first = store->actor();
    CHECK(first != 0);
  }
  {
    auto store = MustOpen(Options(dir));
    CHECK(store->actor() == first);
  }
  dir.Wipe();
  {
    auto store = MustOpen(Options(dir));
    CHECK(store->actor() != 0);
    CHECK(store->actor() != first);
  }
}

TEST_CASE(
    "meta records survive reopen, and the store's own names are refused") {
  TempDir dir;
  {
    auto store = MustOpen(Options(dir));
    auto none = store->ReadMeta("cluster");
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_value());
    REQUIRE(store->WriteMeta("cluster", std::string("v1\0x", 4)).ok());
    REQUIRE(store->WriteMeta("cluster", std::string("v2\0y", 4)).ok());
    for (const char* own : {"actor", "format", "session", "hint_counters"}) {
      const Status st = store->WriteMeta(own, "x");
      CHECK(st.code() == Code::kInvalidArgument);
      CHECK(st.message().find(own) != std::string::npos);
      CHECK(store->ReadMeta(own).status().code() == Code::kInvalidArgument);
    }
    store->TEST_Seal();
    CHECK(store->WriteMeta("cluster", "v3").code() == Code::kUnavailable);
  }
  auto store = MustOpen(Options(dir));
  auto got = store->ReadMeta("cluster");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK(**got == std::string("v2\0y", 4));
}

TEST_CASE("an actor seed mints the same actor for the same seed") {
  TempDir a;
  TempDir b;
  StoreOptions oa = Options(a);
  oa.actor_seed = 42;
  StoreOptions ob = Options(b);
  ob.actor_seed = 42;
  quorum::ActorId first = 0;
  {
    auto sa = MustOpen(oa);
    auto sb = MustOpen(ob);
    first = sa->actor();
    CHECK(first != 0);
    CHECK(sb->actor() == first);
  }
  ob.actor_seed = 43;
  b.Wipe();
  CHECK(MustOpen(ob)->actor() != first);
}

// Opens the store in a child process, writes one key and dies without
// closing it: the "session" stays marked open, as after a crash.
void CrashWhileOpen(const StoreOptions& options, const std::string& key) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto store = Store::Open(options);
    if (!store.ok()) ::_exit(3);
    auto r = Write(**store, Coordinate(key, Loc(1, 1), std::string("v")));
    ::_exit(r.ok() ? 0 : 4);  // no destructor: no clean close
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

TEST_CASE("a crash followed by a reboot gives the directory a new actor") {
  TempDir dir;
  StoreOptions boot_a = Options(dir);
  boot_a.TEST_boot_id = "boot-a";
  StoreOptions boot_b = Options(dir);
  boot_b.TEST_boot_id = "boot-b";
  quorum::ActorId first = 0;
  {
    auto store = MustOpen(boot_a);
    first = store->actor();
  }
  SUBCASE("a clean close keeps the actor across a reboot") {
    auto store = MustOpen(boot_b);
    CHECK(store->actor() == first);
    CHECK_FALSE(store->actor_reminted());
  }
  SUBCASE("a killed process on the same boot keeps the actor") {
    CrashWhileOpen(boot_a, "k");
    auto store = MustOpen(boot_a);
    CHECK(store->actor() == first);
    CHECK_FALSE(store->actor_reminted());
    CHECK(MustGet(*store, "k", Loc(1, 1)).Found());
  }
  SUBCASE("an unclean session before a reboot mints a new actor") {
    CrashWhileOpen(boot_a, "k");
    auto store = MustOpen(boot_b);
    CHECK(store->actor() != first);
    CHECK(store->actor() != 0);
    CHECK(store->actor_reminted());
    // The data stays; only new dots use the new actor.
    CHECK(MustGet(*store, "k", Loc(1, 1)).Found());
  }
}

TEST_CASE("a coordinated write over the object limit fails with kTooLarge") {
  TempDir dir;
  StoreOptions options = Options(dir);
  options.max_object_bytes = 1000;
  auto store = MustOpen(options);
  REQUIRE(
      Write(*store, Coordinate("k", Loc(0, 0), std::string(600, 'a'))).ok());
  // A blind write would keep both siblings: 1200 bytes.
  auto r = Write(*store, Coordinate("k", Loc(0, 0), std::string(600, 'b')));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kTooLarge);
  CHECK(r.status().message().find("limits.max_object_bytes") !=
        std::string::npos);
  // A merge bringing the same concurrent sibling is taken (replicas must
  // converge).
  quorum::Object other = quorum::NewWrite({}, {}, 42, std::string(600, 'c'), 1);
  auto merged = Write(*store, Merge("k", Loc(0, 0), other));
  REQUIRE(merged.ok());
  CHECK(merged->after.siblings.size() == 2);
}

TEST_CASE("a directory can be open in one store only") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  Result<std::unique_ptr<Store>> second = Store::Open(Options(dir));
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == Code::kInvalidArgument);
  CHECK(second.status().message().find("already open") != std::string::npos);
}

TEST_CASE("a different format version is refused") {
  TempDir dir;
  { auto store = MustOpen(Options(dir)); }
  PutRaw(dir, "meta", "format", std::string("\x02\x00\x00\x00", 4));
  Result<std::unique_ptr<Store>> store = Store::Open(Options(dir));
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().code() == Code::kCorruption);
  const std::string& msg = store.status().message();
  CHECK(msg.find("format version 2") != std::string::npos);
  CHECK(msg.find("format version 1") != std::string::npos);
  CHECK(msg.find(dir.str()) != std::string::npos);
}

TEST_CASE("bad options are refused") {
  TempDir dir;
  StoreOptions o = Options(dir);
  o.max_batch = 0;
  CHECK(Store::Open(o).status().code() == Code::kInvalidArgument);
  o = Options(dir);
  o.dir.clear();
  CHECK(Store::Open(o).status().code() == Code::kInvalidArgument);
}

TEST_CASE("coordinate then merge then a no-op merge") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  const auto loc = Loc(3, 77);

  Result<std::optional<quorum::Object>> missing = store->Get("k", loc);
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());

  Result<WriteResult> put = Write(*store, Coordinate("k", loc, "a"));
  REQUIRE_MESSAGE(put.ok(), put.status().ToString());
  CHECK(put->changed);
  CHECK(put->before == quorum::Object());
  REQUIRE(put->after.siblings.size() == 1);
  CHECK(put->after.siblings[0].dot == quorum::Dot{store->actor(), 1});
  CHECK(put->after.siblings[0].value == "a");
  CHECK(MustGet(*store, "k", loc) == put->after);

  // A concurrent write coordinated elsewhere becomes a sibling.
  quorum::Object other;
  other.vv.Add({42, 1});
  quorum::Sibling s;
  s.dot = {42, 1};
  s.value = "b";
  other.siblings.push_back(s);
  Result<WriteResult> merged = Write(*store, Merge("k", loc, other));
  REQUIRE_MESSAGE(merged.ok(), merged.status().ToString());
  CHECK(merged->changed);
  CHECK(merged->before == put->after);
  CHECK(merged->after.siblings.size() == 2);
  CHECK(MustGet(*store, "k", loc) == merged->after);

  // Merging it again, or merging an older state, changes nothing.
  Result<WriteResult> again = Write(*store, Merge("k", loc, other));
  REQUIRE(again.ok());
  CHECK_FALSE(again->changed);
  CHECK(again->after == again->before);
  Result<WriteResult> older = Write(*store, Merge("k", loc, put->after));
  REQUIRE(older.ok());
  CHECK_FALSE(older->changed);

  // A write with the merged context replaces both siblings.
  Result<WriteResult> resolve =
      Write(*store, Coordinate("k", loc, "c", merged->after.vv));
  REQUIRE(resolve.ok());
  REQUIRE(resolve->after.siblings.size() == 1);
  CHECK(resolve->after.siblings[0].value == "c");

  // A delete is a tombstone sibling.
  Result<WriteResult> del =
      Write(*store, Coordinate("k", loc, std::nullopt, resolve->after.vv));
  REQUIRE(del.ok());
  quorum::Object stored = MustGet(*store, "k", loc);
  REQUIRE(stored.siblings.size() == 1);
  CHECK(stored.siblings[0].tombstone);
  CHECK_FALSE(stored.Found());
  CHECK(store->Stats().keys == 1);
}

TEST_CASE("storage survives reopen under every sync policy") {
  for (SyncPolicy policy :
       {SyncPolicy::kPeriodic, SyncPolicy::kAlways, SyncPolicy::kNone}) {
    CAPTURE(SyncPolicyName(policy));
    TempDir dir;
    constexpr int kKeys = 1000;
    std::map<std::string, std::pair<ring::KeyLocation, quorum::Object>> written;
    std::mutex written_mu;
    std::atomic<int> failures{0};
    quorum::ActorId actor = 0;
    {
      auto store = MustOpen(Options(dir, policy));
      actor = store->actor();
      std::latch done(kKeys);
      for (int i = 0; i < kKeys; ++i) {
        const std::string key = "key-" + std::to_string(i);
        const auto loc = Loc(i % 64, static_cast<uint32_t>(i * 2654435761u));
        store->Submit(Coordinate(key, loc, "value-" + std::to_string(i)),
                      [&, key, loc](Result<WriteResult> r) {
                        if (r.ok()) {
                          std::lock_guard<std::mutex> lock(written_mu);
                          written[key] = {loc, r->after};
                        } else {
                          ++failures;
                        }
                        done.count_down();
                      });
      }
      done.wait();
    }
    REQUIRE(failures == 0);
    REQUIRE(written.size() == kKeys);
    auto store = MustOpen(Options(dir, policy));
    CHECK(store->actor() == actor);
    CHECK(store->Stats().keys == kKeys);
    int mismatches = 0;
    for (const auto& [key, entry] : written) {
      Result<std::optional<quorum::Object>> got = store->Get(key, entry.first);
      if (!got.ok() || !got->has_value() || **got != entry.second) {
        ++mismatches;
      }
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("group commit: 5000 queued ops all land") {
  TempDir dir;
  StoreOptions options = Options(dir);
  auto store = MustOpen(options);
  constexpr int kOps = 5000;
  std::latch done(kOps);
  std::atomic<int> failures{0};
  for (int i = 0; i < kOps; ++i) {
    store->Submit(
        Coordinate("g" + std::to_string(i), Loc(i % 16, i), std::to_string(i)),
        [&](Result<WriteResult> r) {
          if (!r.ok() || !r->changed) ++failures;
          done.count_down();
        });
  }
  done.wait();
  CHECK(failures == 0);
  CHECK(store->Stats().keys == kOps);
  int missing = 0;
  for (int i = 0; i < kOps; ++i) {
    Result<std::optional<quorum::Object>> got =
        store->Get("g" + std::to_string(i), Loc(i % 16, i));
    if (!got.ok() || !got->has_value() || (*got)->siblings.size() != 1 ||
        (*got)->siblings[0].value != std::to_string(i)) {
      ++missing;
    }
  }
  CHECK(missing == 0);
}

TEST_CASE("racing blind writes to one key never lose a sibling") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  constexpr int kPerThread = 200;
  const auto loc = Loc(9, 1234);
  std::latch done(2 * kPerThread);
  std::atomic<int> failures{0};
  auto writer = [&](int thread) {
    for (int i = 0; i < kPerThread; ++i) {
      store->Submit(
          Coordinate("hot", loc,
                     std::to_string(thread) + "/" + std::to_string(i)),
          [&](Result<WriteResult> r) {
            if (!r.ok()) ++failures;
            done.count_down();
          });
    }
  };
  std::thread a(writer, 0);
  std::thread b(writer, 1);
  a.join();
  b.join();
  done.wait();
  CHECK(failures == 0);
  quorum::Object stored = MustGet(*store, "hot", loc);
  CHECK(stored.siblings.size() == 2 * kPerThread);
  CHECK(stored.vv.Get(store->actor()) == 2 * kPerThread);
}

TEST_CASE("a full map fails writes with kStorageFull and keeps reads") {
  TempDir dir;
  StoreOptions options = Options(dir);
  options.map_size_bytes = 1ull << 20;
  auto store = MustOpen(options);
  const std::string value(16 << 10, 'x');
  std::vector<int> acked;
  std::optional<Status> full;
  int failed_index = -1;
  for (int i = 0; i < 1000 && !full; ++i) {
    Result<WriteResult> r = Write(
        *store, Coordinate("f" + std::to_string(i), Loc(i % 4, i), value));
    if (r.ok()) {
      acked.push_back(i);
    } else {
      full = r.status();
      failed_index = i;
    }
  }
  REQUIRE(full.has_value());
  CHECK(full->code() == Code::kStorageFull);
  CHECK(full->message().find("storage full") != std::string::npos);
  CHECK(full->message().find("1048576") != std::string::npos);
  CHECK_FALSE(acked.empty());

  // Every acknowledged write is readable; the failed one left nothing.
  for (int i : acked) {
    quorum::Object o = MustGet(*store, "f" + std::to_string(i), Loc(i % 4, i));
    REQUIRE(o.siblings.size() == 1);
    CHECK(o.siblings[0].value == value);
  }
  Result<std::optional<quorum::Object>> failed = store->Get(
      "f" + std::to_string(failed_index), Loc(failed_index % 4, failed_index));
  REQUIRE(failed.ok());
  CHECK_FALSE(failed->has_value());
  Result<std::optional<quorum::Object>> fresh = store->Get("never", Loc(1, 1));
  REQUIRE(fresh.ok());
  CHECK_FALSE(fresh->has_value());

  StoreStats stats = store->Stats();
  CHECK(stats.keys == acked.size());
  CHECK(stats.map_size_bytes == options.map_size_bytes);
  CHECK(stats.used_bytes <= stats.map_size_bytes);
  CHECK(stats.full);
  CHECK(stats.full_map_errors == 1);
  CHECK(stats.full_disk_errors == 0);
  CHECK(stats.fs_size_bytes > 0);
  store.reset();  // destroys cleanly

  // And the data is still there after a reopen.
  store = MustOpen(options);
  CHECK(store->Stats().keys == acked.size());
}

TEST_CASE(
    "a blind write beyond max_siblings fails; resolving writes and "
    "merges do not") {
  TempDir dir;
  StoreOptions options = Options(dir);
  options.max_siblings = 3;
  auto store = MustOpen(options);
  const auto loc = Loc(2, 7);
  for (int i = 0; i < 3; ++i) {
    Result<WriteResult> r =
        Write(*store, Coordinate("hot", loc, "v" + std::to_string(i)));
    REQUIRE(r.ok());
    CHECK(r->after.siblings.size() == static_cast<size_t>(i + 1));
  }
  Result<WriteResult> over = Write(*store, Coordinate("hot", loc, "v3"));
  REQUIRE_FALSE(over.ok());
  CHECK(over.status().code() == Code::kTooLarge);
  CHECK(over.status().message().find("limits.max_siblings") !=
        std::string::npos);
  CHECK(over.status().message().find("4 siblings") != std::string::npos);
  CHECK(MustGet(*store, "hot", loc).siblings.size() == 3);

  // A replica's merge is never refused: here it brings a fourth sibling.
  quorum::Object other = quorum::NewWrite({}, {}, /*actor=*/77, "remote", 1);
  REQUIRE(Write(*store, Merge("hot", loc, other)).ok());
  const quorum::Object four = MustGet(*store, "hot", loc);
  CHECK(four.siblings.size() == 4);

  // A write with the context of a read resolves them all.
  Result<WriteResult> resolved =
      Write(*store, Coordinate("hot", loc, "merged", four.vv));
  REQUIRE(resolved.ok());
  CHECK(resolved->after.siblings.size() == 1);
}

TEST_CASE("writes beyond max_queued_writes fail at once with kOverloaded") {
  TempDir dir;
  // Every batch is fsynced on the writer thread, so writes queue up.
  StoreOptions options = Options(dir, SyncPolicy::kAlways);
  options.max_queued_writes = 2;
  auto store = MustOpen(options);
  constexpr int kWrites = 300;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, ok = 0, overloaded = 0;
  std::string message;
  for (int i = 0; i < kWrites; ++i) {
    store->Submit(Coordinate("q" + std::to_string(i), Loc(1, i), "v"),
                  [&](Result<WriteResult> r) {
                    std::lock_guard<std::mutex> lock(mu);
                    ++done;
                    if (r.ok()) {
                      ++ok;
                    } else if (r.status().code() == Code::kOverloaded) {
                      ++overloaded;
                      message = r.status().message();
                    }
                    cv.notify_all();
                  });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done == kWrites; });
  CHECK(ok + overloaded == kWrites);
  CHECK(overloaded > 0);
  CHECK(ok >= 2);
  CHECK(message.find("storage.max_queued_writes") != std::string::npos);
  lock.unlock();
  CHECK(store->Stats().keys == static_cast<uint64_t>(ok));
}

TEST_CASE("a corrupt stored object fails only its own op") {
  TempDir dir;
  const auto bad_loc = Loc(7, 99);
  { auto store = MustOpen(Options(dir)); }
  PutRaw(dir, "objects", EncodeStorageKey("bad", bad_loc), "garbage");
  auto store = MustOpen(Options(dir));

  Result<std::optional<quorum::Object>> got = store->Get("bad", bad_loc);
  REQUIRE_FALSE(got.ok());
  CHECK(got.status().code() == Code::kCorruption);
  CHECK(got.status().message().find("key of 3 bytes") != std::string::npos);
  CHECK(got.status().message().find("partition 7") != std::string::npos);

  // Submitted back to back so that they normally share a batch; the result
  // is the same if they do not.
  std::latch done(3);
  std::optional<Result<WriteResult>> before_bad, bad, after_bad;
  auto keep = [&done](std::optional<Result<WriteResult>>& slot) {
    return [&done, &slot](Result<WriteResult> r) {
      slot.emplace(std::move(r));
      done.count_down();
    };
  };
  store->Submit(Coordinate("ok1", Loc(7, 1), "v"), keep(before_bad));
  store->Submit(Coordinate("bad", bad_loc, "v"), keep(bad));
  store->Submit(Coordinate("ok2", Loc(7, 100), "v"), keep(after_bad));
  done.wait();
  CHECK(before_bad->ok());
  CHECK(after_bad->ok());
  REQUIRE_FALSE(bad->ok());
  CHECK(bad->status().code() == Code::kCorruption);
  CHECK(MustGet(*store, "ok1", Loc(7, 1)).siblings.size() == 1);
  CHECK(MustGet(*store, "ok2", Loc(7, 100)).siblings.size() == 1);
  CHECK(store->Get("bad", bad_loc).status().code() == Code::kCorruption);
}

TEST_CASE("keys over the LMDB key limit are refused with kTooLarge") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  const std::string longest(505, 'k');
  const std::string too_long(506, 'k');
  CHECK(Write(*store, Coordinate(longest, Loc(1, 1), "v")).ok());
  CHECK(MustGet(*store, longest, Loc(1, 1)).siblings.size() == 1);
  CHECK(store->Get(too_long, Loc(1, 1)).status().code() == Code::kTooLarge);
  CHECK(Write(*store, Coordinate(too_long, Loc(1, 1), "v")).status().code() ==
        Code::kTooLarge);
}

TEST_CASE("storage key layout") {
  const std::string encoded = EncodeStorageKey("ab", Loc(0x0102, 0x03040506));
  CHECK(encoded == std::string("\x01\x02\x03\x04\x05\x06"
                               "ab",
                               8));
  CHECK(EncodeStorageKey("", Loc(0xffff, 0xffffffff)) ==
        std::string(6, '\xff'));
  CHECK(EncodeStorageKey("z", Loc(0, 0)) == std::string("\0\0\0\0\0\0z", 7));

  // Each partition is one contiguous range in LMDB order, ordered by
  // segment inside, whatever the user key bytes.
  TempDir dir;
  auto store = MustOpen(Options(dir));
  struct Entry {
    std::string key;
    uint32_t partition;
    uint32_t segment;
  };
  std::vector<Entry> entries;
  const std::vector<uint32_t> partitions = {0, 1, 2, 255, 256, 65535};
  const std::vector<std::string> keys = {"", "a", "\xff\xff\xff",
                                         std::string(3, '\0'), "zzzz"};
  for (uint32_t p : partitions) {
    for (uint32_t seg : {0u, 7u, 0x01000000u, 0xffffffffu}) {
      for (const std::string& k : keys) entries.push_back({k, p, seg});
    }
  }
  std::mt19937 rng(7);
  std::shuffle(entries.begin(), entries.end(), rng);
  std::latch done(static_cast<std::ptrdiff_t>(entries.size()));
  for (const Entry& e : entries) {
    store->Submit(Coordinate(e.key, Loc(e.partition, e.segment), "v"),
                  [&done](Result<WriteResult>) { done.count_down(); });
  }
  done.wait();

  const std::vector<std::string> raw = store->TEST_StorageKeys();
  REQUIRE(raw.size() == entries.size());
  std::vector<std::pair<uint32_t, uint32_t>> order;
  for (const std::string& k : raw) {
    REQUIRE(k.size() >= 6);
    auto byte = [&k](size_t i) { return static_cast<uint8_t>(k[i]); };
    const uint32_t p = (uint32_t{byte(0)} << 8) | byte(1);
    const uint32_t s = (uint32_t{byte(2)} << 24) | (uint32_t{byte(3)} << 16) |
                       (uint32_t{byte(4)} << 8) | byte(5);
    order.emplace_back(p, s);
  }
  CHECK(std::is_sorted(order.begin(), order.end()));
  for (uint32_t p : partitions) {
    auto first = std::find_if(order.begin(), order.end(),
                              [p](auto& e) { return e.first == p; });
    auto count = std::count_if(order.begin(), order.end(),
                               [p](auto& e) { return e.first == p; });
    REQUIRE(first != order.end());
    CHECK(std::all_of(first, first + count,
                      [p](auto& e) { return e.first == p; }));
  }
}

TEST_CASE("sync policy names") {
  for (SyncPolicy p :
       {SyncPolicy::kPeriodic, SyncPolicy::kAlways, SyncPolicy::kNone}) {
    Result<SyncPolicy> parsed = ParseSyncPolicy(SyncPolicyName(p));
    REQUIRE(parsed.ok());
    CHECK(*parsed == p);
  }
  Result<SyncPolicy> bad = ParseSyncPolicy("sometimes");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kInvalidArgument);
  CHECK(bad.status().message() ==
        "unknown sync policy 'sometimes' (expected periodic, always or none)");
  CHECK_FALSE(ParseSyncPolicy("").ok());
  CHECK_FALSE(ParseSyncPolicy("Always").ok());
}

}  // namespace
}  // namespace shoal::storage

namespace shoal::storage {
namespace {

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

WriteOp DeleteHintOp(std::string target, const Hint& hint,
                     ring::KeyLocation loc) {
  WriteOp op;
  op.kind = WriteOp::Kind::kDeleteHint;
  op.hint_target = std::move(target);
  op.key = hint.key;
  op.loc = loc;
  op.expected_hint_hash = hint.bytes_hash;
  return op;
}

TEST_CASE("inline writes commit on the calling thread, hints included") {
  TempDir dir;
  StoreOptions options = Options(dir);
  options.inline_writes = true;
  auto store = MustOpen(options);
  const std::thread::id self = std::this_thread::get_id();
  std::thread::id ran_on;
  bool done = false;
  const quorum::Object a = quorum::NewWrite({}, {}, 7, std::string("a"), 1);
  store->Submit(HintOp("n2", "k1", Loc(3, 1), a), [&](Result<WriteResult> r) {
    CHECK(r.ok());
    ran_on = std::this_thread::get_id();
    done = true;
  });
  CHECK(done);  // before Submit returned
  CHECK(ran_on == self);
  auto hints = store->ScanHints("n2", "", 10);
  REQUIRE(hints.ok());
  CHECK(hints->size() == 1);
  // Staged writes, a hint among them, commit in CommitStaged, here too.
  int completed = 0;
  CHECK(store->Stage(Coordinate("k2", Loc(3, 2), std::string("v")),
                     [&](Result<WriteResult> r) {
                       CHECK(r.ok());
                       ++completed;
                     }));
  CHECK_FALSE(store->Stage(HintOp("n2", "k3", Loc(3, 3), a),
                           [&](Result<WriteResult> r) {
                             CHECK(r.ok());
                             ++completed;
                           }));
  CHECK(completed == 0);
  store->CommitStaged();
  CHECK(completed == 2);
  CHECK(MustGet(*store, "k2", Loc(3, 2)).Found());
}

TEST_CASE("a sealed store commits nothing more") {
  TempDir dir;
  {
    auto store = MustOpen(Options(dir));
    REQUIRE(
        Write(*store, Coordinate("before", Loc(1, 1), std::string("v"))).ok());
    store->TEST_Seal();
    auto after =
        Write(*store, Coordinate("after", Loc(1, 1), std::string("v")));
    CHECK(after.status().code() == Code::kUnavailable);
  }
  auto store = MustOpen(Options(dir));
  CHECK(MustGet(*store, "before", Loc(1, 1)).Found());
  auto after = store->Get("after", Loc(1, 1));
  REQUIRE(after.ok());
  CHECK_FALSE(after->has_value());
}

TEST_CASE("a hint's stored_at comes from the store's clock") {
  TempDir dir;
  VirtualClock clock(1'000'000);
  StoreOptions options = Options(dir);
  options.clock = &clock;
  auto store = MustOpen(options);
  const quorum::Object a = quorum::NewWrite({}, {}, 7, std::string("a"), 1);
  REQUIRE(Write(*store, HintOp("n2", "k1", Loc(3, 1), a)).ok());
  auto hints = store->ScanHints("n2", "", 10);
  REQUIRE(hints.ok());
  REQUIRE(hints->size() == 1);
  CHECK((*hints)[0].stored_at_ms == 1'000'000);
}

TEST_CASE("hints are kept per target, merged, survive reopen and counted") {
  TempDir dir;
  const quorum::Object a = quorum::NewWrite({}, {}, 7, std::string("a"), 1);
  const quorum::Object b = quorum::NewWrite({}, {}, 8, std::string("b"), 2);
  {
    auto store = MustOpen(Options(dir));
    REQUIRE(Write(*store, HintOp("n2", "k1", Loc(3, 1), a)).ok());
    REQUIRE(Write(*store, HintOp("n2", "k1", Loc(3, 1), b)).ok());  // merged
    REQUIRE(Write(*store, HintOp("n2", "k2", Loc(3, 2), a)).ok());
    REQUIRE(Write(*store, HintOp("n4", "k1", Loc(3, 1), a)).ok());
    // Hints are not objects: a normal read does not see them.
    auto got = store->Get("k1", Loc(3, 1));
    REQUIRE(got.ok());
    CHECK_FALSE(got->has_value());
  }
  auto store = MustOpen(Options(dir));
  auto n2 = store->ScanHints("n2", "", 100);
  REQUIRE(n2.ok());
  REQUIRE(n2->size() == 2);
  CHECK((*n2)[0].key == "k1");
  CHECK((*n2)[0].object.siblings.size() == 2);  // a and b, concurrent
  CHECK((*n2)[1].key == "k2");
  CHECK((*n2)[0].stored_at_ms > 0);
  // Paging: resume after the first.
  auto rest = store->ScanHints("n2", (*n2)[0].storage_key, 100);
  REQUIRE(rest.ok());
  REQUIRE(rest->size() == 1);
  CHECK((*rest)[0].key == "k2");
  // "n2" is not a prefix match for "n20".
  CHECK(store->ScanHints("n", "", 100)->empty());

  auto backlog = store->HintBacklogs();
  REQUIRE(backlog.ok());
  REQUIRE(backlog->size() == 2);
  CHECK((*backlog)[0].target == "n2");
  CHECK((*backlog)[0].count == 2);
  CHECK((*backlog)[0].bytes > 0);
  CHECK((*backlog)[1].target == "n4");
  CHECK((*backlog)[1].count == 1);
  CHECK(store->hint_counters().stored == 4);
}

TEST_CASE("a delivered hint is deleted only if unchanged since it was read") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  const quorum::Object a = quorum::NewWrite({}, {}, 7, std::string("a"), 1);
  const quorum::Object b = quorum::NewWrite({}, {}, 8, std::string("b"), 2);
  REQUIRE(Write(*store, HintOp("n2", "k", Loc(1, 1), a)).ok());
  auto read = store->ScanHints("n2", "", 10);
  REQUIRE(read.ok());
  REQUIRE(read->size() == 1);
  // A newer write for the same key lands while the old one is in flight.
  REQUIRE(Write(*store, HintOp("n2", "k", Loc(1, 1), b)).ok());
  auto stale = Write(*store, DeleteHintOp("n2", (*read)[0], Loc(1, 1)));
  REQUIRE(stale.ok());
  CHECK_FALSE(stale->changed);
  REQUIRE(store->ScanHints("n2", "", 10)->size() == 1);
  // Delivering the current version deletes it.
  auto current = store->ScanHints("n2", "", 10);
  auto done = Write(*store, DeleteHintOp("n2", (*current)[0], Loc(1, 1)));
  REQUIRE(done.ok());
  CHECK(done->changed);
  CHECK(store->ScanHints("n2", "", 10)->empty());
  CHECK(store->HintBacklogs()->empty());
  CHECK(store->hint_counters().delivered == 1);
}

// The metrics' view of the backlog (kept incrementally, oldest rescanned
// per target only when needed) must agree with a full scan.
void CheckCachedBacklogMatchesScan(const Store& store) {
  auto scanned = store.HintBacklogs();
  auto cached = store.HintBacklogsCached();
  REQUIRE(scanned.ok());
  REQUIRE(cached.ok());
  REQUIRE(scanned->size() == cached->size());
  for (size_t i = 0; i < scanned->size(); ++i) {
    CHECK((*cached)[i].target == (*scanned)[i].target);
    CHECK((*cached)[i].count == (*scanned)[i].count);
    CHECK((*cached)[i].bytes == (*scanned)[i].bytes);
    CHECK((*cached)[i].oldest_stored_at_ms ==
          (*scanned)[i].oldest_stored_at_ms);
  }
}

TEST_CASE("the cached hint backlog agrees with a scan through every change") {
  TempDir dir;
  const quorum::Object a = quorum::NewWrite({}, {}, 7, std::string("a"), 1);
  const quorum::Object b =
      quorum::NewWrite({}, {}, 8, std::string(1000, 'b'), 2);
  {
    auto store = MustOpen(Options(dir));
    CheckCachedBacklogMatchesScan(*store);
    for (int i = 0; i < 6; ++i) {
      const std::string key = "k" + std::to_string(i);
      REQUIRE(Write(*store, HintOp("n2", key, Loc(2, i), a)).ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    REQUIRE(Write(*store, HintOp("n3", "k1", Loc(2, 1), a)).ok());
    CheckCachedBacklogMatchesScan(*store);
    // A merge grows the bytes and keeps the first stored time.
    REQUIRE(Write(*store, HintOp("n2", "k0", Loc(2, 0), b)).ok());
    CheckCachedBacklogMatchesScan(*store);
  }
  auto store = MustOpen(Options(dir));  // rebuilt at open
  CheckCachedBacklogMatchesScan(*store);
  // Deliver the hints in key order; the oldest goes first, then others.
  auto hints = store->ScanHints("n2", "", 100);
  REQUIRE(hints.ok());
  REQUIRE(hints->size() == 6);
  for (size_t i = 0; i < hints->size(); ++i) {
    const Hint& h = (*hints)[i];
    REQUIRE(h.key == "k" + std::to_string(i));
    REQUIRE(Write(*store, DeleteHintOp("n2", h, Loc(2, i))).ok());
    CheckCachedBacklogMatchesScan(*store);
  }
  auto left = store->HintBacklogsCached();
  REQUIRE(left.ok());
  REQUIRE(left->size() == 1);
  CHECK((*left)[0].target == "n3");
}

TEST_CASE("over the per-target cap a new hint is dropped and counted") {
  TempDir dir;
  StoreOptions options = Options(dir);
  options.max_hints_per_target = 2;
  const quorum::Object a = quorum::NewWrite({}, {}, 7, std::string("a"), 1);
  {
    auto store = MustOpen(options);
    REQUIRE(Write(*store, HintOp("n2", "k1", Loc(1, 1), a)).ok());
    REQUIRE(Write(*store, HintOp("n2", "k2", Loc(1, 2), a)).ok());
    auto dropped = Write(*store, HintOp("n2", "k3", Loc(1, 3), a));
    REQUIRE_FALSE(dropped.ok());
    CHECK(dropped.status().code() == Code::kOverloaded);
    CHECK(dropped.status().message().find("hint dropped") != std::string::npos);
    // An existing hint can still be updated; another target is not capped.
    CHECK(Write(*store, HintOp("n2", "k1", Loc(1, 1), a)).ok());
    CHECK(Write(*store, HintOp("n3", "k3", Loc(1, 3), a)).ok());
    CHECK(store->hint_counters().dropped_cap == 1);
  }
  auto store = MustOpen(options);  // counts come back from disk
  CHECK(store->hint_counters().dropped_cap == 1);
  CHECK_FALSE(Write(*store, HintOp("n2", "k4", Loc(1, 4), a)).ok());
  CHECK(store->hint_counters().dropped_cap == 2);
}

TEST_CASE("a hint acknowledged before a kill is on disk after it") {
  TempDir dir;
  StoreOptions options = Options(dir, SyncPolicy::kPeriodic);
  options.sync_interval = std::chrono::hours(1);  // no periodic sync helps
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto store = Store::Open(options);
    if (!store.ok()) ::_exit(3);
    for (int i = 0; i < 50; ++i) {
      auto r = Write(**store, HintOp("n2", "k" + std::to_string(i), Loc(1, i),
                                     quorum::NewWrite({}, {}, 7, "v", 1)));
      if (!r.ok()) ::_exit(4);
    }
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  auto store = MustOpen(options);
  CHECK(store->ScanHints("n2", "", 100)->size() == 50);
}

}  // namespace
}  // namespace shoal::storage

namespace shoal::storage {
namespace {

// Records every change the store reports.
class RecordingObserver : public ObjectObserver {
 public:
  struct Seen {
    std::string key;
    bool before_empty;
    size_t after_siblings;
    uint64_t txn_id;
  };
  void ObjectChanged(const ObjectChange& c) override {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back({std::string(c.key), c.before.siblings.empty(),
                    c.after.siblings.size(), c.txn_id});
  }
  std::mutex mu;
  std::vector<Seen> seen;
};

TEST_CASE("the object observer sees committed changes and no no-ops") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  RecordingObserver obs;
  store->SetObjectObserver(&obs);
  REQUIRE(Write(*store, Coordinate("a", Loc(1, 10), "v1")).ok());
  const quorum::Object a = MustGet(*store, "a", Loc(1, 10));
  REQUIRE(Write(*store, Merge("a", Loc(1, 10), a)).ok());  // changes nothing
  WriteOp hint = Merge("h", Loc(1, 11), a);
  hint.kind = WriteOp::Kind::kHint;
  hint.hint_target = "n2";
  REQUIRE(Write(*store, hint).ok());  // hints are not objects
  REQUIRE(Write(*store, Coordinate("a", Loc(1, 10), "v2")).ok());
  std::lock_guard<std::mutex> lock(obs.mu);
  REQUIRE(obs.seen.size() == 2);
  CHECK(obs.seen[0].key == "a");
  CHECK(obs.seen[0].before_empty);
  CHECK(obs.seen[0].after_siblings == 1);
  CHECK(!obs.seen[1].before_empty);
  CHECK(obs.seen[1].after_siblings == 2);  // a blind write: a sibling
  CHECK(obs.seen[1].txn_id > obs.seen[0].txn_id);
  // A snapshot taken now sees both changes.
  auto snap = store->ScanObjects(
      1, 0, UINT32_MAX,
      [](std::string_view, uint32_t, const quorum::Object&) { return true; });
  REQUIRE(snap.ok());
  CHECK(*snap >= obs.seen[1].txn_id);
}

TEST_CASE("a partition is dropped in batches; the others stay") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  const size_t count = kDropBatch + 5;
  for (size_t i = 0; i < count; ++i) {
    REQUIRE(Write(*store, Coordinate("k" + std::to_string(i),
                                     Loc(1, static_cast<uint32_t>(i)), "x"))
                .ok());
  }
  REQUIRE(Write(*store, Coordinate("p0", Loc(0, UINT32_MAX), "x")).ok());
  REQUIRE(Write(*store, Coordinate("p2", Loc(2, 0), "x")).ok());
  WriteOp drop;
  drop.kind = WriteOp::Kind::kDropPartition;
  drop.loc = Loc(1, 0);
  auto first = Write(*store, drop);
  REQUIRE(first.ok());
  CHECK(first->changed);
  CHECK(store->Stats().keys == 5 + 2);
  auto second = Write(*store, drop);
  REQUIRE(second.ok());
  CHECK(second->changed);
  auto third = Write(*store, drop);
  REQUIRE(third.ok());
  CHECK_FALSE(third->changed);  // nothing was left
  CHECK(store->Stats().keys == 2);
  MustGet(*store, "p0", Loc(0, UINT32_MAX));
  MustGet(*store, "p2", Loc(2, 0));
  auto gone = store->Get("k3", Loc(1, 3));
  REQUIRE(gone.ok());
  CHECK_FALSE(gone->has_value());
}

TEST_CASE("scan objects visits one partition's segment range in order") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  REQUIRE(Write(*store, Coordinate("p1-low", Loc(1, 5), "x")).ok());
  REQUIRE(Write(*store, Coordinate("p1-mid-b", Loc(1, 100), "x")).ok());
  REQUIRE(Write(*store, Coordinate("p1-mid-a", Loc(1, 100), "x")).ok());
  REQUIRE(Write(*store, Coordinate("p1-high", Loc(1, UINT32_MAX), "x")).ok());
  REQUIRE(Write(*store, Coordinate("p0", Loc(0, 100), "x")).ok());
  REQUIRE(Write(*store, Coordinate("p2", Loc(2, 0), "x")).ok());
  auto scan = [&](uint32_t p, uint32_t lo, uint32_t hi) {
    std::vector<std::string> keys;
    auto r = store->ScanObjects(
        p, lo, hi,
        [&](std::string_view key, uint32_t seg, const quorum::Object& o) {
          CHECK(seg >= lo);
          CHECK(seg <= hi);
          CHECK(o.Found());
          keys.emplace_back(key);
          return true;
        });
    REQUIRE(r.ok());
    return keys;
  };
  CHECK(scan(1, 0, UINT32_MAX) ==
        std::vector<std::string>{"p1-low", "p1-mid-a", "p1-mid-b", "p1-high"});
  CHECK(scan(1, 6, 100) == std::vector<std::string>{"p1-mid-a", "p1-mid-b"});
  CHECK(scan(1, 101, UINT32_MAX - 1).empty());
  CHECK(scan(2, 0, 0) == std::vector<std::string>{"p2"});
  // Stopping early.
  int visited = 0;
  REQUIRE(
      store
          ->ScanObjects(1, 0, UINT32_MAX,
                        [&](std::string_view, uint32_t, const quorum::Object&) {
                          return ++visited < 2;
                        })
          .ok());
  CHECK(visited == 2);
}

}  // namespace
}  // namespace shoal::storage

namespace shoal::storage {
namespace {

// Where a completion ran, and with what result.
struct Completion {
  std::thread::id thread;
  Result<WriteResult> result = Status(Code::kInternal, "not run");
};

TEST_CASE("staged writes owe one commit and are applied by CommitStaged") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  std::vector<std::promise<Completion>> done(3);
  std::vector<std::future<Completion>> futures;
  for (auto& d : done) futures.push_back(d.get_future());
  std::vector<bool> owed;
  for (int i = 0; i < 3; ++i) {
    owed.push_back(
        store->Stage(Coordinate("k" + std::to_string(i), Loc(1, i), "v"),
                     [&done, i](Result<WriteResult> r) {
                       done[i].set_value(Completion{std::this_thread::get_id(),
                                                    std::move(r)});
                     }));
  }
  // Only the first op staged since the last CommitStaged() asks for one.
  CHECK(owed == std::vector<bool>{true, false, false});
  // Nothing is applied before that call (the writer never sees staged ops).
  for (auto& f : futures) {
    CHECK(f.wait_for(std::chrono::milliseconds(50)) ==
          std::future_status::timeout);
  }
  store->CommitStaged();
  // Applied and completed on this thread before CommitStaged returned.
  for (auto& f : futures) {
    REQUIRE(f.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    Completion c = f.get();
    CHECK(c.result.ok());
    CHECK(c.thread == std::this_thread::get_id());
  }
  CHECK(MustGet(*store, "k1", Loc(1, 1)).siblings.size() == 1);
  CHECK(store->Stage(Coordinate("k9", Loc(1, 9), "v"),
                     [](Result<WriteResult>) {}));
  store->CommitStaged();
}

TEST_CASE("staged writes that must be fsynced first go to the writer thread") {
  // A hint (any policy) and every write under kAlways are acknowledged only
  // once on disk: CommitStaged hands them to the writer instead of waiting
  // for the fsync itself.
  for (SyncPolicy sync : {SyncPolicy::kPeriodic, SyncPolicy::kAlways}) {
    CAPTURE(static_cast<int>(sync));
    TempDir dir;
    auto store = MustOpen(Options(dir, sync));
    const quorum::Object a = quorum::NewWrite({}, {}, 7, std::string("a"), 1);
    std::promise<Completion> hint_done;
    std::promise<Completion> put_done;
    CHECK(store->Stage(HintOp("n2", "k1", Loc(3, 1), a), [&hint_done](
                                                             Result<WriteResult>
                                                                 r) {
      hint_done.set_value(Completion{std::this_thread::get_id(), std::move(r)});
    }));
    CHECK_FALSE(store->Stage(
        Coordinate("k2", Loc(3, 2), "v"), [&put_done](Result<WriteResult> r) {
          put_done.set_value(
              Completion{std::this_thread::get_id(), std::move(r)});
        }));
    store->CommitStaged();
    Completion hint = hint_done.get_future().get();
    Completion put = put_done.get_future().get();
    CHECK(hint.result.ok());
    CHECK(put.result.ok());
    CHECK(hint.thread != std::this_thread::get_id());
    if (sync == SyncPolicy::kAlways) {
      CHECK(put.thread != std::this_thread::get_id());
    } else {
      CHECK(put.thread == std::this_thread::get_id());
    }
    CHECK(store->HintTargets() == std::map<std::string, uint64_t>{{"n2", 1}});
  }
}

// ---- tombstones: the index, reaping and the reaped-key guard ----

WriteOp Reap(std::string key, ring::KeyLocation loc, const quorum::Object& o) {
  WriteOp op;
  op.kind = WriteOp::Kind::kReap;
  op.key = std::move(key);
  op.loc = loc;
  op.expected_fingerprint = quorum::CausalFingerprint(o);
  return op;
}

std::vector<std::string> TombstoneKeys(const Store& store) {
  auto listed = store.ScanTombstones("", 1000);
  REQUIRE_MESSAGE(listed.ok(), listed.status().ToString());
  std::vector<std::string> keys;
  for (const Tombstone& t : *listed) keys.push_back(t.key);
  return keys;
}

TEST_CASE("the tombstone index follows deletes, re-writes and merges") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  REQUIRE(Write(*store, Coordinate("a", Loc(1, 10), "v1")).ok());
  REQUIRE(Write(*store, Coordinate("b", Loc(2, 20), "v1")).ok());
  CHECK(TombstoneKeys(*store).empty());
  // A delete with the read's context: only a tombstone is left.
  quorum::Object a = MustGet(*store, "a", Loc(1, 10));
  WriteOp del = Coordinate("a", Loc(1, 10), std::nullopt, a.vv);
  del.written_at_ms = 1700000000500;
  REQUIRE(Write(*store, del).ok());
  auto listed = store->ScanTombstones("", 10);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].key == "a");
  CHECK((*listed)[0].loc.partition == 1);
  CHECK((*listed)[0].loc.segment == 10);
  CHECK((*listed)[0].deleted_at_ms == 1700000000500);
  CHECK(store->Stats().tombstones == 1);
  CHECK(store->Stats().keys == 2);
  // A blind delete of b leaves the value as a sibling: not tombstoned.
  REQUIRE(Write(*store, Coordinate("b", Loc(2, 20), std::nullopt)).ok());
  CHECK(TombstoneKeys(*store) == std::vector<std::string>{"a"});
  // Resolving b to a tombstone indexes it; a write after a's delete
  // un-indexes a.
  quorum::Object b = MustGet(*store, "b", Loc(2, 20));
  REQUIRE(Write(*store, Coordinate("b", Loc(2, 20), std::nullopt, b.vv)).ok());
  a = MustGet(*store, "a", Loc(1, 10));
  REQUIRE(Write(*store, Coordinate("a", Loc(1, 10), "back", a.vv)).ok());
  CHECK(TombstoneKeys(*store) == std::vector<std::string>{"b"});
  // Resume after a key.
  listed =
      store->ScanTombstones((*store->ScanTombstones("", 1))[0].storage_key, 10);
  REQUIRE(listed.ok());
  CHECK(listed->empty());
  // A merged-in tombstone is indexed on the replica too.
  TempDir other_dir;
  auto other = MustOpen(Options(other_dir));
  REQUIRE(
      Write(*other, Merge("b", Loc(2, 20), MustGet(*store, "b", Loc(2, 20))))
          .ok());
  CHECK(TombstoneKeys(*other) == std::vector<std::string>{"b"});
  // Dropping a partition drops its index entries.
  WriteOp drop;
  drop.kind = WriteOp::Kind::kDropPartition;
  drop.loc = Loc(2, 0);
  REQUIRE(Write(*other, drop).ok());
  CHECK(TombstoneKeys(*other).empty());
  CHECK(other->Stats().tombstones == 0);
}

TEST_CASE("reap deletes an unchanged tombstone only, and tells the observer") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  RecordingObserver obs;
  store->SetObjectObserver(&obs);
  REQUIRE(Write(*store, Coordinate("k", Loc(3, 30), "v1")).ok());
  // A live value is never reaped, whatever fingerprint is asked for.
  quorum::Object live = MustGet(*store, "k", Loc(3, 30));
  auto kept = Write(*store, Reap("k", Loc(3, 30), live));
  REQUIRE(kept.ok());
  CHECK_FALSE(kept->changed);
  REQUIRE(
      Write(*store, Coordinate("k", Loc(3, 30), std::nullopt, live.vv)).ok());
  const quorum::Object tomb = MustGet(*store, "k", Loc(3, 30));
  // Changed since it was checked (another delete): kept.
  REQUIRE(
      Write(*store, Coordinate("k", Loc(3, 30), std::nullopt, tomb.vv)).ok());
  kept = Write(*store, Reap("k", Loc(3, 30), tomb));
  REQUIRE(kept.ok());
  CHECK_FALSE(kept->changed);
  CHECK(store->Stats().keys == 1);
  const quorum::Object now = MustGet(*store, "k", Loc(3, 30));
  auto reaped = Write(*store, Reap("k", Loc(3, 30), now));
  REQUIRE(reaped.ok());
  CHECK(reaped->changed);
  CHECK(store->Stats().keys == 0);
  CHECK(store->Stats().tombstones == 0);
  auto got = store->Get("k", Loc(3, 30));
  REQUIRE(got.ok());
  CHECK_FALSE(got->has_value());
  // Already gone: nothing to do.
  auto again = Write(*store, Reap("k", Loc(3, 30), now));
  REQUIRE(again.ok());
  CHECK_FALSE(again->changed);
  std::lock_guard<std::mutex> lock(obs.mu);
  REQUIRE_FALSE(obs.seen.empty());
  CHECK(obs.seen.back().key == "k");
  CHECK_FALSE(obs.seen.back().before_empty);
  CHECK(obs.seen.back().after_siblings == 0);
}

TEST_CASE("after a reap, older versions are absorbed and newer ones kept") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  REQUIRE(Write(*store, Coordinate("k", Loc(4, 40), "old")).ok());
  const quorum::Object old_version = MustGet(*store, "k", Loc(4, 40));
  REQUIRE(
      Write(*store, Coordinate("k", Loc(4, 40), std::nullopt, old_version.vv))
          .ok());
  const quorum::Object tomb = MustGet(*store, "k", Loc(4, 40));
  REQUIRE(Write(*store, Reap("k", Loc(4, 40), tomb))->changed);

  // A straggling replica message with the value the delete covered: it
  // does not come back.
  auto absorbed = Write(*store, Merge("k", Loc(4, 40), old_version));
  REQUIRE(absorbed.ok());
  CHECK_FALSE(absorbed->changed);
  auto got = store->Get("k", Loc(4, 40));
  REQUIRE(got.ok());
  CHECK_FALSE(got->has_value());
  CHECK(store->Stats().keys == 0);

  // A concurrent write from another actor, unknown to the delete, is kept.
  quorum::Object concurrent;
  concurrent.vv = quorum::VersionVector::FromEntries({{77, 1}});
  concurrent.siblings.push_back(
      quorum::Sibling{{77, 1}, 1700000000900, false, "new"});
  REQUIRE(Write(*store, Merge("k", Loc(4, 40), concurrent))->changed);
  const quorum::Object merged = MustGet(*store, "k", Loc(4, 40));
  CHECK(merged.Found());
  CHECK(merged.vv.Descends(tomb.vv));  // as if the tombstone were there
  for (const quorum::Sibling* s : merged.LiveSiblings())
    CHECK(s->value == "new");

  // A blind write after a reap continues the key's counters: its dot is
  // new, never one the reaped versions used.
  REQUIRE(Write(*store, Coordinate("j", Loc(4, 41), "x")).ok());
  quorum::Object j = MustGet(*store, "j", Loc(4, 41));
  REQUIRE(Write(*store, Coordinate("j", Loc(4, 41), std::nullopt, j.vv)).ok());
  j = MustGet(*store, "j", Loc(4, 41));
  REQUIRE(Write(*store, Reap("j", Loc(4, 41), j))->changed);
  REQUIRE(Write(*store, Coordinate("j", Loc(4, 41), "y")).ok());
  const quorum::Object rewritten = MustGet(*store, "j", Loc(4, 41));
  CHECK(rewritten.vv.Descends(j.vv));
  for (const quorum::Sibling* s : rewritten.LiveSiblings()) {
    CHECK_FALSE(j.vv.Covers(s->dot));
  }
}

TEST_CASE("a directory from before the tombstone index is indexed at open") {
  TempDir dir;
  {
    auto store = MustOpen(Options(dir));
    for (const char* key : {"x", "y"}) {
      REQUIRE(Write(*store, Coordinate(key, Loc(5, 50), "v")).ok());
    }
    const quorum::Object x = MustGet(*store, "x", Loc(5, 50));
    REQUIRE(
        Write(*store, Coordinate("x", Loc(5, 50), std::nullopt, x.vv)).ok());
  }
  {
    // Take the index away as an older build would have left it.
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 8) == 0);
    REQUIRE(mdb_env_open(env, dir.str().c_str(), 0, 0644) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi index;
    MDB_dbi meta;
    REQUIRE(mdb_dbi_open(txn, "tombstones", 0, &index) == 0);
    REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
    REQUIRE(mdb_drop(txn, index, 1) == 0);
    MDB_val k{15, const_cast<char*>("tombstone_index")};
    REQUIRE(mdb_del(txn, meta, &k, nullptr) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  auto store = MustOpen(Options(dir));
  CHECK(TombstoneKeys(*store) == std::vector<std::string>{"x"});
  CHECK(store->Stats().tombstones == 1);
}

TEST_CASE("hint targets of one key") {
  TempDir dir;
  auto store = MustOpen(Options(dir));
  REQUIRE(Write(*store, Coordinate("k", Loc(6, 60), "v")).ok());
  const quorum::Object k = MustGet(*store, "k", Loc(6, 60));
  for (const char* target : {"n2", "n4"}) {
    WriteOp hint = Merge("k", Loc(6, 60), k);
    hint.kind = WriteOp::Kind::kHint;
    hint.hint_target = target;
    REQUIRE(Write(*store, hint).ok());
  }
  WriteOp other = Merge("other", Loc(6, 61), k);
  other.kind = WriteOp::Kind::kHint;
  other.hint_target = "n3";
  REQUIRE(Write(*store, other).ok());
  auto of = store->HintTargetsOf("k", Loc(6, 60));
  REQUIRE(of.ok());
  CHECK(*of == std::vector<std::string>{"n2", "n4"});
  of = store->HintTargetsOf("none", Loc(6, 62));
  REQUIRE(of.ok());
  CHECK(of->empty());
}

}  // namespace
}  // namespace shoal::storage
