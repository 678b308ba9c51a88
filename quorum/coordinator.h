// Get and put coordinators: one request's path through the replicas.
//
// Put (Dynamo §4.5, doc/impl.md "A put"):
//   1. route: a node that is not one of the key's primaries forwards the put
//      to the first reachable primary (the next one only if it could not be
//      reached at all, so a put is never coordinated twice). A primary
//      coordinates its own puts, except for a key whose local copy holds
//      more than `serialize_above_siblings` siblings: those puts go to the
//      first live primary, so that the writes of a key that piles up
//      siblings meet one sibling limit at one place;
//   2. the coordinator's atomic new-dot step on its own replica (one ack);
//   3. the resulting object goes to the other primaries, which merge it; a
//      primary believed down is replaced by the next live fallback, which
//      keeps a durable hint for it (sloppy quorum, ring::SloppyTargets).
//      Hinted acks count toward w; pw counts primaries only;
//   4. answer once w acks are in; once w cannot be reached, wait for the
//      replicas still out (up to the deadline) and fail with the exact
//      count ("may have been applied": the local write stands);
//   5. slower replicas keep going after the answer.
//   Across epochs (doc/membership.md, "Requests across epochs"): every
//   replica call carries the ring's epoch; when the ring moved to a newer
//   epoch while the put waited (a replica at that epoch refused, and the
//   node adopted its state), steps 3-4 run again under the new ring with
//   the same object, and only that fan-out's acks count.
// Get (doc/impl.md "A get"):
//   1. ask every primary for its own copy (the local one inline);
//   2. answer with the DVV merge of the first r replies;
//   3. keep listening until every primary answered or the deadline, merge
//      everything, and push the merged object to each replica whose copy was
//      missing or older (read repair).
//   A get whose ring moved to a newer epoch meanwhile is asked again of the
//   new ring's primaries (and the old attempt repairs nothing).
//
// Time is read only through the injected Clock (base/clock.h), so the
// coordinator runs unchanged in virtual time (tests/sim).
//
// Threads: the node's io_context thread. Replica tasks that outlive the
// answer (the slower replicas of a put, the reads of a get, read repair)
// run in the coordinator's TaskGroup, share the request's state through a
// shared_ptr and end by their deadline or at Shutdown().
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <memory>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "base/task_group.h"
#include "quorum/replica_client.h"
#include "quorum/version.h"
#include "ring/ring.h"

namespace shoal::quorum {

// Observations a coordinator reports (metrics::QuorumProbe implements
// them). Called on the io_context thread; implementations must be cheap.
class CoordinatorObserver {
 public:
  virtual ~CoordinatorObserver() = default;
  // One replica's freshness in a get, known after the repair phase.
  enum class Freshness { kCurrent, kStale, kMissing };
  virtual void ReplicaFreshness(Freshness f) {}
  // A stale replica's lag: now minus written_at of the newest sibling of the
  // merged result that the replica did not hold (wall clocks, so skew
  // between coordinators shows up here; negative ages are reported as 0).
  // `dc`: the replica's datacenter ("" without datacenters).
  virtual void StaleReplicaAge(std::chrono::milliseconds age,
                               std::string_view dc) {}
  virtual void ReadRepairSent(bool ok) {}
  // A put's replica acknowledged, `lag` after the coordinator started the
  // put; every ack is reported, including those after the w-th (the
  // coordinator keeps listening until the request deadline). `dc`: the
  // replica's datacenter ("" without datacenters).
  virtual void ReplicaAcked(std::chrono::nanoseconds lag, std::string_view dc) {
  }
};

struct CoordinatorOptions {
  // See "route" above; 0 = a primary always coordinates its own puts.
  uint32_t serialize_above_siblings = 0;
  // Read repair's own deadline, counted from when it starts (after every
  // primary answered or the request deadline passed, which may be spent).
  std::chrono::milliseconds read_repair_timeout{2000};
  // PLANTED BUG, for tests/sim only (the simulator must catch it); the
  // product never sets it. When true, read repair repairs only replicas that
  // lack the key entirely (kMissing) and skips stale ones (kStale), so a
  // replica that missed an update stays behind.
  bool TEST_repair_skips_stale = false;
};

// `clock`, `replicas`, `ring` and `observer` must outlive the coordinator
// (they are node-lifetime objects). The coordinator must outlive every call
// below, and may be destroyed only after Shutdown() completed or when no
// task is left running (its TaskGroup's rule).
struct FanOut;  // one request's tallies, shared with its replica tasks

class Coordinator {
 public:
  // How many times a request follows a ring that moved to a newer epoch
  // before it answers with what the last attempt got.
  static constexpr int kMaxReroutes = 3;

  // Replica tasks run on `executor` (the node's io_context).
  Coordinator(boost::asio::any_io_executor executor, Clock& clock,
              ReplicaClient& replicas, const ring::Ring& ring,
              CoordinatorObserver* observer = nullptr,
              CoordinatorOptions options = {})
      : clock_(clock),
        replicas_(replicas),
        ring_(ring),
        observer_(observer),
        options_(options),
        tasks_(std::move(executor)) {}

  // Routes (forwarding if needed) and coordinates a put.
  Awaitable<Result<PutOutcome>> Put(PutArgs args);
  // Coordinates a put here; the caller is one of the key's primaries (or a
  // forwarded request that must not be forwarded again).
  Awaitable<Result<PutOutcome>> CoordinatePut(PutArgs args);
  // Reads with quorum r and starts read repair.
  Awaitable<Result<Object>> Get(GetArgs args);
  // A datacenter's forwarder (ReplicaClient::ReplicateVia, seen from the
  // receiving side): sends `object` to every target (this node included,
  // when it is one) and returns one status per target, in order, once
  // `wait_for` acknowledged (0 = all), every target answered, or at the
  // deadline; kTimeout for the targets still out (they go on in the
  // background, as a put's slower replicas do).
  Awaitable<std::vector<Status>> Relay(std::vector<ring::ReplicaTarget> targets,
                                       std::string key, ring::KeyLocation loc,
                                       Object object, uint32_t wait_for,
                                       Deadline deadline, uint64_t epoch);

  // Cancels every replica task (late acks, pending reads, read repairs)
  // and returns once none is running. Afterwards the coordinator starts
  // nothing: a put or get it is asked to coordinate fails `unavailable`
  // (forwarding still works, it starts no task). Must not be awaited from
  // one of the coordinator's own tasks.
  Awaitable<void> Shutdown();

 private:
  // True when this primary should leave the put to the first live primary
  // (the key's local copy has many siblings).
  Awaitable<bool> LeaveToFirstPrimary(
      const PutArgs& args, const std::vector<ring::NodeIndex>& primaries);

  // Sends `object` to the put's targets under the ring now (its primaries,
  // fallbacks for the dead ones, pending replicas) and returns the tally
  // their acks go to. `local_acked`: the coordinator's own write counts as
  // its replica's ack (the first fan-out); otherwise it is sent like the
  // others.
  std::shared_ptr<FanOut> FanOutPut(boost::asio::any_io_executor ex,
                                    const PutArgs& args,
                                    std::shared_ptr<const Object> object,
                                    Clock::TimePoint started, bool local_acked);
  // One attempt of Get under the ring now.
  Awaitable<Result<Object>> GetOnce(GetArgs args);

  // The error for a request that arrives after Shutdown() began.
  Status ShuttingDown(std::string_view op) const;

  Clock& clock_;
  ReplicaClient& replicas_;
  const ring::Ring& ring_;
  CoordinatorObserver* observer_;
  CoordinatorOptions options_;
  TaskGroup tasks_;  // last: destroyed first, once its tasks have ended
};

}  // namespace shoal::quorum
