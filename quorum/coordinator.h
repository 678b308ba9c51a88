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
// Get (doc/impl.md "A get"):
//   1. ask every primary for its own copy (the local one inline);
//   2. answer with the DVV merge of the first r replies;
//   3. keep listening until every primary answered or the deadline, merge
//      everything, and push the merged object to each replica whose copy was
//      missing or older (read repair).
//
// Threads: the node's io_context thread. Replica tasks that outlive the
// answer share its state through a shared_ptr and end by the deadline.
#pragma once

#include <chrono>

#include "base/result.h"
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
  virtual void StaleReplicaAge(std::chrono::milliseconds age) {}
  virtual void ReadRepairSent(bool ok) {}
  // A put's replica acknowledged, `lag` after the coordinator started the
  // put; every ack is reported, including those after the w-th (the
  // coordinator keeps listening until the request deadline).
  virtual void ReplicaAcked(std::chrono::nanoseconds lag) {}
};

// Both references must outlive every coroutine started by the calls below
// (they are node-lifetime objects).
struct CoordinatorOptions {
  // See "route" above; 0 = a primary always coordinates its own puts.
  uint32_t serialize_above_siblings = 0;
};

class Coordinator {
 public:
  Coordinator(ReplicaClient& replicas, const ring::Ring& ring,
              CoordinatorObserver* observer = nullptr,
              CoordinatorOptions options = {})
      : replicas_(replicas),
        ring_(ring),
        observer_(observer),
        options_(options) {}

  // Routes (forwarding if needed) and coordinates a put.
  Awaitable<Result<PutOutcome>> Put(PutArgs args);
  // Coordinates a put here; the caller is one of the key's primaries (or a
  // forwarded request that must not be forwarded again).
  Awaitable<Result<PutOutcome>> CoordinatePut(PutArgs args);
  // Reads with quorum r and starts read repair.
  Awaitable<Result<Object>> Get(GetArgs args);

 private:
  // True when this primary should leave the put to the first live primary
  // (the key's local copy has many siblings).
  Awaitable<bool> LeaveToFirstPrimary(
      const PutArgs& args, const std::vector<ring::NodeIndex>& primaries);

  ReplicaClient& replicas_;
  const ring::Ring& ring_;
  CoordinatorObserver* observer_;
  CoordinatorOptions options_;
};

}  // namespace shoal::quorum
