// The reaper over real stores: three replicas in one process, each with its
// own LMDB directory and Reaper, joined by a transport that hands each
// check straight to the other reaper.
#include "reaper/reaper.h"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <future>
#include <memory>
#include <set>

#include "base/clock.h"
#include "quorum/version.h"
#include "tests/temp_dir.h"

namespace shoal::reaper {
namespace {

namespace asio = boost::asio;
using ::shoal::testing::TempDir;

constexpr int kReplicas = 3;

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

struct Cluster;

// Hands a check to the target replica's reaper; `down` members do not
// answer.
class Loopback final : public Transport {
 public:
  explicit Loopback(Cluster& c) : c_(c) {}
  bool IsUp(ring::NodeIndex node) const override;
  wire::Awaitable<Result<wire::Body>> Call(ring::NodeIndex node,
                                           wire::Body request,
                                           wire::Deadline) override;

 private:
  Cluster& c_;
};

struct Replica {
  TempDir dir;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<Reaper> reaper;
};

struct Cluster {
  explicit Cluster(Options options = {}, uint32_t partitions = 8)
      : ring(MakeRing(partitions)), transport(*this) {
    for (int i = 0; i < kReplicas; ++i) {
      auto& r = replicas[i];
      storage::StoreOptions o;
      o.dir = r.dir.str();
      o.map_size_bytes = 64ull << 20;
      auto s = storage::Store::Open(o);
      REQUIRE_MESSAGE(s.ok(), s.status().ToString());
      r.store = std::move(s).value();
      r.reaper = std::make_unique<Reaper>(io.get_executor(), clock, ring,
                                          static_cast<ring::NodeIndex>(i),
                                          *r.store, transport, options);
    }
  }
  static ring::Ring MakeRing(uint32_t partitions) {
    auto r = ring::Ring::Create({"a", "b", "c"}, {partitions, 3});
    REQUIRE(r.ok());
    return std::move(r).value();
  }

  storage::Store& store(int i) { return *replicas[i].store; }

  // A value written at replica 0, then deleted there with its context, and
  // both versions given to every replica in `with_delete` (the others keep
  // the value). Returns the deleted value's object.
  quorum::Object WriteAndDelete(const std::string& key,
                                std::set<int> with_delete = {0, 1, 2}) {
    const auto loc = ring.Locate(key);
    storage::WriteOp put;
    put.kind = storage::WriteOp::Kind::kCoordinate;
    put.key = key;
    put.loc = loc;
    put.value = "v";
    put.written_at_ms = clock.WallMs();
    const quorum::Object value = Write(store(0), put).after;
    storage::WriteOp del = put;
    del.value.reset();
    del.context = value.vv;
    const quorum::Object tomb = Write(store(0), del).after;
    for (int i = 1; i < kReplicas; ++i) {
      storage::WriteOp merge;
      merge.kind = storage::WriteOp::Kind::kMerge;
      merge.key = key;
      merge.loc = loc;
      merge.incoming = with_delete.count(i) ? tomb : value;
      Write(store(i), merge);
    }
    return value;
  }
  // One round on replica i; returns the keys it reaped.
  uint64_t Round(int i) {
    std::optional<uint64_t> reaped;
    asio::co_spawn(io, replicas[i].reaper->RunOnce(),
                   [&](std::exception_ptr e, uint64_t n) {
                     if (e) std::rethrow_exception(e);
                     reaped = n;
                   });
    io.run();
    io.restart();
    REQUIRE(reaped.has_value());
    return *reaped;
  }
  void RoundEverywhere() {
    for (int i = 0; i < kReplicas; ++i) Round(i);
  }
  uint64_t Keys(int i) { return store(i).Stats().keys; }

  asio::io_context io;
  SystemClock clock;
  ring::Ring ring;
  Loopback transport;
  Replica replicas[kReplicas];
  std::set<ring::NodeIndex> down;
};

bool Loopback::IsUp(ring::NodeIndex node) const {
  return c_.down.count(node) == 0;
}

wire::Awaitable<Result<wire::Body>> Loopback::Call(ring::NodeIndex node,
                                                   wire::Body request,
                                                   wire::Deadline) {
  if (c_.down.count(node)) co_return Status(Code::kUnavailable, "down");
  const auto* check = std::get_if<wire::ReapCheckRequest>(&request);
  if (check == nullptr) co_return Status(Code::kInternal, "not a check");
  co_return c_.replicas[node].reaper->OnCheck(*check);
}

Options WithGrace(std::chrono::milliseconds grace, bool unsafe = false) {
  Options o;
  o.grace = grace;
  o.TEST_unsafe = unsafe;
  return o;
}
Options NoGrace() { return WithGrace(std::chrono::milliseconds(0)); }

TEST_CASE("a tombstone every replica holds is reaped on every replica") {
  Cluster c(NoGrace());
  for (int k = 0; k < 20; ++k) c.WriteAndDelete("k" + std::to_string(k));
  for (int i = 0; i < kReplicas; ++i) {
    CHECK(c.Keys(i) == 20);
    CHECK(c.store(i).Stats().tombstones == 20);
  }
  // Each replica decides for its own copy; one that already reaped answers
  // "absent", which does not hold the others back.
  CHECK(c.Round(0) == 20);
  CHECK(c.Keys(0) == 0);
  CHECK(c.Round(1) == 20);
  CHECK(c.Round(2) == 20);
  for (int i = 0; i < kReplicas; ++i) {
    CHECK(c.Keys(i) == 0);
    CHECK(c.store(i).Stats().tombstones == 0);
    CHECK(c.replicas[i].reaper->stats().reaped == 20);
  }
}

TEST_CASE("a replica holding the deleted value keeps every tombstone") {
  Cluster c(NoGrace());
  const quorum::Object value = c.WriteAndDelete("k", {0, 1});  // 2 has v
  c.RoundEverywhere();
  CHECK(c.Keys(0) == 1);
  CHECK(c.Keys(1) == 1);
  auto stale = c.store(2).Get("k", c.ring.Locate("k"));
  REQUIRE(stale.ok());
  REQUIRE(stale->has_value());
  CHECK((*stale)->Found());
  // Replica 2 learns of the delete (read repair, anti-entropy): now all go.
  storage::WriteOp merge;
  merge.kind = storage::WriteOp::Kind::kMerge;
  merge.key = "k";
  merge.loc = c.ring.Locate("k");
  merge.incoming = c.store(0).Get("k", merge.loc)->value();
  Write(c.store(2), merge);
  c.RoundEverywhere();
  for (int i = 0; i < kReplicas; ++i) CHECK(c.Keys(i) == 0);
}

TEST_CASE("a hint for the key anywhere keeps the tombstone until delivered") {
  Cluster c(NoGrace());
  const quorum::Object value = c.WriteAndDelete("k");
  // Replica 1 holds a hint of the old value for some target.
  storage::WriteOp hint;
  hint.kind = storage::WriteOp::Kind::kHint;
  hint.key = "k";
  hint.loc = c.ring.Locate("k");
  hint.incoming = value;
  hint.hint_target = "d";
  Write(c.store(1), hint);
  c.RoundEverywhere();
  for (int i = 0; i < kReplicas; ++i) CHECK(c.Keys(i) == 1);
  // Delivered: the hint is deleted, and the tombstones go.
  auto hints = c.store(1).ScanHints("d", "", 10);
  REQUIRE(hints.ok());
  REQUIRE(hints->size() == 1);
  storage::WriteOp done;
  done.kind = storage::WriteOp::Kind::kDeleteHint;
  done.key = "k";
  done.loc = hint.loc;
  done.hint_target = "d";
  done.expected_hint_hash = (*hints)[0].bytes_hash;
  Write(c.store(1), done);
  c.RoundEverywhere();
  for (int i = 0; i < kReplicas; ++i) CHECK(c.Keys(i) == 0);
}

TEST_CASE("a member down keeps tombstones and is named as the reason") {
  Cluster c(NoGrace());
  c.WriteAndDelete("k");
  c.down.insert(2);
  CHECK(c.Round(0) == 0);
  CHECK(c.Round(1) == 0);
  const Stats s = c.replicas[0].reaper->stats();
  CHECK(s.oldest_deleted_at_ms > 0);
  CHECK(s.oldest_waiting_for.find("c is down") != std::string::npos);
  c.down.clear();
  CHECK(c.Round(0) == 1);
  CHECK(c.replicas[0].reaper->stats().oldest_deleted_at_ms == 0);
}

TEST_CASE("nothing is reaped during a membership change or within the grace") {
  SUBCASE("a change in progress") {
    Cluster c(NoGrace());
    c.WriteAndDelete("k");
    std::vector<std::vector<ring::NodeIndex>> pending(c.ring.partitions());
    pending[c.ring.Locate("k").partition] = {};
    pending[0] = {1};  // any pending replica: a change is in progress
    c.ring.SetPending(pending);
    c.RoundEverywhere();
    for (int i = 0; i < kReplicas; ++i) CHECK(c.Keys(i) == 1);
    CHECK(c.replicas[0].reaper->stats().oldest_waiting_for ==
          "a membership change is in progress");
    c.ring.SetPending({});
    c.RoundEverywhere();
    for (int i = 0; i < kReplicas; ++i) CHECK(c.Keys(i) == 0);
  }
  SUBCASE("the grace period") {
    Cluster c(WithGrace(std::chrono::hours(1)));
    c.WriteAndDelete("k");
    c.RoundEverywhere();
    for (int i = 0; i < kReplicas; ++i) CHECK(c.Keys(i) == 1);
    CHECK(c.replicas[0].reaper->stats().oldest_waiting_for.find(
              "grace period") != std::string::npos);
  }
}

TEST_CASE("a peer at another epoch does not answer the check") {
  Cluster c(NoGrace());
  c.WriteAndDelete("k");
  c.ring.SetEpoch(7);  // every replica shares the ring: same epoch, asked
  CHECK(c.Round(0) == 1);
  wire::ReapCheckRequest old{.epoch = 6, .keys = {}};
  const wire::Body reply = c.replicas[1].reaper->OnCheck(old);
  const auto* error = std::get_if<wire::ErrorReply>(&reply);
  REQUIRE(error != nullptr);
  CHECK(error->status.code() == Code::kUnavailable);
  wire::ReapCheckRequest out_of_range{.epoch = 7, .keys = {{"k", 99, 0, 1}}};
  const wire::Body bad = c.replicas[1].reaper->OnCheck(out_of_range);
  REQUIRE(std::holds_alternative<wire::ErrorReply>(bad));
  CHECK(std::get<wire::ErrorReply>(bad).status.message().find(
            "partition 99 is out of range") != std::string::npos);
}

TEST_CASE("the unsafe test setting reaps at once, whatever the others hold") {
  Cluster c(WithGrace(std::chrono::hours(1), /*unsafe=*/true));
  c.WriteAndDelete("k", {0});  // only replica 0 has the delete
  CHECK(c.Round(0) == 1);
  CHECK(c.Keys(0) == 0);
  CHECK(c.Keys(1) == 1);
}

}  // namespace
}  // namespace shoal::reaper
