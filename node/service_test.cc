// Service on a one-node ring (n = w = r = 1: no peers needed) over a real
// Store in a temporary directory, fed frames by the test and answering on a
// fake wire::Connection that records what is sent. Coroutines run on one
// io_context driven to completion by the test.
#include "node/service.h"

#include <doctest/doctest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "antientropy/trees.h"
#include "tests/temp_dir.h"

namespace shoal::node {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

using ::shoal::testing::TempDir;

// A client connection (label "") that keeps every message sent on it.
class FakeConnection final : public wire::Connection {
 public:
  explicit FakeConnection(asio::any_io_executor ex) : ex_(std::move(ex)) {}
  void Send(const wire::Message& msg) override {
    if (on_send) on_send(msg);
    sent.push_back(msg);
  }
  void Close() override { open_ = false; }
  bool open() const override { return open_; }
  std::string remote() const override { return "fake"; }
  const std::string& label() const override { return label_; }
  void set_label(std::string label) override { label_ = std::move(label); }
  asio::any_io_executor get_executor() override { return ex_; }

  // The reply to request `id`, if one was sent.
  const wire::Body* ReplyTo(uint64_t id) const {
    for (const auto& m : sent) {
      if (m.id == id) return &m.body;
    }
    return nullptr;
  }

  std::vector<wire::Message> sent;
  std::function<void(const wire::Message&)> on_send;

 private:
  asio::any_io_executor ex_;
  std::string label_;
  bool open_ = true;
};

// Neither handoff nor anti-entropy runs here: their calls never happen.
class NoTransport final : public handoff::Transport,
                          public antientropy::Transport,
                          public reaper::Transport {
 public:
  bool IsUp(ring::NodeIndex) const override { return false; }
  wire::Awaitable<Result<wire::Body>> Call(ring::NodeIndex, wire::Body,
                                           wire::Deadline) override {
    co_return Status(Code::kUnavailable, "no transport in this test");
  }
};

NodeConfig OneNodeConfig(uint32_t max_requests) {
  NodeConfig c;
  c.name = "n0";
  c.n = c.w = c.r = 1;
  c.partitions = 8;
  c.members = {Member{"n0", "127.0.0.1:1"}};
  c.max_requests = max_requests;
  return c;
}

struct Fixture {
  explicit Fixture(uint32_t max_requests = 1024, ServiceOptions options = {})
      : config(OneNodeConfig(max_requests)),
        ring(MakeRing(config)),
        store(OpenStore(dir)),
        peers(io.get_executor(), clock, ring, 0, config.members, PeerOptions{}),
        handoff(io.get_executor(), clock, *store, transport, ring,
                handoff::Options{.enabled = false, .busy = {}}),
        trees(ring, 0),
        aae(io.get_executor(), clock, ring, 0, *store, trees, transport,
            antientropy::Options{.enabled = false, .busy = {}}),
        reaper(io.get_executor(), clock, ring, 0, *store, transport,
               reaper::Options{.enabled = false}),
        cluster_probe(registry, 1),
        gossip(io.get_executor(), clock, cluster::Keeper(OneNodeState()), ring,
               *store, peers, cluster_probe, std::chrono::seconds(1)),
        transfers(
            io.get_executor(), clock, ring, 0, aae, cluster_probe,
            [](ring::NodeIndex) { return true; }, [](uint64_t) {}),
        faults("n0", 1),
        admission(config.max_requests),
        request_probe(registry),
        quorum_probe(registry),
        service(io.get_executor(), clock, config, ring, 0, *store, peers,
                handoff, aae, reaper, gossip, transfers, faults, admission,
                request_probe, quorum_probe, options),
        conn(std::make_shared<FakeConnection>(io.get_executor())) {}

  // The Service's task groups must be empty before it is destroyed.
  ~Fixture() {
    try {
      Shutdown();
    } catch (...) {
    }
  }

  static cluster::ClusterState OneNodeState() {
    auto s = cluster::ClusterState::Initial(
        {{"n0", "127.0.0.1:1"}}, ring::RingOptions{.partitions = 8, .n = 1});
    REQUIRE(s.ok());
    return std::move(s).value();
  }
  static ring::Ring MakeRing(const NodeConfig& c) {
    auto r = ring::Ring::Create({"n0"}, ring::RingOptions{c.partitions, c.n});
    REQUIRE(r.ok());
    return std::move(r).value();
  }
  static std::unique_ptr<storage::Store> OpenStore(const TempDir& dir) {
    storage::StoreOptions o;
    o.dir = dir.str();
    o.map_size_bytes = 64ull << 20;
    auto s = storage::Store::Open(o);
    REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    return std::move(s).value();
  }

  void Handle(uint64_t id, wire::Body body) {
    service.Handle(conn, wire::Message{id, std::move(body)});
  }
  void RunAll() {
    io.run();
    io.restart();
  }
  // Runs Service::Shutdown() to completion; true when it completed.
  bool Shutdown() {
    bool done = false;
    asio::co_spawn(io, service.Shutdown(), [&done](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
      done = true;
    });
    RunAll();
    return done;
  }
  // shoal_cluster_stale_requests_total.
  double StaleRequests() {
    for (const auto& family : registry.Collect()) {
      if (family.name == "shoal_cluster_stale_requests_total") {
        return family.metric.at(0).counter.value;
      }
    }
    FAIL("no shoal_cluster_stale_requests_total");
    return -1;
  }
  std::optional<quorum::Object> Stored(const std::string& key) {
    auto r = store->Get(key, ring.Locate(key));
    REQUIRE(r.ok());
    return std::move(r).value();
  }

  asio::io_context io;
  SystemClock clock;
  TempDir dir;
  NodeConfig config;
  ring::Ring ring;
  std::unique_ptr<storage::Store> store;
  NoTransport transport;
  Peers peers;
  handoff::Handoff handoff;
  antientropy::Trees trees;
  antientropy::AntiEntropy aae;
  reaper::Reaper reaper;
  prometheus::Registry registry;
  ClusterProbe cluster_probe;
  Gossip gossip;
  Transfers transfers;
  FaultTable faults;
  Admission admission;
  RequestProbe request_probe;
  quorum::QuorumProbe quorum_probe;
  Service service;
  std::shared_ptr<FakeConnection> conn;
};

wire::PutRequest Put(std::string key, std::string value) {
  wire::PutRequest p;
  p.key = std::move(key);
  p.value = std::move(value);
  return p;
}

std::optional<Code> ErrorCode(const wire::Body* body) {
  if (body == nullptr) return std::nullopt;
  if (const auto* e = std::get_if<wire::ErrorReply>(body)) {
    return e->status.code();
  }
  return Code::kOk;
}

TEST_CASE("a put, then a get of the same key, are answered correctly") {
  Fixture f;
  f.Handle(1, Put("k", "hello"));
  f.RunAll();
  const auto* put = f.conn->ReplyTo(1);
  REQUIRE(put != nullptr);
  const auto* put_reply = std::get_if<wire::PutReply>(put);
  REQUIRE_MESSAGE(put_reply != nullptr,
                  "not a PutReply: body index " << put->index());
  CHECK(put_reply->siblings == 1);
  CHECK_FALSE(put_reply->context.empty());
  // n = w = 1: committed to the store before the answer.
  REQUIRE(f.Stored("k").has_value());

  f.Handle(2, wire::GetRequest{.key = "k"});
  f.RunAll();
  const auto* get = f.conn->ReplyTo(2);
  REQUIRE(get != nullptr);
  const auto* got = std::get_if<wire::GetReply>(get);
  REQUIRE(got != nullptr);
  const auto live = got->object.LiveSiblings();
  REQUIRE(live.size() == 1);
  CHECK(live[0]->value == "hello");
  CHECK_FALSE(got->context.empty());
  CHECK(f.admission.in_flight() == 0);
}

TEST_CASE("levels on a ring without datacenters; a level excludes w") {
  Fixture f;
  // A forwarded local_quorum put names the forwarder's datacenter; without
  // per-DC counts that name is only a label, and the level is quorum.
  wire::PutRequest put = Put("k", "v");
  put.level = quorum::Level::kLocalQuorum;
  put.local_dc = "somewhere";
  f.Handle(1, put);
  wire::PutRequest both = Put("k2", "v");
  both.level = quorum::Level::kEachQuorum;
  both.w = 1;
  f.Handle(2, both);
  f.Handle(3, wire::GetRequest{.key = "k", .level = quorum::Level::kQuorum});
  f.RunAll();
  REQUIRE(f.conn->ReplyTo(1) != nullptr);
  CHECK(std::holds_alternative<wire::PutReply>(*f.conn->ReplyTo(1)));
  REQUIRE(f.conn->ReplyTo(2) != nullptr);
  const auto* e = std::get_if<wire::ErrorReply>(f.conn->ReplyTo(2));
  REQUIRE(e != nullptr);
  CHECK(e->status.code() == Code::kInvalidArgument);
  CHECK(e->status.message() ==
        "w=1 and each_quorum exclude each other: give a count or a level");
  REQUIRE(f.conn->ReplyTo(3) != nullptr);
  CHECK(std::holds_alternative<wire::GetReply>(*f.conn->ReplyTo(3)));
}

TEST_CASE("a client request beyond limits.max_requests is refused at once") {
  Fixture f(/*max_requests=*/1);
  // The first request holds the one slot from Handle until its reply; the
  // second arrives before the io_context has run the first.
  f.Handle(1, Put("a", "1"));
  f.Handle(2, Put("b", "2"));
  REQUIRE(f.conn->sent.size() == 1);  // answered without running anything
  CHECK(f.conn->sent[0].id == 2);
  CHECK(ErrorCode(f.conn->ReplyTo(2)) == Code::kOverloaded);
  CHECK(f.admission.refused() == 1);

  f.RunAll();
  CHECK(ErrorCode(f.conn->ReplyTo(1)) == Code::kOk);
  CHECK(f.admission.in_flight() == 0);
  CHECK_FALSE(f.Stored("b").has_value());
}

TEST_CASE("Shutdown with nothing running completes, later requests fail") {
  Fixture f;
  CHECK(f.Shutdown());
  f.Handle(1, Put("k", "v"));
  // Refused at once: nothing can run after Shutdown.
  CHECK(ErrorCode(f.conn->ReplyTo(1)) == Code::kUnavailable);
  f.RunAll();
  CHECK_FALSE(f.Stored("k").has_value());
}

TEST_CASE(
    "Shutdown during a put answers it unavailable, the write maybe applied") {
  Fixture f;
  f.Handle(1, Put("k", "v"));
  CHECK(f.conn->sent.empty());
  // The put runs first (it was queued first) up to its local write, which
  // Shutdown cannot cancel; the coordinator then starts no replica task.
  CHECK(f.Shutdown());
  const auto* reply = f.conn->ReplyTo(1);
  REQUIRE(ErrorCode(reply) == Code::kUnavailable);
  const Status& st = std::get<wire::ErrorReply>(*reply).status;
  CHECK(st.message().find("shutting down") != std::string::npos);
  REQUIRE(st.quorum().has_value());
  CHECK(st.quorum()->maybe_applied);
  CHECK(f.admission.in_flight() == 0);
}

TEST_CASE("a replicate is acknowledged after its commit") {
  bool planted = false;
  SUBCASE("as the product runs") { planted = false; }
  SUBCASE("TEST_ack_before_commit (a planted bug) acks first") {
    planted = true;
  }
  Fixture f(1024, ServiceOptions{.TEST_ack_before_commit = planted});
  std::optional<bool> held_at_ack;
  f.conn->on_send = [&](const wire::Message&) {
    held_at_ack = f.Stored("k").has_value();
  };
  const quorum::Object obj =
      quorum::NewWrite(quorum::Object{}, {}, 4242, std::string("v"), 1);
  f.Handle(1, wire::ReplicateRequest{"k", obj, ""});
  f.RunAll();

  CHECK(ErrorCode(f.conn->ReplyTo(1)) == Code::kOk);
  REQUIRE(held_at_ack.has_value());
  // The planted bug (ServiceOptions::TEST_ack_before_commit) acks first.
  CHECK(*held_at_ack == !planted);
  REQUIRE(f.Stored("k").has_value());  // committed in the end either way
  CHECK(f.Stored("k")->SameCausalState(obj));
}

TEST_CASE("a replica request routed by an older epoch gets the newer state") {
  Fixture f;
  cluster::ClusterState newer = Fixture::OneNodeState();
  newer.epoch = 2;
  REQUIRE(f.gossip.Adopt(newer, "the test").value());
  const quorum::Object obj =
      quorum::NewWrite(quorum::Object{}, {}, 4242, std::string("v"), 1);

  // Routed at epoch 1: not applied, answered with epoch 2's state.
  f.Handle(1, wire::ReplicateRequest{"k", obj, "", 1});
  f.Handle(2, wire::ReadRequest{"k", 1});
  f.RunAll();
  for (uint64_t id : {1, 2}) {
    CAPTURE(id);
    const auto* reply = f.conn->ReplyTo(id);
    REQUIRE(reply != nullptr);
    const auto* state = std::get_if<wire::ClusterStateReply>(reply);
    REQUIRE(state != nullptr);
    CHECK(state->state == newer);
  }
  CHECK_FALSE(f.Stored("k").has_value());
  CHECK(f.StaleRequests() == 2);

  // At epoch 2, or unstamped (hint deliveries): served.
  f.Handle(3, wire::ReplicateRequest{"k", obj, "", 2});
  f.Handle(4, wire::ReplicateRequest{"j", obj, "", 0});
  f.RunAll();
  CHECK(std::holds_alternative<wire::ReplicateReply>(*f.conn->ReplyTo(3)));
  CHECK(std::holds_alternative<wire::ReplicateReply>(*f.conn->ReplyTo(4)));
  CHECK(f.Stored("k").has_value());
  CHECK(f.Stored("j").has_value());
}

}  // namespace
}  // namespace shoal::node
