#include "quorum/coordinator.h"

#include <doctest/doctest.h>

#include <boost/asio.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "quorum/level.h"

// Coordinators driven through an in-memory ReplicaClient: every replica is a
// std::map on one io_context the test runs to completion, so "slow", "never
// answers" and "unreachable" are deterministic (steady_timers, no threads).

namespace shoal::quorum {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ring::NodeIndex;
using F = CoordinatorObserver::Freshness;

constexpr int64_t kWrittenAt = 1'700'000'000'000;

// How a replica answers the calls addressed to it.
enum class Mode {
  kImmediate,    // answers at once
  kDelayed,      // answers after `delay`
  kUnreachable,  // kUnavailable at once, nothing applied
  kSilent,       // never answers: kTimeout at the deadline, nothing applied
  kOverloaded,   // refuses at once with kOverloaded, nothing applied
};

// A hint a fallback holds: (the primary it stands in for, key).
using HintKey = std::pair<NodeIndex, std::string>;

struct Replica {
  ActorId actor = 0;
  std::map<std::string, Object> store;
  // Objects held as a fallback for a down primary, kept apart from `store`.
  std::map<HintKey, Object> hints;
  // Every Replicate addressed to this node (`hint_for` as passed), and every
  // Read, whether or not it went through.
  std::vector<std::optional<NodeIndex>> replicate_calls;
  int read_calls = 0;
  Mode mode = Mode::kImmediate;
  std::chrono::milliseconds delay{0};
  bool up = true;  // what IsUp() reports (independent of `mode`)
  // The ring epoch this replica holds: it refuses calls stamped with an
  // older one (0: serves every call).
  uint64_t epoch = 0;
  std::optional<Clock::time_point> last_write_at;
};

class Cluster;

// One node's view of the cluster: self() is that node.
class FakeReplicas final : public ReplicaClient {
 public:
  FakeReplicas(Cluster& cluster, NodeIndex self)
      : cluster_(cluster), self_(self) {}

  NodeIndex self() const override { return self_; }
  bool IsUp(NodeIndex node) const override;
  Awaitable<Result<Object>> Read(NodeIndex node, const std::string& key,
                                 const ring::KeyLocation& loc,
                                 Deadline deadline, uint64_t epoch) override;
  Awaitable<Status> Replicate(NodeIndex node, const std::string& key,
                              const ring::KeyLocation& loc,
                              const Object& object, Deadline deadline,
                              uint64_t epoch,
                              std::optional<NodeIndex> hint_for) override;
  Awaitable<Result<std::vector<Status>>> ReplicateVia(
      const std::vector<ring::ReplicaTarget>& targets, const std::string& key,
      const ring::KeyLocation& loc, const Object& object, Deadline deadline,
      uint64_t epoch, uint32_t wait_for) override;
  Awaitable<Result<Object>> CoordinateLocally(const PutArgs& args) override;
  Awaitable<Result<PutOutcome>> ForwardPut(NodeIndex node, const PutArgs& args,
                                           uint64_t epoch) override;

 private:
  Cluster& cluster_;
  NodeIndex self_;
};

ring::Ring MakeRing(size_t members, uint32_t partitions) {
  std::vector<std::string> names;
  for (size_t i = 0; i < members; ++i) names.push_back("n" + std::to_string(i));
  auto r = ring::Ring::Create(
      std::move(names), ring::RingOptions{.partitions = partitions, .n = 3});
  REQUIRE(r.ok());
  return std::move(r).value();
}

class Cluster {
 public:
  explicit Cluster(size_t members = 5, uint32_t partitions = 64)
      : Cluster(MakeRing(members, partitions)) {}
  explicit Cluster(ring::Ring r)
      : ring(std::move(r)), nodes(ring.members().size()) {
    const size_t members = nodes.size();
    for (size_t i = 0; i < members; ++i) {
      nodes[i].actor = 100 + i;
      clients.push_back(
          std::make_unique<FakeReplicas>(*this, static_cast<NodeIndex>(i)));
      coordinators.push_back(std::make_unique<Coordinator>(
          io.get_executor(), clock, *clients.back(), ring));
    }
  }

  // Waits as `node`'s mode says; OK when the call goes through.
  Awaitable<Status> Gate(NodeIndex node, Deadline deadline) {
    const Replica& r = nodes[node];
    if (r.mode == Mode::kUnreachable) {
      Status st(Code::kUnavailable,
                "n" + std::to_string(node) + " unreachable");
      co_return st;
    }
    if (r.mode == Mode::kOverloaded) {
      Status st(Code::kOverloaded, "n" + std::to_string(node) + " overloaded");
      co_return st;
    }
    if (r.mode == Mode::kSilent) {
      asio::steady_timer t(io, deadline);
      co_await t.async_wait(asio::use_awaitable);
      Status st(Code::kTimeout, "n" + std::to_string(node) + " did not answer");
      co_return st;
    }
    if (r.mode == Mode::kDelayed) {
      asio::steady_timer t(io, r.delay);
      co_await t.async_wait(asio::use_awaitable);
    }
    co_return Status::Ok();
  }

  // A replica at a newer epoch than the call's refuses it, and the calling
  // node adopts that epoch's ring (`newer_ring`), as NodeReplicas does.
  Status CheckEpoch(NodeIndex node, uint64_t epoch) {
    epochs_seen.push_back(epoch);
    if (nodes[node].epoch <= epoch) return Status::Ok();
    if (newer_ring && ring.epoch() < newer_ring->epoch()) ring = *newer_ring;
    return Status(Code::kUnavailable,
                  "n" + std::to_string(node) + " holds a newer epoch");
  }

  Object Stored(NodeIndex node, const std::string& key) const {
    auto it = nodes[node].store.find(key);
    return it == nodes[node].store.end() ? Object{} : it->second;
  }
  bool Holds(NodeIndex node, const std::string& key) const {
    return nodes[node].store.count(key) != 0;
  }
  void Store(NodeIndex node, const std::string& key, Object obj) {
    nodes[node].store[key] = std::move(obj);
    nodes[node].last_write_at = Clock::now();
  }
  // A fallback's hint for `target`, or an empty Object.
  Object Hint(NodeIndex node, NodeIndex target, const std::string& key) const {
    auto it = nodes[node].hints.find(HintKey(target, key));
    return it == nodes[node].hints.end() ? Object{} : it->second;
  }
  void StoreHint(NodeIndex node, NodeIndex target, const std::string& key,
                 Object obj) {
    nodes[node].hints[HintKey(target, key)] = std::move(obj);
    nodes[node].last_write_at = Clock::now();
  }
  // True when `node` holds `key` in its store or as a hint for anyone.
  bool HoldsAnywhere(NodeIndex node, const std::string& key) const {
    if (Holds(node, key)) return true;
    for (const auto& [hk, obj] : nodes[node].hints) {
      if (hk.second == key) return true;
    }
    return false;
  }

  // First key ("key-<i>") whose primaries satisfy `pred`.
  std::string KeyWhere(
      const std::function<bool(const std::vector<NodeIndex>&)>& pred) const {
    for (int i = 0; i < 100000; ++i) {
      std::string key = "key-" + std::to_string(i);
      if (pred(ring.Primaries(ring.Locate(key).partition))) return key;
    }
    FAIL("no key satisfies the predicate");
    return {};
  }
  std::vector<NodeIndex> PrimariesOf(const std::string& key) const {
    return ring.Primaries(ring.Locate(key).partition);
  }
  // Primaries first, then the fallbacks in order.
  std::vector<NodeIndex> PreferenceOf(const std::string& key) const {
    return ring.PreferenceList(ring.Locate(key).partition);
  }

  asio::io_context io;
  SystemClock clock;
  ring::Ring ring;
  std::vector<Replica> nodes;
  std::vector<std::unique_ptr<FakeReplicas>> clients;
  std::vector<std::unique_ptr<Coordinator>> coordinators;
  std::vector<NodeIndex> forwarded;  // ForwardPut targets, in call order
  std::vector<NodeIndex> relays;     // ReplicateVia forwarders, in call order
  std::map<NodeIndex, Status> forward_script;  // canned ForwardPut answers
  std::optional<ring::Ring> newer_ring;  // adopted on a refusal (CheckEpoch)
  std::vector<uint64_t> epochs_seen;     // every replica call's epoch
};

bool FakeReplicas::IsUp(NodeIndex node) const {
  return node == self_ || cluster_.nodes[node].up;
}

Awaitable<Result<Object>> FakeReplicas::Read(NodeIndex node,
                                             const std::string& key,
                                             const ring::KeyLocation& loc,
                                             Deadline deadline,
                                             uint64_t epoch) {
  ++cluster_.nodes[node].read_calls;
  if (Status st = cluster_.CheckEpoch(node, epoch); !st.ok()) co_return st;
  Status gate = co_await cluster_.Gate(node, deadline);
  if (!gate.ok()) co_return gate;
  co_return cluster_.Stored(node, key);
}

Awaitable<Status> FakeReplicas::Replicate(NodeIndex node,
                                          const std::string& key,
                                          const ring::KeyLocation& loc,
                                          const Object& object,
                                          Deadline deadline, uint64_t epoch,
                                          std::optional<NodeIndex> hint_for) {
  cluster_.nodes[node].replicate_calls.push_back(hint_for);
  if (Status st = cluster_.CheckEpoch(node, epoch); !st.ok()) co_return st;
  Status gate = co_await cluster_.Gate(node, deadline);
  if (!gate.ok()) co_return gate;
  if (hint_for) {
    cluster_.StoreHint(node, *hint_for, key,
                       Sync(cluster_.Hint(node, *hint_for, key), object));
  } else {
    cluster_.Store(node, key, Sync(cluster_.Stored(node, key), object));
  }
  co_return Status::Ok();
}

// The forwarder is reached like any replica (its mode gates the call), then
// relays through its own coordinator, as the node does.
Awaitable<Result<std::vector<Status>>> FakeReplicas::ReplicateVia(
    const std::vector<ring::ReplicaTarget>& targets, const std::string& key,
    const ring::KeyLocation& loc, const Object& object, Deadline deadline,
    uint64_t epoch, uint32_t wait_for) {
  const NodeIndex via = targets.front().node;
  cluster_.relays.push_back(via);
  if (Status st = cluster_.CheckEpoch(via, epoch); !st.ok()) co_return st;
  Status gate = co_await cluster_.Gate(via, deadline);
  if (!gate.ok()) co_return gate;
  co_return co_await cluster_.coordinators[via]->Relay(
      targets, key, loc, object, wait_for, deadline, epoch);
}

Awaitable<Result<Object>> FakeReplicas::CoordinateLocally(const PutArgs& args) {
  Object obj = NewWrite(cluster_.Stored(self_, args.key), args.context,
                        cluster_.nodes[self_].actor, args.value, kWrittenAt);
  cluster_.Store(self_, args.key, obj);
  co_return obj;
}

Awaitable<Result<PutOutcome>> FakeReplicas::ForwardPut(NodeIndex node,
                                                       const PutArgs& args,
                                                       uint64_t epoch) {
  cluster_.forwarded.push_back(node);
  if (Status st = cluster_.CheckEpoch(node, epoch); !st.ok()) co_return st;
  if (auto it = cluster_.forward_script.find(node);
      it != cluster_.forward_script.end()) {
    Status canned = it->second;
    co_return canned;
  }
  Status gate = co_await cluster_.Gate(node, args.deadline);
  if (!gate.ok()) co_return gate;
  PutArgs copy = args;
  auto r = co_await cluster_.coordinators[node]->CoordinatePut(std::move(copy));
  // As over the wire: the outcome comes from another node.
  if (r.ok()) r->coordinated_here = false;
  co_return r;
}

struct RecordingObserver final : CoordinatorObserver {
  void ReplicaFreshness(Freshness f) override { ++freshness[f]; }
  void ReadRepairSent(bool ok) override {
    ++(ok ? repairs_ok : repairs_failed);
  }
  void StaleReplicaAge(std::chrono::milliseconds age,
                       std::string_view dc) override {
    stale_ages.push_back(age);
    stale_dcs.emplace_back(dc);
  }
  void ReplicaAcked(std::chrono::nanoseconds lag,
                    std::string_view dc) override {
    ack_lags.push_back(lag);
    ack_dcs.emplace_back(dc);
  }
  std::vector<std::string> stale_dcs;
  std::vector<std::string> ack_dcs;
  std::vector<std::chrono::milliseconds> stale_ages;
  std::vector<std::chrono::nanoseconds> ack_lags;
  int count(Freshness f) const {
    auto it = freshness.find(f);
    return it == freshness.end() ? 0 : it->second;
  }
  std::map<Freshness, int> freshness;
  int repairs_ok = 0;
  int repairs_failed = 0;
};

// A coordinator call's answer and when it arrived.
template <typename T>
struct Answer {
  std::optional<Result<T>> result;
  Clock::time_point at;
  const Result<T>& operator*() const { return *result; }
  const Result<T>* operator->() const { return &*result; }
};

template <typename T>
Awaitable<void> Capture(Awaitable<Result<T>> op, Answer<T>* out,
                        std::function<void()> on_answer) {
  auto r = co_await std::move(op);
  out->at = Clock::now();
  out->result.emplace(std::move(r));
  if (on_answer) on_answer();
}

// Starts `op`, runs the io_context until every task (including the replica
// tasks that outlive the answer) has finished.
template <typename T>
Answer<T> RunToEnd(Cluster& c, Awaitable<Result<T>> op,
                   std::function<void()> on_answer = {}) {
  Answer<T> answer;
  asio::co_spawn(c.io, Capture(std::move(op), &answer, std::move(on_answer)),
                 [](std::exception_ptr e) {
                   if (e) std::rethrow_exception(e);
                 });
  c.io.run();
  c.io.restart();
  REQUIRE(answer.result.has_value());
  return answer;
}

PutArgs MakePut(const Cluster& c, const std::string& key,
                std::optional<std::string> value, uint32_t w,
                std::chrono::milliseconds timeout = 5s) {
  PutArgs a;
  a.key = key;
  a.loc = c.ring.Locate(key);
  a.value = std::move(value);
  a.w = w;
  a.timeout_ms = static_cast<uint32_t>(timeout.count());
  a.deadline = Clock::now() + timeout;
  return a;
}

GetArgs MakeGet(const Cluster& c, const std::string& key, uint32_t r,
                std::chrono::milliseconds timeout = 5s) {
  GetArgs a;
  a.key = key;
  a.loc = c.ring.Locate(key);
  a.r = r;
  a.deadline = Clock::now() + timeout;
  return a;
}

bool Contains(const std::vector<NodeIndex>& v, NodeIndex x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The primaries of `key` other than `self`, in preference order.
std::vector<NodeIndex> Others(const Cluster& c, const std::string& key,
                              NodeIndex self) {
  std::vector<NodeIndex> out;
  for (NodeIndex p : c.PrimariesOf(key)) {
    if (p != self) out.push_back(p);
  }
  return out;
}

std::string KeyWithPrimary(const Cluster& c, NodeIndex self) {
  return c.KeyWhere([&](const auto& p) { return Contains(p, self); });
}
std::string KeyWithoutPrimary(const Cluster& c, NodeIndex self) {
  return c.KeyWhere([&](const auto& p) { return !Contains(p, self); });
}

Object Write(const Object& base, ActorId actor, const std::string& value) {
  return NewWrite(base, base.vv, actor, value, kWrittenAt);
}

std::vector<std::string> LiveValues(const Object& o) {
  std::vector<std::string> out;
  for (const Sibling* s : o.LiveSiblings()) out.push_back(s->value);
  return out;
}

// ---------------------------------------------------------------- puts

TEST_CASE(
    "put w=2, all healthy: answers with the new dot; slower replicas "
    "finish after the answer") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  REQUIRE(others.size() == 2);
  c.nodes[others[1]].mode = Mode::kDelayed;
  c.nodes[others[1]].delay = 30ms;

  bool slow_held_at_answer = true;
  auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v1", 2)),
                      [&] { slow_held_at_answer = c.Holds(others[1], key); });

  REQUIRE(ans->ok());
  const Dot dot{c.nodes[self].actor, 1};
  CHECK(ans->value().siblings == 1);
  CHECK(ans->value().context.Covers(dot));
  CHECK(ans->value().context == c.Stored(self, key).vv);
  CHECK_FALSE(slow_held_at_answer);
  REQUIRE(c.nodes[others[1]].last_write_at.has_value());
  CHECK(*c.nodes[others[1]].last_write_at > ans.at);
  CHECK(c.forwarded.empty());  // self is a primary: coordinated here

  for (NodeIndex p : c.PrimariesOf(key)) {
    CAPTURE(p);
    REQUIRE(c.Holds(p, key));
    const Object o = c.Stored(p, key);
    CHECK(o.HasDot(dot));
    CHECK(LiveValues(o) == std::vector<std::string>{"v1"});
    CHECK(o.SameCausalState(c.Stored(self, key)));
  }
  for (NodeIndex n = 0; n < c.nodes.size(); ++n) {
    CAPTURE(n);
    if (!Contains(c.PrimariesOf(key), n)) CHECK_FALSE(c.Holds(n, key));
    CHECK(c.nodes[n].hints.empty());  // every primary up: no hint anywhere
  }
}

TEST_CASE("put w=3 with one replica unreachable fails with the exact count") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);

  SUBCASE("the other replica immediate") {
    c.nodes[others[0]].mode = Mode::kUnreachable;
  }
  SUBCASE("the other replica slow: the answer waits for its ack") {
    c.nodes[others[0]].mode = Mode::kDelayed;
    c.nodes[others[0]].delay = 50ms;
    c.nodes[others[1]].mode = Mode::kUnreachable;
  }
  const auto start = Clock::now();
  auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 3)));

  REQUIRE_FALSE(ans->ok());
  const Status& st = ans->status();
  CHECK(st.code() == Code::kUnavailable);
  REQUIRE(st.quorum().has_value());
  CHECK(st.quorum()->acked == 2);
  CHECK(st.quorum()->required == 3);
  CHECK(st.quorum()->contacted == 3);
  CHECK(st.quorum()->maybe_applied);
  CHECK(st.message().find("put failed") != std::string::npos);
  CHECK(st.message().find("2 of 3") != std::string::npos);
  CHECK(st.message().find("w=3") != std::string::npos);
  if (c.nodes[others[0]].mode == Mode::kDelayed) {
    CHECK(ans.at - start >= 50ms);
  }
  // The write stands where it was applied ("may have been applied").
  CHECK(c.Holds(self, key));
}

TEST_CASE("a quorum missed because replicas refused for load is overloaded") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  c.nodes[others[0]].mode = Mode::kOverloaded;
  c.nodes[others[1]].mode = Mode::kUnreachable;
  auto put = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 2)));
  REQUIRE_FALSE(put->ok());
  CHECK(put->status().code() == Code::kOverloaded);
  REQUIRE(put->status().quorum().has_value());
  CHECK(put->status().quorum()->acked == 1);
  CHECK(put->status().quorum()->maybe_applied);
  CHECK(put->status().message().find("1 replica overloaded") !=
        std::string::npos);

  for (NodeIndex p : c.PrimariesOf(key)) c.Store(p, key, Write({}, 900, "v"));
  auto get = RunToEnd(c, c.coordinators[self]->Get(MakeGet(c, key, 2)));
  REQUIRE_FALSE(get->ok());
  CHECK(get->status().code() == Code::kOverloaded);

  // Unreachable replicas alone stay `unavailable`.
  c.nodes[others[0]].mode = Mode::kUnreachable;
  auto again = RunToEnd(c, c.coordinators[self]->Get(MakeGet(c, key, 2)));
  REQUIRE_FALSE(again->ok());
  CHECK(again->status().code() == Code::kUnavailable);
}

// A replica call that gives up at the request deadline (as
// wire::RpcChannel::Call does) must leave that replica outstanding, not count
// it as failed: the answer is then a timeout, not "unavailable".
TEST_CASE("put w=2 with two silent replicas times out at the deadline") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  for (NodeIndex p : Others(c, key, self)) c.nodes[p].mode = Mode::kSilent;

  const auto start = Clock::now();
  auto ans =
      RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 2, 100ms)));

  REQUIRE_FALSE(ans->ok());
  const Status& st = ans->status();
  CHECK(st.code() == Code::kTimeout);
  CHECK(ans.at - start >= 100ms);
  CHECK(ans.at - start < 2s);
  REQUIRE(st.quorum().has_value());
  CHECK(st.quorum()->acked == 1);
  CHECK(st.quorum()->required == 2);
  CHECK(st.quorum()->contacted == 3);
  CHECK(st.quorum()->maybe_applied);
  CHECK(st.message().find("timed out") != std::string::npos);
  CHECK(st.message().find("1 of 3") != std::string::npos);
}

TEST_CASE(
    "put w=2: answers on the fast ack; the delayed replica still "
    "applies it afterwards") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  const NodeIndex slow = others[0];
  c.nodes[slow].mode = Mode::kDelayed;
  c.nodes[slow].delay = 200ms;

  bool slow_held_at_answer = true;
  const auto start = Clock::now();
  auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 2)),
                      [&] { slow_held_at_answer = c.Holds(slow, key); });

  REQUIRE(ans->ok());
  CHECK_FALSE(slow_held_at_answer);
  REQUIRE(c.nodes[slow].last_write_at.has_value());
  CHECK(*c.nodes[slow].last_write_at > ans.at);
  CHECK(*c.nodes[slow].last_write_at - start >= 200ms);
  REQUIRE(c.Holds(slow, key));
  CHECK(c.Stored(slow, key).SameCausalState(c.Stored(self, key)));
  CHECK(c.Stored(others[1], key).SameCausalState(c.Stored(self, key)));
}

// ---------------------------------------------------------------- routing

TEST_CASE("a write to a moving partition also goes to its pending replica") {
  // A change in progress makes x a primary of the key's partition once the
  // transfer is done: x gets the write as a replica (not a hint) and the
  // put needs w + 1 acks among the 3 primaries and x.
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  NodeIndex x = 0;
  while (Contains(c.PrimariesOf(key), x)) ++x;
  std::vector<std::vector<NodeIndex>> pending(c.ring.partitions());
  pending[c.ring.Locate(key).partition] = {x};
  c.ring.SetPending(pending);

  SUBCASE("all up: every primary and x hold it") {
    PutArgs put = MakePut(c, key, "v", 2);
    put.pw = 3;  // x is no primary yet: pw still counts the three
    auto ans = RunToEnd(c, c.coordinators[self]->Put(std::move(put)));
    REQUIRE(ans->ok());
    CHECK(c.Holds(x, key));
    CHECK(c.nodes[x].hints.empty());
    for (NodeIndex p : c.PrimariesOf(key)) CHECK(c.Holds(p, key));
  }
  SUBCASE("a primary down: w=2 is met by self, the other primary and x") {
    c.nodes[others[0]].mode = Mode::kUnreachable;
    auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 2)));
    REQUIRE(ans->ok());
    CHECK(c.Holds(x, key));
  }
  SUBCASE("a primary and x down: 2 of the 3 acks w=2 needs here") {
    c.nodes[others[0]].mode = Mode::kUnreachable;
    c.nodes[x].mode = Mode::kUnreachable;
    auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 2)));
    REQUIRE_FALSE(ans->ok());
    REQUIRE(ans->status().quorum().has_value());
    CHECK(ans->status().quorum()->required == 3);
    CHECK(ans->status().quorum()->contacted == 4);
  }
}

TEST_CASE("a pending replica is never also a fallback: it counts once") {
  // Two primaries down while x is a pending replica and the first node
  // after the primaries: x takes the write as a replica only, and the
  // dead primaries' hints go to the other live nodes. w=3 with P=1 needs 4
  // acks from distinct nodes: self, x and the two other fallbacks.
  Cluster c(6);
  const NodeIndex self = 0;
  const std::string key =
      c.KeyWhere([&](const std::vector<NodeIndex>& p) { return p[0] == self; });
  const auto preference = c.PreferenceOf(key);
  const NodeIndex x = preference[3];  // the first fallback
  std::vector<std::vector<NodeIndex>> pending(c.ring.partitions());
  pending[c.ring.Locate(key).partition] = {x};
  c.ring.SetPending(pending);
  c.nodes[preference[1]].up = false;
  c.nodes[preference[1]].mode = Mode::kUnreachable;
  c.nodes[preference[2]].up = false;
  c.nodes[preference[2]].mode = Mode::kUnreachable;

  auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 3)));
  REQUIRE_MESSAGE(ans->ok(), ans->status().ToString());
  CHECK(c.Holds(x, key));
  CHECK(c.nodes[x].hints.empty());
  for (NodeIndex f : {preference[4], preference[5]}) {
    CAPTURE(f);
    CHECK(c.nodes[f].hints.size() == 1);
  }
  // With one fallback fewer, x does not stand in for the missing ack.
  c.nodes[preference[5]].up = false;
  c.nodes[preference[5]].mode = Mode::kUnreachable;
  auto short_of =
      RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "w", 3)));
  REQUIRE_FALSE(short_of->ok());
  REQUIRE(short_of->status().quorum().has_value());
  CHECK(short_of->status().quorum()->acked == 3);
  CHECK(short_of->status().quorum()->required == 4);
}

TEST_CASE("a put refused by a replica at a newer epoch follows the new ring") {
  // The put's targets were chosen at epoch 1. Replica a holds epoch 2, in
  // which a change moves the key's partition to x as well (a pending
  // replica): it refuses, this node adopts epoch 2, and the same object
  // goes to epoch 2's targets, x included, counted afresh (w + 1 acks).
  Cluster c;
  c.ring.SetEpoch(1);
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  NodeIndex x = 0;
  while (Contains(c.PrimariesOf(key), x)) ++x;
  ring::Ring next = c.ring;
  std::vector<std::vector<NodeIndex>> pending(next.partitions());
  pending[next.Locate(key).partition] = {x};
  next.SetPending(pending);
  next.SetEpoch(2);
  c.newer_ring = next;
  c.nodes[others[0]].epoch = 2;

  auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 2)));
  REQUIRE(ans->ok());
  CHECK(c.ring.epoch() == 2);
  // Without the second fan-out, self and the other primary (2 acks, w=2)
  // would have answered, and x would never have seen the write.
  CHECK(c.Holds(x, key));
  CHECK(c.Holds(others[0], key));
  CHECK(LiveValues(c.Stored(x, key)) == std::vector<std::string>{"v"});
  // The refused call was stamped 1, the second fan-out's calls 2.
  CHECK(std::count(c.epochs_seen.begin(), c.epochs_seen.end(), 1u) >= 1);
  CHECK(std::count(c.epochs_seen.begin(), c.epochs_seen.end(), 2u) >= 3);
}

TEST_CASE("a forwarded put refused at a newer epoch is routed again") {
  // This node is no primary at epoch 1; the primary it forwards to holds
  // epoch 2 and refuses (nothing written): the put is routed under epoch 2
  // instead of failing or trying the next primary of a stale ring.
  Cluster c;
  c.ring.SetEpoch(1);
  const NodeIndex self = 0;
  const std::string key = KeyWithoutPrimary(c, self);
  const NodeIndex first = c.PrimariesOf(key)[0];
  ring::Ring next = c.ring;
  next.SetEpoch(2);
  c.newer_ring = next;
  c.nodes[first].epoch = 2;
  c.nodes[first].up = true;

  auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 2)));
  REQUIRE(ans->ok());
  REQUIRE(c.forwarded.size() == 2);
  CHECK(c.forwarded[0] == first);  // refused at epoch 1
  CHECK(c.forwarded[1] == first);  // routed again at epoch 2
  for (NodeIndex p : c.PrimariesOf(key)) CHECK(c.Holds(p, key));
}

TEST_CASE("a put forwarded to a node that is no primary writes nothing") {
  // The sender routed by another ring (a cluster state this node has not
  // applied, or no longer has): the put is refused as from an unreachable
  // primary, with no quorum figures, and nothing is stored anywhere.
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithoutPrimary(c, self);
  auto ans =
      RunToEnd(c, c.coordinators[self]->CoordinatePut(MakePut(c, key, "v", 2)));
  REQUIRE_FALSE(ans->ok());
  CHECK(ans->status().code() == Code::kUnavailable);
  CHECK_FALSE(ans->status().quorum());
  CHECK(ans->status().message().find("is not a primary of partition") !=
        std::string::npos);
  for (NodeIndex n = 0; n < c.nodes.size(); ++n) CHECK_FALSE(c.Holds(n, key));
}

TEST_CASE("put routing from a node that is not a primary") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithoutPrimary(c, self);
  const auto p = c.PrimariesOf(key);
  REQUIRE(p.size() == 3);
  const uint32_t w = 2;

  // The dot the answer must cover: written by the primary that coordinated.
  auto expect_coordinated_by = [&](const Answer<PutOutcome>& ans,
                                   NodeIndex coordinator) {
    REQUIRE(ans->ok());
    CHECK(ans->value().siblings == 1);
    CHECK(ans->value().context.Covers(Dot{c.nodes[coordinator].actor, 1}));
    CHECK(ans->value().context.size() == 1);
    CHECK(c.Stored(coordinator, key).vv == ans->value().context);
    CHECK_FALSE(c.Holds(self, key));
  };

  SUBCASE("forwards to the first primary") {
    auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", w)));
    CHECK(c.forwarded == std::vector<NodeIndex>{p[0]});
    expect_coordinated_by(ans, p[0]);
    for (NodeIndex n : p) CHECK(c.Holds(n, key));
  }
  SUBCASE("an unreachable primary is skipped for the next") {
    c.nodes[p[0]].mode = Mode::kUnreachable;
    auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", w)));
    CHECK(c.forwarded == std::vector<NodeIndex>{p[0], p[1]});
    expect_coordinated_by(ans, p[1]);
  }
  SUBCASE("a primary believed down is tried after the ones believed up") {
    c.nodes[p[0]].up = false;  // stale: it is actually reachable
    auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", w)));
    CHECK(c.forwarded == std::vector<NodeIndex>{p[1]});
    expect_coordinated_by(ans, p[1]);
  }
  SUBCASE("a primary believed down is still tried last") {
    c.nodes[p[0]].up = false;
    c.nodes[p[1]].mode = Mode::kUnreachable;
    c.nodes[p[2]].mode = Mode::kUnreachable;
    auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 1)));
    CHECK(c.forwarded == std::vector<NodeIndex>{p[1], p[2], p[0]});
    expect_coordinated_by(ans, p[0]);
  }
  SUBCASE("no primary reachable") {
    for (NodeIndex n : p) c.nodes[n].mode = Mode::kUnreachable;
    c.nodes[p[1]].up = false;
    auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", w)));
    CHECK(c.forwarded == std::vector<NodeIndex>{p[0], p[2], p[1]});
    REQUIRE_FALSE(ans->ok());
    CHECK(ans->status().code() == Code::kUnavailable);
    CHECK(ans->status().message().find("put failed: no primary") !=
          std::string::npos);
    REQUIRE(ans->status().quorum().has_value());
    CHECK(ans->status().quorum()->acked == 0);
    CHECK(ans->status().quorum()->required == w);
    CHECK_FALSE(ans->status().quorum()->maybe_applied);
    for (NodeIndex n = 0; n < c.nodes.size(); ++n) CHECK_FALSE(c.Holds(n, key));
  }
  SUBCASE("a coordinator's quorum failure is final (canned)") {
    Status failed(Code::kUnavailable, "put failed: 1 of 3 replicas acked");
    failed.WithQuorum(QuorumInfo{
        .acked = 1, .required = 2, .contacted = 3, .maybe_applied = true});
    c.forward_script.emplace(p[0], failed);
    auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", w)));
    CHECK(c.forwarded == std::vector<NodeIndex>{p[0]});
    REQUIRE_FALSE(ans->ok());
    CHECK(ans->status().code() == Code::kUnavailable);
    CHECK(ans->status().message() == failed.message());
    REQUIRE(ans->status().quorum().has_value());
    CHECK(ans->status().quorum()->acked == 1);
    CHECK(ans->status().quorum()->maybe_applied);
  }
  SUBCASE("a coordinator's quorum failure is final (real coordinator)") {
    c.nodes[p[2]].mode = Mode::kUnreachable;
    auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 3)));
    CHECK(c.forwarded == std::vector<NodeIndex>{p[0]});
    REQUIRE_FALSE(ans->ok());
    CHECK(ans->status().code() == Code::kUnavailable);
    REQUIRE(ans->status().quorum().has_value());
    CHECK(ans->status().quorum()->acked == 2);
    CHECK(ans->status().quorum()->contacted == 3);
    // Not coordinated a second time: only p[0]'s dot exists anywhere.
    CHECK(c.Stored(p[1], key).vv.size() == 1);
    CHECK(c.Stored(p[1], key).HasDot(Dot{c.nodes[p[0]].actor, 1}));
  }
  SUBCASE("a forward that times out is final") {
    c.nodes[p[0]].mode = Mode::kSilent;
    auto ans =
        RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", w, 100ms)));
    CHECK(c.forwarded == std::vector<NodeIndex>{p[0]});
    REQUIRE_FALSE(ans->ok());
    CHECK(ans->status().code() == Code::kTimeout);
    CHECK_FALSE(c.Holds(p[1], key));
  }
  SUBCASE("a canned kTimeout is final") {
    c.forward_script.emplace(p[0], Status(Code::kTimeout, "forward timed out"));
    auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", w)));
    CHECK(c.forwarded == std::vector<NodeIndex>{p[0]});
    REQUIRE_FALSE(ans->ok());
    CHECK(ans->status().code() == Code::kTimeout);
  }
}

// ---------------------------------------------------------------- deletes

TEST_CASE(
    "a primary leaves puts of a key with many siblings to the first "
    "live primary") {
  Cluster c;
  // A key whose second primary is n1.
  const std::string key =
      c.KeyWhere([](const auto& p) { return p.size() == 3 && p[1] == 1; });
  const auto primaries = c.PrimariesOf(key);
  const NodeIndex first = primaries[0], self = primaries[1];
  Coordinator coordinator(c.io.get_executor(), c.clock, *c.clients[self],
                          c.ring, nullptr,
                          CoordinatorOptions{.serialize_above_siblings = 2});
  auto siblings = [&](int n) {
    Object o;
    for (int i = 0; i < n; ++i) o = Sync(o, Write({}, 500 + i, "s"));
    for (NodeIndex p : primaries) c.Store(p, key, o);
  };

  SUBCASE("at the threshold: coordinated here") {
    siblings(2);
    auto ans = RunToEnd(c, coordinator.Put(MakePut(c, key, "v", 2)));
    REQUIRE(ans->ok());
    CHECK((*ans)->coordinated_here);
    CHECK(c.forwarded.empty());
    CHECK(c.Stored(self, key).siblings.size() == 3);
  }
  SUBCASE("above it: handed to the first primary, which coordinates") {
    siblings(3);
    auto ans = RunToEnd(c, coordinator.Put(MakePut(c, key, "v", 2)));
    REQUIRE(ans->ok());
    CHECK_FALSE((*ans)->coordinated_here);
    CHECK(c.forwarded == std::vector<NodeIndex>{first});
    // The new dot is the first primary's.
    const Object at_first = c.Stored(first, key);
    CHECK(at_first.siblings.size() == 4);
    CHECK(at_first.vv.Get(c.nodes[first].actor) == 1);
    CHECK(c.Stored(self, key).vv.Get(c.nodes[self].actor) == 0);
  }
  SUBCASE("above it, the first primary down: coordinated here") {
    siblings(3);
    c.nodes[first].up = false;
    c.nodes[first].mode = Mode::kUnreachable;
    auto ans = RunToEnd(c, coordinator.Put(MakePut(c, key, "v", 2)));
    REQUIRE(ans->ok());
    CHECK((*ans)->coordinated_here);
    CHECK(c.forwarded.empty());
  }
  SUBCASE(
      "above it, the first primary unreachable though thought up: "
      "coordinated here after trying it") {
    siblings(3);
    c.nodes[first].mode = Mode::kUnreachable;
    c.nodes[primaries[2]].mode = Mode::kUnreachable;
    auto ans = RunToEnd(c, coordinator.Put(MakePut(c, key, "v", 1)));
    REQUIRE(ans->ok());
    CHECK((*ans)->coordinated_here);
    CHECK(c.forwarded.size() == 2);
    CHECK(c.Stored(self, key).vv.Get(c.nodes[self].actor) == 1);
  }
}

TEST_CASE("delete stores a tombstone") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);

  auto put = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 3)));
  REQUIRE(put->ok());

  PutArgs del = MakePut(c, key, std::nullopt, 3);
  del.context = put->value().context;
  auto ans = RunToEnd(c, c.coordinators[self]->Put(std::move(del)));
  REQUIRE(ans->ok());
  CHECK(ans->value().siblings == 1);
  CHECK(ans->value().context.Covers(Dot{c.nodes[self].actor, 2}));
  CHECK(ans->value().context == c.Stored(self, key).vv);
  for (NodeIndex p : c.PrimariesOf(key)) {
    CAPTURE(p);
    const Object o = c.Stored(p, key);
    REQUIRE(o.siblings.size() == 1);  // the value it covered is gone
    CHECK(o.siblings[0].tombstone);
    CHECK(o.siblings[0].dot == Dot{c.nodes[self].actor, 2});
    CHECK_FALSE(o.Found());
  }
}

TEST_CASE("a blind delete of a missing key stores a tombstone too") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  auto ans =
      RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, std::nullopt, 2)));
  REQUIRE(ans->ok());
  for (NodeIndex p : c.PrimariesOf(key)) {
    const Object o = c.Stored(p, key);
    REQUIRE(o.siblings.size() == 1);
    CHECK(o.siblings[0].tombstone);
  }
}

TEST_CASE("a failed delete says \"delete failed\"") {
  Cluster c;
  SUBCASE("quorum not met") {
    const NodeIndex self = 0;
    const std::string key = KeyWithPrimary(c, self);
    c.nodes[Others(c, key, self)[0]].mode = Mode::kUnreachable;
    auto ans = RunToEnd(
        c, c.coordinators[self]->Put(MakePut(c, key, std::nullopt, 3)));
    REQUIRE_FALSE(ans->ok());
    CHECK(ans->status().code() == Code::kUnavailable);
    CHECK(ans->status().message().find("delete failed") != std::string::npos);
    CHECK(ans->status().message().find("2 of 3") != std::string::npos);
    CHECK(ans->status().message().find("put") == std::string::npos);
  }
  SUBCASE("no primary reachable to coordinate it") {
    const NodeIndex self = 0;
    const std::string key = KeyWithoutPrimary(c, self);
    for (NodeIndex p : c.PrimariesOf(key)) c.nodes[p].mode = Mode::kUnreachable;
    auto ans = RunToEnd(
        c, c.coordinators[self]->Put(MakePut(c, key, std::nullopt, 2)));
    REQUIRE_FALSE(ans->ok());
    CHECK(ans->status().message().find("delete failed") != std::string::npos);
  }
}

// ---------------------------------------------------------------- sloppy
// quorum

// A primary the failure detector reports down (IsUp false) gets no call; its
// replica goes to the first live fallback as a hint for it.
TEST_CASE("put w=2 with one primary down: the first fallback keeps a hint") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  const auto pref = c.PreferenceOf(key);
  REQUIRE(pref.size() == 5);
  const NodeIndex fallback = pref[3];
  REQUIRE_FALSE(Contains(c.PrimariesOf(key), fallback));

  NodeIndex down = others[0];
  NodeIndex live = others[1];
  SUBCASE("the first other primary down") {}
  SUBCASE("the second other primary down") { std::swap(down, live); }
  CAPTURE(down);
  c.nodes[down].up = false;

  auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 2)));

  REQUIRE(ans->ok());
  const Dot dot{c.nodes[self].actor, 1};
  CHECK(ans->value().siblings == 1);
  CHECK(ans->value().context.Covers(dot));
  CHECK(ans->value().context == c.Stored(self, key).vv);

  // The down primary got nothing.
  CHECK(c.nodes[down].replicate_calls.empty());
  CHECK_FALSE(c.HoldsAnywhere(down, key));
  // The first fallback got exactly one hinted replicate, for `down`, kept as
  // a hint and not in its own store.
  CHECK(c.nodes[fallback].replicate_calls ==
        std::vector<std::optional<NodeIndex>>{down});
  CHECK(c.nodes[fallback].hints.size() == 1);
  const Object hint = c.Hint(fallback, down, key);
  CHECK(hint.HasDot(dot));
  CHECK(LiveValues(hint) == std::vector<std::string>{"v"});
  CHECK(hint.SameCausalState(c.Stored(self, key)));
  CHECK_FALSE(c.Holds(fallback, key));
  // The live primary got a plain replicate.
  CHECK(c.nodes[live].replicate_calls ==
        std::vector<std::optional<NodeIndex>>{std::nullopt});
  CHECK(c.Stored(live, key).SameCausalState(c.Stored(self, key)));
  CHECK(c.nodes[live].hints.empty());
  // The second fallback was not needed.
  CHECK(c.nodes[pref[4]].replicate_calls.empty());
  CHECK_FALSE(c.HoldsAnywhere(pref[4], key));
}

TEST_CASE("put w=3 with one primary down succeeds: the hinted ack counts") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  const auto pref = c.PreferenceOf(key);
  REQUIRE(pref.size() == 5);
  const NodeIndex down = others[0];
  c.nodes[down].up = false;

  NodeIndex expected_fallback = pref[3];
  SUBCASE("the first fallback takes the hint; the answer waits for its ack") {
    c.nodes[pref[3]].mode = Mode::kDelayed;
    c.nodes[pref[3]].delay = 50ms;
  }
  SUBCASE("the first fallback is down too: the next one takes the hint") {
    c.nodes[pref[3]].up = false;
    expected_fallback = pref[4];
  }
  CAPTURE(expected_fallback);

  auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 3)));

  REQUIRE(ans->ok());
  CHECK(ans->value().context.Covers(Dot{c.nodes[self].actor, 1}));
  CHECK(c.Hint(expected_fallback, down, key)
            .SameCausalState(c.Stored(self, key)));
  // w=3 needs the hinted ack: the answer came after the fallback stored it.
  REQUIRE(c.nodes[expected_fallback].last_write_at.has_value());
  CHECK(*c.nodes[expected_fallback].last_write_at <= ans.at);
  CHECK(c.nodes[down].replicate_calls.empty());
  CHECK_FALSE(c.HoldsAnywhere(down, key));
  for (NodeIndex n : pref) {
    if (n == expected_fallback || n == self || n == others[1]) continue;
    CAPTURE(n);
    CHECK_FALSE(c.HoldsAnywhere(n, key));
  }
}

TEST_CASE(
    "put pw=3 with one primary down fails up front and writes nothing "
    "anywhere") {
  Cluster c;
  NodeIndex self = 0;
  std::string key;
  NodeIndex down = 0;
  SUBCASE("coordinated here") {
    key = KeyWithPrimary(c, self);
    down = Others(c, key, self)[0];
  }
  SUBCASE("forwarded from a node that is not a primary") {
    key = KeyWithoutPrimary(c, self);
    down = c.PrimariesOf(key)[1];
  }
  CAPTURE(key);
  c.nodes[down].up = false;
  PutArgs put = MakePut(c, key, "v", 2);
  put.pw = 3;

  auto ans = RunToEnd(c, c.coordinators[self]->Put(std::move(put)));

  REQUIRE_FALSE(ans->ok());
  const Status& st = ans->status();
  CHECK(st.code() == Code::kUnavailable);
  CHECK(st.message().find("put failed") != std::string::npos);
  CHECK(st.message().find("2 of 3 primaries") != std::string::npos);
  CHECK(st.message().find("pw=3") != std::string::npos);
  CHECK(st.message().find("nothing was written") != std::string::npos);
  REQUIRE(st.quorum().has_value());
  CHECK(st.quorum()->acked == 2);
  CHECK(st.quorum()->required == 3);
  CHECK(st.quorum()->contacted == 3);
  CHECK_FALSE(st.quorum()->maybe_applied);
  for (NodeIndex n = 0; n < c.nodes.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(c.HoldsAnywhere(n, key));
    CHECK(c.nodes[n].replicate_calls.empty());
    CHECK_FALSE(c.nodes[n].last_write_at.has_value());
  }
}

TEST_CASE(
    "put pw=2 with one primary down succeeds; only primaries' acks count "
    "toward pw") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  const auto pref = c.PreferenceOf(key);
  const NodeIndex down = others[0];
  const NodeIndex live = others[1];
  const NodeIndex fallback = pref[3];
  c.nodes[down].up = false;
  // The hinted ack arrives first and meets w=2, but pw=2 needs the live
  // primary's (slower) ack as well.
  c.nodes[live].mode = Mode::kDelayed;
  c.nodes[live].delay = 50ms;
  PutArgs put = MakePut(c, key, "v", 2);
  put.pw = 2;

  bool live_held_at_answer = false;
  auto ans = RunToEnd(c, c.coordinators[self]->Put(std::move(put)),
                      [&] { live_held_at_answer = c.Holds(live, key); });

  REQUIRE(ans->ok());
  CHECK(ans->value().siblings == 1);
  CHECK(ans->value().context.Covers(Dot{c.nodes[self].actor, 1}));
  CHECK(live_held_at_answer);
  REQUIRE(c.nodes[fallback].last_write_at.has_value());
  REQUIRE(c.nodes[live].last_write_at.has_value());
  CHECK(*c.nodes[fallback].last_write_at < *c.nodes[live].last_write_at);
  CHECK(c.Hint(fallback, down, key).SameCausalState(c.Stored(self, key)));
  CHECK_FALSE(c.HoldsAnywhere(down, key));
}

TEST_CASE(
    "put pw=3, all up, one primary unreachable at send time: fails with "
    "the primaries' count") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  const NodeIndex unreachable = others[1];
  c.nodes[unreachable].mode = Mode::kUnreachable;  // IsUp still true
  PutArgs put = MakePut(c, key, "v", 2);
  put.pw = 3;

  auto ans = RunToEnd(c, c.coordinators[self]->Put(std::move(put)));

  REQUIRE_FALSE(ans->ok());
  const Status& st = ans->status();
  CHECK(st.code() == Code::kUnavailable);
  CHECK(st.message().find("put failed") != std::string::npos);
  CHECK(st.message().find("2 of 3 primaries acknowledged, pw=3") !=
        std::string::npos);
  CHECK(st.message().find("may have been applied") != std::string::npos);
  REQUIRE(st.quorum().has_value());
  CHECK(st.quorum()->acked == 2);
  CHECK(st.quorum()->required == 3);
  CHECK(st.quorum()->contacted == 3);
  CHECK(st.quorum()->maybe_applied);
  // It was sent as a plain replicate (no fallback stood in), and the write
  // stands where it was applied.
  CHECK(c.nodes[unreachable].replicate_calls ==
        std::vector<std::optional<NodeIndex>>{std::nullopt});
  CHECK(c.Holds(self, key));
  CHECK(c.Holds(others[0], key));
  for (NodeIndex n = 0; n < c.nodes.size(); ++n) {
    CAPTURE(n);
    CHECK(c.nodes[n].hints.empty());
  }
}

// When w is met but pw is still pending at the deadline (a primary never
// answers), the answer is a timeout naming the primaries' count and pw.
TEST_CASE(
    "put pw=3 with a silent primary times out naming pw, after w was met") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  c.nodes[Others(c, key, self)[1]].mode = Mode::kSilent;  // IsUp still true
  PutArgs put = MakePut(c, key, "v", 2, 100ms);
  put.pw = 3;

  auto ans = RunToEnd(c, c.coordinators[self]->Put(std::move(put)));

  REQUIRE_FALSE(ans->ok());
  const Status& st = ans->status();
  CHECK(st.code() == Code::kTimeout);
  CHECK(st.message().find("2 of 3 primaries") != std::string::npos);
  CHECK(st.message().find("pw=3") != std::string::npos);
  REQUIRE(st.quorum().has_value());
  CHECK(st.quorum()->acked == 2);
  CHECK(st.quorum()->required == 3);
  CHECK(st.quorum()->maybe_applied);
}

// ---------------------------------------------------------------- siblings

TEST_CASE(
    "a blind write on an existing key leaves two siblings and no "
    "context") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);

  auto first = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "a", 3)));
  REQUIRE(first->ok());
  CHECK(first->value().siblings == 1);
  CHECK_FALSE(first->value().context.empty());

  auto blind = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "b", 3)));
  REQUIRE(blind->ok());
  CHECK(blind->value().siblings == 2);
  CHECK(blind->value().context.empty());
  for (NodeIndex p : c.PrimariesOf(key)) {
    CAPTURE(p);
    CHECK(LiveValues(c.Stored(p, key)) == std::vector<std::string>{"a", "b"});
  }

  // A write with the context of a read covers both: one sibling again.
  PutArgs resolve = MakePut(c, key, "c", 3);
  resolve.context = c.Stored(self, key).vv;
  auto resolved = RunToEnd(c, c.coordinators[self]->Put(std::move(resolve)));
  REQUIRE(resolved->ok());
  CHECK(resolved->value().siblings == 1);
  CHECK(resolved->value().context == c.Stored(self, key).vv);
  CHECK(LiveValues(c.Stored(self, key)) == std::vector<std::string>{"c"});
}

// ---------------------------------------------------------------- gets

TEST_CASE("get r=2 merges the first two replies, siblings included") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  // Three divergent writes, one per replica; the third replica is slow.
  c.Store(self, key, Write(Object{}, 900, "a"));
  c.Store(others[0], key, Write(Object{}, 901, "b"));
  c.Store(others[1], key, Write(Object{}, 902, "c"));
  c.nodes[others[1]].mode = Mode::kDelayed;
  c.nodes[others[1]].delay = 100ms;

  auto ans = RunToEnd(c, c.coordinators[self]->Get(MakeGet(c, key, 2)));
  REQUIRE(ans->ok());
  CHECK(LiveValues(ans->value()) == std::vector<std::string>{"a", "b"});
  CHECK(ans->value().vv ==
        VersionVector::FromEntries({Dot{900, 1}, Dot{901, 1}}));
  // Read repair then spreads all three siblings.
  for (NodeIndex p : c.PrimariesOf(key)) {
    CAPTURE(p);
    CHECK(LiveValues(c.Stored(p, key)) ==
          std::vector<std::string>{"a", "b", "c"});
  }
}

TEST_CASE("a get refused by a replica at a newer epoch is asked again") {
  // r=3 at epoch 1: one primary holds epoch 2 and refuses, so the first
  // attempt has 2 of 3 replies. The node adopts epoch 2 and asks again;
  // that attempt gets all three, the refusing replica's write included.
  Cluster c;
  c.ring.SetEpoch(1);
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  c.Store(others[0], key, Write(Object{}, 901, "b"));
  ring::Ring next = c.ring;
  next.SetEpoch(2);
  c.newer_ring = next;
  c.nodes[others[0]].epoch = 2;

  auto ans = RunToEnd(c, c.coordinators[self]->Get(MakeGet(c, key, 3)));
  REQUIRE_MESSAGE(ans->ok(), ans->status().ToString());
  CHECK(LiveValues(ans->value()) == std::vector<std::string>{"b"});
  CHECK(c.nodes[others[0]].read_calls == 2);
}

TEST_CASE("get of a missing key is an empty object, not an error") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  RecordingObserver obs;
  Coordinator coord(c.io.get_executor(), c.clock, *c.clients[self], c.ring,
                    &obs);
  auto ans = RunToEnd(c, coord.Get(MakeGet(c, key, 2)));
  REQUIRE(ans->ok());
  CHECK(ans->value().vv.empty());
  CHECK(ans->value().siblings.empty());
  CHECK_FALSE(ans->value().Found());
  CHECK(obs.repairs_ok + obs.repairs_failed == 0);
  for (NodeIndex n = 0; n < c.nodes.size(); ++n) CHECK_FALSE(c.Holds(n, key));
}

TEST_CASE("get r=3 with one replica unreachable fails with the exact count") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  for (NodeIndex p : c.PrimariesOf(key)) c.Store(p, key, Write({}, 900, "v"));
  c.nodes[others[0]].mode = Mode::kUnreachable;
  c.nodes[others[1]].mode = Mode::kDelayed;  // its reply must still count
  c.nodes[others[1]].delay = 50ms;

  auto ans = RunToEnd(c, c.coordinators[self]->Get(MakeGet(c, key, 3)));
  REQUIRE_FALSE(ans->ok());
  const Status& st = ans->status();
  CHECK(st.code() == Code::kUnavailable);
  REQUIRE(st.quorum().has_value());
  CHECK(st.quorum()->acked == 2);
  CHECK(st.quorum()->required == 3);
  CHECK(st.quorum()->contacted == 3);
  CHECK_FALSE(st.quorum()->maybe_applied);
  CHECK(st.message().find("2 of 3") != std::string::npos);
  CHECK(st.message().find("r=3") != std::string::npos);
}

TEST_CASE("get pr=3 with one primary down fails up front") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  for (NodeIndex p : c.PrimariesOf(key)) c.Store(p, key, Write({}, 900, "v"));
  c.nodes[Others(c, key, self)[0]].up = false;
  GetArgs get = MakeGet(c, key, 1);
  get.pr = 3;

  auto ans = RunToEnd(c, c.coordinators[self]->Get(std::move(get)));

  REQUIRE_FALSE(ans->ok());
  const Status& st = ans->status();
  CHECK(st.code() == Code::kUnavailable);
  CHECK(st.message().find("get failed") != std::string::npos);
  CHECK(st.message().find("2 of 3 primaries") != std::string::npos);
  CHECK(st.message().find("pr=3") != std::string::npos);
  REQUIRE(st.quorum().has_value());
  CHECK(st.quorum()->acked == 2);
  CHECK(st.quorum()->required == 3);
  CHECK(st.quorum()->contacted == 3);
  CHECK_FALSE(st.quorum()->maybe_applied);
  // Up front: no replica was read.
  for (NodeIndex n = 0; n < c.nodes.size(); ++n) {
    CAPTURE(n);
    CHECK(c.nodes[n].read_calls == 0);
  }
}

TEST_CASE("get r=1 pr=3 waits for every primary's reply") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  c.Store(self, key, Write(Object{}, 900, "a"));
  c.Store(others[0], key, Write(Object{}, 901, "b"));
  c.Store(others[1], key, Write(Object{}, 902, "c"));
  c.nodes[others[1]].mode = Mode::kDelayed;
  c.nodes[others[1]].delay = 50ms;
  GetArgs get = MakeGet(c, key, 1);
  get.pr = 3;

  const auto start = Clock::now();
  auto ans = RunToEnd(c, c.coordinators[self]->Get(std::move(get)));

  REQUIRE(ans->ok());
  CHECK(LiveValues(ans->value()) == std::vector<std::string>{"a", "b", "c"});
  CHECK(ans.at - start >= 50ms);
}

TEST_CASE("a session get at r=1 waits for the replica holding its write") {
  // The local replica (first to answer) missed the session's write; the
  // replica that has it answers 50 ms later: the get waits for it rather
  // than answer the older copy, and read repair then fixes the local one.
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  const Object old = Write(Object{}, 900, "old");
  const Object mine = Write(old, 901, "mine");
  c.Store(self, key, old);
  c.Store(others[0], key, old);
  c.Store(others[1], key, mine);
  c.nodes[others[1]].mode = Mode::kDelayed;
  c.nodes[others[1]].delay = 50ms;
  SessionToken token;
  token.NoteWrite(1, mine.vv, /*live=*/true);
  GetArgs get = MakeGet(c, key, 1);
  get.floor = *token.Find(1);

  const auto start = Clock::now();
  auto ans = RunToEnd(c, c.coordinators[self]->Get(std::move(get)));
  REQUIRE_MESSAGE(ans->ok(), ans->status().ToString());
  CHECK(LiveValues(ans->value()) == std::vector<std::string>{"mine"});
  CHECK(ans.at - start >= 50ms);
  CHECK(LiveValues(c.Stored(self, key)) == std::vector<std::string>{"mine"});

  // Without the session, r=1 answers at once with the older copies.
  c.Store(self, key, old);
  c.Store(others[0], key, old);
  auto plain = RunToEnd(c, c.coordinators[self]->Get(MakeGet(c, key, 1)));
  REQUIRE(plain->ok());
  CHECK(LiveValues(plain->value()) == std::vector<std::string>{"old"});
}

TEST_CASE("a session get no replica can satisfy fails naming the guarantee") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  const Object old = Write(Object{}, 900, "old");
  const Object seen = Write(old, 901, "seen");
  c.Store(self, key, old);
  c.Store(others[0], key, old);
  c.Store(others[1], key, seen);
  c.nodes[others[1]].mode = Mode::kUnreachable;  // holds what was read
  SessionToken token;
  token.NoteRead(1, seen);
  GetArgs get = MakeGet(c, key, 1);
  get.floor = *token.Find(1);

  auto ans = RunToEnd(c, c.coordinators[self]->Get(std::move(get)));
  REQUIRE_FALSE(ans->ok());
  CHECK(ans->status().code() == Code::kUnavailable);
  const std::string& m = ans->status().message();
  CAPTURE(m);
  CHECK(m.find("monotonic reads") != std::string::npos);
  CHECK(m.find("2 of 3 primaries replied") != std::string::npos);

  // The same for the session's own write: read-your-writes.
  SessionToken wrote;
  wrote.NoteWrite(1, seen.vv, true);
  GetArgs again = MakeGet(c, key, 1);
  again.floor = *wrote.Find(1);
  auto ans2 = RunToEnd(c, c.coordinators[self]->Get(std::move(again)));
  REQUIRE_FALSE(ans2->ok());
  CHECK(ans2->status().message().find("read-your-writes") != std::string::npos);
}

TEST_CASE("a session that deleted a key accepts not found from any replica") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  SessionToken token;
  const Object v = Write(Object{}, 900, "v");
  token.NoteWrite(1, NewWrite(v, v.vv, 900, std::nullopt, kWrittenAt).vv,
                  /*live=*/false);
  GetArgs get = MakeGet(c, key, 1);
  get.floor = *token.Find(1);
  // Nothing stored anywhere (every replica reaped the tombstone).
  auto ans = RunToEnd(c, c.coordinators[self]->Get(std::move(get)));
  REQUIRE_MESSAGE(ans->ok(), ans->status().ToString());
  CHECK_FALSE(ans->value().Found());
}

// As "put w=2 with two silent replicas times out at the deadline".
TEST_CASE("get r=2 with two silent replicas times out at the deadline") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  for (NodeIndex p : Others(c, key, self)) c.nodes[p].mode = Mode::kSilent;

  const auto start = Clock::now();
  auto ans = RunToEnd(c, c.coordinators[self]->Get(MakeGet(c, key, 2, 100ms)));

  REQUIRE_FALSE(ans->ok());
  const Status& st = ans->status();
  CHECK(ans.at - start >= 100ms);
  CHECK(st.code() == Code::kTimeout);
  REQUIRE(st.quorum().has_value());
  CHECK(st.quorum()->acked == 1);
  CHECK(st.quorum()->required == 2);
  CHECK(st.message().find("timed out") != std::string::npos);
}

// ---------------------------------------------------------------- read repair

TEST_CASE("read repair brings stale and missing replicas up to date") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto p = c.PrimariesOf(key);
  const Object v1 = Write(Object{}, 900, "v1");
  const Object v2 = Write(v1, 900, "v2");
  RecordingObserver obs;
  Coordinator coord(c.io.get_executor(), c.clock, *c.clients[self], c.ring,
                    &obs);

  SUBCASE("one current, one stale, one missing") {
    c.Store(p[0], key, v2);
    c.Store(p[1], key, v1);
    // p[2] holds nothing.
    auto ans = RunToEnd(c, coord.Get(MakeGet(c, key, 2)));
    REQUIRE(ans->ok());
    for (NodeIndex n : p) {
      CAPTURE(n);
      REQUIRE(c.Holds(n, key));
      CHECK(c.Stored(n, key).SameCausalState(v2));
    }
    CHECK(obs.count(F::kCurrent) == 1);
    CHECK(obs.count(F::kStale) == 1);
    CHECK(obs.count(F::kMissing) == 1);
    CHECK(obs.repairs_ok == 2);
    CHECK(obs.repairs_failed == 0);
  }
  SUBCASE("all current: no repair") {
    for (NodeIndex n : p) c.Store(n, key, v2);
    auto ans = RunToEnd(c, coord.Get(MakeGet(c, key, 2)));
    REQUIRE(ans->ok());
    CHECK(ans->value().SameCausalState(v2));
    CHECK(obs.count(F::kCurrent) == 3);
    CHECK(obs.count(F::kStale) == 0);
    CHECK(obs.count(F::kMissing) == 0);
    CHECK(obs.repairs_ok + obs.repairs_failed == 0);
  }
  SUBCASE("an unreachable replica is neither classified nor repaired") {
    c.Store(p[0], key, v2);
    c.Store(p[1], key, v1);
    c.nodes[p[2]].mode = Mode::kUnreachable;
    auto ans = RunToEnd(c, coord.Get(MakeGet(c, key, 2)));
    REQUIRE(ans->ok());
    CHECK(c.Stored(p[1], key).SameCausalState(v2));
    CHECK_FALSE(c.Holds(p[2], key));
    CHECK(obs.count(F::kCurrent) == 1);
    CHECK(obs.count(F::kStale) == 1);
    CHECK(obs.count(F::kMissing) == 0);
    CHECK(obs.repairs_ok == 1);
  }
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST_CASE("a stale replica's age is the age of the newest write it lacks") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto p = c.PrimariesOf(key);
  const int64_t now = WallMs();
  const Object v1 = NewWrite(Object{}, {}, 900, std::string("v1"), now - 9000);
  const Object v2 = NewWrite(v1, v1.vv, 900, std::string("v2"), now - 5000);
  const Object v3 = NewWrite(v2, v2.vv, 900, std::string("v3"), now - 3000);
  c.Store(p[0], key, v3);
  c.Store(p[1], key, v1);  // lacks v3 (v2 is superseded everywhere)
  c.Store(p[2], key, v3);
  RecordingObserver obs;
  Coordinator coord(c.io.get_executor(), c.clock, *c.clients[self], c.ring,
                    &obs);
  auto ans = RunToEnd(c, coord.Get(MakeGet(c, key, 2)));
  REQUIRE(ans->ok());
  CHECK(obs.count(F::kStale) == 1);
  REQUIRE(obs.stale_ages.size() == 1);
  CHECK(obs.stale_ages[0] >= 3000ms);
  CHECK(obs.stale_ages[0] < 4000ms);

  SUBCASE("current and missing replicas observe no age") {
    obs.stale_ages.clear();
    c.nodes[p[1]].store.erase(key);
    auto again = RunToEnd(c, coord.Get(MakeGet(c, key, 2)));
    REQUIRE(again->ok());
    CHECK(obs.stale_ages.empty());
  }
}

TEST_CASE("every replica's ack lag is observed including acks after w") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  c.nodes[others[1]].mode = Mode::kDelayed;
  c.nodes[others[1]].delay = 300ms;
  RecordingObserver obs;
  Coordinator coord(c.io.get_executor(), c.clock, *c.clients[self], c.ring,
                    &obs);
  const auto start = Clock::now();
  size_t acks_at_answer = 0;
  auto ans = RunToEnd(c, coord.CoordinatePut(MakePut(c, key, "v", 2)),
                      [&] { acks_at_answer = obs.ack_lags.size(); });
  REQUIRE(ans->ok());
  CHECK(ans.at - start < 300ms);      // answered at w=2
  CHECK(acks_at_answer == 2);         // local + the fast replica
  REQUIRE(obs.ack_lags.size() == 3);  // the slow one was still heard
  auto slowest = *std::max_element(obs.ack_lags.begin(), obs.ack_lags.end());
  CHECK(slowest >= 300ms);
}

// ------------------------------------------------------------ datacenters

// Two datacenters of `per_dc` nodes: n0.. in dc1, the rest in dc2, each
// node on a rack of its own, `n1` and `n2` replicas in them.
ring::Ring DcRing(int per_dc, uint32_t n1, uint32_t n2) {
  ring::Sites sites;
  std::vector<std::string> names;
  for (int i = 0; i < 2 * per_dc; ++i) {
    names.push_back("n" + std::to_string(i));
    sites[names.back()] = {i < per_dc ? "dc1" : "dc2",
                           "r" + std::to_string(i % per_dc)};
  }
  auto r = ring::Ring::Create(
      names,
      {.partitions = 64, .n = n1 + n2, .dcs = {{"dc1", n1}, {"dc2", n2}}},
      sites);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

// Three nodes in each DC, three replicas in each (every node holds every
// key).
ring::Ring TwoDcRing() { return DcRing(3, 3, 3); }

// A put or get at `level` from a coordinator in DC `local`.
template <typename Args>
Args AtLevel(const Cluster& c, Args a, Level level, uint32_t local) {
  const Requirement need =
      Resolve(level, 0, c.ring.replicas(), c.ring.replicas_per_dc(), local);
  if constexpr (std::is_same_v<Args, PutArgs>) {
    a.w = need.total;
    a.dc_w = need.per_dc;
  } else {
    a.r = need.total;
    a.dc_r = need.per_dc;
  }
  return a;
}

TEST_CASE("levels resolve against the datacenters") {
  const std::vector<uint32_t> per_dc = {3, 2};
  CHECK(Resolve(Level::kExplicit, 2, 5, per_dc, 0) == Requirement{2, {}});
  CHECK(Resolve(Level::kQuorum, 0, 5, per_dc, 0) == Requirement{3, {}});
  CHECK(Resolve(Level::kLocalQuorum, 0, 5, per_dc, 1) ==
        Requirement{2, {0, 2}});
  CHECK(Resolve(Level::kEachQuorum, 0, 5, per_dc, 0) == Requirement{4, {2, 2}});
  // Without datacenters both are quorum.
  CHECK(Resolve(Level::kLocalQuorum, 0, 3, {}, 0) == Requirement{2, {}});
  CHECK(Resolve(Level::kEachQuorum, 0, 3, {}, 0) == Requirement{2, {}});
  CHECK(ParseLevel("local_quorum").value() == Level::kLocalQuorum);
  CHECK(ParseLevel("LOCAL").status().message().find(
            "not one of quorum, local_quorum, each_quorum") !=
        std::string::npos);
}

TEST_CASE("local_quorum answers on the local DC's acks; the remote DC lags") {
  Cluster c(TwoDcRing());
  for (NodeIndex n = 3; n < 6; ++n) {
    c.nodes[n].mode = Mode::kDelayed;
    c.nodes[n].delay = 200ms;
  }
  RecordingObserver obs;
  Coordinator coord(c.io.get_executor(), c.clock, *c.clients[0], c.ring, &obs);
  const std::string key = "key-1";
  const auto start = Clock::now();
  auto ans = RunToEnd(c, coord.CoordinatePut(AtLevel(c, MakePut(c, key, "v", 0),
                                                     Level::kLocalQuorum, 0)));
  REQUIRE(ans->ok());
  CHECK(ans.at - start < 200ms);
  // The write still reached every replica in both DCs, and each ack was
  // observed with its replica's DC.
  for (NodeIndex n = 0; n < 6; ++n) CHECK(c.Holds(n, key));
  std::map<std::string, int> acks;
  for (const std::string& dc : obs.ack_dcs) ++acks[dc];
  CHECK(acks == std::map<std::string, int>{{"dc1", 3}, {"dc2", 3}});
  // The remote DC's acks lag by its delay.
  REQUIRE(obs.ack_lags.size() == 6);
  for (size_t i = 0; i < 6; ++i) {
    if (obs.ack_dcs[i] == "dc2") CHECK(obs.ack_lags[i] >= 200ms);
  }
}

TEST_CASE("local_quorum in the other DC: its own acks, not the first DC's") {
  Cluster c(TwoDcRing());
  for (NodeIndex n = 0; n < 3; ++n) c.nodes[n].mode = Mode::kUnreachable;
  const std::string key = "key-2";
  auto put =
      RunToEnd(c, c.coordinators[3]->CoordinatePut(AtLevel(
                      c, MakePut(c, key, "v", 0), Level::kLocalQuorum, 1)));
  REQUIRE(put->ok());
  auto got = RunToEnd(c, c.coordinators[4]->Get(AtLevel(
                             c, MakeGet(c, key, 0), Level::kLocalQuorum, 1)));
  REQUIRE(got->ok());
  CHECK(LiveValues(got->value()) == std::vector<std::string>{"v"});
}

TEST_CASE("each_quorum fails naming the datacenter that cannot answer") {
  Cluster c(TwoDcRing());
  for (NodeIndex n = 3; n < 6; ++n) c.nodes[n].mode = Mode::kUnreachable;
  const std::string key = "key-3";
  auto put =
      RunToEnd(c, c.coordinators[0]->CoordinatePut(AtLevel(
                      c, MakePut(c, key, "v", 0), Level::kEachQuorum, 0)));
  REQUIRE_FALSE(put->ok());
  const Status& st = put->status();
  CHECK(st.code() == Code::kUnavailable);
  CHECK(st.message().find("put failed: 0 of 3 replicas in datacenter dc2 "
                          "acknowledged, 2 required there") !=
        std::string::npos);
  CHECK(st.message().find("may have been applied") != std::string::npos);
  REQUIRE(st.quorum().has_value());
  CHECK(st.quorum()->required == 2);
  // local_quorum of the same key still works.
  auto local =
      RunToEnd(c, c.coordinators[1]->CoordinatePut(AtLevel(
                      c, MakePut(c, key, "w", 0), Level::kLocalQuorum, 0)));
  CHECK(local->ok());
  auto get = RunToEnd(c, c.coordinators[0]->Get(AtLevel(
                             c, MakeGet(c, key, 0), Level::kEachQuorum, 0)));
  REQUIRE_FALSE(get->ok());
  CHECK(get->status().message().find(
            "get failed: 0 of 3 replicas in datacenter dc2 replied") !=
        std::string::npos);
}

TEST_CASE("each_quorum waits for the slower datacenter") {
  Cluster c(TwoDcRing());
  for (NodeIndex n = 3; n < 6; ++n) {
    c.nodes[n].mode = Mode::kDelayed;
    c.nodes[n].delay = 50ms;
  }
  const auto start = Clock::now();
  auto ans =
      RunToEnd(c, c.coordinators[0]->CoordinatePut(AtLevel(
                      c, MakePut(c, "key-4", "v", 0), Level::kEachQuorum, 0)));
  REQUIRE(ans->ok());
  CHECK(ans.at - start >= 50ms);
}

TEST_CASE("a remote datacenter gets a put through one forwarder") {
  Cluster c(TwoDcRing());
  const std::string key = "key-6";
  auto ans =
      RunToEnd(c, c.coordinators[1]->CoordinatePut(AtLevel(
                      c, MakePut(c, key, "v", 0), Level::kEachQuorum, 0)));
  REQUIRE(ans->ok());
  // One call crossed to dc2, to its first target; the forwarder sent the
  // object to the other two.
  REQUIRE(c.relays.size() == 1);
  CHECK(c.ring.DcOf(c.relays[0]) == 1);
  for (NodeIndex n = 0; n < 6; ++n) CHECK(c.Holds(n, key));
}

TEST_CASE("a forwarder that cannot be reached: its DC is sent to directly") {
  Cluster c(TwoDcRing());
  const std::string key = "key-7";
  // The first dc2 target in preference order is the forwarder.
  NodeIndex via = 6;
  for (NodeIndex p : c.PrimariesOf(key)) {
    if (c.ring.DcOf(p) == 1) {
      via = p;
      break;
    }
  }
  REQUIRE(via < 6);
  c.nodes[via].mode = Mode::kUnreachable;
  auto ans =
      RunToEnd(c, c.coordinators[0]->CoordinatePut(AtLevel(
                      c, MakePut(c, key, "v", 0), Level::kEachQuorum, 0)));
  REQUIRE(ans->ok());
  CHECK(c.relays == std::vector<NodeIndex>{via});
  for (NodeIndex n = 3; n < 6; ++n) CHECK(c.Holds(n, key) == (n != via));
}

TEST_CASE("each_quorum get with a datacenter down fails at once, naming it") {
  Cluster c(TwoDcRing());
  for (NodeIndex n = 3; n < 6; ++n) {
    c.nodes[n].up = false;
    c.nodes[n].mode = Mode::kSilent;  // a cut link: no answer at all
  }
  const auto start = Clock::now();
  auto get =
      RunToEnd(c, c.coordinators[0]->Get(AtLevel(c, MakeGet(c, "key-8", 0),
                                                 Level::kEachQuorum, 0)));
  REQUIRE_FALSE(get->ok());
  CHECK(get.at - start < 1s);  // not the 5 s deadline
  CHECK(get->status().code() == Code::kUnavailable);
  CHECK(get->status().message().find(
            "0 of 3 replicas in datacenter dc2 replied, 2 required there") !=
        std::string::npos);
  // local_quorum still reads.
  auto local =
      RunToEnd(c, c.coordinators[0]->Get(AtLevel(c, MakeGet(c, "key-8", 0),
                                                 Level::kLocalQuorum, 0)));
  CHECK(local->ok());
}

TEST_CASE("a put is forwarded to a primary in the node's own datacenter") {
  // Four nodes per DC, one replica in dc1 and two in dc2: a dc1 node that
  // is no primary forwards to the dc1 primary, whatever the order.
  Cluster c(DcRing(4, 1, 2));
  int checked = 0;
  for (int k = 0; k < 40; ++k) {
    const std::string key = "fwd-" + std::to_string(k);
    const auto primaries = c.PrimariesOf(key);
    NodeIndex local_primary = 8, self = 8;
    for (NodeIndex p : primaries) {
      if (c.ring.DcOf(p) == 0) local_primary = p;
    }
    for (NodeIndex n = 0; n < 4; ++n) {
      if (!Contains(primaries, n)) self = n;
    }
    REQUIRE(local_primary < 8);
    if (primaries[0] == local_primary) continue;  // order would do it anyway
    c.forwarded.clear();
    auto ans = RunToEnd(c, c.coordinators[self]->Put(MakePut(c, key, "v", 2)));
    REQUIRE(ans->ok());
    REQUIRE_FALSE(c.forwarded.empty());
    CHECK(c.forwarded.front() == local_primary);
    ++checked;
  }
  CHECK(checked > 0);
}

TEST_CASE("a dead primary's hint goes to a fallback in its own datacenter") {
  // Four nodes per DC, two replicas each: every key has two fallbacks in
  // each DC.
  Cluster c(DcRing(4, 2, 2));
  const std::string key = "key-5";
  const auto primaries = c.PrimariesOf(key);
  REQUIRE(primaries.size() == 4);
  NodeIndex self = 0, dead = 0;
  for (NodeIndex p : primaries) {
    if (c.ring.DcOf(p) == 0) self = p;
    if (c.ring.DcOf(p) == 1) dead = p;
  }
  c.nodes[dead].up = false;
  c.nodes[dead].mode = Mode::kUnreachable;
  auto ans =
      RunToEnd(c, c.coordinators[self]->CoordinatePut(MakePut(c, key, "v", 4)));
  REQUIRE(ans->ok());
  int hints = 0;
  for (NodeIndex n = 0; n < 8; ++n) {
    if (!c.Hint(n, dead, key).vv.empty()) {
      ++hints;
      CHECK(c.ring.DcOf(n) == 1);
    }
  }
  CHECK(hints == 1);
}

// ---------------------------------------------------------------- lifetime

TEST_CASE(
    "Shutdown with a read repair pending ends it at once, the stale replica "
    "stays stale") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  const Object v1 = Write(Object{}, 900, "v1");
  const Object v2 = Write(v1, 900, "v2");
  c.Store(self, key, v2);
  c.Store(others[0], key, v1);  // stale
  // Never answers: read repair waits for it until the (long) deadline.
  c.nodes[others[1]].mode = Mode::kSilent;
  RecordingObserver obs;
  Coordinator coord(c.io.get_executor(), c.clock, *c.clients[self], c.ring,
                    &obs);

  std::optional<Result<Object>> got;
  bool shut_down = false;
  const auto start = Clock::now();
  asio::co_spawn(
      c.io,
      [&]() -> Awaitable<void> {
        got.emplace(co_await coord.Get(MakeGet(c, key, 2, 30s)));
        co_await coord.Shutdown();
        shut_down = true;
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  c.io.run();
  c.io.restart();

  CHECK(shut_down);
  CHECK(Clock::now() - start < 10s);  // not the 30 s deadline
  REQUIRE(got.has_value());
  REQUIRE(got->ok());
  CHECK(got->value().SameCausalState(v2));
  // The repair was cancelled before it classified or sent anything.
  CHECK(obs.repairs_ok + obs.repairs_failed == 0);
  CHECK(c.nodes[others[0]].replicate_calls.empty());
  CHECK(c.Stored(others[0], key).SameCausalState(v1));

  SUBCASE("after Shutdown, requests fail unavailable and write nothing") {
    auto put = RunToEnd(c, coord.Put(MakePut(c, key, "v3", 1)));
    REQUIRE_FALSE(put->ok());
    CHECK(put->status().code() == Code::kUnavailable);
    CHECK(put->status().message().find("shutting down") != std::string::npos);
    CHECK(c.Stored(self, key).SameCausalState(v2));
    auto get = RunToEnd(c, coord.Get(MakeGet(c, key, 1)));
    REQUIRE_FALSE(get->ok());
    CHECK(get->status().code() == Code::kUnavailable);
  }
}

TEST_CASE("Shutdown during a get ends the get with an error, not a timeout") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  for (NodeIndex p : Others(c, key, self)) c.nodes[p].mode = Mode::kSilent;
  Coordinator coord(c.io.get_executor(), c.clock, *c.clients[self], c.ring);

  std::optional<Result<Object>> got;
  const auto start = Clock::now();
  asio::co_spawn(
      c.io,
      [&]() -> Awaitable<void> {
        got.emplace(co_await coord.Get(MakeGet(c, key, 3, 30s)));
      },
      asio::detached);
  asio::co_spawn(
      c.io,
      [&]() -> Awaitable<void> {
        asio::steady_timer t(c.io, 20ms);
        co_await t.async_wait(asio::use_awaitable);
        co_await coord.Shutdown();
      },
      asio::detached);
  c.io.run();

  CHECK(Clock::now() - start < 10s);
  REQUIRE(got.has_value());
  REQUIRE_FALSE(got->ok());
  CHECK(got->status().code() == Code::kUnavailable);
  REQUIRE(got->status().quorum().has_value());
  CHECK(got->status().quorum()->acked == 1);
}

// ---------------------------------------------------------------- options

TEST_CASE("read repair gives up after read_repair_timeout") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  const Object v1 = Write(Object{}, 900, "v1");
  const Object v2 = Write(v1, 900, "v2");
  c.Store(self, key, v2);
  c.Store(others[0], key, v2);
  c.Store(others[1], key, v1);  // stale, and slow to be read
  c.nodes[others[1]].mode = Mode::kDelayed;
  c.nodes[others[1]].delay = 50ms;
  RecordingObserver obs;
  Coordinator coord(c.io.get_executor(), c.clock, *c.clients[self], c.ring,
                    &obs, CoordinatorOptions{.read_repair_timeout = 100ms});

  const auto start = Clock::now();
  // Answered at r=2 while the stale replica's read is under way; from then
  // on it stops answering, so the repair sent to it waits for the repair
  // deadline: not the request's (5 s), nor the 2 s default.
  auto ans = RunToEnd(c, coord.Get(MakeGet(c, key, 2)),
                      [&] { c.nodes[others[1]].mode = Mode::kSilent; });
  const auto took = Clock::now() - start;

  REQUIRE(ans->ok());
  CHECK(obs.count(F::kStale) == 1);
  CHECK(obs.repairs_failed == 1);
  CHECK(obs.repairs_ok == 0);
  CHECK(took >= 150ms);  // the read's 50 ms, then the repair's 100 ms
  CHECK(took < 1500ms);
  CHECK(c.Stored(others[1], key).SameCausalState(v1));
}

TEST_CASE("TEST_repair_skips_stale (a planted bug) repairs missing only") {
  Cluster c;
  const NodeIndex self = 0;
  const std::string key = KeyWithPrimary(c, self);
  const auto others = Others(c, key, self);
  const Object v1 = Write(Object{}, 900, "v1");
  const Object v2 = Write(v1, 900, "v2");
  c.Store(self, key, v2);
  c.Store(others[0], key, v1);  // stale
  // others[1] holds nothing: missing.
  RecordingObserver obs;
  Coordinator coord(c.io.get_executor(), c.clock, *c.clients[self], c.ring,
                    &obs, CoordinatorOptions{.TEST_repair_skips_stale = true});

  auto ans = RunToEnd(c, coord.Get(MakeGet(c, key, 2)));

  REQUIRE(ans->ok());
  CHECK(obs.count(F::kStale) == 1);
  CHECK(obs.count(F::kMissing) == 1);
  CHECK(obs.repairs_ok == 1);
  CHECK(c.Stored(others[1], key).SameCausalState(v2));  // repaired
  CHECK(c.Stored(others[0], key).SameCausalState(v1));  // skipped
  CHECK(c.nodes[others[0]].replicate_calls.empty());
}

}  // namespace
}  // namespace shoal::quorum
