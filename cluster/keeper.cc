// A node's view of the cluster state and its peers' reports (keeper.h).
#include "cluster/keeper.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace shoal::cluster {

Keeper::Keeper(ClusterState state)
    : state_(std::move(state)), digest_(state_.Digest()) {}

namespace {

// Why a running node at `mine` cannot apply `offered`, or "" if it can.
std::string WhyNotApplicable(const ClusterState& mine,
                             const ClusterState& offered) {
  if (offered.options != mine.options) {
    return "it has n=" + std::to_string(offered.options.n) +
           " and partitions=" + std::to_string(offered.options.partitions) +
           ", this cluster n=" + std::to_string(mine.options.n) +
           " and partitions=" + std::to_string(mine.options.partitions);
  }
  if (offered.members.size() < mine.members.size()) {
    return "it lists fewer members than this node knows (the list only "
           "grows)";
  }
  for (size_t i = 0; i < mine.members.size(); ++i) {
    const Member& a = mine.members[i];
    const Member& b = offered.members[i];
    if (a.name != b.name) {
      return "member " + std::to_string(i) + " is '" + b.name +
             "' there and '" + a.name + "' here (indices never move)";
    }
    if (a.address != b.address && a.state != MemberState::kRemoved &&
        b.state != MemberState::kRemoved) {
      return "it moves '" + a.name + "' from " + a.address + " to " + b.address;
    }
  }
  return "";
}

}  // namespace

Reaction Keeper::Report(const std::string& peer, uint64_t epoch,
                        uint64_t digest) {
  PeerReport& report = reports_[peer];
  report.epoch = epoch;
  report.digest = digest;
  report.conflict = epoch == state_.epoch && digest != digest_;
  if (report.conflict) return Reaction::kConflict;
  if (WorthFetching(epoch)) return Reaction::kFetch;
  return Reaction::kNone;
}

PeerReport Keeper::ReportOf(std::string_view peer) const {
  auto it = reports_.find(peer);
  return it == reports_.end() ? PeerReport{} : it->second;
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
  if (std::string why = WhyNotApplicable(state_, offered); !why.empty()) {
    refused_epoch_ = std::max(refused_epoch_, offered.epoch);
    return Status(Code::kInvalidArgument,
                  "cluster state epoch " + std::to_string(offered.epoch) +
                      " cannot replace epoch " + std::to_string(state_.epoch) +
                      ": " + why);
  }
  state_ = offered;
  digest_ = state_.Digest();
  return true;
}

// By name: a config lists members in any order, the state in join order.
std::string MemberListing(const ClusterState& s) {
  std::vector<std::string> entries;
  for (const Member& m : s.members) {
    if (m.state == MemberState::kRemoved) continue;
    entries.push_back(m.name + "@" + m.address);
  }
  std::sort(entries.begin(), entries.end());
  std::string out;
  for (const std::string& e : entries) out += (out.empty() ? "" : ", ") + e;
  return out;
}

Result<ClusterState> StartingState(
    const std::string& self, const std::optional<ClusterState>& stored,
    const std::optional<ClusterState>& learned,
    const std::optional<ClusterState>& configured) {
  std::optional<ClusterState> chosen = stored;
  if (learned) {
    if (!chosen) {
      chosen = learned;
    } else {
      switch (Compare(*chosen, *learned)) {
        case Order::kNewer:
          chosen = learned;
          break;
        case Order::kConflict:
          return Status(Code::kCorruption,
                        "the stored cluster state and the seeds' differ at "
                        "epoch " +
                            std::to_string(learned->epoch) +
                            ": this data directory belongs to another "
                            "cluster");
        case Order::kOlder:
        case Order::kSame:
          break;
      }
    }
  }
  if (!chosen) {
    if (!configured) {
      return Status(Code::kInvalidArgument,
                    "no cluster state: no members configured, none stored "
                    "and none learned");
    }
    chosen = configured;
  } else if (configured &&
             (configured->options != chosen->options ||
              (chosen->epoch == 1 &&
               MemberListing(*configured) != MemberListing(*chosen)))) {
    return Status(
        Code::kInvalidArgument,
        "the config lists members " + MemberListing(*configured) +
            " (n=" + std::to_string(configured->options.n) +
            ", partitions=" + std::to_string(configured->options.partitions) +
            ") but the cluster state kept in the data directory (epoch " +
            std::to_string(chosen->epoch) + ") has " + MemberListing(*chosen) +
            " (n=" + std::to_string(chosen->options.n) +
            ", partitions=" + std::to_string(chosen->options.partitions) +
            "): members change only through the cluster; list them as "
            "they are, or start the node from cluster.seeds");
  }
  const Member* me = chosen->Find(self);
  if (me == nullptr || me->state == MemberState::kRemoved) {
    return Status(Code::kInvalidArgument,
                  "node '" + self + "' is not a member of the cluster (epoch " +
                      std::to_string(chosen->epoch) + ": " +
                      MemberListing(*chosen) +
                      "); adding a member to a running cluster is not "
                      "built yet");
  }
  return std::move(*chosen);
}

}  // namespace shoal::cluster
