#include "tests/sim/world.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "base/clock.h"
#include "base/virtual_clock.h"
#include "client/client.h"
#include "cluster/state.h"
#include "metrics/metrics.h"
#include "node/node.h"
#include "quorum/version.h"
#include "ring/ring.h"
#include "tests/sim/network.h"
#include "tests/sim/trace.h"
#include "tools/check/session_op.h"

namespace shoal::sim {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace check = tools::check;
using namespace std::chrono_literals;

const char* PlantedBugName(PlantedBug bug) {
  switch (bug) {
    case PlantedBug::kNone:
      return "none";
    case PlantedBug::kRepairSkipsStale:
      return "repair-skips-stale";
    case PlantedBug::kAckBeforeCommit:
      return "ack-before-commit";
    case PlantedBug::kHandoffDeletesEarly:
      return "handoff-deletes-early";
    case PlantedBug::kCoordinatorReusesDot:
      return "reuses-dot";
  }
  return "?";
}

bool ParsePlantedBug(const std::string& name, PlantedBug* out) {
  for (PlantedBug b :
       {PlantedBug::kNone, PlantedBug::kRepairSkipsStale,
        PlantedBug::kAckBeforeCommit, PlantedBug::kHandoffDeletesEarly,
        PlantedBug::kCoordinatorReusesDot}) {
    if (name == PlantedBugName(b)) {
      *out = b;
      return true;
    }
  }
  return false;
}

SimOptions OptionsForSeed(uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 1);
  auto pick = [&rng](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  auto chance = [&rng](double p) {
    return std::uniform_real_distribution<double>(0, 1)(rng) < p;
  };
  SimOptions o;
  o.seed = seed;
  o.nodes = pick(3, 5);
  o.n = 3;
  o.w = static_cast<uint32_t>(pick(1, 3));
  o.r = static_cast<uint32_t>(pick(1, 3));
  o.partitions = o.nodes <= 4 ? 8 : 16;
  const int w = pick(0, 2);
  o.workload = w == 0   ? check::Workload::kSet
               : w == 1 ? check::Workload::kRegister
                        : check::Workload::kDelete;
  o.clients = pick(2, 4);
  o.keys = pick(1, 4);
  o.workload_time = std::chrono::milliseconds(pick(3000, 8000));
  o.antientropy = chance(0.5);
  o.handoff = chance(0.7);
  o.faults = pick(0, 5);
  o.partitions_faults = chance(0.8);
  o.kills = chance(0.6);
  o.pauses = chance(0.4);
  o.clock_skews = chance(0.4);
  o.drop_rate = chance(0.3) ? 0.02 * pick(1, 5) : 0;
  o.duplicate_rate = chance(0.3) ? 0.05 : 0;
  return o;
}

std::string SimOutcome::Summary(const SimOptions& o) const {
  std::ostringstream out;
  out << (valid ? "ok" : "FAILED") << " seed " << o.seed << ": "
      << check::WorkloadName(o.workload) << ", " << o.nodes
      << " nodes n=" << o.n << " w=" << o.w << " r=" << o.r << ", " << o.clients
      << " clients on " << o.keys << " keys, " << o.faults << " faults"
      << (o.antientropy ? "" : ", no anti-entropy")
      << (o.handoff ? "" : ", no handoff");
  if (o.bug != PlantedBug::kNone) out << ", planted " << PlantedBugName(o.bug);
  if (o.removals > 0) out << ", " << o.removals << " removals";
  for (const std::string& line : nemesis_log) {
    if (line.find("force-remove") != std::string::npos)
      out << " [" << line << "]";
  }
  out << "; " << ops << " ops (" << verdict.acknowledged << " ok, "
      << verdict.failed << " failed, " << verdict.unknown << " unknown), lost "
      << verdict.lost << ", resurrected " << verdict.resurrected << ", reaped "
      << reaped;
  if (o.workload == check::Workload::kSession) {
    out << ", session tokens " << (o.session_tokens ? "on" : "off") << ": "
        << verdict.reads << " reads, " << verdict.ryw_violations
        << " read-your-writes and " << verdict.monotonic_violations
        << " monotonic-read violations, " << verdict.session_refusals
        << " refused";
  }
  out << ", converged " << (converged ? "yes" : "no") << ", " << virtual_ms
      << " ms virtual, " << trace_events << " events, trace " << std::hex
      << trace_hash << std::dec;
  if (!error.empty()) out << "; error: " << error;
  for (const std::string& v : violations) out << "\n  violation: " << v;
  for (const std::string& e : verdict.examples) out << "\n  checker: " << e;
  return out.str();
}

namespace {

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// How long after the final reads every tombstone must have been reaped: the
// grace (1 s), rounds every 500 ms, and the failure detectors of restarted
// nodes seeing every member up again.
constexpr Clock::Duration kReapLimit = 20s;

int64_t Ms(Clock::Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

std::string FreshDir(const std::string& wanted, uint64_t seed) {
  if (!wanted.empty()) return wanted;
  std::error_code ec;
  fs::path base = fs::exists("/dev/shm", ec) ? fs::path("/dev/shm")
                                             : fs::temp_directory_path();
  static uint64_t counter = 0;
  return (base / ("shoal-sim-" + std::to_string(::getpid()) + "-" +
                  std::to_string(seed) + "-" + std::to_string(counter++)))
      .string();
}

// Everything the run records: the history (virtual time) and the
// invariants broken.
struct Record {
  std::vector<check::Event> history;
  std::vector<std::string> violations;
  void Violation(std::string what) {
    if (violations.size() < 20) violations.push_back(std::move(what));
  }
};

class World {
 public:
  explicit World(const SimOptions& options);
  ~World();
  SimOutcome Run();

 private:
  struct SimNode {
    std::string name;
    std::string address;
    std::string dir;
    std::unique_ptr<SkewedClock> clock;
    std::unique_ptr<asio::io_context> io;
    std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>>
        work;
    std::unique_ptr<metrics::Metrics> metrics;
    std::unique_ptr<node::Node> node;
    bool alive = false;
    bool paused = false;
    bool removed = false;  // force-removed: dead for good
  };

  // Setup and node lifecycle.
  node::NodeConfig ConfigFor(const SimNode& n) const;
  Status StartNode(SimNode& n);
  void KillNode(SimNode& n);
  // Runs every ready handler of every running io_context, one at a time in
  // a seeded order, until none is left.
  void RunReady();
  // Runs until virtual time `until` (events and handlers), or `done()`.
  void RunUntil(Clock::TimePoint until, const std::function<bool()>& done);

  // The workload.
  wire::Awaitable<void> ClientLoop(int id);
  client::Client& ClientFor(int id, const std::string& node);
  void Add(check::Event e);

  // The nemesis.
  void PlanFaults();
  void HealAll();
  void NemesisLog(const std::string& what);
  // Kills `x` for good and has the live node with the newest cluster state
  // adopt the state without it (the stand-in for a commit).
  void ForceRemove(SimNode& x);
  // Every live node serves with the newest state (after the settle).
  void CheckStatesAgree();

  // Invariants.
  void Observe(const std::string& from, const std::string& to, uint64_t channel,
               const wire::Message& msg, bool request);
  // Every dot names one value of one key: checked for each object seen.
  void NoteDots(const std::string& key, const quorum::Object& object,
                const std::string& where);
  const storage::Store* StoreOf(const std::string& node) const;
  bool Converged(std::vector<std::string>* why);
  // "nX holds N tombstones" for each live node whose store holds any.
  std::vector<std::string> TombstonesLeft() const;

  // Final reads at r = n.
  wire::Awaitable<void> FinalReads(check::FinalState* final, Status* error);

  SimOptions options_;
  std::mt19937_64 rng_;
  Trace trace_;
  VirtualClock clock_;
  std::string root_;
  Network net_;
  std::vector<std::string> members_;
  ring::Ring ring_;
  std::vector<SimNode> nodes_;
  std::vector<std::string> keys_;
  asio::io_context client_io_;
  asio::executor_work_guard<asio::io_context::executor_type> client_work_;
  std::map<std::pair<int, std::string>, std::unique_ptr<client::Client>>
      clients_;
  Record record_;
  std::vector<std::string> nemesis_log_;
  cluster::ClusterState
      committed_;  // the newest force-removal's (epoch 0: none)
  Clock::TimePoint start_;
  Clock::TimePoint workload_end_;
  int clients_running_ = 0;
  uint64_t ops_ = 0;
  uint64_t reaped_ = 0;  // by the nodes killed so far
  // Dots seen -> hash of the value they named (tombstones hash to 0).
  // (key, actor, counter) -> hash of the value (0: a tombstone).
  std::map<std::tuple<std::string, quorum::ActorId, uint64_t>, uint64_t> dots_;
  // Keys of the reads and fetches in flight, by (channel, request id), to
  // name the keys of the objects in their replies.
  std::map<std::pair<uint64_t, uint64_t>, std::vector<std::string>> asked_;
  // Replicates delivered and not yet answered: (channel, id) -> what.
  struct Pending {
    std::string node, key;
    quorum::Object object;
  };
  std::map<std::pair<uint64_t, uint64_t>, Pending> replicates_;
};

// What `store` holds of `key`: the stored object, or the one its reaped-key
// guard remembers (a reaped key takes merges as if it were still stored),
// or an empty object.
quorum::Object HeldOrReaped(const storage::Store& store, const std::string& key,
                            const ring::KeyLocation& loc) {
  auto held = store.Get(key, loc);
  if (held.ok() && held->has_value()) return std::move(**held);
  return store.TEST_Reaped(key, loc).value_or(quorum::Object{});
}

ring::Ring MakeRing(const std::vector<std::string>& members,
                    const SimOptions& o) {
  auto r = ring::Ring::Create(members, {o.partitions, o.n});
  SHOAL_ASSERT(r.ok(), "the simulated ring builds");
  return std::move(r).value();
}

std::vector<std::string> MemberNames(int n) {
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i) out.push_back("n" + std::to_string(i));
  return out;
}

World::World(const SimOptions& options)
    : options_(options),
      rng_(options.seed),
      trace_(options.keep_trace),
      root_(FreshDir(options.work_dir, options.seed)),
      net_(clock_, rng_, trace_,
           NetworkOptions{.frame_cap = wire::FrameCapFor(16ull << 20)}),
      members_(MemberNames(options.nodes)),
      ring_(MakeRing(members_, options)),
      client_work_(asio::make_work_guard(client_io_)) {
  net_.set_observer(
      [this](const std::string& from, const std::string& to, uint64_t channel,
             const wire::Message& msg,
             bool request) { Observe(from, to, channel, msg, request); });
  for (int i = 0; i < options.keys; ++i)
    keys_.push_back("k" + std::to_string(i));
  for (size_t i = 0; i < members_.size(); ++i) {
    SimNode n;
    n.name = members_[i];
    n.address = "10.0.0." + std::to_string(i + 1) + ":7100";
    n.dir = root_ + "/" + n.name;
    n.clock = std::make_unique<SkewedClock>(clock_);
    nodes_.push_back(std::move(n));
  }
}

World::~World() {
  for (SimNode& n : nodes_) {
    if (n.alive) KillNode(n);
  }
  clients_.clear();
  std::error_code ec;
  fs::remove_all(root_, ec);
}

node::NodeConfig World::ConfigFor(const SimNode& n) const {
  node::NodeConfig c;
  c.name = n.name;
  c.listen = n.address;
  c.data_dir = n.dir;
  c.log_level = "off";
  c.n = options_.n;
  c.w = options_.w;
  c.r = options_.r;
  c.partitions = options_.partitions;
  for (const SimNode& m : nodes_) c.members.push_back({m.name, m.address});
  c.storage.dir = n.dir;
  c.storage.map_size_bytes = 64ull << 20;
  c.storage.sync = storage::SyncPolicy::kNone;
  c.storage.inline_writes = true;
  // A fixed boot: a kill is a process crash, never a reboot.
  c.storage.TEST_boot_id = "sim-boot";
  c.handoff_enabled = options_.handoff;
  c.aae_enabled = options_.antientropy;
  // Reaping as a node runs it, with the grace `shoal check --workload
  // delete` uses, so runs of a few seconds reap.
  c.reap_enabled = true;
  c.tombstone_grace = 1s;
  c.reap_interval = 500ms;
  c.request_timeout_ms = 1000;
  return c;
}

Status World::StartNode(SimNode& n) {
  n.io = std::make_unique<asio::io_context>(1);
  n.work = std::make_unique<
      asio::executor_work_guard<asio::io_context::executor_type>>(
      asio::make_work_guard(*n.io));
  auto metrics = metrics::Metrics::Create("");
  if (!metrics.ok()) return metrics.status();
  n.metrics = std::move(metrics).value();
  node::NodeEnv env;
  env.clock = n.clock.get();
  env.listen = false;
  env.background_rebuild = false;
  env.seed = rng_();
  const std::string self = n.name;
  env.channels = [this, self, ex = n.io->get_executor()](ring::NodeIndex member,
                                                         const std::string&) {
    return net_.NewChannel(self, ring_.members()[member], self, ex);
  };
  // Actors are minted from the seed, so a run is repeatable.
  env.actor_seed = rng_();
  env.bugs.repair_skips_stale = options_.bug == PlantedBug::kRepairSkipsStale;
  env.bugs.ack_before_commit = options_.bug == PlantedBug::kAckBeforeCommit;
  env.bugs.handoff_deletes_early =
      options_.bug == PlantedBug::kHandoffDeletesEarly;
  env.bugs.reuse_dot = options_.bug == PlantedBug::kCoordinatorReusesDot;
  env.on_hint_deleted = [this](const std::string& target,
                               const std::string& key,
                               const quorum::Object& hint) {
    // Who must hold it: the target, or, for a target removed from the
    // cluster, every current primary of the key (those running).
    std::vector<std::string> holders = {target};
    for (const SimNode& m : nodes_) {
      if (m.name != target || !m.removed) continue;
      holders.clear();
      for (ring::NodeIndex p : ring_.Primaries(ring_.Locate(key).partition)) {
        holders.push_back(ring_.members()[p]);
      }
    }
    for (const std::string& holder : holders) {
      const storage::Store* store = StoreOf(holder);
      if (store == nullptr) continue;  // down: nothing to check
      const quorum::Object there = HeldOrReaped(*store, key, ring_.Locate(key));
      if (!quorum::Supersedes(there, hint)) {
        record_.Violation("a hint for " + target + " of key " + key +
                          " was deleted while " + holder + " lacked it");
      }
    }
  };
  auto node = node::Node::Create(*n.io, ConfigFor(n), *n.metrics, env);
  if (!node.ok()) return node.status();
  n.node = std::move(node).value();
  if (Status st = n.node->Start(); !st.ok()) return st;
  node::Node* raw = n.node.get();
  net_.Attach(n.name, n.io->get_executor(),
              [raw](std::shared_ptr<wire::Connection> conn, wire::Message m) {
                raw->Deliver(std::move(conn), std::move(m));
              });
  n.alive = true;
  n.paused = false;
  return Status::Ok();
}

// A process crash: from this instant the node sends and writes nothing;
// then its code is unwound (every task cancelled and finished) and it is
// destroyed. What it committed stays in its directory.
void World::KillNode(SimNode& n) {
  net_.Detach(n.name);
  n.node->TEST_Crash();
  reaped_ += n.node->TEST_reaper().stats().reaped;
  bool down = false;
  asio::co_spawn(*n.io, n.node->Shutdown(),
                 [&down](std::exception_ptr) { down = true; });
  while (!down) {
    n.io->restart();
    if (n.io->poll() == 0 && !down) {
      // Nothing runnable: the shutdown waits on virtual time. Cancelled
      // timers complete at once, so this does not happen; guard anyway.
      SHOAL_ASSERT(false, "a node's shutdown waited on virtual time");
    }
  }
  n.node.reset();
  n.metrics.reset();
  n.work.reset();
  n.io.reset();
  n.alive = false;
  n.paused = false;
  // Its clients' channels were reset by the detach; they reconnect later.
}

void World::RunReady() {
  std::vector<asio::io_context*> order;
  for (;;) {
    order.clear();
    for (SimNode& n : nodes_) {
      if (n.alive && !n.paused) order.push_back(n.io.get());
    }
    order.push_back(&client_io_);
    std::shuffle(order.begin(), order.end(), rng_);
    bool ran = false;
    for (asio::io_context* io : order) {
      if (io->poll_one() > 0) ran = true;
    }
    if (!ran) return;
  }
}

void World::RunUntil(Clock::TimePoint until,
                     const std::function<bool()>& done) {
  for (;;) {
    RunReady();
    if (done && done()) return;
    auto next = clock_.NextAt();
    if (!next || *next > until) return;
    clock_.RunNext();
  }
}

// ---------------------------------------------------------------------------
// The workload: each client reads, then writes with the read's context, as
// `shoal check`'s clients do (tools/check/check.h), against a node picked
// at random for each operation.

client::Client& World::ClientFor(int id, const std::string& node) {
  auto& slot = clients_[{id, node}];
  if (!slot) {
    slot = std::make_unique<client::Client>(
        net_.NewChannel("c" + std::to_string(id), node, "",
                        client_io_.get_executor()),
        clock_);
  }
  return *slot;
}

void World::Add(check::Event e) {
  e.time_ms = Ms(clock_.Now() - start_);
  trace_.Add(e.time_ms * 1000, "op " + check::EventToJson(e).dump());
  record_.history.push_back(std::move(e));
}

check::EventType OutcomeOf(const Status& st) {
  if (st.ok()) return check::EventType::kOk;
  if (st.quorum()) {
    return st.quorum()->maybe_applied ? check::EventType::kInfo
                                      : check::EventType::kFail;
  }
  if (st.code() == Code::kTimeout) return check::EventType::kInfo;
  if (st.code() == Code::kUnavailable) {
    const std::string& m = st.message();
    return m.find("cannot connect") != std::string::npos
               ? check::EventType::kFail
               : check::EventType::kInfo;
  }
  return check::EventType::kFail;
}

wire::Awaitable<void> World::ClientLoop(int id) {
  auto ex = co_await asio::this_coro::executor;
  Timer pace(clock_, ex);
  std::mt19937_64 rng(options_.seed * 7919 + static_cast<uint64_t>(id));
  uint64_t seq = 0;
  client::Session session;  // the session workload's
  while (clock_.Now() < workload_end_) {
    const std::string& node = members_[rng() % members_.size()];
    client::Client& c = ClientFor(id, node);
    const std::string key = keys_[rng() % keys_.size()];
    const std::string value =
        "c" + std::to_string(id) + "-" + std::to_string(seq++);
    client::GetOptions get_options;
    get_options.timeout_ms = 1000;
    client::PutOptions put_options;
    put_options.timeout_ms = 1000;
    if (options_.workload == check::Workload::kSession) {
      check::SessionOp op;
      op.process = id;
      op.key = key;
      op.value = value;
      op.write = rng() % 2 == 0;
      op.timeout_ms = 1000;
      op.session = options_.session_tokens ? &session : nullptr;
      co_await check::RunSessionOp(
          c, std::move(op), [this](check::Event e) { Add(std::move(e)); },
          OutcomeOf);
    } else if (options_.workload == check::Workload::kSet) {
      Add(check::MakeEvent(check::EventType::kInvoke, id, "add", key, value));
      auto got = co_await c.Get(key, get_options);
      if (!got.ok()) {
        check::Event e =
            check::MakeEvent(check::EventType::kFail, id, "add", key, value);
        e.error = "read: " + got.status().ToString();
        Add(std::move(e));
      } else {
        std::set<std::string> elements;
        for (const quorum::Sibling& s : got->values) {
          elements.merge(check::ParseSet(s.value));
        }
        elements.insert(value);
        put_options.context = got->context;
        auto put = co_await c.Put(key, check::FormatSet(elements), put_options);
        check::Event e =
            check::MakeEvent(OutcomeOf(put.status()), id, "add", key, value);
        if (!put.ok()) e.error = put.status().ToString();
        Add(std::move(e));
      }
    } else {
      auto got = co_await c.Get(key, get_options);
      if (got.ok()) {
        std::vector<std::string> seen;
        for (const quorum::Sibling& s : got->values) seen.push_back(s.value);
        const bool remove =
            options_.workload == check::Workload::kDelete && got->found;
        const std::string f = remove ? "delete" : "write";
        const std::string written = remove ? std::string() : value;
        Add(check::MakeEvent(check::EventType::kInvoke, id, f, key, written,
                             seen));
        put_options.context = got->context;
        Result<client::PutResult> put = Status(Code::kInternal, "unset");
        if (remove) {
          put = co_await c.Delete(key, put_options);
        } else {
          put = co_await c.Put(key, value, put_options);
        }
        check::Event e =
            check::MakeEvent(OutcomeOf(put.status()), id, f, key, written);
        if (!put.ok()) e.error = put.status().ToString();
        Add(std::move(e));
      }
    }
    ++ops_;
    pace.expires_after(options_.op_interval);
    co_await pace.async_wait(kAsTuple);
  }
  --clients_running_;
}

// ---------------------------------------------------------------------------
// The nemesis: `faults` steps at random times of the workload, each undone
// after 0.3..2 s (virtual).

void World::PlanFaults() {
  std::vector<std::string> kinds;
  if (options_.partitions_faults) kinds.push_back("partition");
  if (options_.kills) kinds.push_back("kill");
  if (options_.pauses) kinds.push_back("pause");
  if (options_.clock_skews) kinds.push_back("skew");
  kinds.push_back("drop");
  const int64_t span = Ms(workload_end_ - start_);
  for (int i = 0; i < options_.faults; ++i) {
    const std::string kind = kinds[rng_() % kinds.size()];
    const int64_t at = static_cast<int64_t>(
        rng_() % static_cast<uint64_t>(std::max<int64_t>(1, span - 500)));
    const int64_t length = 300 + static_cast<int64_t>(rng_() % 1700);
    const size_t target = rng_() % nodes_.size();
    auto log = [this](const std::string& what) { NemesisLog(what); };
    const auto when = start_ + std::chrono::milliseconds(at);
    const auto until = when + std::chrono::milliseconds(length);
    if (kind == "partition") {
      std::vector<std::string> a, b;
      for (const SimNode& n : nodes_) ((rng_() & 1) ? a : b).push_back(n.name);
      if (a.empty() || b.empty()) continue;
      clock_.Schedule(when, [this, a, b, log] {
        for (const auto& x : a) {
          for (const auto& y : b) {
            net_.Cut(x, y);
            net_.Cut(y, x);
          }
        }
        log("partition " + std::to_string(a.size()) + "|" +
            std::to_string(b.size()));
      });
      clock_.Schedule(until, [this, log] {
        net_.Heal();
        log("heal");
      });
    } else if (kind == "kill") {
      clock_.Schedule(when, [this, target, log] {
        SimNode& n = nodes_[target];
        if (!n.alive) return;
        KillNode(n);
        log("kill " + n.name);
      });
      clock_.Schedule(until, [this, target, log] {
        SimNode& n = nodes_[target];
        if (n.alive || n.removed) return;
        Status st = StartNode(n);
        if (!st.ok())
          record_.Violation("restart of " + n.name + ": " + st.ToString());
        log("start " + n.name);
      });
    } else if (kind == "pause") {
      clock_.Schedule(when, [this, target, log] {
        SimNode& n = nodes_[target];
        if (!n.alive || n.paused) return;
        n.paused = true;
        net_.Pause(n.name);
        log("pause " + n.name);
      });
      clock_.Schedule(until, [this, target, log] {
        SimNode& n = nodes_[target];
        if (!n.alive || !n.paused) return;
        n.paused = false;
        net_.Resume(n.name);
        log("resume " + n.name);
      });
    } else if (kind == "skew") {
      const int64_t skew =
          static_cast<int64_t>(rng_() % 10001) - 5000;  // -5 s .. +5 s
      clock_.Schedule(when, [this, target, skew, log] {
        nodes_[target].clock->set_skew_ms(skew);
        log("clock " + nodes_[target].name + " " + std::to_string(skew) + "ms");
      });
    } else if (kind == "drop") {
      clock_.Schedule(when, [this, log] {
        net_.set_drop_rate(0.3);
        log("drop 30%");
      });
      clock_.Schedule(until, [this, log] {
        net_.set_drop_rate(options_.drop_rate);
        log("drop back");
      });
    }
  }
  for (int i = 0; i < options_.removals; ++i) {
    const int64_t at = static_cast<int64_t>(
        rng_() % static_cast<uint64_t>(std::max<int64_t>(1, span - 500)));
    const size_t target = rng_() % nodes_.size();
    clock_.Schedule(start_ + std::chrono::milliseconds(at),
                    [this, target] { ForceRemove(nodes_[target]); });
  }
}

void World::NemesisLog(const std::string& what) {
  nemesis_log_.push_back("t=" + std::to_string(Ms(clock_.Now() - start_)) +
                         "ms " + what);
  trace_.Add(Ms(clock_.Now() - start_) * 1000, "nemesis " + what);
  Add(check::MakeEvent(check::EventType::kInfo, -1, "nemesis", "", what));
}

void World::ForceRemove(SimNode& x) {
  if (x.removed) return;
  size_t removed = 0;
  for (const SimNode& n : nodes_) removed += n.removed;
  // The session workload writes at w = 1 whatever the ring's w.
  const uint32_t w =
      options_.workload == check::Workload::kSession ? 1 : options_.w;
  if (removed + 1 >= w) {
    NemesisLog("force-remove " + x.name + " skipped: w=" + std::to_string(w) +
               " (the removed could hold every ack of a write)");
    return;
  }
  // The change is made on the newest state committed so far or held by a
  // live node, as a commit made through one claimant would be (two changes
  // made on one epoch would be a conflict; the node that adopted the last
  // one may have died before it spread). It is adopted at the live node
  // with the newest state.
  const cluster::ClusterState* base =
      committed_.epoch > 0 ? &committed_ : nullptr;
  SimNode* via = nullptr;
  for (SimNode& n : nodes_) {
    if (!n.alive) continue;
    const cluster::ClusterState& state = n.node->cluster_state();
    if (base == nullptr || state.epoch > base->epoch) base = &state;
    if (&n == &x || n.removed) continue;
    if (via == nullptr || state.epoch > via->node->cluster_state().epoch) {
      via = &n;
    }
  }
  if (via == nullptr) {
    NemesisLog("force-remove " + x.name + " skipped: no other live member");
    return;
  }
  auto plan = cluster::MakePlan(*base, {cluster::Change::ForceRemove(x.name)});
  if (!plan.ok()) {
    NemesisLog("force-remove " + x.name +
               " skipped: " + plan.status().message());
    return;
  }
  auto done = cluster::Complete(plan.value().next);
  SHOAL_ASSERT(done.ok(), "a plan completes");
  committed_ = done.value();
  if (x.alive) KillNode(x);
  x.removed = true;
  auto adopted = via->node->TEST_Adopt(done.value());
  if (!adopted.ok() || !adopted.value()) {
    record_.Violation(via->name + " did not adopt the state without " + x.name +
                      ": " + adopted.status().ToString());
    return;
  }
  auto ring = cluster::RingOf(done.value());
  SHOAL_ASSERT(ring.ok(), "the ring of an adopted state builds");
  ring_ = std::move(ring).value();
  NemesisLog("force-remove " + x.name + " (epoch " +
             std::to_string(done.value().epoch) + " at " + via->name + ")");
}

void World::CheckStatesAgree() {
  uint64_t newest = 0;
  for (const SimNode& n : nodes_) {
    if (n.alive) newest = std::max(newest, n.node->cluster_state().epoch);
  }
  for (const SimNode& n : nodes_) {
    if (!n.alive) continue;
    const cluster::ClusterState& state = n.node->cluster_state();
    if (state.epoch != newest) {
      record_.Violation(n.name + " serves with cluster epoch " +
                        std::to_string(state.epoch) + ", not the newest " +
                        std::to_string(newest));
    }
  }
}

void World::HealAll() {
  net_.Heal();
  net_.set_drop_rate(0);
  net_.set_duplicate_rate(0);
  for (SimNode& n : nodes_) {
    n.clock->set_skew_ms(0);
    if (n.alive && n.paused) {
      n.paused = false;
      net_.Resume(n.name);
    }
    if (!n.alive && !n.removed) {
      Status st = StartNode(n);
      if (!st.ok())
        record_.Violation("restart of " + n.name + ": " + st.ToString());
    }
  }
  trace_.Add(Ms(clock_.Now() - start_) * 1000, "nemesis heal all");
}

// ---------------------------------------------------------------------------
// Invariants.

const storage::Store* World::StoreOf(const std::string& node) const {
  for (const SimNode& n : nodes_) {
    if (n.name == node) return n.alive ? &n.node->TEST_store() : nullptr;
  }
  return nullptr;
}

void World::NoteDots(const std::string& key, const quorum::Object& object,
                     const std::string& where) {
  for (const quorum::Sibling& s : object.siblings) {
    const uint64_t h =
        s.tombstone ? 0 : XXH3_64bits(s.value.data(), s.value.size()) | 1;
    auto [it, fresh] =
        dots_.emplace(std::make_tuple(key, s.dot.actor, s.dot.counter), h);
    if (!fresh && it->second != h) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "(%016llx, %llu)",
                    static_cast<unsigned long long>(s.dot.actor),
                    static_cast<unsigned long long>(s.dot.counter));
      record_.Violation(std::string("dot ") + buf + " of key " + key +
                        " names two different values (seen in " + where + ")");
    }
  }
}

void World::Observe(const std::string& from, const std::string& to,
                    uint64_t channel, const wire::Message& msg, bool request) {
  const std::string where = from + "->" + to;
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, wire::ReplicateRequest>) {
          NoteDots(m.key, m.object, where);
          if (m.hint_for.empty()) {
            replicates_[{channel, msg.id}] = Pending{to, m.key, m.object};
          }
        } else if constexpr (std::is_same_v<T, wire::ReplicateReply>) {
          auto it = replicates_.find({channel, msg.id});
          if (it == replicates_.end()) return;
          const Pending p = it->second;
          replicates_.erase(it);
          // The replica acknowledges: it must hold the object by now.
          const storage::Store* store = StoreOf(p.node);
          if (store == nullptr) return;
          const quorum::Object there =
              HeldOrReaped(*store, p.key, ring_.Locate(p.key));
          if (!quorum::Supersedes(there, p.object)) {
            record_.Violation(p.node + " acknowledged a replicate of key " +
                              p.key + " before holding it");
          }
        } else if constexpr (std::is_same_v<T, wire::ReadRequest> ||
                             std::is_same_v<T, wire::GetRequest>) {
          asked_[{channel, msg.id}] = {m.key};
        } else if constexpr (std::is_same_v<T, wire::AaeFetchRequest>) {
          asked_[{channel, msg.id}] = m.keys;
        } else if constexpr (std::is_same_v<T, wire::ReadReply> ||
                             std::is_same_v<T, wire::GetReply>) {
          auto it = asked_.find({channel, msg.id});
          if (it == asked_.end()) return;
          NoteDots(it->second.front(), m.object, where);
          asked_.erase(it);
        } else if constexpr (std::is_same_v<T, wire::AaeRepairRequest>) {
          for (const auto& item : m.items)
            NoteDots(item.key, item.object, where);
        } else if constexpr (std::is_same_v<T, wire::AaeFetchReply>) {
          auto it = asked_.find({channel, msg.id});
          if (it == asked_.end()) return;
          for (size_t i = 0; i < m.objects.size() && i < it->second.size();
               ++i) {
            NoteDots(it->second[i], m.objects[i], where);
          }
          asked_.erase(it);
        } else if constexpr (std::is_same_v<T, wire::ErrorReply>) {
          replicates_.erase({channel, msg.id});
          asked_.erase({channel, msg.id});
        }
      },
      msg.body);
  (void)request;
}

std::vector<std::string> World::TombstonesLeft() const {
  std::vector<std::string> out;
  for (const SimNode& n : nodes_) {
    if (!n.alive) continue;
    const uint64_t left = n.node->TEST_store().Stats().tombstones;
    if (left > 0) {
      out.push_back(n.name + " still holds " + std::to_string(left) +
                    " tombstones (the oldest waits for: " +
                    n.node->TEST_reaper().stats().oldest_waiting_for + ")");
    }
  }
  return out;
}

bool World::Converged(std::vector<std::string>* why) {
  bool all = true;
  for (const std::string& key : keys_) {
    const ring::KeyLocation loc = ring_.Locate(key);
    std::optional<quorum::Object> first;
    std::string first_node;
    for (ring::NodeIndex p : ring_.Primaries(loc.partition)) {
      const storage::Store* store = StoreOf(members_[p]);
      if (store == nullptr) return false;
      auto held = store->Get(key, loc);
      if (!held.ok()) return false;
      const quorum::Object o = held->value_or(quorum::Object{});
      NoteDots(key, o, members_[p] + "'s store");
      if (!first) {
        first = o;
        first_node = members_[p];
      } else if (!first->SameOrReaped(o)) {
        all = false;
        if (why) {
          why->push_back("key " + key + ": " + first_node + " and " +
                         members_[p] + " differ");
        }
      }
    }
  }
  return all;
}

wire::Awaitable<void> World::FinalReads(check::FinalState* final,
                                        Status* error) {
  for (const std::string& key : keys_) {
    Status last(Code::kUnavailable, "no node answered");
    bool done = false;
    for (int attempt = 0; attempt < 3 && !done; ++attempt) {
      for (const std::string& node : members_) {
        client::GetOptions all;
        all.r = options_.n;
        all.timeout_ms = 2000;
        auto got = co_await ClientFor(1000, node).Get(key, all);
        if (!got.ok()) {
          last = got.status();
          continue;
        }
        std::vector<std::string> values;
        for (const quorum::Sibling& s : got->values) values.push_back(s.value);
        (*final)[key] = std::move(values);
        done = true;
        break;
      }
    }
    if (!done) {
      *error = Status(last.code(), "final read of " + key +
                                       " at r=n failed: " + last.message());
      co_return;
    }
  }
}

SimOutcome World::Run() {
  SimOutcome out;
  start_ = clock_.Now();
  workload_end_ = start_ + options_.workload_time;
  net_.set_drop_rate(options_.drop_rate);
  net_.set_duplicate_rate(options_.duplicate_rate);
  for (SimNode& n : nodes_) {
    Status st = StartNode(n);
    if (!st.ok()) {
      out.error = "start of " + n.name + ": " + st.ToString();
      return out;
    }
  }
  // Let the failure detectors meet their peers before the clients start.
  RunUntil(start_ + 1s, nullptr);
  start_ = clock_.Now();
  workload_end_ = start_ + options_.workload_time;
  PlanFaults();

  // 1. workload.
  clients_running_ = options_.clients;
  for (int id = 0; id < options_.clients; ++id) {
    asio::co_spawn(client_io_, ClientLoop(id), asio::detached);
  }
  RunUntil(workload_end_ + 5s, [this] { return clients_running_ == 0; });

  // 2. heal.
  HealAll();

  // 3. settle: until the replicas agree, checking each virtual second.
  const auto settle_end = clock_.Now() + options_.settle_limit;
  while (clock_.Now() < settle_end && !Converged(nullptr)) {
    RunUntil(clock_.Now() + 1s, nullptr);
  }

  // 4. final reads at r = n, then (after the read repairs) convergence.
  check::FinalState final;
  Status read_error;
  bool read_done = false;
  asio::co_spawn(client_io_, FinalReads(&final, &read_error),
                 [&read_done](std::exception_ptr) { read_done = true; });
  RunUntil(clock_.Now() + 60s, [&read_done] { return read_done; });
  if (!read_done) read_error = Status(Code::kTimeout, "final reads hung");
  RunUntil(clock_.Now() + 3s, nullptr);
  CheckStatesAgree();
  std::vector<std::string> differ;
  out.converged = Converged(&differ);
  for (const std::string& d : differ) {
    record_.Violation("replicas disagree after healing and reading at r=n: " +
                      d);
  }
  if (!read_error.ok()) out.error = read_error.ToString();

  // 5. reaped: with every member up, no change in progress and the hints
  // delivered, the rule allows every tombstone left to be reaped (doc/
  // impl.md, "Reaping tombstones"); they must be, within a bound. Without
  // handoff a hint is never delivered, and the tombstones of its key rightly
  // stay.
  if (options_.handoff) {
    RunUntil(clock_.Now() + kReapLimit,
             [this] { return TombstonesLeft().empty(); });
    for (const std::string& left : TombstonesLeft()) {
      record_.Violation(left + " " + std::to_string(Ms(kReapLimit)) +
                        " ms after the final reads");
    }
  }

  out.verdict = check::CheckHistory(options_.workload, record_.history, final);
  out.violations = record_.violations;
  out.nemesis_log = nemesis_log_;
  out.ops = ops_;
  out.reaped = reaped_;
  for (const SimNode& n : nodes_) {
    if (n.alive) out.reaped += n.node->TEST_reaper().stats().reaped;
  }
  out.virtual_ms = Ms(clock_.Elapsed());
  out.trace_hash = trace_.hash();
  out.trace_events = trace_.events();
  if (options_.keep_trace) out.trace = trace_.lines();
  out.valid = out.error.empty() && out.violations.empty() &&
              out.verdict.lost == 0 && out.verdict.resurrected == 0 &&
              out.verdict.ryw_violations == 0 &&
              out.verdict.monotonic_violations == 0;
  return out;
}

}  // namespace

SimOutcome RunSimulation(const SimOptions& options) {
  World world(options);
  return world.Run();
}

}  // namespace shoal::sim
