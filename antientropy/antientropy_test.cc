// Anti-entropy over real stores: two replicas in one process, each with its
// own LMDB directory, trees and AntiEntropy, joined by a transport that hands
// each request straight to the other's handlers.
#include "antientropy/antientropy.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <future>
#include <random>
#include <set>
#include <thread>

#include "base/virtual_clock.h"
#include "quorum/version.h"
#include "tests/temp_dir.h"

namespace shoal::antientropy {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

using ::shoal::testing::TempDir;

ring::Ring TwoNodeRing(uint32_t partitions = 8) {
  auto r = ring::Ring::Create({"a", "b"}, {partitions, 2});
  REQUIRE(r.ok());
  return std::move(r).value();
}

std::unique_ptr<storage::Store> OpenStore(const TempDir& dir) {
  storage::StoreOptions o;
  o.dir = dir.str();
  o.map_size_bytes = 64ull << 20;
  auto s = storage::Store::Open(o);
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  return std::move(s).value();
}

// Blocks until the write committed.
storage::WriteResult Write(storage::Store& store, storage::WriteOp op) {
  std::promise<Result<storage::WriteResult>> p;
  auto f = p.get_future();
  store.Submit(std::move(op), [&p](Result<storage::WriteResult> r) {
    p.set_value(std::move(r));
  });
  auto r = f.get();
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

storage::WriteOp Coordinate(const ring::Ring& ring, const std::string& key,
                            const std::string& value,
                            quorum::VersionVector context = {}) {
  storage::WriteOp op;
  op.kind = storage::WriteOp::Kind::kCoordinate;
  op.key = key;
  op.loc = ring.Locate(key);
  op.value = value;
  op.context = std::move(context);
  op.written_at_ms = 1'700'000'000'000;
  return op;
}

quorum::Object Stored(const storage::Store& store, const ring::Ring& ring,
                      const std::string& key) {
  auto r = store.Get(key, ring.Locate(key));
  REQUIRE(r.ok());
  return r->value_or(quorum::Object{});
}

struct Counting : Observer {
  void Exchanged(bool ok) override { (ok ? exchanges_ok : exchanges_failed)++; }
  void KeysRepaired(uint64_t keys) override { repaired += keys; }
  void BytesExchanged(uint64_t b) override { bytes += b; }
  void DivergenceAge(double s) override { ages.push_back(s); }
  int exchanges_ok = 0, exchanges_failed = 0;
  uint64_t repaired = 0, bytes = 0;
  std::vector<double> ages;
};

class Replica;

// Hands a request to the other replica's handler, as the node's service
// would after it came off the wire.
class Loopback : public Transport {
 public:
  Replica* other = nullptr;
  bool up = true;
  // Requests sent, by kind.
  int key_lists = 0, pulls = 0, fetches = 0, repairs = 0;
  std::set<uint32_t> trees_asked;  // partitions of tree requests
  bool IsUp(ring::NodeIndex) const override { return up; }
  wire::Awaitable<Result<wire::Body>> Call(ring::NodeIndex, wire::Body request,
                                           wire::Deadline) override;
};

class Replica {
 public:
  Replica(asio::io_context& io, const ring::Ring& ring, ring::NodeIndex self)
      : ring_(ring),
        store(OpenStore(dir)),
        trees(ring, self),
        aae(io.get_executor(), clock, ring, self, *store, trees, transport,
            Options{.enabled = false,
                    .repair_rate = 1'000'000,
                    .frame_cap = 1 << 20},
            &observed) {
    store->SetObjectObserver(&trees);
  }
  void Build() { REQUIRE(trees.RebuildAll(*store).ok()); }

  const ring::Ring& ring_;
  SystemClock clock;
  TempDir dir;
  std::unique_ptr<storage::Store> store;
  Trees trees;
  Loopback transport;
  Counting observed;
  AntiEntropy aae;
};

wire::Awaitable<Result<wire::Body>> Loopback::Call(ring::NodeIndex,
                                                   wire::Body request,
                                                   wire::Deadline) {
  if (!up) co_return Status(Code::kUnavailable, "peer down");
  wire::Body reply;
  if (auto* m = std::get_if<wire::AaeTreeRequest>(&request)) {
    trees_asked.insert(m->partition);
    reply = other->aae.OnTree(*m);
  } else if (auto* k = std::get_if<wire::AaeKeysRequest>(&request)) {
    ++(k->with_objects ? pulls : key_lists);
    reply = other->aae.OnKeys(*k);
  } else if (auto* f = std::get_if<wire::AaeFetchRequest>(&request)) {
    ++fetches;
    reply = other->aae.OnFetch(*f);
  } else if (auto* r = std::get_if<wire::AaeRepairRequest>(&request)) {
    ++repairs;
    reply = co_await other->aae.OnRepair(std::move(*r));
  } else {
    co_return Status(Code::kInternal, "unexpected request");
  }
  if (auto* e = std::get_if<wire::ErrorReply>(&reply)) co_return e->status;
  co_return reply;
}

template <typename T>
T RunSync(asio::io_context& io, wire::Awaitable<T> op) {
  std::optional<T> out;
  asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T v) {
    if (e) std::rethrow_exception(e);
    out.emplace(std::move(v));
  });
  io.run();
  io.restart();
  REQUIRE(out.has_value());
  return std::move(*out);
}

// Runs `aae run` for every partition at `r`; returns keys repaired.
uint64_t RunAll(asio::io_context& io, Replica& r) {
  uint64_t repaired = 0;
  for (uint32_t p : r.trees.partitions()) {
    wire::Body reply = RunSync(io, r.aae.OnRun(wire::AaeRunRequest{p}));
    auto* run = std::get_if<wire::AaeRunReply>(&reply);
    REQUIRE(run != nullptr);
    REQUIRE(run->exchanges.size() == 1);
    CHECK(run->exchanges[0].result == "ok");
    repaired += run->exchanges[0].keys_repaired;
  }
  return repaired;
}

struct Pair {
  explicit Pair(uint32_t partitions = 8)
      : ring(TwoNodeRing(partitions)), a(io, ring, 0), b(io, ring, 1) {
    a.transport.other = &b;
    b.transport.other = &a;
    a.Build();
    b.Build();
  }
  asio::io_context io;
  ring::Ring ring;
  Replica a, b;
};

TEST_CASE("trees kept by writes equal trees rebuilt from storage") {
  Pair pr;
  for (int i = 0; i < 500; ++i) {
    Write(*pr.a.store, Coordinate(pr.ring, "k" + std::to_string(i), "v"));
  }
  // Overwrite some, delete some (tombstones are objects too).
  for (int i = 0; i < 100; ++i) {
    const std::string key = "k" + std::to_string(i);
    const quorum::Object o = Stored(*pr.a.store, pr.ring, key);
    storage::WriteOp op = Coordinate(pr.ring, key, "v2", o.vv);
    if (i % 2) op.value.reset();
    Write(*pr.a.store, std::move(op));
  }
  Trees fresh(pr.ring, 0);
  REQUIRE(fresh.RebuildAll(*pr.a.store).ok());
  for (uint32_t p : pr.a.trees.partitions()) {
    CHECK(*pr.a.trees.Root(p) == *fresh.Root(p));
    CHECK(*pr.a.trees.Branches(p) == *fresh.Branches(p));
  }
  uint64_t nonzero = 0;
  for (uint32_t p : fresh.partitions()) nonzero += *fresh.Root(p) != 0;
  CHECK(nonzero == fresh.partitions().size());
}

TEST_CASE("a rebuild racing writes ends equal to a rebuild after them") {
  const ring::Ring ring = TwoNodeRing(4);
  TempDir dir;
  auto store = OpenStore(dir);
  for (int i = 0; i < 3000; ++i) {
    Write(*store, Coordinate(ring, "base" + std::to_string(i), "v"));
  }
  for (int round = 0; round < 3; ++round) {
    Trees racing(ring, 0);
    store->SetObjectObserver(&racing);
    std::atomic<bool> go{true};
    std::thread writer([&] {
      int i = 0;
      while (go) {
        Write(*store,
              Coordinate(
                  ring, "r" + std::to_string(round) + "-" + std::to_string(i++),
                  "v"));
      }
    });
    REQUIRE(racing.RebuildAll(*store).ok());
    // A few more writes after the build, folded in directly.
    std::this_thread::yield();
    go = false;
    writer.join();
    store->SetObjectObserver(nullptr);
    Trees after(ring, 0);
    REQUIRE(after.RebuildAll(*store).ok());
    for (uint32_t p : racing.partitions()) {
      CHECK(*racing.Branches(p) == *after.Branches(p));
    }
  }
}

TEST_CASE("Track drops trees and builds the new ones on the rebuild thread") {
  // n=1 on four members: member 0 holds partitions 0 and 4 of 8.
  auto made = ring::Ring::Create({"a", "b", "c", "d"}, {8, 1});
  REQUIRE(made.ok());
  const ring::Ring& ring = made.value();
  TempDir dir;
  auto store = OpenStore(dir);
  for (int i = 0; i < 800; ++i) {
    Write(*store, Coordinate(ring, "k" + std::to_string(i), "v"));
  }
  Trees trees(ring, 0);
  store->SetObjectObserver(&trees);
  CHECK(trees.partitions() == std::vector<uint32_t>{0, 4});
  trees.StartRebuild(*store);
  CHECK(trees.Track({4, 1}) == std::vector<uint32_t>{1});
  CHECK(trees.partitions() == std::vector<uint32_t>{1, 4});
  CHECK_FALSE(trees.Holds(0));
  CHECK(trees.Root(0).status().code() == Code::kNotFound);
  // Writes keep flowing while partition 1 builds.
  for (int i = 0; i < 200; ++i) {
    Write(*store, Coordinate(ring, "late" + std::to_string(i), "v"));
  }
  // Wait (bounded) for the rebuild thread.
  for (int i = 0; i < 1000 && trees.ReadyCount() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(trees.ReadyCount() == 2);
  store->SetObjectObserver(nullptr);

  Trees fresh(ring, 0);
  fresh.Track({1, 4});
  REQUIRE(fresh.RebuildAll(*store).ok());
  for (uint32_t p : {1u, 4u}) {
    REQUIRE(trees.Root(p).ok());
    CHECK(*trees.Root(p) != 0);
    CHECK(*trees.Branches(p) == *fresh.Branches(p));
  }
  // Dropped and taken back: built again from scratch, not left empty.
  store->SetObjectObserver(&trees);
  trees.Track({4});
  trees.Track({0, 4});
  for (int i = 0; i < 1000 && !trees.Ready(0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(trees.Ready(0));
  store->SetObjectObserver(nullptr);
  Trees original(ring, 0);
  REQUIRE(original.RebuildAll(*store).ok());
  CHECK(*trees.Branches(0) == *original.Branches(0));
}

TEST_CASE(
    "saved trees load ready at the next open, once, and match a rebuild") {
  // n=1 on four members: member 0 holds partitions 0 and 4 of 8.
  auto made = ring::Ring::Create({"a", "b", "c", "d"}, {8, 1});
  REQUIRE(made.ok());
  const ring::Ring& ring = made.value();
  TempDir dir;
  auto store = OpenStore(dir);
  {
    Trees trees(ring, 0);
    CHECK(trees.Load(*store) == 0);  // a new directory: nothing saved
    store->SetObjectObserver(&trees);
    REQUIRE(trees.RebuildAll(*store).ok());
    for (int i = 0; i < 600; ++i) {
      Write(*store, Coordinate(ring, "k" + std::to_string(i), "v"));
    }
    // Writes still queued when the node stops reach the trees before the
    // save (Store::Drain).
    std::atomic<int> done{0};
    for (int i = 0; i < 300; ++i) {
      store->Submit(Coordinate(ring, "q" + std::to_string(i), "v"),
                    [&done](Result<storage::WriteResult> r) {
                      CHECK(r.ok());
                      ++done;
                    });
    }
    store->Drain();
    CHECK(done == 300);
    REQUIRE(trees.Save(*store).ok());
    store->SetObjectObserver(nullptr);
  }
  store.reset();
  store = OpenStore(dir);
  Trees loaded(ring, 0);
  CHECK(loaded.Load(*store) == 2);
  CHECK(loaded.ReadyCount() == 2);
  Trees rebuilt(ring, 0);
  REQUIRE(rebuilt.RebuildAll(*store).ok());
  for (uint32_t p : {0u, 4u}) {
    REQUIRE(loaded.Root(p).ok());
    CHECK(*loaded.Root(p) != 0);
    CHECK(*loaded.Branches(p) == *rebuilt.Branches(p));
  }
  // The record is gone once loaded: a crash from here on (no Save) leaves
  // nothing that could be stale at the next start.
  Trees again(ring, 0);
  CHECK(again.Load(*store) == 0);
  CHECK(again.ReadyCount() == 0);

  // Saved for another partition count: not used.
  {
    Trees trees(ring, 0);
    REQUIRE(trees.RebuildAll(*store).ok());
    REQUIRE(trees.Save(*store).ok());
  }
  auto wider = ring::Ring::Create({"a", "b", "c", "d"}, {16, 1});
  REQUIRE(wider.ok());
  Trees other(*wider, 0);
  CHECK(other.Load(*store) == 0);
  CHECK(other.ReadyCount() == 0);
}

TEST_CASE("an exchange repairs both sides to the merged state") {
  Pair pr;
  // a holds k0..k99, b holds k50..k149: each lacks 50 keys.
  for (int i = 0; i < 100; ++i) {
    Write(*pr.a.store, Coordinate(pr.ring, "k" + std::to_string(i), "v"));
  }
  for (int i = 50; i < 150; ++i) {
    // The same causal state on both sides for k50..k99: b merges a's copy.
    const std::string key = "k" + std::to_string(i);
    if (i < 100) {
      storage::WriteOp op;
      op.kind = storage::WriteOp::Kind::kMerge;
      op.key = key;
      op.loc = pr.ring.Locate(key);
      op.incoming = Stored(*pr.a.store, pr.ring, key);
      Write(*pr.b.store, std::move(op));
    } else {
      Write(*pr.b.store, Coordinate(pr.ring, key, "v"));
    }
  }
  // "x": concurrent writes, one on each side: siblings only in the merge.
  Write(*pr.a.store, Coordinate(pr.ring, "x", "from-a"));
  Write(*pr.b.store, Coordinate(pr.ring, "x", "from-b"));

  const uint64_t repaired = RunAll(pr.io, pr.a);
  CHECK(repaired == 50 + 50 + 2);  // x changed on both sides
  for (int i = 0; i < 150; ++i) {
    const std::string key = "k" + std::to_string(i);
    CHECK(Stored(*pr.a.store, pr.ring, key) ==
          Stored(*pr.b.store, pr.ring, key));
    CHECK(Stored(*pr.a.store, pr.ring, key).Found());
  }
  const quorum::Object xa = Stored(*pr.a.store, pr.ring, "x");
  CHECK(xa == Stored(*pr.b.store, pr.ring, "x"));
  REQUIRE(xa.siblings.size() == 2);  // the merge, not either side
  CHECK(xa.siblings[0].value != xa.siblings[1].value);
  for (uint32_t p : pr.a.trees.partitions()) {
    CHECK(*pr.a.trees.Root(p) == *pr.b.trees.Root(p));
  }
  CHECK(pr.a.observed.repaired == repaired);
  CHECK(pr.a.observed.ages.size() == 102);  // each side lacked 50 keys and x
  CHECK(pr.a.observed.bytes > 0);

  // Converged: another round repairs nothing and sends only roots.
  const uint64_t bytes_before = pr.a.observed.bytes;
  CHECK(RunAll(pr.io, pr.a) == 0);
  CHECK(RunAll(pr.io, pr.b) == 0);
  CHECK(pr.a.observed.bytes - bytes_before <
        pr.a.trees.partitions().size() * 200);
}

TEST_CASE("an empty replica pulls whole leaves, without key lists") {
  Pair pr;
  for (int i = 0; i < 300; ++i) {
    Write(*pr.a.store, Coordinate(pr.ring, "k" + std::to_string(i), "v"));
  }
  // b holds one key of its own: its leaf is compared key by key.
  Write(*pr.b.store, Coordinate(pr.ring, "mine", "b"));
  // One value larger than a reply's budget (half of the 1 MiB frame cap):
  // its leaf comes as a key list and the key is fetched.
  Write(*pr.a.store, Coordinate(pr.ring, "big", std::string(600 << 10, 'x')));

  const uint64_t repaired = RunAll(pr.io, pr.b);
  CHECK(repaired == 300 + 1 + 1);  // 300 and big here, mine at a
  for (const std::string key : {"k0", "k150", "k299", "big", "mine"}) {
    CHECK(Stored(*pr.a.store, pr.ring, key).Found());
    CHECK(Stored(*pr.a.store, pr.ring, key) ==
          Stored(*pr.b.store, pr.ring, key));
  }
  for (uint32_t p : pr.a.trees.partitions()) {
    CHECK(*pr.a.trees.Root(p) == *pr.b.trees.Root(p));
  }
  CHECK(pr.b.transport.pulls > 0);
  CHECK(pr.b.transport.key_lists == 1);  // the leaf of "mine"
  CHECK(pr.b.transport.fetches == 2);    // "mine" (absent at a) and "big"
  CHECK(pr.b.transport.repairs == 1);    // "mine" sent back to a
  CHECK(RunAll(pr.io, pr.b) == 0);
}

TEST_CASE("a delete on one side reaches the other as a tombstone") {
  Pair pr;
  Write(*pr.a.store, Coordinate(pr.ring, "gone", "v"));
  CHECK(RunAll(pr.io, pr.a) == 1);
  const quorum::Object o = Stored(*pr.a.store, pr.ring, "gone");
  storage::WriteOp del = Coordinate(pr.ring, "gone", "", o.vv);
  del.value.reset();
  Write(*pr.a.store, std::move(del));
  CHECK(RunAll(pr.io, pr.b) == 1);
  const quorum::Object on_b = Stored(*pr.b.store, pr.ring, "gone");
  CHECK(!on_b.Found());
  CHECK(on_b == Stored(*pr.a.store, pr.ring, "gone"));
}

TEST_CASE("bad requests are refused with the limit named") {
  Pair pr;
  auto error_of = [](const wire::Body& reply) {
    auto* e = std::get_if<wire::ErrorReply>(&reply);
    REQUIRE(e != nullptr);
    return e->status;
  };
  const uint32_t segs = pr.a.trees.segments();
  Status st = error_of(pr.a.aae.OnTree({99, segs, wire::AaeLevel::kRoot, {}}));
  CHECK(st.code() == Code::kInvalidArgument);
  CHECK(st.message().find("the ring has 8 partitions") != std::string::npos);
  st = error_of(pr.a.aae.OnTree({1, segs * 2, wire::AaeLevel::kRoot, {}}));
  CHECK(st.message().find("tree shape mismatch") != std::string::npos);
  st = error_of(pr.a.aae.OnTree({1, segs, wire::AaeLevel::kLeaves, {9999}}));
  CHECK(st.code() == Code::kInvalidArgument);
  st = error_of(pr.a.aae.OnKeys({1, segs, {segs}}));
  CHECK(st.message().find("out of range") != std::string::npos);
  st = error_of(pr.a.aae.OnFetch({{std::string(501, 'k')}}));
  CHECK(st.message().find("500") != std::string::npos);
  wire::Body run = RunSync(pr.io, pr.a.aae.OnRun({8}));
  CHECK(error_of(run).message().find("out of range") != std::string::npos);
}

TEST_CASE("a tree still being built is not compared") {
  const ring::Ring ring = TwoNodeRing(8);
  Trees trees(ring, 0);
  auto root = trees.Root(0);
  CHECK(root.status().code() == Code::kUnavailable);
  CHECK(!trees.Ready(0));
  CHECK(trees.Root(100).status().code() == Code::kNotFound);
}

TEST_CASE("an unreachable peer fails the exchange and is recorded") {
  Pair pr;
  Write(*pr.a.store, Coordinate(pr.ring, "k", "v"));
  pr.a.transport.up = false;
  const uint32_t p = pr.ring.Locate("k").partition;
  wire::Body reply = RunSync(pr.io, pr.a.aae.OnRun({p}));
  auto* run = std::get_if<wire::AaeRunReply>(&reply);
  REQUIRE(run != nullptr);
  REQUIRE(run->exchanges.size() == 1);
  CHECK(run->exchanges[0].result.find("peer down") != std::string::npos);
  CHECK(pr.a.observed.exchanges_failed == 1);
  const wire::AaeStatusReply status = pr.a.aae.OnStatus();
  bool seen = false;
  for (const auto& ps : status.partitions) {
    if (ps.partition != p) continue;
    seen = true;
    CHECK(ps.exchanges == 1);
    CHECK(ps.last_peer == "b");
    CHECK(ps.last_result.find("peer down") != std::string::npos);
    CHECK(ps.tree_ready);
  }
  CHECK(seen);
}

TEST_CASE("the scheduler skips its exchanges while the node is busy") {
  Pair pr;
  bool busy = true;
  Counting observed;
  // a's scheduler, with automatic exchanges on, in virtual time.
  VirtualClock vclock;
  AntiEntropy scheduler(pr.io.get_executor(), vclock, pr.ring, 0, *pr.a.store,
                        pr.a.trees, pr.a.transport,
                        Options{.enabled = true,
                                .interval = std::chrono::milliseconds(2),
                                .repair_rate = 1'000'000,
                                .frame_cap = 1 << 20,
                                .start_seed = 7,
                                .busy = [&busy] { return busy; }},
                        &observed);
  scheduler.Start();
  // Runs what is ready, then moves virtual time to the next timer.
  auto intervals = [&](int n) {
    for (int i = 0; i < n; ++i) {
      pr.io.restart();
      pr.io.poll();
      if (!vclock.RunNext()) break;
    }
    pr.io.restart();
    pr.io.poll();
  };
  intervals(100);
  CHECK(observed.exchanges_ok + observed.exchanges_failed == 0);
  CHECK(vclock.Elapsed() >= std::chrono::milliseconds(200));
  busy = false;
  intervals(100);
  CHECK(observed.exchanges_ok > 0);

  // Shutdown ends the scheduler without any more virtual time passing.
  bool down = false;
  const auto at = vclock.Now();
  asio::co_spawn(pr.io, scheduler.Shutdown(),
                 [&down](std::exception_ptr e) { down = !e; });
  pr.io.restart();
  pr.io.poll();
  CHECK(down);
  CHECK(vclock.Now() == at);
  CHECK(vclock.scheduled() == 0);
}

TEST_CASE("the scheduler leaves partitions being received to the transfer") {
  // a, b, c with n = 2; a also holds every other partition as a pending
  // replica (a change in progress gives them to it).
  auto made = ring::Ring::Create({"a", "b", "c"}, {16, 2});
  REQUIRE(made.ok());
  ring::Ring ring = std::move(made).value();
  std::vector<std::vector<ring::NodeIndex>> pending(16);
  std::set<uint32_t> primary_at_a;
  for (uint32_t p = 0; p < 16; ++p) {
    const auto primaries = ring.Primaries(p);
    if (std::find(primaries.begin(), primaries.end(), 0) != primaries.end()) {
      primary_at_a.insert(p);
    } else {
      pending[p] = {0};
    }
  }
  REQUIRE(!primary_at_a.empty());
  REQUIRE(primary_at_a.size() < 16);
  ring.SetPending(std::move(pending));
  asio::io_context io;
  Replica a(io, ring, 0), b(io, ring, 1);
  a.transport.other = &b;
  a.Build();
  b.Build();
  REQUIRE(a.trees.partitions().size() == 16);

  VirtualClock vclock;
  AntiEntropy scheduler(io.get_executor(), vclock, ring, 0, *a.store, a.trees,
                        a.transport,
                        Options{.enabled = true,
                                .interval = std::chrono::milliseconds(2),
                                .repair_rate = 1'000'000,
                                .frame_cap = 1 << 20,
                                .start_seed = 3},
                        &a.observed);
  scheduler.Start();
  for (int i = 0; i < 80; ++i) {
    io.restart();
    io.poll();
    if (!vclock.RunNext()) break;
  }
  // Several rounds of 16 partitions: only a's own were exchanged.
  CHECK(a.transport.trees_asked == primary_at_a);
  asio::co_spawn(io, scheduler.Shutdown(), asio::detached);
  io.restart();
  io.poll();
}

}  // namespace
}  // namespace shoal::antientropy
