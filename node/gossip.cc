#include "node/gossip.h"

#include <spdlog/spdlog.h>

#include "wire/codec.h"

namespace shoal::node {

Status PersistClusterState(storage::Store& store,
                           const cluster::ClusterState& state) {
  return store.WriteMeta(kClusterStateRecord, wire::EncodeClusterState(state));
}

Result<std::optional<cluster::ClusterState>> LoadClusterState(
    const storage::Store& store) {
  auto bytes = store.ReadMeta(kClusterStateRecord);
  if (!bytes.ok()) return bytes.status();
  if (!bytes.value()) return std::optional<cluster::ClusterState>();
  auto state = wire::DecodeClusterState(**bytes);
  if (!state.ok()) return state.status();
  return std::optional<cluster::ClusterState>(std::move(state).value());
}

Gossip::Gossip(boost::asio::any_io_executor executor, Clock& clock,
               cluster::Keeper keeper, const ring::Ring& ring,
               storage::Store& store, Peers& peers, ClusterProbe& probe,
               std::chrono::milliseconds timeout, Adopted adopted)
    : clock_(clock),
      keeper_(std::move(keeper)),
      ring_(ring),
      store_(store),
      peers_(peers),
      probe_(probe),
      timeout_(timeout),
      adopted_(std::move(adopted)),
      tasks_(executor) {}

wire::Ping Gossip::Heartbeat() const {
  const uint64_t epoch = keeper_.epoch();
  return wire::Ping{keeper_.epoch(), keeper_.digest(),
                    transferred_ == epoch ? epoch : 0};
}

void Gossip::TransfersDone(uint64_t epoch) {
  if (epoch != keeper_.epoch() || !keeper_.state().changing()) return;
  transferred_ = epoch;
  spdlog::info("cluster: every transfer to this node for epoch {} is done",
               epoch);
  MaybeComplete();
}

bool Gossip::InStep() const {
  for (ring::NodeIndex i = 0; i < ring_.members().size(); ++i) {
    if (i == peers_.self() || ring_.retired(i) || !peers_.IsUp(i)) continue;
    const cluster::PeerReport report = keeper_.ReportOf(ring_.members()[i]);
    if (report.epoch != keeper_.epoch() || report.digest != keeper_.digest()) {
      return false;
    }
  }
  return true;
}

void Gossip::Ahead(ring::NodeIndex peer, uint64_t epoch) {
  if (!keeper_.WorthFetching(epoch)) return;
  if (fetching_.insert(peer).second && !tasks_.cancelled()) {
    tasks_.Spawn(Fetch(peer));
  }
}

wire::ClusterStateReply Gossip::RefuseStale(uint64_t epoch) {
  probe_.StaleRequest();
  spdlog::debug("a replica request routed by epoch {} answered with epoch {}",
                epoch, keeper_.epoch());
  return wire::ClusterStateReply{keeper_.state()};
}

void Gossip::MaybeComplete() {
  const cluster::ClusterState& state = keeper_.state();
  if (!state.changing()) return;
  // Transferring: every receiver must have reported its partitions.
  // Switched (reads are on the next claim's owners): the change completes,
  // and writes leave the previous owners, once every member that is up
  // reads there too.
  if (!state.switched) {
    if (receivers_epoch_ != state.epoch) {
      receivers_ = cluster::Receivers(state);
      receivers_epoch_ = state.epoch;
    }
    const std::string& self = ring_.members()[peers_.self()];
    for (const std::string& name : receivers_) {
      if (name == self) {
        if (transferred_ != state.epoch) return;
        continue;
      }
      const cluster::PeerReport report = keeper_.ReportOf(name);
      auto it = peer_transferred_.find(name);
      if (report.epoch != state.epoch || report.digest != keeper_.digest() ||
          it == peer_transferred_.end() || it->second != state.epoch) {
        return;
      }
    }
  }
  // Every member that is up holds this state too: none still routes by
  // the state before it (doc/membership.md, "The switch").
  if (!InStep()) return;
  auto next = cluster::Advance(state);
  if (!next.ok()) return;
  (void)Adopt(next.value(),
              state.switched ? "its own count: every member reads epoch " +
                                   std::to_string(state.epoch) + "'s new owners"
                             : "its own count: every transfer of epoch " +
                                   std::to_string(state.epoch) + " is done");
}

void Gossip::Heard(ring::NodeIndex peer, uint64_t epoch, uint64_t digest,
                   uint64_t transferred) {
  const std::string& name = ring_.members()[peer];
  peer_transferred_[name] = transferred;
  switch (keeper_.Report(name, epoch, digest)) {
    case cluster::Reaction::kNone:
      conflicting_.erase(name);
      if (keeper_.state().changing()) MaybeComplete();
      break;
    case cluster::Reaction::kConflict:
      if (conflicting_.insert(name).second) {
        probe_.Conflict();
        spdlog::error(
            "peer {} holds a different cluster state at epoch {} (digest "
            "{:016x}, ours {:016x}): concurrent commits, or nodes started "
            "from different member lists; not merged",
            name, epoch, digest, keeper_.digest());
      }
      break;
    case cluster::Reaction::kFetch:
      conflicting_.erase(name);
      if (fetching_.insert(peer).second && !tasks_.cancelled()) {
        tasks_.Spawn(Fetch(peer));
      }
      break;
  }
}

wire::Awaitable<void> Gossip::Fetch(ring::NodeIndex peer) {
  wire::Body request = wire::ClusterStateRequest{};
  auto reply = co_await peers_.Channel(peer).Call(std::move(request),
                                                  clock_.Now() + timeout_);
  fetching_.erase(peer);
  const std::string name = ring_.members()[peer];  // the ring may change
  if (!reply.ok()) {
    spdlog::info("asking {} for its cluster state: {}", name,
                 reply.status().message());
    co_return;
  }
  auto* got = std::get_if<wire::ClusterStateReply>(&reply.value());
  if (got == nullptr) co_return;
  if (got->state.epoch > keeper_.epoch()) (void)Adopt(got->state, name);
}

Result<bool> Gossip::Adopt(const cluster::ClusterState& state,
                           const std::string& from) {
  const uint64_t before = keeper_.epoch();
  cluster::Keeper trial = keeper_;
  auto adopted = trial.Offer(state);
  if (!adopted.ok()) {
    probe_.Refused();
    keeper_ = std::move(trial);  // remembers the refusal: not fetched again
    spdlog::error("cluster state from {}: {}", from,
                  adopted.status().message());
    return adopted.status();
  }
  if (!adopted.value()) return false;
  // Stored before it is used: a restart never goes back to an older epoch.
  if (Status st = PersistClusterState(store_, state); !st.ok()) {
    spdlog::error("storing cluster state epoch {} from {}: {}", state.epoch,
                  from, st.message());
    return st;
  }
  keeper_ = std::move(trial);
  probe_.Adopted();
  probe_.Epoch(keeper_.epoch());
  spdlog::info("cluster state epoch {} (was {}) from {}", keeper_.epoch(),
               before, from);
  if (adopted_) adopted_(keeper_.state());
  return true;
}

Result<wire::ClusterStageReply> Gossip::Stage(
    wire::ClusterStageRequest request) {
  if (!staged_.empty() && (request.clear || staged_epoch_ != keeper_.epoch())) {
    if (!request.clear) {
      spdlog::warn(
          "dropping {} change(s) staged at epoch {}: the cluster is at epoch "
          "{} now",
          staged_.size(), staged_epoch_, keeper_.epoch());
    }
    staged_.clear();
  }
  staged_epoch_ = keeper_.epoch();
  if (!request.changes.empty()) {
    std::vector<cluster::Change> all = staged_;
    all.insert(all.end(), request.changes.begin(), request.changes.end());
    auto plan = cluster::MakePlan(keeper_.state(), all);
    if (!plan.ok()) return plan.status();
    for (const cluster::Change& c : request.changes) {
      spdlog::info("cluster: staged {} at epoch {}", cluster::Describe(c),
                   staged_epoch_);
    }
    staged_ = std::move(all);
  }
  return wire::ClusterStageReply{staged_epoch_, staged_};
}

Result<cluster::ClusterState> Gossip::Commit(uint64_t epoch) {
  const uint64_t mine = keeper_.epoch();
  if (staged_epoch_ != mine) staged_.clear();  // staged on an older state
  if (epoch != 0 && epoch != mine) {
    return Status(Code::kInvalidArgument,
                  "the change was planned at epoch " + std::to_string(epoch) +
                      " but this node holds epoch " + std::to_string(mine) +
                      ": look at the plan again (shoal cluster plan)");
  }
  std::set<std::string> in_step;
  for (ring::NodeIndex i = 0; i < ring_.members().size(); ++i) {
    const std::string& name = ring_.members()[i];
    if (!peers_.IsUp(i)) continue;
    const cluster::PeerReport report = keeper_.ReportOf(name);
    if (i == peers_.self() ||
        (report.epoch == mine && report.digest == keeper_.digest())) {
      in_step.insert(name);
    }
  }
  auto next = cluster::CommitPlan(keeper_.state(), staged_, in_step);
  if (!next.ok()) return next.status();
  auto adopted = Adopt(next.value(), "a commit at this node");
  if (!adopted.ok()) return adopted.status();
  for (const cluster::Change& c : staged_) {
    spdlog::warn("cluster: committed {} at epoch {}", cluster::Describe(c),
                 next.value().epoch);
  }
  staged_.clear();
  return std::move(next).value();
}

wire::Awaitable<void> Gossip::Shutdown() {
  tasks_.Cancel();
  co_await tasks_.Wait();
}

}  // namespace shoal::node
