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
  return wire::Ping{keeper_.epoch(), keeper_.digest()};
}

void Gossip::Heard(ring::NodeIndex peer, uint64_t epoch, uint64_t digest) {
  const std::string& name = ring_.members()[peer];
  switch (keeper_.Report(name, epoch, digest)) {
    case cluster::Reaction::kNone:
      conflicting_.erase(name);
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

wire::Awaitable<void> Gossip::Shutdown() {
  tasks_.Cancel();
  co_await tasks_.Wait();
}

}  // namespace shoal::node
