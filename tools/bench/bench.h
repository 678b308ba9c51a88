// The workload engine behind `shoal bench`: YCSB-shaped workloads against
// a shoal ring or a Redis server, with latency histograms, a progress line
// per second and a final report (table, JSON, CSV).
//
// A run: 1. probe the targets (one status request or PING each; drop the
// unreachable, fail when none answers) 2. optionally load every key once
// 3. run the workload until --duration or --ops is reached 4. wait for the
// requests still in flight 5. report.
//
// Loops:
// - Closed loop (default): `concurrency` workers, worker i owning client i,
//   clients spread round-robin over the target's nodes; each worker has one
//   request outstanding and sends the next when it completes. Latency is
//   each request's own round trip.
// - Open loop (`rate` > 0): requests are started at fixed intervals of
//   1/rate, spread round-robin over `concurrency` clients (each carries
//   many requests at once). Latency counts from each request's intended
//   start, so a stall delays and counts every request it held up
//   (corrected for coordinated omission). At most `max_in_flight` requests
//   are outstanding; a request due beyond that is not sent and is counted
//   as shed.
//
// Writes and contexts (shoal): the bench remembers, per key, the last
// context a reply gave it (get or put) and sends it with the next write of
// that key, the way an application that reads its own writes would. Writes
// then supersede what the bench has seen, and siblings stay bounded by real
// concurrency. A put whose reply has no context (the key holds concurrent
// siblings, client/client.h PutResult) makes the next write of that key get
// the key first, inside that write's latency; the report counts these gets
// as context_reads. `blind` sends every write without a context instead: each
// becomes a new sibling (doc/impl.md, "Blind writes become siblings"), so a
// hot key's object grows for the whole run. The read-modify-write op (f)
// always uses the context of its own get.
//
// Threads: everything runs on one io_context thread, created by RunBench.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tools/bench/histogram.h"
#include "tools/bench/keygen.h"

namespace shoal::tools {

// JSON documents keep their keys in insertion order (the documented order).
using Json = nlohmann::ordered_json;

enum class OpKind : uint8_t { kRead, kWrite, kDelete, kReadModifyWrite };
inline constexpr OpKind kAllOps[] = {OpKind::kRead, OpKind::kWrite,
                                     OpKind::kDelete, OpKind::kReadModifyWrite};
// "read", "write", "delete", "rmw".
const char* OpName(OpKind op);

// Percentages of each operation; they add up to 100.
struct Mix {
  uint32_t read = 0;
  uint32_t write = 0;
  uint32_t del = 0;
  uint32_t rmw = 0;
  uint32_t Of(OpKind op) const;
  friend bool operator==(const Mix&, const Mix&) = default;
};

// "read=R,write=W,delete=D" (any order, any subset; `rmw=X` too; missing =
// 0). Errors: kInvalidArgument naming the bad part, or "percentages must
// sum to 100 (got S)".
Result<Mix> ParseMix(std::string_view text);
// "read=95,write=5" style: only nonzero parts, in the order above.
std::string MixToString(const Mix& mix);

// YCSB's core workloads, by letter: a 50 % read / 50 % update, b 95/5, c
// read only, f 50 % read / 50 % read-modify-write (a get, then a put with
// the context that get returned), and w write only. Errors:
// kInvalidArgument listing the names.
Result<Mix> WorkloadMix(std::string_view name);

// Where requests go.
struct Target {
  enum class Kind { kShoal, kRedis };
  Kind kind = Kind::kShoal;
  std::vector<std::string> addresses;  // HOST:PORT each; one for Redis
  // "127.0.0.1:7101,127.0.0.1:7102" or "redis://127.0.0.1:6379".
  std::string ToString() const;
};
// "redis://HOST:PORT" or "HOST:PORT[,HOST:PORT...]" (each address is
// checked). Errors: kInvalidArgument.
Result<Target> ParseTarget(std::string_view text);

struct BenchOptions {
  std::string workload = "a";  // for the report: a letter or the mix
  Mix mix{.read = 50, .write = 50};
  Target target;
  uint64_t keys = 100'000;
  uint32_t value_size = 100;  // bytes
  Distribution distribution = Distribution::kZipfian;
  bool load = false;                // write every key once before the run
  uint32_t concurrency = 16;        // workers (closed) or connections (open)
  double rate = 0;                  // ops/s; 0 = closed loop
  uint32_t max_in_flight = 10'000;  // open loop only
  double duration_s = 0;            // 0 = no time bound
  uint64_t ops = 0;                 // 0 = no count bound; one of the two is set
  uint32_t r = 0, w = 0;            // shoal: per request; 0 = cluster default
  uint32_t timeout_ms = 0;  // shoal: per request; 0 = node default (2 s)
  bool blind = false;       // shoal: writes without contexts (see above)
  // shoal: every connection keeps a client::Session that its requests carry
  // (read-your-writes and monotonic reads per connection; in the open loop
  // a connection's requests overlap and its token is the last reply's).
  bool sessions = false;
  // shoal: a consistency level instead of r and w ("" = explicit counts):
  // quorum, local_quorum or each_quorum (quorum/level.h).
  std::string level;
  uint32_t redis_wait = 0;  // redis: WAIT N after each write; 0 = none
  uint32_t redis_wait_timeout_ms = 1000;
  uint64_t seed = 1;
};

// Checks what the types do not: keys >= 1, concurrency >= 1, a duration or
// an op count, rate >= 0, max_in_flight >= 1, value_size <= 4 MiB, the mix
// sums to 100, shoal-only options (r, w, blind) not with Redis,
// redis_wait only with Redis, and keys <= 10,000,000 unless blind (the
// context cache holds one string per key). Errors: kInvalidArgument naming the
// option.
Status ValidateBenchOptions(const BenchOptions& options);

// One operation's results.
struct OpReport {
  OpKind op = OpKind::kRead;
  uint64_t count = 0;  // completed requests, errors included
  Histogram latency;   // every completed request, errors included
  // Successful requests only: under overload the fast `overloaded` answers
  // would otherwise hide how long the admitted requests took.
  Histogram ok_latency;
  std::map<std::string, uint64_t> errors;  // code name -> count
  uint64_t ErrorCount() const;
};

struct LoadReport {
  bool ran = false;
  uint64_t keys = 0;
  double duration_s = 0;
  std::map<std::string, uint64_t> errors;
};

struct BenchReport {
  std::string workload;
  std::string target;
  std::string mode;       // "closed" or "open"
  bool sessions = false;  // shoal: requests carried sessions
  std::string level;      // shoal: the consistency level ("" = counts)
  double rate = 0;        // open loop: the requested rate
  double duration_s = 0;  // first request sent to last reply received
  uint64_t ops = 0;       // the sum of the operations' counts
  uint64_t shed = 0;      // open loop: requests not sent (too many in flight)
  // shoal: gets the bench issued before writes, because the key's last
  // write reported siblings (counted inside those writes' latency).
  uint64_t context_reads = 0;
  std::vector<OpReport> operations;  // the mix's operations, kAllOps order
  Histogram total;                   // every operation's latencies
  Histogram total_ok;                // successful requests' latencies
  std::map<std::string, uint64_t> errors;  // summed over operations
  LoadReport load;
  double OpsPerSecond() const;
  uint64_t ErrorCount() const;
};

// Progress lines for a person (no trailing newline), about once a second.
using ProgressFn = std::function<void(const std::string&)>;

// Runs the benchmark. Request errors do not fail the run: they are counted
// by kind. Errors: kUnavailable when no target answers the probe,
// kInvalidArgument from ValidateBenchOptions.
Result<BenchReport> RunBench(const BenchOptions& options,
                             const ProgressFn& progress);

// The --json document:
//   {"workload", "target", "duration_s", "ops", "ops_per_s",
//    "errors": {kind: count},
//    "operations": {op: {"count", "ops_per_s", "mean_us", "p50_us",
//                        "p95_us", "p99_us", "p999_us", "max_us",
//                        "errors": {kind: count},
//                        "ok": {"count", "p50_us", "p99_us", "max_us"}}},
//    "ok": {"count", "p50_us", "p99_us", "max_us"} (every operation),
//    "mode", "rate" (open loop), "shed", "context_reads",
//    "load": {"keys", "duration_s", "errors"} (with --load)}
// Latencies are microseconds with one decimal.
Json BenchReportToJson(const BenchReport& report);
// The final table: one row per operation and a total row (count, ops/s,
// mean, p50, p95, p99, p99.9, max in ms, errors by kind), after a summary
// line.
std::string BenchReportToText(const BenchReport& report);
// --csv DIR: DIR/summary.csv (a row per operation and "total") and
// DIR/<op>_latency.csv (percentile,latency_us rows). Creates DIR. Errors:
// kInvalidArgument when a file cannot be written.
Status WriteBenchCsv(const BenchReport& report,
                     const std::filesystem::path& dir);

}  // namespace shoal::tools
