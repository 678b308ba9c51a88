// Spreads the cluster state (doc/membership.md, "Spreading the state"):
// every heartbeat carries this node's epoch and digest (Peers pings with
// Heartbeat(), and the Service answers pings with it), and every heartbeat
// heard from a peer goes to Heard(). A peer at a newer epoch is asked for
// its state; the Keeper decides whether to adopt it (cluster/keeper.h), and
// an adopted state is stored in the data directory's meta before the node
// is told to apply it. A peer with a
// different state at our epoch is a conflict: counted, logged once per
// peer until it clears, never merged.
//
// Time comes from the injected Clock only (the fetch's deadline); fetches
// run in a TaskGroup the Gossip owns.
//
// Threads: the node's io_context thread. Persisting an adopted state is a
// synchronous LMDB commit and fsync on that thread (rare: once per epoch).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/task_group.h"
#include "cluster/keeper.h"
#include "node/peers.h"
#include "node/probe.h"
#include "ring/ring.h"
#include "storage/store.h"
#include "wire/messages.h"

namespace shoal::node {

// The meta record the cluster state is kept under (storage::Store::WriteMeta).
inline constexpr char kClusterStateRecord[] = "cluster";

// Stores `state` in the store's meta, encoded (wire::EncodeClusterState).
Status PersistClusterState(storage::Store& store,
                           const cluster::ClusterState& state);
// What the store keeps, or nullopt for a data directory that never had one.
// kCorruption when the record does not decode.
Result<std::optional<cluster::ClusterState>> LoadClusterState(
    const storage::Store& store);

// All references must outlive the Gossip.
class Gossip {
 public:
  // Told each state adopted, once stored (the node applies it); may be
  // empty.
  using Adopted = std::function<void(const cluster::ClusterState&)>;
  Gossip(boost::asio::any_io_executor executor, Clock& clock,
         cluster::Keeper keeper, const ring::Ring& ring, storage::Store& store,
         Peers& peers, ClusterProbe& probe, std::chrono::milliseconds timeout,
         Adopted adopted = {});

  const cluster::Keeper& keeper() const { return keeper_; }
  // What this node's heartbeats carry.
  wire::Ping Heartbeat() const;
  // A heartbeat (ping or pong) from `peer` carried (epoch, digest) and, in
  // `transferred`, the epoch of a change whose transfers to it are done.
  void Heard(ring::NodeIndex peer, uint64_t epoch, uint64_t digest,
             uint64_t transferred = 0);
  // A replica request from `peer` was routed by `epoch`: when that is newer
  // than this node's (and not one already refused), asks the peer for its
  // state, as a heartbeat reporting it would.
  void Ahead(ring::NodeIndex peer, uint64_t epoch);
  // A replica request routed by `epoch`, older than this node's: counted,
  // and answered with this node's state (the sender adopts it and routes
  // again) instead of being served.
  wire::ClusterStateReply RefuseStale(uint64_t epoch);
  // Every member that is up (and not removed) reported this node's epoch
  // and digest.
  bool InStep() const;
  // This node has received every partition the change at `epoch` gives it
  // (node/transfers.h): its heartbeats say so from now on. Ignored for
  // another epoch than the one held.
  void TransfersDone(uint64_t epoch);
  // Offers `state` (fetched from `from`, for the log) to the keeper; an
  // adopted one is stored, then handed to the node. The value says whether
  // it was adopted (false: not newer). Errors: the keeper's refusal, or the
  // store's.
  Result<bool> Adopt(const cluster::ClusterState& state,
                     const std::string& from);

  // Staging (doc/membership.md, "Committing a change"): changes kept at
  // this node, in memory, until committed here. Drops what was staged
  // first if request.clear, or if it was staged on an older epoch (a
  // change committed elsewhere since); then appends request.changes if the
  // plan of everything staged accepts them (MakePlan's error otherwise,
  // and nothing is staged). The reply lists everything staged.
  Result<wire::ClusterStageReply> Stage(wire::ClusterStageRequest request);
  // Commits what is staged (cluster::CommitPlan, with the members that are
  // up and reported this node's epoch and digest as in step) when `epoch`
  // is 0 or this node's epoch: the new state is adopted here (stored, then
  // applied) and spreads with the heartbeats. Errors: a stale `epoch`
  // (kInvalidArgument: plan again), CommitPlan's, the store's.
  Result<cluster::ClusterState> Commit(uint64_t epoch);

  // Ends every fetch in flight; returns once none runs.
  wire::Awaitable<void> Shutdown();

 private:
  wire::Awaitable<void> Fetch(ring::NodeIndex peer);
  // Advances a change in progress (cluster::Advance) once every member
  // that is up holds this state and, while it transfers, every receiver
  // (cluster::Receivers) has reported its transfers done at this epoch and
  // digest: first to switched, then (again in step) to complete. Every node
  // decides this alone and makes the same state, so no two values meet at
  // the next epoch.
  void MaybeComplete();

  Clock& clock_;
  cluster::Keeper keeper_;
  const ring::Ring& ring_;
  storage::Store& store_;
  Peers& peers_;
  ClusterProbe& probe_;
  std::chrono::milliseconds timeout_;
  Adopted adopted_;
  std::set<ring::NodeIndex> fetching_;
  std::set<std::string> conflicting_;  // peers logged as conflicting
  uint64_t transferred_ = 0;  // the change's epoch whose transfers are done
  std::map<std::string, uint64_t, std::less<>> peer_transferred_;
  uint64_t receivers_epoch_ = 0;  // the epoch receivers_ was computed for
  std::vector<std::string> receivers_;
  uint64_t staged_epoch_ = 0;  // the epoch staged_ was staged on
  std::vector<cluster::Change> staged_;
  TaskGroup tasks_;  // last: destroyed first
};

}  // namespace shoal::node
