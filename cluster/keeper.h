// What one node knows of the cluster state (doc/membership.md, "Spreading
// the state"): its own value, and the epoch and digest each peer last
// reported in a heartbeat. It decides what a report or an offered state
// means; the node does the I/O (asks the peer for its state, persists what
// the keeper adopts).
//
//   Keeper keeper(state);
//   switch (keeper.Report("n2", epoch, digest)) {
//     case Reaction::kFetch: ... ask n2 for its state, then Offer() it
//     case Reaction::kConflict: ... counted and logged, never merged
//   }
//
// A running node applies a newer state (its ring, peer links and trees
// follow; doc/membership.md, "Applying a state"), except one it cannot
// serve with: another n or Q (fixed for a cluster's life), a member's
// address changed under the same name (the peers would keep dialling the
// old one), or a member's index moved (the list only grows). Such a state
// is refused with the reason, and not fetched again.
//
// Pure: no I/O, clocks or threads. Thread-safety: none (the node's
// io_context thread).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "cluster/state.h"

namespace shoal::cluster {

enum class Reaction {
  kNone,      // same state, or an older one (the peer will fetch ours)
  kFetch,     // the peer holds a newer epoch: ask it for its state
  kConflict,  // same epoch, different value: two concurrent commits
};

struct PeerReport {
  uint64_t epoch = 0;  // 0 = never reported
  uint64_t digest = 0;
  bool conflict = false;  // its value differs from ours at our epoch
};

class Keeper {
 public:
  explicit Keeper(ClusterState state);

  const ClusterState& state() const { return state_; }
  uint64_t epoch() const { return state_.epoch; }
  uint64_t digest() const { return digest_; }

  // A peer's heartbeat said it holds (epoch, digest). Remembers it and says
  // what to do. A newer epoch already refused (Offer) is not fetched again.
  Reaction Report(const std::string& peer, uint64_t epoch, uint64_t digest);
  // Whether a state at `epoch` is worth asking for: newer than this one and
  // than any already refused.
  bool WorthFetching(uint64_t epoch) const {
    return epoch > state_.epoch && epoch > refused_epoch_;
  }
  // The last report of `peer` ({} if none).
  PeerReport ReportOf(std::string_view peer) const;

  // A state a peer sent. Adopted (ok, and state() is it) when its epoch is
  // newer and it keeps what this node serves with (above); ok and
  // unchanged when it is not newer and not a conflict; the value says
  // whether it was adopted. Errors: kInvalidArgument naming why a newer
  // state is refused; kCorruption for a conflict (the same epoch with a
  // different value: the cluster's one-value-per-epoch rule is broken).
  Result<bool> Offer(const ClusterState& offered);

 private:
  ClusterState state_;
  uint64_t digest_;
  std::map<std::string, PeerReport, std::less<>> reports_;
  uint64_t refused_epoch_ = 0;  // newest epoch refused by Offer
};

// The state a node starts from (doc/membership.md, "Starting a node"):
// `stored` is what its data directory kept, `learned` what its seeds sent,
// `configured` the first state of its config's member list. The stored or
// learned one, whichever has the higher epoch (error on a conflict);
// `configured` only for a new ring (neither exists). Otherwise it must
// have the same n and partitions, and while the cluster is at epoch 1 (no
// change committed) list exactly the members (names and addresses), or the
// config is out of date or meant for another cluster and the error says
// so. Once the cluster has changed, its state wins over the config's list
// (the node warns, MemberListing). Then `self` must be a member that is
// not removed (error naming the members otherwise).
// "n1@addr, n2@addr": the members that are not removed, sorted by name.
std::string MemberListing(const ClusterState& state);

Result<ClusterState> StartingState(
    const std::string& self, const std::optional<ClusterState>& stored,
    const std::optional<ClusterState>& learned,
    const std::optional<ClusterState>& configured);

}  // namespace shoal::cluster
