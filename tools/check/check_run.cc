#include "tools/check/check_run.h"

#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "client/client.h"
#include "tools/check/session_op.h"
#include "tools/ring/fault_ops.h"
#include "tools/ring/launcher.h"

namespace shoal::tools::check {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using client::Client;
using client::GetOptions;
using client::PutOptions;
using client::PutResult;
using wire::Awaitable;
using SteadyClock = std::chrono::steady_clock;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// Every event of the run, in the order they happened (clients and the
// nemesis append from two threads).
class History {
 public:
  explicit History(SteadyClock::time_point start) : start_(start) {}
  void Add(Event e) {
    e.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    SteadyClock::now() - start_)
                    .count();
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }
  std::vector<Event> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(events_);
  }

 private:
  SteadyClock::time_point start_;
  std::mutex mu_;
  std::vector<Event> events_;
};

// A write's outcome from its error: `fail` only when it surely did not
// land, `info` when it may have.
EventType OutcomeOf(const Status& st) {
  if (st.ok()) return EventType::kOk;
  if (st.quorum()) {
    return st.quorum()->maybe_applied ? EventType::kInfo : EventType::kFail;
  }
  if (st.code() == Code::kTimeout) return EventType::kInfo;
  if (st.code() == Code::kUnavailable) {
    // Not connected: the request never left. A connection lost after
    // sending may have delivered it.
    const std::string& m = st.message();
    if (m.find("cannot connect") != std::string::npos ||
        m.find("unreachable") != std::string::npos) {
      return EventType::kFail;
    }
    return EventType::kInfo;
  }
  return EventType::kFail;  // refused before anything was written
}

std::string ErrorText(const Status& st) {
  return std::string(CodeName(st.code())) + ": " + st.message();
}

struct Shared {
  const RunOptions* options = nullptr;
  std::vector<std::string> addresses;
  std::vector<std::string> keys;
  History* history = nullptr;
  SteadyClock::time_point stop_at;
  uint64_t reads_failed = 0;
  size_t running = 0;
  std::function<void()> on_done;
};

// One op of the session workload through a node chosen at random.
Awaitable<void> SessionOpAtRandom(Shared* shared, int id, std::mt19937_64& rng,
                                  std::vector<std::unique_ptr<Client>>& conns,
                                  const std::string& value,
                                  client::Session& session) {
  auto ex = co_await asio::this_coro::executor;
  const RunOptions& opt = *shared->options;
  const size_t node = rng() % shared->addresses.size();
  if (!conns[node]) {
    conns[node] = std::make_unique<Client>(ex, shared->addresses[node]);
  }
  SessionOp op;
  op.process = id;
  op.key = shared->keys[rng() % shared->keys.size()];
  op.value = value;
  op.write = rng() % 2 == 0;
  op.timeout_ms = opt.op_timeout_ms;
  op.session = opt.session_tokens ? &session : nullptr;
  co_await RunSessionOp(
      *conns[node], std::move(op),
      [shared](Event e) { shared->history->Add(std::move(e)); }, OutcomeOf);
}

Awaitable<void> ClientLoop(Shared* shared, int id) {
  auto ex = co_await asio::this_coro::executor;
  const RunOptions& opt = *shared->options;
  std::vector<std::unique_ptr<Client>> conns(shared->addresses.size());
  size_t node = id % shared->addresses.size();
  std::mt19937_64 rng(opt.seed * 7919 + id);
  uint64_t seq = 0;
  client::Session session;  // the session workload's, one per client
  asio::steady_timer pace(ex);
  while (SteadyClock::now() < shared->stop_at) {
    if (!conns[node]) {
      conns[node] = std::make_unique<Client>(ex, shared->addresses[node]);
    }
    Client& client = *conns[node];
    const std::string key = shared->keys[rng() % shared->keys.size()];
    const std::string value =
        "p" + std::to_string(id) + "-" + std::to_string(seq++);
    GetOptions get_options;
    get_options.timeout_ms = opt.op_timeout_ms;
    PutOptions put_options;
    put_options.timeout_ms = opt.op_timeout_ms;
    bool trouble = false;
    if (opt.workload == Workload::kSession) {
      co_await SessionOpAtRandom(shared, id, rng, conns, value, session);
      pace.expires_after(opt.op_interval);
      co_await pace.async_wait(kAsTuple);
      continue;
    }
    if (opt.workload == Workload::kSet) {
      shared->history->Add(
          MakeEvent(EventType::kInvoke, id, "add", key, value, {}));
      auto got = co_await client.Get(key, get_options);
      if (!got.ok()) {
        // Nothing was written.
        Event e = MakeEvent(EventType::kFail, id, "add", key, value, {});
        e.error = "read: " + ErrorText(got.status());
        shared->history->Add(std::move(e));
        trouble = true;
      } else {
        std::set<std::string> elements;
        for (const quorum::Sibling& s : got->values) {
          elements.merge(ParseSet(s.value));
        }
        elements.insert(value);
        put_options.context = got->context;
        std::string body = FormatSet(elements);
        auto put = co_await client.Put(key, std::move(body), put_options);
        Event e = MakeEvent(OutcomeOf(put.status()), id, "add", key, value, {});
        if (!put.ok()) {
          e.error = ErrorText(put.status());
          trouble = true;
        }
        shared->history->Add(std::move(e));
      }
    } else {
      auto got = co_await client.Get(key, get_options);
      if (!got.ok()) {
        ++shared->reads_failed;
        trouble = true;
      } else {
        std::vector<std::string> seen;
        for (const quorum::Sibling& s : got->values) seen.push_back(s.value);
        const bool remove = opt.workload == Workload::kDelete && got->found;
        const std::string f = remove ? "delete" : "write";
        const std::string written = remove ? std::string() : value;
        shared->history->Add(
            MakeEvent(EventType::kInvoke, id, f, key, written, seen));
        put_options.context = got->context;
        Result<PutResult> put = Status(Code::kInternal, "unset");
        if (remove) {
          put = co_await client.Delete(key, put_options);
        } else {
          put = co_await client.Put(key, value, put_options);
        }
        Event e = MakeEvent(OutcomeOf(put.status()), id, f, key, written, {});
        if (!put.ok()) {
          e.error = ErrorText(put.status());
          trouble = true;
        }
        shared->history->Add(std::move(e));
      }
    }
    // After trouble, try the next node: the nemesis may hold this one.
    if (trouble) node = (node + 1) % shared->addresses.size();
    pace.expires_after(opt.op_interval);
    co_await pace.async_wait(kAsTuple);
  }
  if (--shared->running == 0 && shared->on_done) shared->on_done();
}

// Runs `call` to completion on a fresh io_context.
template <typename T>
T RunOn(std::function<Awaitable<T>()> call) {
  asio::io_context io;
  std::optional<T> out;
  asio::co_spawn(
      io, [&]() -> Awaitable<void> { out = co_await call(); },
      [&](std::exception_ptr) { io.stop(); });
  io.run();
  return std::move(*out);
}

// The nemesis: applies the plan on its own thread.
class NemesisRunner {
 public:
  NemesisRunner(const RunOptions& options, History& history,
                SteadyClock::time_point start, std::string skewed_node)
      : options_(options),
        history_(history),
        start_(start),
        launcher_(options.dir, options.shoald, {}),
        skewed_node_(std::move(skewed_node)) {}

  void Run(const std::vector<NemesisStep>& plan) {
    if (!skewed_node_.empty()) {
      SetSkew(base_, skewed_node_, options_.clock_skew_ms);
      Apply(base_, "clock " + skewed_node_ + " " +
                       std::to_string(options_.clock_skew_ms) + "ms");
    }
    const auto end = start_ + options_.duration;
    for (size_t i = 0; i < plan.size(); ++i) {
      if (!WaitUntil(start_ + std::chrono::milliseconds(plan[i].at_ms))) break;
      if (SteadyClock::now() >= end) {
        // Membership steps waited for their changes: the schedule ran late.
        Log("schedule ends with the run: " + std::to_string(plan.size() - i) +
                " steps not applied",
            Status::Ok());
        break;
      }
      const auto next =
          i + 1 < plan.size()
              ? start_ + std::chrono::milliseconds(plan[i + 1].at_ms)
              : end;
      Do(Renamed(plan[i]), std::min(next, end));
    }
    WaitUntil(end);
    Restore();
  }

  // Ends the schedule early (the run failed); Restore still runs.
  void Abort() {
    std::lock_guard<std::mutex> lock(mu_);
    aborted_ = true;
    cv_.notify_all();
  }

  const std::vector<std::string>& log() const { return log_; }
  SteadyClock::time_point healed_at() const { return healed_at_; }

 private:
  bool WaitUntil(SteadyClock::time_point t) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, t, [&] { return aborted_; });
    return !aborted_;
  }

  void Log(const std::string& what, const Status& st) {
    const double t =
        std::chrono::duration<double>(SteadyClock::now() - start_).count();
    char when[32];
    std::snprintf(when, sizeof when, "t=%.1fs ", t);
    std::string line = when + what;
    if (!st.ok()) line += " (" + st.message() + ")";
    log_.push_back(line);
    Event e = MakeEvent(EventType::kInfo, -1, "nemesis", "", what, {});
    if (!st.ok()) e.error = st.message();
    history_.Add(std::move(e));
  }

  void Apply(const FaultSet& set, const std::string& what) {
    Status st = SaveFaultSet(launcher_.dir(), set);
    auto probed = launcher_.Probe();
    std::vector<FaultTarget> targets;
    if (probed.ok()) {
      for (const auto& [node, state] : *probed) {
        targets.push_back(
            {node.name, node.address, state != NodeState::kStopped});
      }
    } else {
      st = probed.status();
    }
    auto outcomes = RunOn<std::vector<PushOutcome>>([&] {
      return PushFaults(targets, set, std::chrono::milliseconds(2000));
    });
    for (const PushOutcome& o : outcomes) {
      if (!o.status.ok() && st.ok()) st = o.status;
    }
    Log(what, st);
  }

  // The plan names new nodes as the launcher should; if it named one
  // otherwise, later steps follow the launcher's name.
  NemesisStep Renamed(NemesisStep step) const {
    auto rename = [&](std::string& name) {
      auto it = renamed_.find(name);
      if (it != renamed_.end()) name = it->second;
    };
    rename(step.node);
    rename(step.replacement);
    for (auto& group : step.groups) {
      for (std::string& name : group) rename(name);
    }
    return step;
  }

  std::set<std::string> RingNames() const {
    std::set<std::string> names;
    if (auto state = launcher_.Load(); state.ok()) {
      for (const RingNode& n : state->nodes) names.insert(n.name);
    }
    return names;
  }

  // A join, leave or replacement, waiting for its change until `until` at
  // most (it goes on in the cluster after that). A commit is refused while
  // another change is in progress or a member that stays has not caught up
  // with the state (just after a heal or a restart), so it first waits for
  // the cluster to settle, and tries again while the refusal committed
  // nothing and time remains.
  void Membership(const NemesisStep& step, SteadyClock::time_point until) {
    const std::string what = step.Describe();
    auto left = [&] {
      return std::max<std::chrono::milliseconds>(
          std::chrono::milliseconds(1000),
          std::chrono::duration_cast<std::chrono::milliseconds>(
              until - SteadyClock::now()));
    };
    auto settled = launcher_.Settle(left());
    if (!settled.ok()) {
      Log(what + ": not committed", settled.status());
      return;
    }
    for (const std::string& name : settled->stopped) {
      Log("stop " + name + " (removed from the cluster)", Status::Ok());
    }
    uint64_t epoch = settled->state.epoch;
    const std::set<std::string> before = RingNames();
    Status st;
    for (;;) {
      if (step.action == "join") {
        st = launcher_.Add(left()).status();
      } else if (step.action == "leave") {
        st = launcher_.Remove(step.node, left()).status();
      } else {
        st = launcher_.Replace(step.node, left()).status();
      }
      if (st.ok() || st.code() == Code::kTimeout) break;
      auto now = launcher_.ClusterStateOfRing();
      const bool committed = !now.ok() || now->epoch != epoch;
      if (committed || SteadyClock::now() >= until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // retry
    }
    // The name the launcher gave a new node.
    const std::string planned =
        step.action == "join" ? step.node : step.replacement;
    if (!planned.empty()) {
      for (const std::string& name : RingNames()) {
        if (!before.count(name) && name != planned) renamed_[planned] = name;
      }
    }
    std::string line = what;
    if (auto it = renamed_.find(planned); it != renamed_.end()) {
      line += " (named " + it->second + ")";
    }
    if (st.code() == Code::kTimeout) {
      // Not a failure: the change goes on while the schedule does.
      line += " (in progress: " + st.message() + ")";
      st = Status::Ok();
    }
    Log(line, st);
  }

  void Do(const NemesisStep& step, SteadyClock::time_point until) {
    const std::string what = step.Describe();
    if (step.Membership()) {
      Membership(step, until);
    } else if (step.action == "partition" || step.action == "isolate") {
      FaultSet set = base_;
      if (step.action == "partition") {
        AddRules(set, PartitionRules(step.groups));
      } else {
        std::vector<std::string> members;
        if (auto state = launcher_.Load(); state.ok()) {
          for (const RingNode& n : state->nodes) members.push_back(n.name);
        }
        AddRules(set, IsolateRules(step.node, members, false));
      }
      Apply(set, what);
    } else if (step.action == "delay") {
      FaultSet set = base_;
      if (auto state = launcher_.Load(); state.ok()) {
        std::vector<wire::FaultRule> rules;
        const std::chrono::milliseconds delay(step.delay_ms);
        for (const RingNode& n : state->nodes) {
          if (n.name == step.node) continue;
          rules.push_back(DelayRule(step.node, n.name, delay, delay / 4));
          rules.push_back(DelayRule(n.name, step.node, delay, delay / 4));
        }
        AddRules(set, rules);
      }
      Apply(set, what);
    } else if (step.action == "heal") {
      Apply(base_, what);
    } else if (step.action == "kill") {
      Log(what, launcher_.Kill(step.node).status());
      killed_.insert(step.node);
    } else if (step.action == "start") {
      Start(step.node);
    } else if (step.action == "pause") {
      Log(what, launcher_.Pause(step.node).status());
      paused_.insert(step.node);
    } else if (step.action == "resume") {
      Log(what, launcher_.Resume(step.node).status());
      paused_.erase(step.node);
    }
  }

  void Start(const std::string& node) {
    Log("start " + node, launcher_.Start(node).status());
    killed_.erase(node);
    if (!base_.empty()) Apply(base_, "fault table to " + node);
  }

  // Everything back: network and clocks healed, killed nodes started,
  // paused ones resumed.
  void Restore() {
    for (const std::string& node : std::set<std::string>(paused_)) {
      Log("resume " + node, launcher_.Resume(node).status());
    }
    paused_.clear();
    for (const std::string& node : std::set<std::string>(killed_)) {
      Log("start " + node, launcher_.Start(node).status());
    }
    killed_.clear();
    base_ = FaultSet{};
    Apply(base_, "heal (end of run)");
    healed_at_ = SteadyClock::now();
  }

  const RunOptions& options_;
  History& history_;
  SteadyClock::time_point start_;
  Launcher launcher_;
  std::string skewed_node_;
  FaultSet base_;  // the clock skew, kept under every network fault
  std::set<std::string> killed_, paused_;
  std::map<std::string, std::string> renamed_;  // planned -> launcher's name
  std::vector<std::string> log_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool aborted_ = false;
  SteadyClock::time_point healed_at_;
};

// True when every primary of every key (placed by the cluster state
// `state`) answers `get --local` with the same causal state.
Awaitable<bool> Identical(const cluster::ClusterState* state,
                          const std::vector<std::string>* keys) {
  auto ex = co_await asio::this_coro::executor;
  std::map<std::string, std::unique_ptr<Client>> clients;
  for (const std::string& key : *keys) {
    auto placement = PlaceKey(*state, key);
    if (!placement.ok()) co_return false;
    std::optional<quorum::Object> first;
    for (const RingNode& p : placement->primaries) {
      auto& c = clients[p.address];
      if (!c) c = std::make_unique<Client>(ex, p.address);
      GetOptions local;
      local.local = true;
      local.timeout_ms = 2000;
      auto got = co_await c->Get(key, local);
      if (!got.ok()) co_return false;
      if (!first) {
        first = got->object;
      } else if (!first->SameOrReaped(got->object)) {
        co_return false;
      }
    }
  }
  co_return true;
}

// Every key read at r = n, from any current member of `state` that answers
// (a removed node no longer serves).
Awaitable<Result<FinalState>> ReadFinal(const cluster::ClusterState* state,
                                        const std::vector<std::string>* keys) {
  auto ex = co_await asio::this_coro::executor;
  FinalState final;
  for (const std::string& key : *keys) {
    Status last = Status(Code::kUnavailable, "no member answered");
    bool done = false;
    for (int attempt = 0; attempt < 3 && !done; ++attempt) {
      for (const cluster::Member& member : state->members) {
        if (member.state == cluster::MemberState::kRemoved) continue;
        Client client(ex, member.address);
        GetOptions all;
        all.r = state->options.n;
        all.timeout_ms = 5000;
        auto got = co_await client.Get(key, all);
        if (!got.ok()) {
          last = got.status();
          continue;
        }
        std::vector<std::string> values;
        for (const quorum::Sibling& s : got->values) values.push_back(s.value);
        final[key] = std::move(values);
        done = true;
        break;
      }
    }
    if (!done) {
      co_return Status(last.code(), "final read of " + key +
                                        " at r=n failed: " + last.message());
    }
  }
  co_return final;
}

std::string Seconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000.0);
  return buf;
}

}  // namespace

CheckJson RunReport::ToJson(const RunOptions& options) const {
  return CheckJson{
      {"valid", valid},
      {"workload", WorkloadName(options.workload)},
      {"nemesis", NemesisName(options.nemesis)},
      {"seed", options.seed},
      {"duration_ms", options.duration.count()},
      {"conflict", conflict},
      {"clock_skew",
       {{"node", skewed_node},
        {"skew_ms", skewed_node.empty() ? 0 : options.clock_skew_ms}}},
      {"ops",
       {{"ok", verdict.acknowledged},
        {"fail", verdict.failed},
        {"info", verdict.unknown},
        {"reads_failed", reads_failed}}},
      {"lost", verdict.lost},
      {"unexpected", verdict.unexpected},
      {"resurrected", verdict.resurrected},
      {"session",
       {{"tokens", options.session_tokens},
        {"reads", verdict.reads},
        {"read_your_writes_violations", verdict.ryw_violations},
        {"monotonic_read_violations", verdict.monotonic_violations},
        {"refused", verdict.session_refusals}}},
      {"examples", verdict.examples},
      {"keys", keys_checked},
      {"converged", converged},
      {"convergence_ms", convergence_ms},
      {"convergence_limit_ms", options.convergence_limit.count()},
      {"cluster", {{"epoch", cluster_epoch}, {"members", cluster_members}}},
      {"nemesis_log", nemesis_log},
      {"history", history_path}};
}

std::string RunReport::ToText(const RunOptions& options) const {
  std::ostringstream out;
  out << "workload " << WorkloadName(options.workload) << ", nemesis "
      << NemesisName(options.nemesis) << ", seed " << options.seed
      << ", conflict " << conflict;
  if (!skewed_node.empty()) {
    out << ", clock of " << skewed_node << " skewed by "
        << options.clock_skew_ms << " ms";
  }
  out << "\nops: " << verdict.acknowledged << " ok, " << verdict.failed
      << " failed, " << verdict.unknown << " unknown (info), " << reads_failed
      << " reads failed before writing\n";
  out << "lost: " << verdict.lost << "\n";
  if (options.workload == Workload::kSet) {
    out << "unexpected: " << verdict.unexpected
        << " (failed adds that appear; reported, not a failure)\n";
  }
  if (options.workload == Workload::kDelete) {
    out << "resurrected: " << verdict.resurrected << "\n";
  }
  if (options.workload == Workload::kSession) {
    out << "session: tokens " << (options.session_tokens ? "on" : "off") << ", "
        << verdict.reads << " reads, " << verdict.ryw_violations
        << " read-your-writes violations, " << verdict.monotonic_violations
        << " monotonic-read violations, " << verdict.session_refusals
        << " reads refused naming the guarantee\n";
  }
  for (const std::string& e : verdict.examples) out << "  " << e << "\n";
  if (converged) {
    out << "converged: every replica identical " << Seconds(convergence_ms)
        << " after heal (" << keys_checked << " keys)\n";
  } else {
    out << "NOT converged within " << Seconds(options.convergence_limit.count())
        << " after heal\n";
  }
  if (options.nemesis == Nemesis::kMembership) {
    out << "cluster: epoch " << cluster_epoch << ", members";
    for (const std::string& m : cluster_members) out << " " << m;
    out << "\n";
  }
  out << "history: " << history_path << "\n";
  out << (valid ? "VALID" : "INVALID") << "\n";
  return out.str();
}

Result<RunReport> Run(const RunOptions& options,
                      std::function<void(const std::string&)> progress) {
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  // 1. The ring: running, in the asked conflict mode, with no fault left.
  Launcher launcher(options.dir, options.shoald, {});
  auto state = launcher.Load();
  if (!state.ok()) return state.status();
  auto probed = launcher.Probe();
  if (!probed.ok()) return probed.status();
  std::vector<std::string> members, addresses;
  for (const auto& [node, st] : *probed) {
    if (st != NodeState::kRunning) {
      return Status(Code::kUnavailable,
                    node.name + " is " + NodeStateName(st) +
                        ": check needs every node running (shoal ring start "
                        "/ resume " +
                        node.name + ")");
    }
    members.push_back(node.name);
    addresses.push_back(node.address);
  }
  if (options.conflict && *options.conflict != state->conflict) {
    return Status(Code::kInvalidArgument,
                  "the ring in " + options.dir + " resolves conflicts by " +
                      state->conflict + ", not " + *options.conflict +
                      " (start it with `shoal ring up --fresh --conflict " +
                      *options.conflict + "`)");
  }
  auto faults = LoadFaultSet(launcher.dir());
  if (!faults.ok()) return faults.status();
  if (!faults->empty()) {
    return Status(Code::kInvalidArgument,
                  "faults are active in " + options.dir +
                      " (shoal fault list); heal them first: shoal fault heal");
  }
  if (options.clients == 0 || options.keys == 0) {
    return Status(Code::kInvalidArgument, "--clients and --keys must be >= 1");
  }
  // The cluster's own state: it names every member the cluster ever had
  // (new nodes get the next free index) and must not be changing.
  auto cluster_state = launcher.ClusterStateOfRing();
  if (!cluster_state.ok()) return cluster_state.status();
  if (cluster_state->changing()) {
    return Status(Code::kInvalidArgument,
                  "a membership change is in progress in the ring in " +
                      options.dir + " (epoch " +
                      std::to_string(cluster_state->epoch) +
                      "); wait until `shoal cluster status` shows it done");
  }
  std::vector<std::string> ever;
  for (const cluster::Member& m : cluster_state->members) {
    ever.push_back(m.name);
  }
  for (const std::string& m : members) ever.push_back(m);

  RunReport report;
  report.conflict = state->conflict;
  const int64_t wall_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  report.history_path = options.history_path;
  if (report.history_path.empty()) {
    std::error_code ec;
    fs::create_directories(launcher.dir() / "check", ec);
    report.history_path = (launcher.dir() / "check" /
                           ("history-" + std::to_string(options.seed) + "-" +
                            std::to_string(wall_ms) + ".jsonl"))
                              .string();
  }
  std::vector<std::string> keys;
  const std::string prefix = "check-" + std::to_string(options.seed) + "-" +
                             std::to_string(wall_ms) + "-" +
                             WorkloadName(options.workload) + "-";
  for (uint32_t i = 0; i < options.keys; ++i) {
    keys.push_back(prefix + std::to_string(i));
  }
  if (options.clock_skew_ms != 0) {
    report.skewed_node = members[options.seed % members.size()];
  }

  // 2. Clients on this thread, the nemesis on its own.
  const auto start = SteadyClock::now();
  History history(start);
  const auto plan = PlanNemesis(options.nemesis, members, options.duration,
                                options.seed, state->n, NextNodeIndex(ever));
  size_t changes = 0;
  for (const NemesisStep& step : plan) changes += step.Membership();
  say("running " + std::to_string(options.clients) + " clients for " +
      Seconds(options.duration.count()) + " with " +
      std::to_string((plan.size() - changes) / 2) + " nemesis faults" +
      (changes > 0 ? " and " + std::to_string(changes) + " membership changes"
                   : std::string()));
  NemesisRunner nemesis(options, history, start, report.skewed_node);
  std::thread nemesis_thread([&] { nemesis.Run(plan); });
  {
    asio::io_context io;
    Shared shared;
    shared.options = &options;
    shared.addresses = addresses;
    shared.keys = keys;
    shared.history = &history;
    shared.stop_at = start + options.duration;
    shared.running = options.clients;
    shared.on_done = [&io] { io.stop(); };
    for (uint32_t c = 0; c < options.clients; ++c) {
      asio::co_spawn(io, ClientLoop(&shared, static_cast<int>(c)),
                     asio::detached);
    }
    io.run();
    report.reads_failed = shared.reads_failed;
  }
  nemesis_thread.join();
  report.nemesis_log = nemesis.log();
  for (const std::string& line : report.nemesis_log) say("nemesis " + line);

  // 3. Convergence after the heal: any membership change complete (every
  // member holds one state, nothing changing; removed nodes stopped), then
  // every replica's own copy identical, placed by that state.
  say("healed; waiting for the cluster to settle and replicas to converge "
      "(up to " +
      Seconds(options.convergence_limit.count()) + ")");
  const auto healed = nemesis.healed_at();
  auto settled = launcher.Settle(options.convergence_limit);
  if (!settled.ok()) {
    return Status(
        settled.status().code(),
        "after the heal: " + settled.status().message() +
            " (nemesis log: " + std::to_string(report.nemesis_log.size()) +
            " steps; shoal cluster status --dir " + options.dir + ")");
  }
  for (const std::string& name : settled->stopped) {
    say(name + " was removed from the cluster: stopped");
  }
  const cluster::ClusterState placed_by = settled->state;
  report.cluster_epoch = placed_by.epoch;
  for (const cluster::Member& m : placed_by.members) {
    if (m.state != cluster::MemberState::kRemoved) {
      report.cluster_members.push_back(m.name);
    }
  }
  for (;;) {
    const bool same = RunOn<bool>([&] { return Identical(&placed_by, &keys); });
    const auto now = SteadyClock::now();
    if (same) {
      report.converged = true;
      report.convergence_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - healed)
              .count();
      break;
    }
    if (now - healed > options.convergence_limit) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // poll
  }

  // 4. The final state, read at r = n, and the verdict.
  auto final =
      RunOn<Result<FinalState>>([&] { return ReadFinal(&placed_by, &keys); });
  if (!final.ok()) return final.status();
  report.keys_checked = keys.size();
  std::vector<Event> events = history.Take();
  {
    std::ofstream out(report.history_path, std::ios::trunc);
    for (const Event& e : events) out << EventToJson(e).dump() << "\n";
    for (const auto& [key, values] : *final) {
      out << CheckJson{{"type", "final"}, {"key", key}, {"values", values}}
                 .dump()
          << "\n";
    }
    if (!out) {
      return Status(Code::kInternal,
                    "cannot write the history to " + report.history_path);
    }
  }
  report.verdict = CheckHistory(options.workload, events, *final);
  report.valid = report.verdict.lost == 0 && report.verdict.resurrected == 0 &&
                 report.verdict.ryw_violations == 0 &&
                 report.verdict.monotonic_violations == 0 && report.converged;
  return report;
}

}  // namespace shoal::tools::check
