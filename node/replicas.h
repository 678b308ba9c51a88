// quorum::ReplicaClient over this node's store (the local replica) and its
// peer channels (every other replica).
//
// Time (a write's written_at, what is left of a forwarded put's deadline)
// is read from the injected Clock only.
//
// Threads: the node's io_context thread. Local writes are committed at the
// end of the io_context turn (storage::AsyncWrite); hints are fsynced on the
// store's writer thread; both complete back on the io_context.
#pragma once

#include <functional>

#include "base/clock.h"
#include "cluster/state.h"
#include "node/faults.h"
#include "node/peers.h"
#include "quorum/replica_client.h"
#include "storage/async.h"
#include "storage/store.h"

namespace shoal::node {

// Merges `object` into this node's copy of `key` (a replica's write, as a
// replicate from a peer would).
quorum::Awaitable<Status> MergeLocally(storage::Store& store,
                                       const std::string& key,
                                       const ring::KeyLocation& loc,
                                       const quorum::Object& object);

// All references must outlive this object.
class NodeReplicas : public quorum::ReplicaClient {
 public:
  // A replica at a newer epoch refused a call and sent its state: the node
  // adopts it (Gossip::Adopt), so its ring moves on before the call fails.
  using Newer =
      std::function<void(ring::NodeIndex from, const cluster::ClusterState&)>;
  // `clock` stamps coordinated writes (WallMs) and measures deadlines
  // (Now); `faults` gives the clock skew added to the stamp.
  NodeReplicas(Clock& clock, const ring::Ring& ring, ring::NodeIndex self,
               storage::Store& store, Peers& peers, const FaultTable& faults,
               Newer newer)
      : clock_(clock),
        ring_(ring),
        self_(self),
        store_(store),
        peers_(peers),
        faults_(faults),
        newer_(std::move(newer)) {}

  ring::NodeIndex self() const override { return self_; }
  bool IsUp(ring::NodeIndex node) const override { return peers_.IsUp(node); }
  quorum::Awaitable<Result<quorum::Object>> Read(ring::NodeIndex node,
                                                 const std::string& key,
                                                 const ring::KeyLocation& loc,
                                                 quorum::Deadline deadline,
                                                 uint64_t epoch) override;
  quorum::Awaitable<Result<std::vector<Status>>> ReplicateVia(
      const std::vector<ring::ReplicaTarget>& targets, const std::string& key,
      const ring::KeyLocation& loc, const quorum::Object& object,
      quorum::Deadline deadline, uint64_t epoch, uint32_t wait_for) override;
  quorum::Awaitable<Status> Replicate(
      ring::NodeIndex node, const std::string& key,
      const ring::KeyLocation& loc, const quorum::Object& object,
      quorum::Deadline deadline, uint64_t epoch,
      std::optional<ring::NodeIndex> hint_for) override;
  quorum::Awaitable<Result<quorum::Object>> CoordinateLocally(
      const quorum::PutArgs& args) override;
  quorum::Awaitable<Result<quorum::PutOutcome>> ForwardPut(
      ring::NodeIndex node, const quorum::PutArgs& args,
      uint64_t epoch) override;

 private:
  // `node` answered a call stamped `epoch` with its newer `state`: hands
  // the state to newer_ and returns the call's error (kUnavailable, nothing
  // done there).
  Status Refused(ring::NodeIndex node, const cluster::ClusterState& state,
                 uint64_t epoch);

  Clock& clock_;
  const ring::Ring& ring_;
  ring::NodeIndex self_;
  storage::Store& store_;
  Peers& peers_;
  const FaultTable& faults_;
  Newer newer_;
};

}  // namespace shoal::node
