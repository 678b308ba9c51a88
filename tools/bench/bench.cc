// The bench engine: drivers (one connection each) for shoal and Redis, the
// closed- and open-loop runners, and the report formats.
//
// Everything runs on one io_context thread, so the engine's counters,
// histograms and context cache need no locks. The engine owns every
// coroutine it starts (TaskGroup) and waits for all of them before it
// reports.
#include "tools/bench/bench.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <utility>

#include "base/table.h"
#include "client/client.h"
#include "quorum/level.h"
#include "tools/bench/redis_client.h"
#include "wire/connection.h"

namespace shoal::tools {
namespace {

namespace asio = boost::asio;
using client::Client;
using client::GetOptions;
using client::GetResult;
using client::PutOptions;
using client::PutResult;
using Clock = std::chrono::steady_clock;
using wire::Awaitable;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

constexpr uint32_t kMaxValueSize = 4u << 20;  // shoal's default value cap
constexpr std::chrono::milliseconds kProbeTimeout{2000};
constexpr uint32_t kDefaultTimeoutMs = 2000;  // the node's default
// The context cache holds a std::string per key (32 bytes + the context).
constexpr uint64_t kMaxContextKeys = 10'000'000;

std::string ErrorKind(const Status& status) { return CodeName(status.code()); }

// ---------------------------------------------------------------------------
// Drivers: one connection to one node or server, as the engine uses it.
// Contexts are opaque bytes ("" = none); Redis has none.

class Driver {
 public:
  virtual ~Driver() = default;
  // One request that proves the target answers.
  virtual Awaitable<Status> Probe() = 0;
  // A missing key is a success. `*context` gets the reply's context.
  virtual Awaitable<Status> Read(std::string key, std::string* context) = 0;
  // `context` "" = blind. `*new_context` gets the context after the write.
  virtual Awaitable<Status> Write(std::string key, std::string value,
                                  std::string context,
                                  std::string* new_context) = 0;
  virtual Awaitable<Status> Delete(std::string key, std::string context,
                                   std::string* new_context) = 0;
};

class ShoalDriver final : public Driver {
 public:
  ShoalDriver(asio::any_io_executor executor, std::string address,
              const BenchOptions& options)
      : client_(std::move(executor), std::move(address)) {
    get_options_.r = options.r;
    get_options_.timeout_ms = options.timeout_ms;
    put_options_.w = options.w;
    put_options_.timeout_ms = options.timeout_ms;
    if (!options.level.empty()) {
      // Checked by ValidateOptions.
      get_options_.level = quorum::ParseLevel(options.level).value();
      put_options_.level = get_options_.level;
    }
    if (options.sessions) {
      get_options_.session = &session_;
      put_options_.session = &session_;
    }
  }

  Awaitable<Status> Probe() override {
    Result<wire::StatusReply> reply = co_await client_.Status(kProbeTimeout);
    co_return reply.status();
  }

  Awaitable<Status> Read(std::string key, std::string* context) override {
    const GetOptions options = get_options_;
    Result<GetResult> got = co_await client_.Get(std::move(key), options);
    if (!got.ok()) co_return got.status();
    *context = std::move(got->context);
    co_return Status::Ok();
  }

  Awaitable<Status> Write(std::string key, std::string value,
                          std::string context,
                          std::string* new_context) override {
    PutOptions options = put_options_;
    options.context = std::move(context);
    Result<PutResult> put =
        co_await client_.Put(std::move(key), std::move(value), options);
    if (!put.ok()) co_return put.status();
    *new_context = std::move(put->context);
    co_return Status::Ok();
  }

  Awaitable<Status> Delete(std::string key, std::string context,
                           std::string* new_context) override {
    PutOptions options = put_options_;
    options.context = std::move(context);
    Result<PutResult> del = co_await client_.Delete(std::move(key), options);
    if (!del.ok()) co_return del.status();
    *new_context = std::move(del->context);
    co_return Status::Ok();
  }

 private:
  Client client_;
  client::Session session_;  // used when BenchOptions::sessions
  GetOptions get_options_;
  PutOptions put_options_;
};

RedisClient::Options RedisOptions(std::string address) {
  RedisClient::Options options;
  options.address = std::move(address);
  return options;
}

class RedisDriver final : public Driver {
 public:
  RedisDriver(asio::any_io_executor executor, std::string address,
              const BenchOptions& options)
      : client_(std::move(executor), RedisOptions(std::move(address))),
        timeout_(options.timeout_ms == 0 ? kDefaultTimeoutMs
                                         : options.timeout_ms),
        wait_replicas_(options.redis_wait),
        wait_timeout_ms_(options.redis_wait_timeout_ms) {
    if (wait_replicas_ > 0)
      timeout_ += std::chrono::milliseconds(wait_timeout_ms_);
  }

  // Deadlines are named locals: no temporaries inside co_await (GCC 12,
  // doc/impl.md "Toolchain").
  Awaitable<Status> Probe() override {
    const wire::Deadline deadline = Clock::now() + kProbeTimeout;
    Status st = co_await client_.Ping(deadline);
    co_return st;
  }

  Awaitable<Status> Read(std::string key, std::string* context) override {
    const wire::Deadline deadline = Clock::now() + timeout_;
    Result<RedisClient::GetReply> got =
        co_await client_.Get(std::move(key), deadline);
    co_return got.status();
  }

  Awaitable<Status> Write(std::string key, std::string value,
                          std::string context,
                          std::string* new_context) override {
    const wire::Deadline deadline = Clock::now() + timeout_;
    Status st =
        co_await client_.Set(std::move(key), std::move(value), wait_replicas_,
                             wait_timeout_ms_, deadline);
    co_return st;
  }

  Awaitable<Status> Delete(std::string key, std::string context,
                           std::string* new_context) override {
    const wire::Deadline deadline = Clock::now() + timeout_;
    Status st = co_await client_.Del(std::move(key), wait_replicas_,
                                     wait_timeout_ms_, deadline);
    co_return st;
  }

 private:
  RedisClient client_;
  std::chrono::milliseconds timeout_;
  uint32_t wait_replicas_;
  uint32_t wait_timeout_ms_;
};

std::unique_ptr<Driver> MakeDriver(asio::any_io_executor executor,
                                   const Target& target,
                                   const std::string& address,
                                   const BenchOptions& options) {
  if (target.kind == Target::Kind::kRedis) {
    return std::make_unique<RedisDriver>(std::move(executor), address, options);
  }
  return std::make_unique<ShoalDriver>(std::move(executor), address, options);
}

// ---------------------------------------------------------------------------
// TaskGroup: owns the coroutines the engine starts; Wait() returns once all
// have finished. The first exception one of them threw is kept (there
// should be none: errors are values).

class TaskGroup {
 public:
  explicit TaskGroup(asio::any_io_executor executor)
      : executor_(executor), idle_(executor) {}
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  void Spawn(Awaitable<void> task) {
    ++running_;
    asio::co_spawn(executor_, std::move(task), [this](std::exception_ptr e) {
      if (e && !error_) error_ = e;
      if (--running_ == 0) idle_.cancel();
    });
  }

  Awaitable<void> Wait() {
    while (running_ > 0) {
      idle_.expires_at(Clock::time_point::max());
      co_await idle_.async_wait(kAsTuple);
    }
  }

  size_t running() const { return running_; }
  std::exception_ptr error() const { return error_; }

 private:
  asio::any_io_executor executor_;
  asio::steady_timer idle_;
  size_t running_ = 0;
  std::exception_ptr error_;
};

std::string WithCommas(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string Ms(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", static_cast<double>(ns) / 1e6);
  return buf;
}

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// ---------------------------------------------------------------------------
// The engine

class Engine {
 public:
  Engine(asio::io_context& io, const BenchOptions& options,
         const ProgressFn& progress)
      : executor_(io.get_executor()),
        options_(options),
        progress_(progress),
        keys_(options.distribution, options.keys),
        rng_(options.seed),
        ticker_(executor_) {
    if (options_.target.kind == Target::Kind::kShoal && !options_.blind) {
      contexts_.resize(options_.keys);
      needs_read_.resize(options_.keys, 0);
    }
    // Printable values (the CLI prints them as text); each write takes a
    // slice at a random offset.
    std::uniform_int_distribution<int> letter('a', 'z');
    value_pool_.resize(options_.value_size + kValueSlack);
    for (char& c : value_pool_) c = static_cast<char>(letter(rng_));
    for (OpKind op : kAllOps) {
      if (options_.mix.Of(op) > 0) {
        OpReport r;
        r.op = op;
        report_.operations.push_back(std::move(r));
      }
    }
    for (OpKind op : kAllOps) slot_[static_cast<size_t>(op)] = -1;
    for (size_t i = 0; i < report_.operations.size(); ++i) {
      slot_[static_cast<size_t>(report_.operations[i].op)] =
          static_cast<int>(i);
    }
  }

  // 1. probe 2. load 3. run 4. drain. Fails only when no target answers.
  Awaitable<Status> Run() {
    Status probed = co_await ProbeTargets();
    if (!probed.ok()) co_return probed;
    for (uint32_t i = 0; i < options_.concurrency; ++i) {
      const std::string& address = reachable_[i % reachable_.size()];
      drivers_.push_back(
          MakeDriver(executor_, options_.target, address, options_));
    }
    if (options_.load) co_await Load();
    co_await Measure();
    co_return Status::Ok();
  }

  BenchReport TakeReport() {
    BenchReport report = std::move(report_);
    report.workload = options_.workload;
    report.target = options_.target.ToString();
    report.mode = options_.rate > 0 ? "open" : "closed";
    report.sessions = options_.sessions;
    report.level = options_.level;
    report.rate = options_.rate;
    report.shed = shed_;
    report.context_reads = context_reads_;
    report.ops = 0;
    for (const OpReport& op : report.operations) {
      report.ops += op.count;
      report.total.Merge(op.latency);
      report.total_ok.Merge(op.ok_latency);
      for (const auto& [kind, n] : op.errors) report.errors[kind] += n;
    }
    return report;
  }

  std::exception_ptr error() const { return error_; }

 private:
  static constexpr size_t kValueSlack = 256;

  // ---- 1. probe ----

  Awaitable<Status> ProbeTargets() {
    const std::vector<std::string>& addresses = options_.target.addresses;
    std::vector<std::unique_ptr<Driver>> probes;
    std::vector<Status> results(addresses.size());
    TaskGroup group(executor_);
    for (size_t i = 0; i < addresses.size(); ++i) {
      probes.push_back(
          MakeDriver(executor_, options_.target, addresses[i], options_));
      group.Spawn(ProbeOne(probes.back().get(), &results[i]));
    }
    co_await group.Wait();
    std::string failures;
    for (size_t i = 0; i < addresses.size(); ++i) {
      if (results[i].ok()) {
        reachable_.push_back(addresses[i]);
        continue;
      }
      failures += (failures.empty() ? "" : "; ") + addresses[i] + ": " +
                  results[i].message();
    }
    if (reachable_.empty()) {
      co_return Status(Code::kUnavailable,
                       "no target reachable (" + failures + ")");
    }
    if (!failures.empty()) {
      Progress("warning: leaving out targets that did not answer: " + failures);
    }
    co_return Status::Ok();
  }

  static Awaitable<void> ProbeOne(Driver* driver, Status* out) {
    *out = co_await driver->Probe();
  }

  // ---- 2. load ----

  Awaitable<void> Load() {
    const Clock::time_point start = Clock::now();
    report_.load.ran = true;
    TaskGroup group(executor_);
    for (auto& driver : drivers_) group.Spawn(LoadWorker(driver.get()));
    StartTicker([this, start] {
      const double elapsed = Seconds(Clock::now() - start);
      char buf[160];
      std::snprintf(buf, sizeof(buf),
                    "[load %3.0fs] %s/%s keys (%.0f %%)  %s keys/s  errors %s",
                    elapsed, WithCommas(loaded_).c_str(),
                    WithCommas(options_.keys).c_str(),
                    100.0 * static_cast<double>(loaded_) /
                        static_cast<double>(options_.keys),
                    WithCommas(static_cast<uint64_t>(
                                   static_cast<double>(loaded_ - last_loaded_)))
                        .c_str(),
                    WithCommas(load_errors_).c_str());
      last_loaded_ = loaded_;
      Progress(buf);
    });
    co_await group.Wait();
    co_await StopTicker();
    NoteError(group.error());
    report_.load.keys = loaded_;
    report_.load.duration_s = Seconds(Clock::now() - start);
    Progress("loaded " + WithCommas(loaded_) + " keys in " +
             std::to_string(report_.load.duration_s).substr(0, 5) +
             " s, errors " + WithCommas(load_errors_));
  }

  Awaitable<void> LoadWorker(Driver* driver) {
    while (next_load_ < options_.keys) {
      const uint64_t index = next_load_++;
      std::string key = KeyName(index);
      std::string value = NextValue();
      std::string context;
      std::string after;
      Status st = co_await driver->Write(std::move(key), std::move(value),
                                         std::move(context), &after);
      ++loaded_;
      if (st.ok()) {
        RememberWrite(index, std::move(after));
      } else {
        ++load_errors_;
        ++report_.load.errors[ErrorKind(st)];
      }
    }
  }

  // ---- 3. run ----

  Awaitable<void> Measure() {
    start_ = Clock::now();
    if (options_.duration_s > 0) {
      end_ = start_ + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(options_.duration_s));
    }
    TaskGroup group(executor_);
    StartTicker([this] { PrintProgress(); });
    if (options_.rate > 0) {
      // The scheduler starts each request in `group` too, so Wait() also
      // covers the requests still in flight when it stops.
      group.Spawn(OpenLoop(&group));
    } else {
      for (auto& driver : drivers_) group.Spawn(ClosedWorker(driver.get()));
    }
    co_await group.Wait();
    const Clock::time_point end = Clock::now();
    co_await StopTicker();
    NoteError(group.error());
    report_.duration_s = Seconds(end - start_);
  }

  bool MoreToSend(Clock::time_point now) const {
    if (options_.ops > 0 && issued_ >= options_.ops) return false;
    if (options_.duration_s > 0 && now >= end_) return false;
    return true;
  }

  Awaitable<void> ClosedWorker(Driver* driver) {
    for (;;) {
      const Clock::time_point start = Clock::now();
      if (!MoreToSend(start)) break;
      ++issued_;
      const OpKind op = PickOp();
      const uint64_t index = keys_.Next(rng_);
      Status st = co_await Execute(driver, op, index);
      Record(op, Clock::now() - start, st);
    }
  }

  Awaitable<void> OpenLoop(TaskGroup* group) {
    const double interval_ns = 1e9 / options_.rate;
    asio::steady_timer timer(executor_);
    for (uint64_t i = 0;; ++i) {
      const Clock::time_point intended =
          start_ + std::chrono::nanoseconds(static_cast<int64_t>(
                       std::llround(static_cast<double>(i) * interval_ns)));
      if (!MoreToSend(intended)) break;
      if (intended > Clock::now()) {
        timer.expires_at(intended);
        co_await timer.async_wait(kAsTuple);
      }
      ++issued_;
      const OpKind op = PickOp();
      const uint64_t index = keys_.Next(rng_);
      // The scheduler itself is one of the group's tasks.
      if (group->running() - 1 >= options_.max_in_flight) {
        ++shed_;
        continue;
      }
      Driver* driver = drivers_[i % drivers_.size()].get();
      group->Spawn(OpenRequest(driver, op, index, intended));
    }
  }

  Awaitable<void> OpenRequest(Driver* driver, OpKind op, uint64_t index,
                              Clock::time_point intended) {
    Status st = co_await Execute(driver, op, index);
    Record(op, Clock::now() - intended, st);
  }

  // One operation on key `index`, with the context bookkeeping.
  Awaitable<Status> Execute(Driver* driver, OpKind op, uint64_t index) {
    std::string key = KeyName(index);
    switch (op) {
      case OpKind::kRead: {
        std::string context;
        Status st = co_await driver->Read(std::move(key), &context);
        if (st.ok()) RememberRead(index, std::move(context));
        co_return st;
      }
      case OpKind::kWrite: {
        std::string context;
        Status known = co_await ContextForWrite(driver, index, &context);
        if (!known.ok()) co_return known;
        std::string value = NextValue();
        std::string after;
        Status st = co_await driver->Write(std::move(key), std::move(value),
                                           std::move(context), &after);
        if (st.ok()) RememberWrite(index, std::move(after));
        co_return st;
      }
      case OpKind::kDelete: {
        std::string context;
        Status known = co_await ContextForWrite(driver, index, &context);
        if (!known.ok()) co_return known;
        std::string after;
        Status st =
            co_await driver->Delete(std::move(key), std::move(context), &after);
        if (st.ok()) RememberWrite(index, std::move(after));
        co_return st;
      }
      case OpKind::kReadModifyWrite: {
        std::string read_key = key;
        std::string context;
        Status read = co_await driver->Read(std::move(read_key), &context);
        if (!read.ok()) co_return read;
        std::string value = NextValue();
        std::string after;
        Status st = co_await driver->Write(std::move(key), std::move(value),
                                           std::move(context), &after);
        if (st.ok()) RememberWrite(index, std::move(after));
        co_return st;
      }
    }
    co_return Status(Code::kInternal, "unknown operation");
  }

  // The context the next write of key `index` carries: the cached one, or,
  // when the last write of the key reported siblings (an empty context), a
  // fresh one from a get, as a client must do before it writes again
  // (client/client.h, PutResult). That get is part of the write's latency.
  Awaitable<Status> ContextForWrite(Driver* driver, uint64_t index,
                                    std::string* context) {
    if (contexts_.empty()) co_return Status::Ok();  // blind, or Redis
    if (!needs_read_[index]) {
      *context = contexts_[index];
      co_return Status::Ok();
    }
    ++context_reads_;
    std::string key = KeyName(index);
    Status st = co_await driver->Read(std::move(key), context);
    if (st.ok()) RememberRead(index, *context);
    co_return st;
  }

  // ---- helpers ----

  OpKind PickOp() {
    const uint32_t roll = static_cast<uint32_t>(rng_() % 100);
    uint32_t below = 0;
    for (OpKind op : kAllOps) {
      below += options_.mix.Of(op);
      if (roll < below) return op;
    }
    return OpKind::kRead;  // unreachable: the mix sums to 100
  }

  std::string NextValue() {
    const size_t offset = static_cast<size_t>(rng_() % kValueSlack);
    return value_pool_.substr(offset, options_.value_size);
  }

  // A get's context covers every sibling it returned.
  void RememberRead(uint64_t index, std::string context) {
    if (contexts_.empty()) return;
    contexts_[index] = std::move(context);
    needs_read_[index] = 0;
  }

  // A put's context; empty when the key holds other siblings too, and then
  // the next write reads first.
  void RememberWrite(uint64_t index, std::string context) {
    if (contexts_.empty()) return;
    needs_read_[index] = context.empty() ? 1 : 0;
    contexts_[index] = std::move(context);
  }

  void Record(OpKind op, Clock::duration latency, const Status& status) {
    const auto ns = static_cast<uint64_t>(std::max<int64_t>(
        0,
        std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count()));
    OpReport& r =
        report_.operations[static_cast<size_t>(slot_[static_cast<size_t>(op)])];
    ++r.count;
    r.latency.Record(ns);
    window_.Record(ns);
    ++completed_;
    if (!status.ok()) {
      ++r.errors[ErrorKind(status)];
      ++errors_;
    } else {
      r.ok_latency.Record(ns);
    }
  }

  void PrintProgress() {
    const Clock::time_point now = Clock::now();
    const double elapsed = Seconds(now - start_);
    const double window_s = Seconds(now - window_start_);
    const uint64_t window_ops = window_.Count();
    char buf[256];
    int len = std::snprintf(
        buf, sizeof(buf),
        "[%4.0fs] %s ops/s (overall %s)  p50 %s ms  p99 %s ms  errors %s",
        elapsed,
        WithCommas(
            static_cast<uint64_t>(
                window_s > 0 ? static_cast<double>(window_ops) / window_s : 0))
            .c_str(),
        WithCommas(
            static_cast<uint64_t>(
                elapsed > 0 ? static_cast<double>(completed_) / elapsed : 0))
            .c_str(),
        Ms(window_.Percentile(50)).c_str(), Ms(window_.Percentile(99)).c_str(),
        WithCommas(errors_).c_str());
    if (options_.rate > 0 && len > 0 &&
        static_cast<size_t>(len) < sizeof(buf)) {
      std::snprintf(buf + len, sizeof(buf) - static_cast<size_t>(len),
                    "  shed %s", WithCommas(shed_).c_str());
    }
    window_.Reset();
    window_start_ = now;
    Progress(buf);
  }

  // Calls `tick` once a second until StopTicker().
  void StartTicker(std::function<void()> tick) {
    ticking_ = true;
    window_.Reset();
    window_start_ = Clock::now();
    ticker_tasks_ = std::make_unique<TaskGroup>(executor_);
    ticker_tasks_->Spawn(Tick(std::move(tick)));
  }

  Awaitable<void> Tick(std::function<void()> tick) {
    Clock::time_point next = Clock::now() + std::chrono::seconds(1);
    while (ticking_) {
      ticker_.expires_at(next);
      co_await ticker_.async_wait(kAsTuple);
      if (!ticking_) break;
      tick();
      next += std::chrono::seconds(1);
    }
  }

  // Stops the ticker and waits until its coroutine has ended.
  Awaitable<void> StopTicker() {
    ticking_ = false;
    ticker_.cancel();
    co_await ticker_tasks_->Wait();
  }

  void Progress(const std::string& line) {
    if (progress_) progress_(line);
  }

  void NoteError(std::exception_ptr e) {
    if (e && !error_) error_ = e;
  }

  asio::any_io_executor executor_;
  const BenchOptions& options_;
  const ProgressFn& progress_;
  KeyChooser keys_;
  std::mt19937_64 rng_;
  std::string value_pool_;
  std::vector<std::string> contexts_;  // per key; empty = not kept
  std::vector<uint8_t> needs_read_;    // per key: last write saw siblings
  std::vector<std::string> reachable_;
  std::vector<std::unique_ptr<Driver>> drivers_;

  BenchReport report_;
  int slot_[4];  // OpKind -> index in report_.operations, -1 = not in mix
  Clock::time_point start_{};
  Clock::time_point end_{};
  uint64_t issued_ = 0;
  uint64_t completed_ = 0;
  uint64_t errors_ = 0;
  uint64_t shed_ = 0;
  uint64_t context_reads_ = 0;
  uint64_t next_load_ = 0;
  uint64_t loaded_ = 0;
  uint64_t last_loaded_ = 0;
  uint64_t load_errors_ = 0;

  Histogram window_;  // every op of the current one-second window
  Clock::time_point window_start_{};
  asio::steady_timer ticker_;
  bool ticking_ = false;
  std::unique_ptr<TaskGroup> ticker_tasks_;
  std::exception_ptr error_;
};

// Drives Engine::Run for co_spawn (which needs a default-constructible
// result).
Awaitable<void> RunEngine(Engine* engine, Status* out) {
  *out = co_await engine->Run();
}

double Us(uint64_t ns) {
  return std::round(static_cast<double>(ns) / 100.0) / 10.0;
}

double Us(double ns) { return std::round(ns / 100.0) / 10.0; }

Json ErrorsJson(const std::map<std::string, uint64_t>& errors) {
  Json out = Json::object();
  for (const auto& [kind, n] : errors) out[kind] = n;
  return out;
}

std::string ErrorsText(const std::map<std::string, uint64_t>& errors,
                       char separator) {
  std::string out;
  for (const auto& [kind, n] : errors) {
    if (!out.empty()) out.push_back(separator);
    out += kind + "=" + std::to_string(n);
  }
  return out;
}

double PerSecond(uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0;
}

double Round1(double v) { return std::round(v * 10.0) / 10.0; }

}  // namespace

// ---------------------------------------------------------------------------
// Options

const char* OpName(OpKind op) {
  switch (op) {
    case OpKind::kRead:
      return "read";
    case OpKind::kWrite:
      return "write";
    case OpKind::kDelete:
      return "delete";
    case OpKind::kReadModifyWrite:
      return "rmw";
  }
  return "unknown";
}

uint32_t Mix::Of(OpKind op) const {
  switch (op) {
    case OpKind::kRead:
      return read;
    case OpKind::kWrite:
      return write;
    case OpKind::kDelete:
      return del;
    case OpKind::kReadModifyWrite:
      return rmw;
  }
  return 0;
}

Result<Mix> ParseMix(std::string_view text) {
  const std::string where = "--mix '" + std::string(text) + "': ";
  if (text.empty()) {
    return Status(Code::kInvalidArgument,
                  where + "empty (expected e.g. read=90,write=10)");
  }
  Mix mix;
  bool seen[4] = {false, false, false, false};
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view part = text.substr(start, comma - start);
    start = comma + 1;
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return Status(Code::kInvalidArgument,
                    where + "'" + std::string(part) +
                        "' is not NAME=PERCENT (names: read, write, delete, "
                        "rmw)");
    }
    const std::string_view name = part.substr(0, eq);
    const std::string_view number = part.substr(eq + 1);
    int which = -1;
    for (OpKind op : kAllOps) {
      if (name == OpName(op)) which = static_cast<int>(op);
    }
    if (which < 0) {
      return Status(Code::kInvalidArgument,
                    where + "unknown operation '" + std::string(name) +
                        "' (names: read, write, delete, rmw)");
    }
    if (seen[which]) {
      return Status(Code::kInvalidArgument,
                    where + "'" + std::string(name) + "' given twice");
    }
    seen[which] = true;
    uint32_t percent = 0;
    auto [ptr, ec] =
        std::from_chars(number.data(), number.data() + number.size(), percent);
    if (number.empty() || ec != std::errc() ||
        ptr != number.data() + number.size() || percent > 100) {
      return Status(Code::kInvalidArgument,
                    where + "'" + std::string(number) +
                        "' is not a percentage (0..100) for " +
                        std::string(name));
    }
    switch (static_cast<OpKind>(which)) {
      case OpKind::kRead:
        mix.read = percent;
        break;
      case OpKind::kWrite:
        mix.write = percent;
        break;
      case OpKind::kDelete:
        mix.del = percent;
        break;
      case OpKind::kReadModifyWrite:
        mix.rmw = percent;
        break;
    }
    if (comma == text.size()) break;
  }
  const uint32_t sum = mix.read + mix.write + mix.del + mix.rmw;
  if (sum != 100) {
    return Status(Code::kInvalidArgument,
                  where + "percentages must sum to 100 (got " +
                      std::to_string(sum) + ")");
  }
  return mix;
}

std::string MixToString(const Mix& mix) {
  std::string out;
  for (OpKind op : kAllOps) {
    if (mix.Of(op) == 0) continue;
    if (!out.empty()) out.push_back(',');
    out += std::string(OpName(op)) + "=" + std::to_string(mix.Of(op));
  }
  return out;
}

Result<Mix> WorkloadMix(std::string_view name) {
  if (name == "a") return Mix{.read = 50, .write = 50};
  if (name == "b") return Mix{.read = 95, .write = 5};
  if (name == "c") return Mix{.read = 100};
  if (name == "f") return Mix{.read = 50, .rmw = 50};
  if (name == "w") return Mix{.write = 100};
  return Status(Code::kInvalidArgument,
                "unknown workload '" + std::string(name) +
                    "' (a: 50/50 read/update, b: 95/5, c: read only, f: "
                    "50/50 read/read-modify-write, w: write only; or --mix)");
}

std::string Target::ToString() const {
  std::string out = kind == Kind::kRedis ? "redis://" : "";
  for (size_t i = 0; i < addresses.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += addresses[i];
  }
  return out;
}

Result<Target> ParseTarget(std::string_view text) {
  Target target;
  constexpr std::string_view kRedis = "redis://";
  if (text.substr(0, kRedis.size()) == kRedis) {
    target.kind = Target::Kind::kRedis;
    std::string address(text.substr(kRedis.size()));
    if (!address.empty() && address.back() == '/') address.pop_back();
    Result<wire::tcp::endpoint> ep = wire::ParseEndpoint(address);
    if (!ep.ok()) {
      return Status(Code::kInvalidArgument,
                    "--target: " + ep.status().message());
    }
    target.addresses.push_back(std::move(address));
    return target;
  }
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string address(text.substr(start, comma - start));
    start = comma + 1;
    if (!address.empty()) {
      Result<wire::tcp::endpoint> ep = wire::ParseEndpoint(address);
      if (!ep.ok()) {
        return Status(Code::kInvalidArgument,
                      "--target: " + ep.status().message());
      }
      target.addresses.push_back(std::move(address));
    }
    if (comma == text.size()) break;
  }
  if (target.addresses.empty()) {
    return Status(Code::kInvalidArgument,
                  "--target: no address (expected HOST:PORT[,HOST:PORT...] "
                  "or redis://HOST:PORT)");
  }
  return target;
}

Status ValidateBenchOptions(const BenchOptions& o) {
  auto bad = [](const std::string& m) {
    return Status(Code::kInvalidArgument, m);
  };
  if (o.keys < 1) return bad("--keys must be at least 1");
  if (o.concurrency < 1) return bad("--concurrency must be at least 1");
  if (o.value_size > kMaxValueSize) {
    return bad("--value-size must be at most " + std::to_string(kMaxValueSize) +
               " bytes");
  }
  if (!(o.rate >= 0) || std::isinf(o.rate)) {
    return bad("--rate must be a positive number of ops/s");
  }
  if (o.max_in_flight < 1) return bad("--max-in-flight must be at least 1");
  if (!(o.duration_s >= 0) || std::isinf(o.duration_s)) {
    return bad("--duration must be a positive number of seconds");
  }
  if (o.duration_s == 0 && o.ops == 0) {
    return bad("give --duration or --ops (or both)");
  }
  if (o.mix.read + o.mix.write + o.mix.del + o.mix.rmw != 100) {
    return bad("the mix must sum to 100 %");
  }
  if (o.target.addresses.empty()) return bad("no target address");
  if (o.target.kind == Target::Kind::kShoal && !o.blind &&
      o.keys > kMaxContextKeys) {
    return bad("--keys above " + std::to_string(kMaxContextKeys) +
               " needs --blind (the bench keeps one context per key)");
  }
  const bool redis = o.target.kind == Target::Kind::kRedis;
  if (redis && (o.r != 0 || o.w != 0)) {
    return bad("--r and --w apply to shoal targets only");
  }
  if (redis && o.blind) return bad("--blind applies to shoal targets only");
  if (!o.level.empty()) {
    if (redis) return bad("--level applies to shoal targets only");
    if (o.r != 0 || o.w != 0) {
      return bad("--level excludes --r and --w: give counts or a level");
    }
    if (auto l = quorum::ParseLevel(o.level); !l.ok()) {
      return bad("--level: " + l.status().message());
    }
  }
  if (redis && o.sessions) {
    return bad("--sessions applies to shoal targets only");
  }
  if (!redis && o.redis_wait != 0) {
    return bad("--redis-wait applies to redis:// targets only");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Reports

uint64_t OpReport::ErrorCount() const {
  uint64_t n = 0;
  for (const auto& [kind, count] : errors) n += count;
  return n;
}

double BenchReport::OpsPerSecond() const { return PerSecond(ops, duration_s); }

uint64_t BenchReport::ErrorCount() const {
  uint64_t n = 0;
  for (const auto& [kind, count] : errors) n += count;
  return n;
}

Result<BenchReport> RunBench(const BenchOptions& options,
                             const ProgressFn& progress) {
  Status valid = ValidateBenchOptions(options);
  if (!valid.ok()) return valid;
  asio::io_context io;
  // The engine (and the connections it owns) is destroyed before `io`.
  Engine engine(io, options, progress);
  Status outcome = Status(Code::kInternal, "bench did not complete");
  std::exception_ptr error;
  asio::co_spawn(io, RunEngine(&engine, &outcome), [&](std::exception_ptr e) {
    error = e;
    io.stop();
  });
  io.run();
  if (!error) error = engine.error();
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      return Status(Code::kInternal, std::string("bench: ") + e.what());
    }
  }
  if (!outcome.ok()) return outcome;
  return engine.TakeReport();
}

namespace {
Json OkJson(const Histogram& h) {
  return Json{{"count", h.Count()},
              {"p50_us", Us(h.Percentile(50))},
              {"p99_us", Us(h.Percentile(99))},
              {"max_us", Us(h.Max())}};
}
}  // namespace

Json BenchReportToJson(const BenchReport& report) {
  Json j;
  j["workload"] = report.workload;
  j["target"] = report.target;
  j["duration_s"] = std::round(report.duration_s * 1000.0) / 1000.0;
  j["ops"] = report.ops;
  j["ops_per_s"] = Round1(report.OpsPerSecond());
  j["errors"] = ErrorsJson(report.errors);
  Json operations = Json::object();
  for (const OpReport& op : report.operations) {
    const Histogram& h = op.latency;
    operations[OpName(op.op)] =
        Json{{"count", op.count},
             {"ops_per_s", Round1(PerSecond(op.count, report.duration_s))},
             {"mean_us", Us(h.Mean())},
             {"p50_us", Us(h.Percentile(50))},
             {"p95_us", Us(h.Percentile(95))},
             {"p99_us", Us(h.Percentile(99))},
             {"p999_us", Us(h.Percentile(99.9))},
             {"max_us", Us(h.Max())},
             {"errors", ErrorsJson(op.errors)},
             {"ok", OkJson(op.ok_latency)}};
  }
  j["operations"] = std::move(operations);
  j["ok"] = OkJson(report.total_ok);
  j["mode"] = report.mode;
  if (report.mode == "open") j["rate"] = report.rate;
  j["sessions"] = report.sessions;
  if (!report.level.empty()) j["level"] = report.level;
  j["shed"] = report.shed;
  j["context_reads"] = report.context_reads;
  if (report.load.ran) {
    j["load"] = Json{
        {"keys", report.load.keys},
        {"duration_s", std::round(report.load.duration_s * 1000.0) / 1000.0},
        {"errors", ErrorsJson(report.load.errors)}};
  }
  return j;
}

std::string BenchReportToText(const BenchReport& report) {
  char line[256];
  std::string out;
  std::snprintf(line, sizeof(line), "workload %s against %s (%s loop%s%s%s)\n",
                report.workload.c_str(), report.target.c_str(),
                report.mode.c_str(),
                report.mode == "open"
                    ? (", " + WithCommas(static_cast<uint64_t>(report.rate)) +
                       " ops/s asked")
                          .c_str()
                    : "",
                report.sessions ? ", sessions" : "",
                report.level.empty() ? "" : (", " + report.level).c_str());
  out += line;
  std::snprintf(
      line, sizeof(line), "%.2f s, %s ops, %s ops/s, %s errors",
      report.duration_s, WithCommas(report.ops).c_str(),
      WithCommas(static_cast<uint64_t>(report.OpsPerSecond())).c_str(),
      WithCommas(report.ErrorCount()).c_str());
  out += line;
  if (report.shed > 0) out += ", " + WithCommas(report.shed) + " shed";
  out += "\n\n";
  std::vector<std::vector<std::string>> rows{{"OP", "COUNT", "OPS/S",
                                              "MEAN(ms)", "P50", "P95", "P99",
                                              "P99.9", "MAX", "ERRORS"}};
  auto row = [&](const std::string& name, uint64_t count, const Histogram& h,
                 const std::map<std::string, uint64_t>& errors) {
    char mean[32];
    std::snprintf(mean, sizeof(mean), "%.3f", h.Mean() / 1e6);
    const std::string errs = ErrorsText(errors, ' ');
    rows.push_back(
        {name, WithCommas(count),
         WithCommas(static_cast<uint64_t>(PerSecond(count, report.duration_s))),
         mean, Ms(h.Percentile(50)), Ms(h.Percentile(95)), Ms(h.Percentile(99)),
         Ms(h.Percentile(99.9)), Ms(h.Max()), errs.empty() ? "-" : errs});
  };
  for (const OpReport& op : report.operations) {
    row(OpName(op.op), op.count, op.latency, op.errors);
  }
  row("total", report.ops, report.total, report.errors);
  out += FormatTable(rows);
  if (report.ErrorCount() > 0 && report.total_ok.Count() > 0) {
    out += "successful requests only: p50 " +
           Ms(report.total_ok.Percentile(50)) + " ms, p99 " +
           Ms(report.total_ok.Percentile(99)) + " ms, max " +
           Ms(report.total_ok.Max()) + " ms\n";
  }
  if (report.total.ClampedHigh() > 0) {
    out += "note: " + WithCommas(report.total.ClampedHigh()) +
           " latencies above 60 s were recorded as 60 s\n";
  }
  return out;
}

Status WriteBenchCsv(const BenchReport& report,
                     const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Status(Code::kInvalidArgument,
                  "--csv: cannot create " + dir.string() + ": " + ec.message());
  }
  auto write = [&](const std::string& name, const std::string& text) -> Status {
    const std::filesystem::path path = dir / name;
    std::ofstream f(path, std::ios::trunc);
    f << text;
    f.close();
    if (!f) {
      return Status(Code::kInvalidArgument,
                    "--csv: cannot write " + path.string());
    }
    return Status::Ok();
  };
  auto fmt = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1f", v);
    return std::string(buf);
  };
  std::string summary =
      "op,count,ops_per_s,mean_us,p50_us,p95_us,p99_us,p999_us,max_us,"
      "errors\n";
  auto summary_row = [&](const std::string& name, uint64_t count,
                         const Histogram& h,
                         const std::map<std::string, uint64_t>& errors) {
    summary += name + "," + std::to_string(count) + "," +
               fmt(PerSecond(count, report.duration_s)) + "," +
               fmt(Us(h.Mean())) + "," + fmt(Us(h.Percentile(50))) + "," +
               fmt(Us(h.Percentile(95))) + "," + fmt(Us(h.Percentile(99))) +
               "," + fmt(Us(h.Percentile(99.9))) + "," + fmt(Us(h.Max())) +
               "," + ErrorsText(errors, ';') + "\n";
  };
  static constexpr double kPercentiles[] = {0,  1,  5,    10,   20,    25, 30,
                                            40, 50, 60,   70,   75,    80, 90,
                                            95, 99, 99.5, 99.9, 99.99, 100};
  for (const OpReport& op : report.operations) {
    summary_row(OpName(op.op), op.count, op.latency, op.errors);
    std::string latency = "percentile,latency_us\n";
    for (double q : kPercentiles) {
      char p[32];
      std::snprintf(p, sizeof(p), "%g", q);
      latency +=
          std::string(p) + "," + fmt(Us(op.latency.Percentile(q))) + "\n";
    }
    Status st = write(std::string(OpName(op.op)) + "_latency.csv", latency);
    if (!st.ok()) return st;
  }
  summary_row("total", report.ops, report.total, report.errors);
  return write("summary.csv", summary);
}

}  // namespace shoal::tools
