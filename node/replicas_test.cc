// NodeReplicas against a real Store in a temporary directory: the local
// replica is the store (reads inline, writes committed before they
// complete), and a peer that cannot be reached fails fast as kUnavailable.
// Coroutines run on one io_context driven to completion by the test.
#include "node/replicas.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "base/virtual_clock.h"
#include "tests/temp_dir.h"

namespace shoal::node {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int64_t kWallStart = 1'767'225'600'000;

using ::shoal::testing::TempDir;

// An address nothing listens on: a port the kernel handed out, then closed.
std::string ClosedAddress() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = a.local_endpoint().port();
  a.close();
  return "127.0.0.1:" + std::to_string(port);
}

// One node (self = member 0) of a ring of `members` members, n = members.
// The other members' addresses are closed ports: they are down.
struct Fixture {
  explicit Fixture(size_t members = 1)
      : ring(MakeRing(members)),
        store(OpenStore(dir)),
        faults("n0", 1),
        peers(io.get_executor(), clock, ring, 0, MakeMembers(members),
              PeerOptions{}),
        replicas(clock, ring, 0, *store, peers, faults, {}) {}

  static ring::Ring MakeRing(size_t members) {
    std::vector<std::string> names;
    for (size_t i = 0; i < members; ++i) {
      names.push_back("n" + std::to_string(i));
    }
    auto r = ring::Ring::Create(
        std::move(names),
        ring::RingOptions{.partitions = 8,
                          .n = static_cast<uint32_t>(members)});
    REQUIRE(r.ok());
    return std::move(r).value();
  }
  static std::vector<Member> MakeMembers(size_t members) {
    std::vector<Member> out{{"n0", "127.0.0.1:1"}};
    for (size_t i = 1; i < members; ++i) {
      out.push_back({"n" + std::to_string(i), ClosedAddress()});
    }
    return out;
  }
  static std::unique_ptr<storage::Store> OpenStore(const TempDir& dir) {
    storage::StoreOptions o;
    o.dir = dir.str();
    o.map_size_bytes = 64ull << 20;
    auto s = storage::Store::Open(o);
    REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    return std::move(s).value();
  }

  // Runs `op` to completion on the io_context.
  template <typename T>
  T Run(quorum::Awaitable<T> op) {
    std::optional<T> out;
    asio::co_spawn(
        io,
        [](quorum::Awaitable<T> op,
           std::optional<T>* out) -> quorum::Awaitable<void> {
          out->emplace(co_await std::move(op));
        }(std::move(op), &out),
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
    io.run();
    io.restart();
    REQUIRE(out.has_value());
    return std::move(*out);
  }

  quorum::PutArgs Put(const std::string& key, std::string value) {
    quorum::PutArgs a;
    a.key = key;
    a.loc = ring.Locate(key);
    a.value = std::move(value);
    a.w = 1;
    a.timeout_ms = 2000;
    a.deadline = clock.Now() + 2s;
    return a;
  }
  std::optional<quorum::Object> Stored(const std::string& key) {
    auto r = store->Get(key, ring.Locate(key));
    REQUIRE(r.ok());
    return std::move(r).value();
  }

  asio::io_context io;
  TempDir dir;
  // Virtual: written_at stamps are exact. Nothing here waits on it long:
  // calls to the down members fail at connect.
  VirtualClock clock{kWallStart};
  ring::Ring ring;
  std::unique_ptr<storage::Store> store;
  FaultTable faults;
  Peers peers;
  NodeReplicas replicas;
};

std::vector<std::string> LiveValues(const quorum::Object& o) {
  std::vector<std::string> out;
  for (const quorum::Sibling* s : o.LiveSiblings()) out.push_back(s->value);
  return out;
}

TEST_CASE(
    "CoordinateLocally commits a new dot stamped with the clock's wall "
    "time, which Read(self) returns") {
  Fixture f;
  auto written = f.Run(f.replicas.CoordinateLocally(f.Put("k", "v1")));
  REQUIRE(written.ok());
  REQUIRE(written->siblings.size() == 1);
  CHECK(written->siblings[0].written_at_ms == kWallStart);
  CHECK(written->HasDot(quorum::Dot{f.store->actor(), 1}));

  // Committed: the store holds it, and a local read returns the same.
  auto stored = f.Stored("k");
  REQUIRE(stored.has_value());
  CHECK(stored->SameCausalState(*written));
  auto read =
      f.Run(f.replicas.Read(0, "k", f.ring.Locate("k"), f.clock.Now(), 0));
  REQUIRE(read.ok());
  CHECK(read->SameCausalState(*written));
  CHECK(LiveValues(*read) == std::vector<std::string>{"v1"});

  SUBCASE("a second blind write is a sibling with the later stamp") {
    f.clock.Schedule(f.clock.Now() + 1500ms, [] {});
    f.clock.RunNext();
    auto again = f.Run(f.replicas.CoordinateLocally(f.Put("k", "v2")));
    REQUIRE(again.ok());
    CHECK(LiveValues(*again) == std::vector<std::string>{"v1", "v2"});
    CHECK(again->siblings[1].written_at_ms == kWallStart + 1500);
  }
}

TEST_CASE("Read(self) of a key never written is an empty object") {
  Fixture f;
  auto read = f.Run(
      f.replicas.Read(0, "none", f.ring.Locate("none"), f.clock.Now(), 0));
  REQUIRE(read.ok());
  CHECK(read->vv.empty());
  CHECK_FALSE(read->Found());
}

TEST_CASE("Replicate to self merges into the store and is committed") {
  Fixture f;
  auto mine = f.Run(f.replicas.CoordinateLocally(f.Put("k", "a")));
  REQUIRE(mine.ok());
  // A concurrent write coordinated elsewhere (another actor).
  const quorum::Object theirs = quorum::NewWrite(quorum::Object{}, {}, 4242,
                                                 std::string("b"), kWallStart);
  Status st = f.Run(f.replicas.Replicate(0, "k", f.ring.Locate("k"), theirs,
                                         f.clock.Now() + 2s, 0, std::nullopt));
  REQUIRE(st.ok());
  auto stored = f.Stored("k");
  REQUIRE(stored.has_value());
  auto values = LiveValues(*stored);
  std::sort(values.begin(), values.end());
  CHECK(values == std::vector<std::string>{"a", "b"});
  CHECK(stored->SameCausalState(quorum::Sync(*mine, theirs)));
}

TEST_CASE("Replicate to self with hint_for keeps a hint, not the object") {
  Fixture f(2);
  const quorum::Object obj = quorum::NewWrite(quorum::Object{}, {}, 4242,
                                              std::string("v"), kWallStart);
  Status st = f.Run(f.replicas.Replicate(0, "k", f.ring.Locate("k"), obj,
                                         f.clock.Now() + 2s, /*epoch=*/0,
                                         /*hint_for=*/1));
  REQUIRE(st.ok());
  CHECK_FALSE(f.Stored("k").has_value());
  const auto targets = f.store->HintTargets();
  REQUIRE(targets.count("n1") == 1);
  CHECK(targets.at("n1") == 1);
}

TEST_CASE(
    "a peer that cannot be reached fails fast as unavailable and is then "
    "believed down") {
  Fixture f(2);
  const std::string key = "k";
  const auto loc = f.ring.Locate(key);
  // Deadlines on the steady clock: the peer links wait on it.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  const auto start = std::chrono::steady_clock::now();

  SUBCASE("read") {
    auto r = f.Run(f.replicas.Read(1, key, loc, deadline, 0));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kUnavailable);
  }
  SUBCASE("replicate") {
    const quorum::Object obj = quorum::NewWrite(quorum::Object{}, {}, 4242,
                                                std::string("v"), kWallStart);
    Status st = f.Run(
        f.replicas.Replicate(1, key, loc, obj, deadline, 0, std::nullopt));
    CHECK(st.code() == Code::kUnavailable);
  }
  SUBCASE("forwarded put: unavailable without quorum info (try another)") {
    quorum::PutArgs put = f.Put(key, "v");
    put.deadline = deadline;
    auto r = f.Run(f.replicas.ForwardPut(1, put, 0));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kUnavailable);
    CHECK_FALSE(r.status().quorum().has_value());
  }
  CHECK(std::chrono::steady_clock::now() - start < 2s);  // not the deadline
  CHECK_FALSE(f.replicas.IsUp(1));
  CHECK(f.replicas.IsUp(0));               // self always is
  CHECK_FALSE(f.Stored(key).has_value());  // nothing written locally
}

}  // namespace
}  // namespace shoal::node
