// Tests for Peers (peers.h): the heartbeat loop and its probes over fake
// channels (through the channel factory), in virtual time (VirtualClock),
// so every run is the same.
#include "node/peers.h"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <list>
#include <map>

#include "base/virtual_clock.h"

namespace shoal::node {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

// What a fake peer does with a connect or a ping.
enum class Mode {
  kAnswer,  // connects and answers at once
  kRefuse,  // fails at once (connection refused)
  kHang,    // never answers: the call times out at its deadline
};

// A peer as a test scripts it, and what its channel saw.
struct FakePeer {
  Mode mode = Mode::kAnswer;
  int calls = 0;  // connects and pings started
  int in_flight = 0;
  int max_in_flight = 0;
  bool closed = false;
  std::optional<wire::Ping> last_ping;  // the last ping it received
  wire::Pong pong;                      // what it answers pings with
};

// The channel to a FakePeer. A hanging call waits on its own Timer, which
// Close() cancels (the call then fails as unavailable, like RpcChannel's).
class FakeChannel final : public wire::Channel {
 public:
  FakeChannel(VirtualClock& clock, asio::any_io_executor executor,
              FakePeer& peer, std::string address)
      : clock_(clock),
        executor_(std::move(executor)),
        peer_(peer),
        address_(std::move(address)) {}

  wire::Awaitable<Result<wire::Body>> Call(wire::Body body,
                                           wire::Deadline deadline) override {
    if (auto* ping = std::get_if<wire::Ping>(&body)) peer_.last_ping = *ping;
    Status st = co_await Attempt(deadline);
    if (!st.ok()) co_return st;
    co_return wire::Body{peer_.pong};
  }
  wire::Awaitable<Status> EnsureConnected(wire::Deadline deadline) override {
    if (connected_) co_return Status::Ok();
    co_return co_await Attempt(deadline);
  }
  bool connected() const override { return connected_; }
  std::optional<wire::Clock::time_point> last_heard() const override {
    return last_heard_;
  }
  const std::string& address() const override { return address_; }
  const Status& last_error() const override { return last_error_; }
  void Close() override {
    peer_.closed = true;
    connected_ = false;
    for (Timer* t : hanging_) t->cancel();
  }

 private:
  wire::Awaitable<Status> Attempt(wire::Deadline deadline) {
    ++peer_.calls;
    ++peer_.in_flight;
    peer_.max_in_flight = std::max(peer_.max_in_flight, peer_.in_flight);
    Status st;
    switch (peer_.mode) {
      case Mode::kAnswer:
        connected_ = true;
        last_heard_ = clock_.Now();
        break;
      case Mode::kRefuse:
        connected_ = false;
        st = Status(Code::kUnavailable, "connection refused");
        break;
      case Mode::kHang: {
        Timer wait(clock_, executor_);
        wait.expires_at(deadline);
        hanging_.push_back(&wait);
        auto [ec] =
            co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
        std::erase(hanging_, &wait);
        st = ec ? Status(Code::kUnavailable, "channel closed")
                : Status(Code::kTimeout, "no reply in time");
        break;
      }
    }
    --peer_.in_flight;
    last_error_ = st;
    co_return st;
  }

  VirtualClock& clock_;
  asio::any_io_executor executor_;
  FakePeer& peer_;
  std::string address_;
  bool connected_ = false;
  std::optional<wire::Clock::time_point> last_heard_;
  Status last_error_;
  std::vector<Timer*> hanging_;
};

constexpr milliseconds kHeartbeat{100};
constexpr milliseconds kDownAfter{500};

// Three members; this node is n1 (index 0), its peers n2 and n3 are fakes.
struct Fixture {
  Fixture()
      : ring(*ring::Ring::Create({"n1", "n2", "n3"}, {8, 3})),
        peers(io.get_executor(), clock, ring, 0,
              {{"n1", "h1:1"}, {"n2", "h2:1"}, {"n3", "h3:1"}}, Options(),
              [this](ring::NodeIndex node, const std::string& address) {
                return std::make_unique<FakeChannel>(clock, io.get_executor(),
                                                     fakes[node], address);
              }) {}

  ~Fixture() {
    if (peers.running() > 0) Shutdown();
  }

  PeerOptions Options() {
    PeerOptions options;
    options.heartbeat = kHeartbeat;
    options.down_after = kDownAfter;
    options.observe = [this](ring::NodeIndex node, bool up) {
      observed[node] = up;
    };
    return options;
  }

  // Runs everything due up to `d` of virtual time from now.
  void RunFor(Clock::Duration d) {
    const auto until = clock.Now() + d;
    clock.Schedule(until, [] {});  // so that Now() reaches `until`
    io.restart();
    io.poll();
    while (clock.NextAt() && *clock.NextAt() <= until) {
      clock.RunNext();
      io.restart();
      io.poll();
    }
  }

  // co_await peers.Shutdown(), driven to its end; whether it ended.
  bool Shutdown() {
    bool done = false;
    asio::co_spawn(io, peers.Shutdown(),
                   [&done](std::exception_ptr) { done = true; });
    for (int i = 0; i < 100 && !done; ++i) RunFor(kHeartbeat);
    return done;
  }

  asio::io_context io;
  VirtualClock clock;
  ring::Ring ring;
  std::map<ring::NodeIndex, FakePeer> fakes{{1, {}}, {2, {}}};
  std::map<ring::NodeIndex, bool> observed;
  Peers peers;
};

TEST_CASE("a peer whose probes succeed is up and was heard") {
  Fixture f;
  CHECK(f.peers.IsUp(1));  // not judged yet: worth trying
  CHECK_FALSE(f.peers.LastHeard(1).has_value());
  f.peers.Start();
  f.RunFor(3 * kHeartbeat);
  CHECK(f.peers.IsUp(1));
  CHECK(f.peers.IsUp(2));
  CHECK(f.fakes[1].calls >= 3);  // a connect, then a ping per tick
  REQUIRE(f.peers.LastHeard(1).has_value());
  CHECK(f.clock.Now() - *f.peers.LastHeard(1) <= kHeartbeat);
  CHECK(f.peers.LastHeard(0) == f.clock.Now());  // self: now
  CHECK(f.peers.Address(2) == "h3:1");
  CHECK(f.peers.Channel(2).address() == "h3:1");
  CHECK(f.observed[1]);
}

TEST_CASE("Update links a new member and closes a removed one for good") {
  Fixture f;
  f.fakes[3];  // the channel n4 will get
  f.peers.Start();
  f.RunFor(3 * kHeartbeat);
  REQUIRE(f.peers.IsUp(2));
  // n4 joined (index 3, a fallback owning nothing); n3 was removed.
  const std::vector<std::string> owners = {"n1", "n2", "n1", "n2",
                                           "n1", "n2", "n1", "n2"};
  auto next = ring::Ring::FromMembers(owners, {8, 2}, {"n1", "n2", "n3", "n4"},
                                      {false, false, true, false});
  REQUIRE(next.ok());
  f.peers.Update(next.value(),
                 {{"n1", "h1:1"}, {"n2", "h2:1"}, {"n4", "h4:1"}});
  CHECK(f.fakes[2].closed);
  CHECK_FALSE(f.peers.IsUp(2));
  CHECK_FALSE(f.observed[2]);
  CHECK(f.peers.Address(3) == "h4:1");
  const int n3_calls = f.fakes[2].calls;
  f.RunFor(5 * kHeartbeat);
  CHECK(f.fakes[2].calls == n3_calls);  // no more probes to n3
  CHECK_FALSE(f.peers.IsUp(2));
  CHECK(f.fakes[3].calls >= 3);  // n4 is probed like any peer
  CHECK(f.peers.IsUp(3));
  // A request chosen under the old ring fails at once, naming n3.
  std::optional<Result<wire::Body>> reply;
  asio::co_spawn(
      f.io,
      [&]() -> wire::Awaitable<void> {
        reply = co_await f.peers.Channel(2).Call(wire::Ping{},
                                                 f.clock.Now() + kDownAfter);
      },
      asio::detached);
  f.RunFor(kHeartbeat);
  REQUIRE(reply.has_value());
  REQUIRE_FALSE(reply->ok());
  CHECK(reply->status().code() == Code::kUnavailable);
  CHECK(reply->status().message() == "member 'n3' left the cluster");
  CHECK(f.Shutdown());
}

TEST_CASE("pings carry what options.ping gives; pongs go to options.pong") {
  Fixture f;
  std::vector<std::pair<ring::NodeIndex, wire::Pong>> pongs;
  // The fixture's Peers has no ping/pong hooks; this one does.
  PeerOptions options = f.Options();
  options.ping = [] { return wire::Ping{7, 0xabc}; };
  options.pong = [&pongs](ring::NodeIndex node, const wire::Pong& pong) {
    pongs.emplace_back(node, pong);
  };
  Peers peers(f.io.get_executor(), f.clock, f.ring, 0,
              {{"n1", "h1:1"}, {"n2", "h2:1"}, {"n3", "h3:1"}}, options,
              [&f](ring::NodeIndex node, const std::string& address) {
                return std::make_unique<FakeChannel>(
                    f.clock, f.io.get_executor(), f.fakes[node], address);
              });
  f.fakes[1].pong = wire::Pong{7, 0xabc};
  f.fakes[2].pong = wire::Pong{8, 0xdef};
  peers.Start();
  f.RunFor(3 * kHeartbeat);
  REQUIRE(f.fakes[1].last_ping.has_value());
  CHECK(*f.fakes[1].last_ping == wire::Ping{7, 0xabc});
  bool from_n2 = false, from_n3 = false;
  for (const auto& [node, pong] : pongs) {
    from_n2 |= node == 1 && pong == wire::Pong{7, 0xabc};
    from_n3 |= node == 2 && pong == wire::Pong{8, 0xdef};
  }
  CHECK(from_n2);
  CHECK(from_n3);
  bool done = false;
  asio::co_spawn(f.io, peers.Shutdown(),
                 [&done](std::exception_ptr) { done = true; });
  for (int i = 0; i < 100 && !done; ++i) f.RunFor(kHeartbeat);
  CHECK(done);
}

TEST_CASE("a peer that refuses connections is down") {
  Fixture f;
  f.fakes[2].mode = Mode::kRefuse;
  f.peers.Start();
  f.RunFor(kHeartbeat);
  CHECK(f.peers.IsUp(1));
  CHECK_FALSE(f.peers.IsUp(2));
  CHECK_FALSE(f.observed[2]);
}

TEST_CASE("a peer that stops answering is down after down_after, and back") {
  Fixture f;
  f.peers.Start();
  f.RunFor(3 * kHeartbeat);
  REQUIRE(f.peers.IsUp(1));

  f.fakes[1].mode = Mode::kHang;
  f.RunFor(kDownAfter / 2);
  CHECK(f.peers.IsUp(1));  // silence not long enough yet
  f.RunFor(kDownAfter / 2 + 2 * kHeartbeat);
  CHECK_FALSE(f.peers.IsUp(1));
  CHECK_FALSE(f.observed[1]);
  CHECK(f.peers.IsUp(2));  // the other peer is not affected

  // Only one probe in flight per peer, however many ticks it hangs for.
  f.RunFor(5 * kDownAfter);
  CHECK(f.fakes[1].max_in_flight == 1);
  CHECK_FALSE(f.peers.IsUp(1));

  f.fakes[1].mode = Mode::kAnswer;
  // The hung probe ends at its deadline (down_after), the next one answers.
  f.RunFor(kDownAfter + 2 * kHeartbeat);
  CHECK(f.peers.IsUp(1));
  CHECK(f.observed[1]);
}

TEST_CASE("a reported timeout marks a peer down; an answered error does not") {
  Fixture f;
  f.peers.Start();
  f.RunFor(kHeartbeat);
  REQUIRE(f.peers.IsUp(1));
  f.peers.ReportFailure(1, Status(Code::kInvalidArgument, "bad key"));
  CHECK(f.peers.IsUp(1));
  f.peers.ReportFailure(1, Status(Code::kTimeout, "no reply"));
  CHECK_FALSE(f.peers.IsUp(1));
  f.RunFor(2 * kHeartbeat);  // the next probe answers
  CHECK(f.peers.IsUp(1));
}

TEST_CASE("Shutdown ends every task and closes the channels") {
  Fixture f;
  f.peers.Start();
  f.RunFor(2 * kHeartbeat);
  f.fakes[2].mode = Mode::kHang;  // a probe stays in flight
  f.RunFor(2 * kHeartbeat);
  REQUIRE(f.fakes[2].in_flight == 1);
  REQUIRE(f.peers.running() >= 2);  // the loop and the hung probe
  const auto before = f.clock.Now();
  CHECK(f.Shutdown());
  CHECK(f.peers.running() == 0);
  CHECK(f.fakes[1].closed);
  CHECK(f.fakes[2].closed);
  CHECK(f.fakes[2].in_flight == 0);
  // It did not wait for the hung probe's deadline.
  CHECK(f.clock.Now() - before < kDownAfter);
  // Nothing is started again.
  const int calls = f.fakes[1].calls;
  f.peers.Start();
  f.RunFor(3 * kHeartbeat);
  CHECK(f.fakes[1].calls == calls);
  CHECK(f.peers.running() == 0);
}

TEST_CASE("Shutdown before Start ends at once") {
  Fixture f;
  CHECK(f.Shutdown());
  CHECK(f.peers.running() == 0);
  CHECK(f.fakes[1].closed);
}

}  // namespace
}  // namespace shoal::node
