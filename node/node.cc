#include "node/node.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include "storage/async.h"

namespace shoal::node {

namespace asio = boost::asio;

namespace {

// The members the node links to and serves with: every one not removed.
std::vector<Member> ServingMembers(const cluster::ClusterState& state) {
  std::vector<Member> out;
  for (const cluster::Member& m : state.members) {
    if (m.state != cluster::MemberState::kRemoved) {
      out.push_back({m.name, m.address, m.dc, m.rack});
    }
  }
  return out;
}

std::vector<bool> RetiredFlags(const ring::Ring& ring) {
  std::vector<bool> out;
  for (ring::NodeIndex i = 0; i < ring.members().size(); ++i) {
    out.push_back(ring.retired(i));
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Node>> Node::Create(asio::io_context& io,
                                           NodeConfig config,
                                           metrics::Metrics& metrics,
                                           NodeEnv env) {
  config.storage.dir = config.data_dir;
  config.storage.max_object_bytes = config.max_object_bytes;
  config.storage.max_hints_per_target = config.max_hints_per_target;
  config.storage.max_siblings = config.max_siblings;
  config.storage.conflict = config.conflict;
  config.storage.clock = env.clock;  // null: the system clock
  config.storage.actor_seed = env.actor_seed;
  config.storage.TEST_reuse_dot = env.bugs.reuse_dot;
  auto store = storage::Store::Open(config.storage);
  if (!store) return store.status();
  if ((*store)->actor_reminted()) {
    spdlog::warn(
        "{}: the last session ended without a clean close before a "
        "reboot; unsynced writes may be lost, so this node now uses "
        "a new actor id {:016x}",
        config.data_dir, (*store)->actor());
  }
  // The cluster state (doc/membership.md, "Starting a node"): kept in the
  // data directory, learned from seeds, or the first of the config's ring.
  auto stored = LoadClusterState(**store);
  if (!stored) {
    return Status(stored.status().code(),
                  config.data_dir + ": " + stored.status().message());
  }
  std::optional<cluster::ClusterState> configured;
  if (!config.members.empty()) {
    std::vector<cluster::Member> members;
    for (const Member& m : config.members) {
      members.push_back(
          {m.name, m.address, cluster::MemberState::kValid, m.dc, m.rack});
    }
    auto initial = cluster::ClusterState::Initial(
        std::move(members), {config.partitions, config.n, config.dcs});
    if (!initial) return initial.status();
    configured = std::move(initial).value();
  }
  auto state =
      cluster::StartingState(config.name, *stored, env.learned, configured);
  if (!state) return state.status();
  if (configured &&
      cluster::MemberListing(*configured) != cluster::MemberListing(*state)) {
    spdlog::warn(
        "the config lists members {}; the cluster has {} since epoch {}, "
        "which wins (membership changes through the cluster)",
        cluster::MemberListing(*configured), cluster::MemberListing(*state),
        state->epoch);
  }
  if (!*stored || **stored != *state) {
    if (Status st = PersistClusterState(**store, *state); !st.ok()) return st;
  }
  // The ring and the peers come from the state; n and Q are the cluster's.
  config.n = state->options.n;
  config.dcs = state->options.dcs;
  config.partitions = state->options.partitions;
  if (config.w > config.n || config.r > config.n) {
    return Status(
        Code::kInvalidArgument,
        "w=" + std::to_string(config.w) + " and r=" + std::to_string(config.r) +
            " must not exceed the cluster's n=" + std::to_string(config.n));
  }
  config.members = ServingMembers(*state);
  auto ring = cluster::RingOf(*state);
  if (!ring) return ring.status();
  auto self = ring->IndexOf(config.name);
  if (!self) return self.status();
  return std::unique_ptr<Node>(
      new Node(io, std::move(config), env, std::move(ring.value()), *self,
               std::move(store.value()), std::move(state).value(), metrics));
}

Node::Node(asio::io_context& io, NodeConfig config, NodeEnv env,
           ring::Ring ring, ring::NodeIndex self,
           std::unique_ptr<storage::Store> store, cluster::ClusterState state,
           metrics::Metrics& metrics)
    : io_(io),
      clock_(env.clock != nullptr ? *env.clock : system_clock_),
      env_(env),
      config_(std::move(config)),
      ring_(std::move(ring)),
      self_(self),
      store_(std::move(store)),
      metrics_(metrics),
      request_probe_(metrics_.registry()),
      quorum_probe_(metrics_.registry()),
      transport_probe_(metrics_.registry(), ring_.members(), self_),
      // Scrape threads: Store::Stats is safe on any thread.
      storage_probe_(metrics_, [this] { return store_->Stats(); }),
      // Scrape threads: the store's hint reads are safe on any thread.
      handoff_probe_(metrics_, HintTargetNames(),
                     [this] { return handoff::ReadHintFigures(*store_); }),
      aae_probe_(metrics_.registry()),
      cluster_probe_(metrics_.registry(), state.epoch),
      frame_cap_(wire::FrameCapFor(config_.max_object_bytes)),
      admission_(config_.max_requests),
      budget_(std::make_shared<wire::ByteBudget>(config_.max_inflight_bytes)),
      max_connections_(ConnectionCapacity()),
      load_probe_(metrics_,
                  [this] {
                    return LoadFigures{
                        client_connections_.load(std::memory_order_relaxed),
                        peer_connections_.load(std::memory_order_relaxed),
                        admission_.in_flight(), budget_->used()};
                  }),
      faults_(config_.name, env.seed != 0 ? env.seed : std::random_device{}()),
      peers_(io.get_executor(), clock_, ring_, self_, config_.members,
             PeerOptions{std::chrono::milliseconds(config_.heartbeat_ms),
                         std::chrono::milliseconds(config_.down_after_ms),
                         frame_cap_, config_.frame_timeout,
                         [this](ring::NodeIndex peer, bool up) {
                           transport_probe_.PeerState(peer, up);
                         },
                         [this](ring::NodeIndex peer) {
                           return faults_.Decide(ring_.members()[peer]);
                         },
                         [this] { return gossip_.Heartbeat(); },
                         [this](ring::NodeIndex peer, const wire::Pong& pong) {
                           gossip_.Heard(peer, pong.epoch, pong.digest,
                                         pong.transferred);
                         }},
             env.channels),
      gossip_(io.get_executor(), clock_, cluster::Keeper(std::move(state)),
              ring_, *store_, peers_, cluster_probe_,
              std::chrono::milliseconds(config_.request_timeout_ms),
              [this](const cluster::ClusterState& s) { Apply(s); }),
      handoff_transport_(peers_, *store_, ring_, self_),
      handoff_(io.get_executor(), clock_, *store_, handoff_transport_, ring_,
               handoff::Options{
                   .enabled = config_.handoff_enabled,
                   .max_rate = config_.handoff_max_rate,
                   .batch = config_.handoff_batch,
                   .busy = [this] { return admission_.Busy(clock_.Now()); },
                   .on_delivered = env.on_hint_deleted,
                   .TEST_deletes_early = env.bugs.handoff_deletes_early}),
      trees_(ring_, self_),
      aae_transport_(peers_),
      aae_(io.get_executor(), clock_, ring_, self_, *store_, trees_,
           aae_transport_,
           antientropy::Options{
               .enabled = config_.aae_enabled,
               .interval = std::chrono::milliseconds(config_.aae_interval_ms),
               .repair_rate = config_.aae_repair_rate,
               .transfer_rate = config_.aae_transfer_rate,
               .frame_cap = frame_cap_,
               .start_seed = env.seed,
               .busy = [this] { return admission_.Busy(clock_.Now()); }},
           &aae_probe_),
      reaper_(io.get_executor(), clock_, ring_, self_, *store_, aae_transport_,
              reaper::Options{
                  .enabled = config_.reap_enabled,
                  .grace = config_.tombstone_grace,
                  .interval = config_.reap_interval,
                  .batch = config_.reap_batch,
                  .call_timeout =
                      std::chrono::milliseconds(config_.request_timeout_ms),
                  .busy = [this] { return admission_.Busy(clock_.Now()); },
                  .TEST_unsafe = config_.TEST_reap_unsafe}),
      reaper_probe_(
          metrics_, [this] { return reaper_.stats(); },
          [this] { return clock_.WallMs(); }),
      transfers_(
          io.get_executor(), clock_, ring_, self_, aae_, cluster_probe_,
          [this](ring::NodeIndex i) { return peers_.IsUp(i); },
          [this](uint64_t epoch) { gossip_.TransfersDone(epoch); }),
      service_(io.get_executor(), clock_, config_, ring_, self_, *store_,
               peers_, handoff_, aae_, reaper_, gossip_, transfers_, faults_,
               admission_, request_probe_, quorum_probe_,
               ServiceOptions{
                   .TEST_ack_before_commit = env.bugs.ack_before_commit,
                   .TEST_repair_skips_stale = env.bugs.repair_skips_stale}),
      acceptor_(io),
      accept_retry_(io),
      tasks_(io.get_executor()) {
  transport_probe_.Update(ring_.members(), RetiredFlags(ring_));
  // Before any write: the trees saved at the last clean shutdown, then
  // every committed change reaches the trees.
  trees_.Load(*store_);
  store_->SetObjectObserver(&trees_);
}

void Node::Apply(const cluster::ClusterState& state) {
  auto ring = cluster::RingOf(state);
  if (!ring.ok()) {
    spdlog::error("cluster state epoch {} not applied: {}", state.epoch,
                  ring.status().message());
    return;
  }
  const std::vector<uint32_t> before = trees_.partitions();
  // Every component holds a reference to ring_: from the next io turn on
  // they all route by the new one. Member indices never move, so indices
  // held by requests in flight still name the same members.
  ring_ = std::move(ring).value();
  config_.members = ServingMembers(state);
  peers_.Update(ring_, config_.members);
  transport_probe_.Update(ring_.members(), RetiredFlags(ring_));
  if (ring_.retired(self_)) {
    spdlog::warn("node {} was removed from the cluster at epoch {}",
                 config_.name, state.epoch);
  }
  // Trees for the partitions replicated here and, while a change is in
  // progress, for those this node is receiving.
  const std::vector<uint32_t> added = trees_.Track(ring_.HeldBy(self_));
  if (!env_.background_rebuild) {
    if (Status st = trees_.RebuildAll(*store_); !st.ok()) {
      spdlog::error("anti-entropy trees after epoch {}: {}", state.epoch,
                    st.message());
    }
  }
  spdlog::info(
      "cluster epoch {} applied: {} members, {} partitions replicated here "
      "(was {}, {} new)",
      state.epoch, config_.members.size(), trees_.partitions().size(),
      before.size(), added.size());
  transfers_.Follow(state.epoch);
  // Copies to drop: those this state stopped replicating, plus any an
  // earlier epoch's drop did not reach before the next change.
  for (uint32_t p : before) {
    if (!trees_.Holds(p)) undropped_.insert(p);
  }
  std::erase_if(undropped_, [&](uint32_t p) { return trees_.Holds(p); });
  if (!undropped_.empty() && !tasks_.cancelled()) {
    tasks_.Spawn(DropPartitions(state.epoch));
  }
}

wire::Awaitable<void> Node::DropPartitions(uint64_t epoch) {
  while (!gossip_.InStep()) {
    Timer wait(clock_, co_await asio::this_coro::executor);
    wait.expires_after(std::chrono::milliseconds(config_.heartbeat_ms));
    co_await wait.async_wait(asio::use_awaitable);
    if (gossip_.keeper().epoch() != epoch) co_return;
  }
  const auto started = clock_.Now();
  size_t dropped = 0;
  const std::vector<uint32_t> partitions(undropped_.begin(), undropped_.end());
  for (uint32_t p : partitions) {
    while (gossip_.keeper().epoch() == epoch && !trees_.Holds(p)) {
      storage::WriteOp op;
      op.kind = storage::WriteOp::Kind::kDropPartition;
      op.loc.partition = p;
      auto r = co_await storage::AsyncWrite(*store_, std::move(op));
      if (!r.ok()) {
        spdlog::error("dropping partition {}: {}", p, r.status().message());
        co_return;
      }
      if (!r->changed) {
        ++dropped;
        undropped_.erase(p);
        break;
      }
    }
  }
  spdlog::info(
      "cluster epoch {}: dropped the copies of {} partitions this node no "
      "longer replicates in {} ms",
      epoch, dropped,
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() -
                                                            started)
          .count());
}

Node::~Node() {
  Stop();
  // Nothing submits writes any more (the io_context has stopped, or never
  // ran them); once the queued ones have reached the trees, the trees hold
  // every write and are saved for the next start.
  store_->Drain();
  if (Status st = trees_.Save(*store_); !st.ok()) {
    spdlog::warn("anti-entropy trees not saved ({}); the next start rebuilds",
                 st.message());
  }
  store_->SetObjectObserver(nullptr);
}

bool Node::PeerTransport::IsUp(ring::NodeIndex node) const {
  return peers_.IsUp(node);
}

wire::Awaitable<Result<wire::Body>> Node::PeerTransport::Call(
    ring::NodeIndex node, wire::Body request, wire::Deadline deadline) {
  auto reply = co_await peers_.Channel(node).Call(std::move(request), deadline);
  if (!reply) peers_.ReportFailure(node, reply.status());
  co_return reply;
}

bool Node::HandoffTransport::IsUp(ring::NodeIndex node) const {
  return peers_.IsUp(node);
}

wire::Awaitable<Result<wire::Body>> Node::HandoffTransport::Call(
    ring::NodeIndex node, wire::Body request, wire::Deadline deadline) {
  if (node != self_) {
    co_return co_await peers_.Channel(node).Call(std::move(request), deadline);
  }
  // A hint for a member that left, delivered to this node as one of its
  // key's primaries: merged here as a peer's replicate would be.
  auto* replicate = std::get_if<wire::ReplicateRequest>(&request);
  if (replicate == nullptr) {
    co_return Status(Code::kInternal, "handoff sent itself a non-replicate");
  }
  Status st = co_await MergeLocally(
      store_, replicate->key, ring_.Locate(replicate->key), replicate->object);
  if (!st.ok()) co_return st;
  co_return wire::Body{wire::ReplicateReply{}};
}

std::vector<std::string> Node::HintTargetNames() const {
  std::vector<std::string> out;
  for (ring::NodeIndex i = 0; i < ring_.members().size(); ++i) {
    if (i != self_ && !ring_.retired(i)) out.push_back(ring_.members()[i]);
  }
  return out;
}

Status Node::Start() {
  if (env_.listen) {
    auto ep = wire::ParseEndpoint(config_.listen);
    if (!ep) return ep.status();
    boost::system::error_code ec;
    acceptor_.open(ep->protocol(), ec);
    if (!ec) {
      acceptor_.set_option(wire::tcp::acceptor::reuse_address(true), ec);
    }
    if (!ec) acceptor_.bind(*ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status(Code::kUnavailable,
                    "cannot listen on " + config_.listen + ": " + ec.message());
    }
    tasks_.Spawn(AcceptLoop());
  }
  peers_.Start();
  handoff_.Start();
  if (env_.background_rebuild) {
    // The node serves while its trees are rebuilt; exchanges of a partition
    // wait for its tree.
    trees_.StartRebuild(*store_);
  } else if (Status st = trees_.RebuildAll(*store_); !st.ok()) {
    return st;
  }
  aae_.Start();
  reaper_.Start();
  // A change in progress when the node stopped: receive its partitions.
  transfers_.Follow(gossip_.keeper().epoch());
  spdlog::info(
      "node {} (actor {:016x}) listening on {}, data in {}, n={} "
      "w={} r={} partitions={}",
      config_.name, store_->actor(), config_.listen, config_.data_dir,
      config_.n, config_.w, config_.r, ring_.partitions());
  return Status::Ok();
}

uint32_t Node::ConnectionCapacity() const {
  // Every client connection is a descriptor; so are the peer links (two per
  // member), LMDB's files, the metrics exposer's sockets and the log.
  const rlim_t reserve = 2 * config_.members.size() + 128;
  const rlim_t want = config_.max_connections + reserve;
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return config_.max_connections;
  // As much as the hard limit allows: connections beyond max_connections
  // still need a descriptor for the moment it takes to refuse them.
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur >= want) return config_.max_connections;
  const uint32_t capacity =
      rl.rlim_cur > reserve ? static_cast<uint32_t>(rl.rlim_cur - reserve) : 1;
  spdlog::warn(
      "open-file limit {} (hard {}) is too low for limits.max_connections = "
      "{}: this node takes at most {} client connections",
      rl.rlim_cur, rl.rlim_max, config_.max_connections, capacity);
  return capacity;
}

wire::Awaitable<void> Node::AcceptLoop() {
  bool warned = false;
  while (!stopped_) {
    auto [ec, socket] =
        co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (stopped_ || ec == asio::error::operation_aborted) co_return;
      // Out of descriptors (or another transient failure): the pending
      // connections wait in the listen backlog while we back off.
      if (!warned) spdlog::warn("accept failed: {}", ec.message());
      warned = true;
      accept_retry_.expires_after(std::chrono::milliseconds(100));
      co_await accept_retry_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    warned = false;
    const bool refusing =
        client_connections_.load(std::memory_order_relaxed) >= max_connections_;
    Serve(std::move(socket), refusing);
  }
}

void Node::Serve(wire::tcp::socket socket, bool refusing) {
  using Event = wire::ConnectionLimits::Event;
  wire::ConnectionLimits limits;
  limits.frame_timeout = config_.frame_timeout;
  // A connection over the limit gets one second to introduce itself as a
  // peer.
  limits.idle_timeout =
      refusing ? std::chrono::milliseconds(1000) : config_.idle_timeout;
  limits.max_in_flight = config_.max_in_flight;
  if (config_.max_inflight_bytes != 0) limits.budget = budget_;
  // Per connection: still refusing (not yet a peer's).
  auto refused = std::make_shared<bool>(refusing);
  limits.observe = [this, refused](Event e) {
    using C = LoadProbe::Closed;
    using P = LoadProbe::Paused;
    switch (e) {
      case Event::kIdleTimeout:
        // A refused connection is counted as refused when it closes.
        if (*refused) return;
        return load_probe_.ConnectionClosed(C::kIdle);
      case Event::kFrameTimeout:
        return load_probe_.ConnectionClosed(C::kFrameTimeout);
      case Event::kOutputBacklog:
        return load_probe_.ConnectionClosed(C::kOutputBacklog);
      case Event::kBadFrame:
        return load_probe_.ConnectionClosed(C::kBadFrame);
      case Event::kPausedInFlight:
        return load_probe_.ReadPaused(P::kInFlight);
      case Event::kPausedBudget:
        return load_probe_.ReadPaused(P::kBudget);
      case Event::kPausedOutput:
        return load_probe_.ReadPaused(P::kOutput);
    }
  };
  auto conn = std::make_shared<wire::FramedConnection>(std::move(socket),
                                                       frame_cap_, limits);
  connections_.insert(conn);
  if (!refusing) client_connections_.fetch_add(1, std::memory_order_relaxed);
  std::weak_ptr<wire::FramedConnection> weak = conn;
  conn->Start(
      [this, weak, refused](wire::Message msg, wire::RequestTicket ticket) {
        auto c = weak.lock();
        if (!c) return;
        const bool was_peer = !c->label().empty();
        const auto* hello = std::get_if<wire::Hello>(&msg.body);
        if (*refused &&
            (hello == nullptr || !ring_.IndexOf(hello->node).ok())) {
          c->Send(wire::Message{
              msg.id,
              wire::ErrorReply{Status(
                  Code::kOverloaded,
                  "overloaded: node " + config_.name + " has " +
                      std::to_string(max_connections_) +
                      " client connections (limits.max_connections); try "
                      "another node or later")}});
          c->Close();
          return;
        }
        service_.Handle(c, std::move(msg), std::move(ticket));
        if (!was_peer && !c->label().empty()) {
          // A member introduced itself: a peer link, not a client.
          if (!*refused) {
            client_connections_.fetch_sub(1, std::memory_order_relaxed);
          }
          *refused = false;
          peer_connections_.fetch_add(1, std::memory_order_relaxed);
        }
      },
      [this, weak, refused](const Status& why) {
        if (auto c = weak.lock()) {
          if (!why.ok()) spdlog::debug("{}: {}", c->remote(), why.message());
          if (!c->label().empty()) {
            peer_connections_.fetch_sub(1, std::memory_order_relaxed);
          } else if (!*refused) {
            client_connections_.fetch_sub(1, std::memory_order_relaxed);
          } else {
            load_probe_.ConnectionRefused();
          }
          connections_.erase(c);
        }
      },
      &tasks_);  // its loops end before Shutdown() returns
}

void Node::Stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  accept_retry_.cancel();
  auto open = connections_;
  for (const auto& c : open) {
    c->Detach();
    c->Close();
  }
  connections_.clear();
  handoff_.Stop();
  peers_.Stop();
}

void Node::Deliver(std::shared_ptr<wire::Connection> conn, wire::Message msg) {
  service_.Handle(std::move(conn), std::move(msg));
}

wire::Awaitable<void> Node::Shutdown() {
  Stop();
  tasks_.Cancel();
  co_await tasks_.Wait();
  // Requests first (the coordinator's replica tasks with them), then
  // background work; handoff before the peer links its sends use.
  co_await service_.Shutdown();
  co_await transfers_.Shutdown();
  co_await aae_.Shutdown();
  co_await reaper_.Shutdown();
  co_await handoff_.Shutdown();
  co_await gossip_.Shutdown();
  co_await peers_.Shutdown();
}

}  // namespace shoal::node
