// Gossip over fake peer channels (virtual time): a newer state a peer
// reports is fetched, stored, adopted and handed to the node; a change in
// progress is adopted and completed once its receivers report their
// transfers; a refused state is not fetched again; a conflict is counted
// once; changes are staged and committed.
#include "node/gossip.h"

#include <doctest/doctest.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <map>
#include <memory>

#include "base/virtual_clock.h"
#include "tests/temp_dir.h"
#include "wire/transport.h"

namespace shoal::node {
namespace {

namespace asio = boost::asio;
using ::shoal::testing::TempDir;

// A peer that answers ClusterStateRequest with `state`, counting the asks.
class StatePeer final : public wire::Channel {
 public:
  StatePeer(cluster::ClusterState* state, int* asks)
      : state_(state), asks_(asks) {}
  wire::Awaitable<Result<wire::Body>> Call(wire::Body body,
                                           wire::Deadline) override {
    if (std::holds_alternative<wire::ClusterStateRequest>(body)) {
      ++*asks_;
      co_return wire::Body{wire::ClusterStateReply{*state_}};
    }
    co_return wire::Body{wire::Pong{}};
  }
  wire::Awaitable<Status> EnsureConnected(wire::Deadline) override {
    co_return Status::Ok();
  }
  bool connected() const override { return true; }
  std::optional<wire::Clock::time_point> last_heard() const override {
    return std::nullopt;
  }
  const std::string& address() const override { return address_; }
  const Status& last_error() const override { return error_; }
  void Close() override {}

 private:
  cluster::ClusterState* state_;
  int* asks_;
  std::string address_ = "fake:1";
  Status error_;
};

std::vector<Member> MembersOf(int count) {
  std::vector<Member> members;
  for (int i = 1; i <= count; ++i) {
    members.push_back(
        {"n" + std::to_string(i), "h" + std::to_string(i) + ":1"});
  }
  return members;
}

cluster::ClusterState Initial(int count) {
  std::vector<cluster::Member> members;
  for (const Member& m : MembersOf(count)) {
    members.push_back({m.name, m.address});
  }
  auto s = cluster::ClusterState::Initial(members, {.partitions = 8, .n = 3});
  REQUIRE(s.ok());
  return std::move(s).value();
}

struct Fixture {
  explicit Fixture(int members = 3)
      : initial(Initial(members)),
        peer_state(initial),
        ring(*ring::Ring::FromClaim(initial.claim, initial.options)),
        store(Open()),
        peers(io.get_executor(), clock, ring, 0, MembersOf(members),
              PeerOptions{},
              [this](ring::NodeIndex, const std::string&) {
                return std::make_unique<StatePeer>(&peer_state, &asks);
              }),
        probe(registry, initial.epoch),
        gossip(
            io.get_executor(), clock, cluster::Keeper(initial), ring, *store,
            peers, probe, std::chrono::seconds(1),
            [this](const cluster::ClusterState& s) { applied.push_back(s); }) {}
  ~Fixture() {
    bool done = false;
    asio::co_spawn(io, gossip.Shutdown(),
                   [&done](std::exception_ptr) { done = true; });
    Run();
    CHECK(done);
  }
  std::unique_ptr<storage::Store> Open() {
    storage::StoreOptions o;
    o.dir = dir.str();
    o.map_size_bytes = 16ull << 20;
    auto s = storage::Store::Open(o);
    REQUIRE(s.ok());
    return std::move(s).value();
  }
  void Run() {
    io.restart();
    io.poll();
  }
  double Counter(const std::string& name) {
    for (const auto& family : registry.Collect()) {
      if (family.name == name) {
        const auto& m = family.metric.at(0);
        return family.type == prometheus::MetricType::Gauge ? m.gauge.value
                                                            : m.counter.value;
      }
    }
    FAIL("no metric " << name);
    return -1;
  }

  asio::io_context io;
  VirtualClock clock;
  TempDir dir;
  cluster::ClusterState initial;
  cluster::ClusterState peer_state;
  int asks = 0;
  ring::Ring ring;
  std::unique_ptr<storage::Store> store;
  Peers peers;
  prometheus::Registry registry;
  ClusterProbe probe;
  std::vector<cluster::ClusterState> applied;  // what the node was told
  Gossip gossip;
};

TEST_CASE("a newer state that keeps the claim is fetched, stored, adopted") {
  Fixture f;
  CHECK(f.gossip.Heartbeat() == wire::Ping{1, f.initial.Digest()});
  f.peer_state.epoch = 3;
  // A removed member's record: nothing the node serves with changes.
  f.peer_state.members.push_back(
      {"n0", "h0:1", cluster::MemberState::kRemoved});
  f.gossip.Heard(1, 3, f.peer_state.Digest());
  f.gossip.Heard(1, 3, f.peer_state.Digest());  // one fetch in flight
  f.Run();
  CHECK(f.asks == 1);
  CHECK(f.gossip.keeper().state() == f.peer_state);
  CHECK(f.gossip.Heartbeat() == wire::Ping{3, f.peer_state.Digest()});
  auto stored = LoadClusterState(*f.store);
  REQUIRE(stored.ok());
  REQUIRE(stored.value().has_value());
  CHECK(**stored == f.peer_state);
  CHECK(f.Counter("shoal_ring_epoch") == 3);
  CHECK(f.Counter("shoal_cluster_states_adopted_total") == 1);
  REQUIRE(f.applied.size() == 1);
  CHECK(f.applied[0] == f.peer_state);
  // The same report again: nothing to fetch.
  f.gossip.Heard(2, 3, f.peer_state.Digest());
  f.Run();
  CHECK(f.asks == 1);
}

TEST_CASE("a completed change is adopted and handed to the node") {
  Fixture f;
  auto plan =
      cluster::MakePlan(f.initial, {cluster::Change::Join("n4", "h4:1")});
  REQUIRE(plan.ok());
  auto done = cluster::Complete(plan.value().next);
  REQUIRE(done.ok());
  f.peer_state = done.value();
  f.gossip.Heard(2, f.peer_state.epoch, f.peer_state.Digest());
  f.Run();
  CHECK(f.gossip.keeper().state() == f.peer_state);
  REQUIRE(f.applied.size() == 1);
  CHECK(f.applied[0].Find("n4")->state == cluster::MemberState::kValid);
  auto stored = LoadClusterState(*f.store);
  REQUIRE(stored.ok());
  REQUIRE(stored.value().has_value());
  CHECK(stored.value()->epoch == 3);
}

TEST_CASE("a refused state is counted, not stored, and not fetched again") {
  Fixture f;
  f.peer_state.epoch = 2;
  f.peer_state.members[2].address = "h9:1";  // n3 moved: cannot apply
  f.gossip.Heard(1, f.peer_state.epoch, f.peer_state.Digest());
  f.Run();
  CHECK(f.asks == 1);
  CHECK(f.gossip.keeper().state() == f.initial);
  CHECK(f.Counter("shoal_cluster_states_refused_total") == 1);
  CHECK(f.Counter("shoal_ring_epoch") == 1);
  CHECK(f.applied.empty());
  auto stored = LoadClusterState(*f.store);
  REQUIRE(stored.ok());
  CHECK_FALSE(stored.value().has_value());  // nothing stored by Gossip
  f.gossip.Heard(2, f.peer_state.epoch, f.peer_state.Digest());
  f.Run();
  CHECK(f.asks == 1);
}

TEST_CASE("a change completes once every receiver reported its transfers") {
  // Four members, n=3, n4 leaving: n1 (this node), n2 and n3 each gain the
  // partitions n4 replicated, so all three receive.
  Fixture f(4);
  auto plan = cluster::MakePlan(f.initial, {cluster::Change::Leave("n4")});
  REQUIRE(plan.ok());
  f.peer_state = plan.value().next;
  f.gossip.Heard(1, f.peer_state.epoch, f.peer_state.Digest());
  f.Run();
  REQUIRE(f.gossip.keeper().state() == f.peer_state);
  REQUIRE(cluster::Receivers(f.peer_state) ==
          std::vector<std::string>{"n1", "n2", "n3"});
  const uint64_t epoch = f.peer_state.epoch;
  const uint64_t digest = f.peer_state.Digest();
  CHECK(f.gossip.Heartbeat().transferred == 0);
  f.gossip.TransfersDone(epoch + 5);  // another epoch: ignored
  CHECK(f.gossip.Heartbeat().transferred == 0);
  f.gossip.TransfersDone(epoch);
  CHECK(f.gossip.Heartbeat().transferred == epoch);
  f.gossip.Heard(1, epoch, digest, epoch);  // n2 done
  f.gossip.Heard(2, epoch, digest, 0);      // n3 not yet
  f.Run();
  CHECK(f.gossip.keeper().epoch() == epoch);
  // n3's done report for another state does not count either.
  f.gossip.Heard(2, epoch, digest + 1, epoch);
  f.Run();
  CHECK(f.gossip.keeper().epoch() == epoch);
  f.gossip.Heard(2, epoch, digest, epoch);  // n3 done
  f.Run();
  // n4 (leaving, up as far as this node knows) has not reported this
  // state: it may still coordinate writes by the old claim alone.
  CHECK(f.gossip.keeper().epoch() == epoch);
  f.gossip.Heard(3, epoch, digest, 0);  // n4 in step: switch
  f.Run();
  REQUIRE(f.gossip.keeper().epoch() == epoch + 1);
  const cluster::ClusterState switched = f.gossip.keeper().state();
  CHECK(switched.changing());
  CHECK(switched.switched);
  CHECK(switched == cluster::Advance(f.peer_state).value());
  // Complete only once every member that is up reads by the switched
  // state: n2 and n3 have it, n4 not yet.
  f.gossip.Heard(1, epoch + 1, switched.Digest(), 0);
  f.gossip.Heard(2, epoch + 1, switched.Digest(), 0);
  f.Run();
  CHECK(f.gossip.keeper().epoch() == epoch + 1);
  f.gossip.Heard(3, epoch + 1, switched.Digest(), 0);
  f.Run();
  REQUIRE(f.gossip.keeper().epoch() == epoch + 2);
  const cluster::ClusterState& done = f.gossip.keeper().state();
  CHECK_FALSE(done.changing());
  CHECK(done.Find("n4")->state == cluster::MemberState::kRemoved);
  CHECK(done == cluster::Complete(switched).value());
  CHECK(done.claim == f.peer_state.next_claim);
  REQUIRE(f.applied.size() == 3);
  CHECK(f.applied[1] == switched);
  CHECK(f.applied[2] == done);
  auto stored = LoadClusterState(*f.store);
  REQUIRE(stored.ok());
  CHECK(stored.value()->epoch == epoch + 2);
  CHECK(f.asks == 1);  // switched and completed here, not fetched
}

TEST_CASE("a replica request from a newer epoch makes the node ask for it") {
  Fixture f;
  f.peer_state.epoch = 2;
  f.gossip.Ahead(1, 1);  // not newer: nothing to ask
  f.Run();
  CHECK(f.asks == 0);
  f.gossip.Ahead(1, 2);
  f.Run();
  CHECK(f.asks == 1);
}

TEST_CASE("a conflict is counted once per peer until it clears") {
  Fixture f;
  const uint64_t other = f.initial.Digest() + 1;
  f.gossip.Heard(1, 1, other);
  f.gossip.Heard(1, 1, other);
  f.gossip.Heard(2, 1, other);
  CHECK(f.Counter("shoal_cluster_state_conflicts_total") == 2);
  f.gossip.Heard(1, 1, f.initial.Digest());  // cleared
  f.gossip.Heard(1, 1, other);               // and back
  CHECK(f.Counter("shoal_cluster_state_conflicts_total") == 3);
  CHECK(f.asks == 0);
  CHECK(f.gossip.keeper().ReportOf("n2").conflict);
}

TEST_CASE("changes are staged only when their plan is valid, and cleared") {
  Fixture f;
  // Three members with n=3: a removal would leave fewer than n.
  auto refused = f.gossip.Stage({{cluster::Change::ForceRemove("n3")}});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("n=3") != std::string::npos);
  auto staged = f.gossip.Stage({{cluster::Change::Join("n4", "h4:1")}});
  REQUIRE(staged.ok());
  CHECK(staged.value().epoch == 1);
  REQUIRE(staged.value().changes.size() == 1);
  // A second change is checked with the first: the name is taken.
  auto twice = f.gossip.Stage({{cluster::Change::Join("n4", "h5:1")}});
  REQUIRE_FALSE(twice.ok());
  auto shown = f.gossip.Stage({});
  REQUIRE(shown.ok());
  CHECK(shown.value().changes.size() == 1);
  // No peer heard from: not committed, nothing adopted.
  auto commit = f.gossip.Commit(1);
  REQUIRE_FALSE(commit.ok());
  CHECK(commit.status().code() == Code::kUnavailable);
  CHECK(f.gossip.keeper().epoch() == 1);
  CHECK(f.applied.empty());
  auto cleared = f.gossip.Stage({.clear = true});
  REQUIRE(cleared.ok());
  CHECK(cleared.value().changes.empty());
  auto empty = f.gossip.Commit(0);
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().message().find("nothing is staged") !=
        std::string::npos);
}

TEST_CASE("a commit needs the epoch it was planned at and members in step") {
  Fixture f(4);
  REQUIRE(f.gossip.Stage({{cluster::Change::ForceRemove("n4")}}).ok());
  auto stale = f.gossip.Commit(7);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.status().message().find("planned at epoch 7") !=
        std::string::npos);
  // No peer has been heard from: n2 and n3 stay but are not known to hold
  // epoch 1, so nothing is committed.
  auto lonely = f.gossip.Commit(1);
  REQUIRE_FALSE(lonely.ok());
  CHECK(lonely.status().code() == Code::kUnavailable);
  CHECK(lonely.status().message().find("member n2") != std::string::npos);
  CHECK(f.gossip.keeper().epoch() == 1);
  CHECK(f.applied.empty());
  // A newer state adopted from a peer drops what was staged on the old one.
  f.peer_state.epoch = 2;
  f.peer_state.members.push_back(
      {"n0", "h0:1", cluster::MemberState::kRemoved});
  f.gossip.Heard(1, 2, f.peer_state.Digest());
  f.Run();
  REQUIRE(f.gossip.keeper().epoch() == 2);
  auto after = f.gossip.Stage({});
  REQUIRE(after.ok());
  CHECK(after.value().epoch == 2);
  CHECK(after.value().changes.empty());
}

}  // namespace
}  // namespace shoal::node
