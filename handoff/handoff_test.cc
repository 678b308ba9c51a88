// Tests for accepting a hint (accept.h), the backlog view (backlog.h), the
// two places that show it: Handoff::Report (`shoal hints`) and
// ReadHintFigures (the shoal_hints_* metrics), and the delivery loop over a
// scripted Transport in virtual time (VirtualClock), all over a real Store
// in a temporary directory. The loop over real nodes is exercised by the
// cluster tests (tests/cluster/test_handoff.py).
#include "handoff/handoff.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/virtual_clock.h"
#include "handoff/accept.h"
#include "handoff/backlog.h"
#include "handoff/probe.h"
#include "tests/temp_dir.h"

namespace shoal::handoff {
namespace {

namespace fs = std::filesystem;

ring::Ring ThreeNodes() {
  auto ring = ring::Ring::Create({"n1", "n2", "n3"}, {8, 3});
  REQUIRE(ring.ok());
  return std::move(ring).value();
}

quorum::Object Written(const std::string& value) {
  return quorum::NewWrite(quorum::Object{}, quorum::VersionVector{}, 7, value,
                          1700000000000);
}

TEST_CASE("a hint for another member becomes a kHint op for it") {
  const ring::Ring ring = ThreeNodes();
  const ring::NodeIndex self = *ring.IndexOf("n1");
  auto op =
      AcceptHint(ring, self, wire::ReplicateRequest{"k", Written("v"), "n3"});
  REQUIRE_MESSAGE(op.ok(), op.status().ToString());
  CHECK(op->kind == storage::WriteOp::Kind::kHint);
  CHECK(op->hint_target == "n3");
  CHECK(op->key == "k");
  CHECK(op->loc.hash == ring.Locate("k").hash);
  CHECK(op->loc.partition == ring.Locate("k").partition);
  CHECK(op->loc.segment == ring.Locate("k").segment);
  CHECK(op->incoming == Written("v"));

  const storage::WriteOp same =
      HintOp("n3", "k", ring.Locate("k"), Written("v"));
  CHECK(same.kind == op->kind);
  CHECK(same.hint_target == op->hint_target);
  CHECK(same.incoming == op->incoming);
}

TEST_CASE("a hint for an unknown node or for this node is refused") {
  const ring::Ring ring = ThreeNodes();
  const ring::NodeIndex self = *ring.IndexOf("n1");
  auto unknown =
      AcceptHint(ring, self, wire::ReplicateRequest{"k", Written("v"), "n9"});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().code() == Code::kInvalidArgument);
  CHECK(unknown.status().message() == "hint for unknown node 'n9'");
  auto itself =
      AcceptHint(ring, self, wire::ReplicateRequest{"k", Written("v"), "n1"});
  REQUIRE_FALSE(itself.ok());
  CHECK(itself.status().code() == Code::kInvalidArgument);
  CHECK(itself.status().message() ==
        "a hint for this node itself (send a plain replicate instead)");
}

TEST_CASE("the backlog view ages the oldest hint and never goes negative") {
  const std::vector<storage::HintBacklog> backlogs = {
      {"n2", 3, 300, 1000}, {"n3", 1, 10, 5000}, {"n4", 0, 0, 0}};
  const std::vector<TargetBacklog> view = BacklogView(backlogs, 4000);
  REQUIRE(view.size() == 3);
  CHECK(view[0].target == "n2");
  CHECK(view[0].count == 3);
  CHECK(view[0].bytes == 300);
  CHECK(view[0].oldest_age_ms == 3000);
  CHECK(view[1].oldest_age_ms == 0);  // stored "after" now: a clock step
  CHECK(view[2].oldest_age_ms == 0);  // nothing waits
  CHECK(BacklogView({}, 4000).empty());
}

using ::shoal::testing::TempDir;

// Targets n2 (up) and n3 (down), for Report.
class FakeTransport : public Transport {
 public:
  bool IsUp(ring::NodeIndex node) const override { return node == 1; }
  wire::Awaitable<Result<wire::Body>> Call(ring::NodeIndex, wire::Body,
                                           wire::Deadline) override {
    co_return Status(Code::kUnavailable, "not in this test");
  }
};

TEST_CASE("shoal hints and the metrics show the same backlog") {
  TempDir dir;
  storage::StoreOptions options;
  options.dir = dir.str();
  options.map_size_bytes = 64ull << 20;
  auto opened = storage::Store::Open(options);
  REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
  storage::Store& store = **opened;
  const ring::Ring ring = ThreeNodes();
  const int64_t before_ms = WallNowMs();
  for (const auto& [target, key] :
       std::vector<std::pair<std::string, std::string>>{
           {"n2", "a"}, {"n2", "b"}, {"n3", "c"}}) {
    std::promise<Result<storage::WriteResult>> done;
    store.Submit(HintOp(target, key, ring.Locate(key), Written(key)),
                 [&done](Result<storage::WriteResult> r) {
                   done.set_value(std::move(r));
                 });
    REQUIRE(done.get_future().get().ok());
  }

  auto figures = ReadHintFigures(store);
  REQUIRE_MESSAGE(figures.ok(), figures.status().ToString());
  REQUIRE(figures->targets.size() == 2);
  CHECK(figures->targets[0].target == "n2");
  CHECK(figures->targets[0].count == 2);
  CHECK(figures->targets[1].target == "n3");
  CHECK(figures->targets[1].count == 1);
  CHECK(figures->stored == 3);
  CHECK(figures->delivered == 0);

  boost::asio::io_context io;
  FakeTransport transport;
  SystemClock clock;
  Handoff handoff(io.get_executor(), clock, store, transport, ring, Options{});
  auto report = handoff.Report("n1");
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK(report->node == "n1");
  CHECK(report->stored == 3);
  CHECK(report->delivered_per_sec == 0);
  REQUIRE(report->targets.size() == 2);
  const int64_t waited_ms = WallNowMs() - before_ms;
  for (size_t i = 0; i < 2; ++i) {
    const wire::HintTarget& t = report->targets[i];
    CAPTURE(t.target);
    CHECK(t.target == figures->targets[i].target);
    CHECK(t.count == figures->targets[i].count);
    CHECK(t.bytes == figures->targets[i].bytes);
    CHECK(t.bytes > 0);
    CHECK(t.oldest_age_ms >= 0);
    CHECK(t.oldest_age_ms <= waited_ms);
    CHECK(figures->targets[i].oldest_age_seconds * 1000 <= waited_ms);
  }
  CHECK(report->targets[0].target_up);
  CHECK_FALSE(report->targets[1].target_up);
}

namespace asio = boost::asio;
using std::chrono::milliseconds;

// What the scripted target does with a delivery.
enum class Mode {
  kAck,   // holds the hint and acknowledges it
  kFail,  // fails at once (unavailable)
  kHang,  // never answers: the call times out at its deadline
};

// Targets n2 and n3, up or down as the test says; n2's answers scripted.
class ScriptedTransport : public Transport {
 public:
  ScriptedTransport(VirtualClock& clock, asio::any_io_executor executor)
      : clock_(clock), executor_(std::move(executor)) {}

  bool IsUp(ring::NodeIndex node) const override { return up[node]; }
  wire::Awaitable<Result<wire::Body>> Call(ring::NodeIndex node,
                                           wire::Body request,
                                           wire::Deadline deadline) override {
    ++calls;
    auto& replicate = std::get<wire::ReplicateRequest>(request);
    CHECK(replicate.hint_for.empty());  // a plain replicate
    switch (mode) {
      case Mode::kAck:
        held[node].insert(replicate.key);
        co_return wire::Body{wire::ReplicateReply{}};
      case Mode::kFail:
        co_return Status(Code::kUnavailable, "connection refused");
      case Mode::kHang: {
        ++hanging;
        Timer wait(clock_, executor_);
        wait.expires_at(deadline);
        co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
        --hanging;
        co_return Status(Code::kTimeout, "no reply in time");
      }
    }
    co_return Status(Code::kInternal, "unreachable");
  }

  std::vector<bool> up = {true, false, false};
  Mode mode = Mode::kAck;
  int calls = 0;
  int hanging = 0;
  std::map<ring::NodeIndex, std::set<std::string>> held;  // what each holds

 private:
  VirtualClock& clock_;
  asio::any_io_executor executor_;
};

// This node is n1; it keeps hints for n2.
struct LoopFixture {
  explicit LoopFixture(Options options = {}) : ring(ThreeNodes()) {
    storage::StoreOptions so;
    so.dir = dir.str();
    so.map_size_bytes = 64ull << 20;
    auto opened = storage::Store::Open(so);
    REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
    store = std::move(opened).value();
    options.on_delivered = [this](const std::string& target,
                                  const std::string& key,
                                  const quorum::Object& hint) {
      delivered.push_back(key);
      CHECK(hint == Written(key));
      // The store no longer has it: deleted before we are told.
      auto left = store->ScanHints(target, "", 1000);
      REQUIRE(left.ok());
      for (const storage::Hint& h : *left) CHECK(h.key != key);
      auto idx = ring.IndexOf(target);
      REQUIRE(idx.ok());
      held_when_deleted.push_back(transport.held[*idx].count(key) > 0);
    };
    handoff = std::make_unique<Handoff>(io.get_executor(), clock, *store,
                                        transport, ring, std::move(options));
  }
  ~LoopFixture() {
    if (handoff->running() > 0) CHECK(Shutdown());
  }

  void Hint(const std::string& target, const std::string& key) {
    std::promise<Result<storage::WriteResult>> done;
    store->Submit(HintOp(target, key, ring.Locate(key), Written(key)),
                  [&done](Result<storage::WriteResult> r) {
                    done.set_value(std::move(r));
                  });
    REQUIRE(done.get_future().get().ok());
  }
  size_t Waiting(const std::string& target) {
    auto hints = store->ScanHints(target, "", 1000);
    REQUIRE(hints.ok());
    return hints->size();
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
  // co_await handoff->Shutdown(), driven to its end; whether it ended.
  bool Shutdown() {
    bool done = false;
    asio::co_spawn(io, handoff->Shutdown(),
                   [&done](std::exception_ptr) { done = true; });
    for (int i = 0; i < 100 && !done; ++i) RunFor(milliseconds(10));
    return done;
  }

  TempDir dir;
  asio::io_context io;
  VirtualClock clock;
  ring::Ring ring;
  std::unique_ptr<storage::Store> store;
  ScriptedTransport transport{clock, io.get_executor()};
  std::vector<std::string> delivered;   // told by on_delivered
  std::vector<bool> held_when_deleted;  // did the target hold it then
  std::unique_ptr<Handoff> handoff;
};

TEST_CASE("a hint is delivered once its target is up, then deleted") {
  LoopFixture f;
  f.Hint("n2", "a");
  f.Hint("n2", "b");
  f.Hint("n3", "c");  // n3 stays down
  f.transport.up = {true, false, false};
  f.handoff->Start();
  f.RunFor(milliseconds(1000));
  CHECK(f.transport.calls == 0);  // nothing is sent to a target that is down
  CHECK(f.Waiting("n2") == 2);

  f.transport.up[1] = true;
  f.RunFor(milliseconds(300));  // a round starts within `idle`
  CHECK(f.transport.calls == 2);
  CHECK(f.Waiting("n2") == 0);
  CHECK(f.Waiting("n3") == 1);
  std::sort(f.delivered.begin(), f.delivered.end());  // in storage order
  CHECK(f.delivered == std::vector<std::string>{"a", "b"});
  CHECK(f.held_when_deleted == std::vector<bool>{true, true});
  CHECK(f.store->hint_counters().delivered == 2);
  CHECK(f.handoff->DeliveredPerSec() > 0);

  CHECK(f.Shutdown());
  CHECK(f.handoff->running() == 0);
}

TEST_CASE("a failed delivery keeps the hint, and it is sent again") {
  LoopFixture f;
  f.Hint("n2", "a");
  f.transport.up = {true, true, false};
  f.transport.mode = Mode::kFail;
  f.handoff->Start();
  f.RunFor(milliseconds(1000));
  CHECK(f.transport.calls >= 2);  // one per round
  CHECK(f.Waiting("n2") == 1);
  CHECK(f.delivered.empty());

  f.transport.mode = Mode::kAck;
  f.RunFor(milliseconds(300));
  CHECK(f.Waiting("n2") == 0);
  CHECK(f.delivered == std::vector<std::string>{"a"});
}

TEST_CASE("hints for a member that left go to their keys' primaries") {
  LoopFixture f;
  f.Hint("n3", "a");
  f.Hint("n3", "b");
  // n3 left and n4 joined: every partition's primaries are n1 (this node,
  // through the transport too), n2 and n4. The ring changes in place, as
  // a node applying a new cluster state changes it.
  const std::vector<std::string> owners = {"n1", "n2", "n4", "n1",
                                           "n2", "n4", "n1", "n2"};
  auto next = ring::Ring::FromMembers(owners, {8, 3}, {"n1", "n2", "n3", "n4"},
                                      {false, false, true, false});
  REQUIRE(next.ok());
  f.ring = std::move(next).value();
  f.transport.up = {true, true, false, false};  // n4 down for now
  f.handoff->Start();
  f.RunFor(milliseconds(1000));
  // Sent to the primaries that are up, but kept: n4 has not acked.
  CHECK(f.Waiting("n3") == 2);
  CHECK(f.delivered.empty());
  CHECK(f.transport.held[0].count("a") == 1);

  f.transport.up[3] = true;
  f.RunFor(milliseconds(300));
  CHECK(f.Waiting("n3") == 0);
  std::sort(f.delivered.begin(), f.delivered.end());
  CHECK(f.delivered == std::vector<std::string>{"a", "b"});
  for (ring::NodeIndex p : {0u, 1u, 3u}) {
    CHECK(f.transport.held[p] == std::set<std::string>{"a", "b"});
  }
  CHECK(f.transport.held[2].empty());  // nothing to the member that left
  CHECK(f.store->hint_counters().delivered == 2);
}

TEST_CASE("while the node is busy, one batch per busy_pace") {
  bool busy = true;
  Options options;
  options.batch = 1;
  options.busy = [&busy] { return busy; };
  options.busy_pace = milliseconds(1000);
  LoopFixture f(std::move(options));
  f.Hint("n2", "a");
  f.Hint("n2", "b");
  f.Hint("n2", "c");
  f.transport.up = {true, true, false};
  f.handoff->Start();
  f.RunFor(milliseconds(10));
  CHECK(f.transport.calls == 1);
  f.RunFor(milliseconds(900));  // within the pace: nothing more is sent
  CHECK(f.transport.calls == 1);
  CHECK(f.Waiting("n2") == 2);

  busy = false;
  f.RunFor(milliseconds(200));  // the pace ends; the rest goes at max_rate
  CHECK(f.transport.calls == 3);
  CHECK(f.Waiting("n2") == 0);
}

TEST_CASE("Shutdown ends the loop and the sends in flight; the hint stays") {
  LoopFixture f;
  f.Hint("n2", "a");
  f.transport.up = {true, true, false};
  f.transport.mode = Mode::kHang;
  f.handoff->Start();
  f.RunFor(milliseconds(100));
  REQUIRE(f.transport.hanging == 1);
  REQUIRE(f.handoff->running() >= 2);  // the loop and the send
  const auto before = f.clock.Now();
  CHECK(f.Shutdown());
  CHECK(f.handoff->running() == 0);
  CHECK(f.transport.hanging == 0);
  CHECK(f.clock.Now() - before < std::chrono::seconds(1));  // not the 2 s
  CHECK(f.Waiting("n2") == 1);
  CHECK(f.delivered.empty());

  f.handoff->Start();  // no-op once stopped
  f.transport.mode = Mode::kAck;
  f.RunFor(milliseconds(1000));
  CHECK(f.handoff->running() == 0);
  CHECK(f.Waiting("n2") == 1);
}

TEST_CASE("a disabled handoff starts nothing") {
  Options options;
  options.enabled = false;
  LoopFixture f(std::move(options));
  f.Hint("n2", "a");
  f.transport.up = {true, true, false};
  f.handoff->Start();
  f.RunFor(milliseconds(1000));
  CHECK(f.handoff->running() == 0);
  CHECK(f.transport.calls == 0);
}

TEST_CASE("TEST_deletes_early (the planted bug) deletes before the ack") {
  Options options;
  options.TEST_deletes_early = true;
  LoopFixture f(std::move(options));
  f.Hint("n2", "a");
  f.transport.up = {true, true, false};
  f.transport.mode = Mode::kFail;  // the target never holds it
  f.handoff->Start();
  f.RunFor(milliseconds(100));
  CHECK(f.transport.calls == 1);
  CHECK(f.Waiting("n2") == 0);  // lost
  CHECK(f.delivered == std::vector<std::string>{"a"});
  CHECK(f.held_when_deleted == std::vector<bool>{false});
}

}  // namespace
}  // namespace shoal::handoff
