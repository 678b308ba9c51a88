// Tests for accepting a hint (accept.h), the backlog view (backlog.h) and
// the two places that show it: Handoff::Report (`shoal hints`) and
// ReadHintFigures (the shoal_hints_* metrics), over a real Store in a
// temporary directory. The delivery loop itself is exercised by the
// cluster tests (tests/cluster/test_handoff.py).
#include "handoff/handoff.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <future>
#include <random>
#include <string>

#include "handoff/accept.h"
#include "handoff/backlog.h"
#include "handoff/probe.h"

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

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<uint64_t> counter{0};
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("shoal-handoff-test-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter++) + "-" + std::to_string(rd()));
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

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
  Handoff handoff(io.get_executor(), store, transport, ring, Options{});
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

}  // namespace
}  // namespace shoal::handoff
