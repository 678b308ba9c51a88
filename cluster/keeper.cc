// A node's view of the cluster state and its peers' reports (keeper.h).
#include "cluster/keeper.h"

#include <algorithm>
#include <utility>

namespace shoal::cluster {

Keeper::Keeper(ClusterState state, std::string self)
    : state_(std::move(state)),
      digest_(state_.Digest()),
      self_(std::move(self)) {}

Reaction Keeper::Report(const std::string& peer, uint64_t epoch,
                        uint64_t digest) {
  PeerReport& report = reports_[peer];
  report.epoch = epoch;
  report.digest = digest;
  report.conflict = epoch == state_.epoch && digest != digest_;
  if (report.conflict) return Reaction::kConflict;
  if (epoch > state_.epoch && epoch > refused_epoch_) return Reaction::kFetch;
  return Reaction::kNone;
}

PeerReport Keeper::ReportOf(std::string_view peer) const {
  auto it = reports_.find(peer);
  return it == reports_.end() ? PeerReport{} : it->second;
}

bool Keeper::Converged() const {
  for (const Member& m : state_.members) {
    if (m.state == MemberState::kRemoved || m.name == self_) continue;
    const PeerReport report = ReportOf(m.name);
    if (report.epoch != state_.epoch || report.digest != digest_) return false;
  }
  return true;
}

Result<bool> Keeper::Offer(const ClusterState& offered) {
  switch (Compare(state_, offered)) {
    case Order::kOlder:
    case Order::kSame:
      return false;
    case Order::kConflict:
      return Status(Code::kCorruption,
                    "two different cluster states at epoch " +
                        std::to_string(offered.epoch) + " (digests " +
                        std::to_string(digest_) + " here, " +
                        std::to_string(offered.Digest()) +
                        " offered): concurrent commits, or nodes started "
                        "from different member lists; not merged");
    case Order::kNewer:
      break;
  }
  if (offered.claim != state_.claim || offered.next_claim != state_.next_claim ||
      offered.options != state_.options) {
    refused_epoch_ = std::max(refused_epoch_, offered.epoch);
    return Status(Code::kInvalidArgument,
                  "cluster state epoch " + std::to_string(offered.epoch) +
                      " changes the claim of epoch " +
                      std::to_string(state_.epoch) +
                      "; this node cannot apply a new claim while serving "
                      "(partition transfer is not built yet)");
  }
  state_ = offered;
  digest_ = state_.Digest();
  return true;
}

}  // namespace shoal::cluster
