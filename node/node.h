// A shoal node: wires config, ring, store, peer links, the request service
// and the listener together. node/ only wires; the logic lives in the
// modules it connects.
//
// Threads: one io_context thread (networking, coordinators, inline LMDB
// reads, most LMDB commits) plus the store's writer thread (hints) and, at
// start-up, the thread that rebuilds the anti-entropy trees.
#pragma once

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "antientropy/antientropy.h"
#include "antientropy/probe.h"
#include "antientropy/trees.h"
#include "base/clock.h"
#include "base/task_group.h"
#include "handoff/handoff.h"
#include "handoff/probe.h"
#include "metrics/metrics.h"
#include "node/admission.h"
#include "node/config.h"
#include "node/faults.h"
#include "node/gossip.h"
#include "node/peers.h"
#include "node/probe.h"
#include "node/service.h"
#include "node/transfers.h"
#include "quorum/probe.h"
#include "reaper/probe.h"
#include "reaper/reaper.h"
#include "ring/ring.h"
#include "storage/probe.h"
#include "storage/store.h"
#include "wire/connection.h"

namespace shoal::node {

// What a node gets from the process around it, beyond its config: shoald
// passes nothing (the system clock, TCP); the simulator (tests/sim) passes
// its virtual clock.
struct NodeEnv {
  // The clock every component reads and waits on; null = the system clock.
  // Must outlive the Node.
  Clock* clock = nullptr;
  // Listen on config.listen. Off in the simulator, whose network hands
  // frames to Deliver() instead.
  bool listen = true;
  // Rebuild the anti-entropy trees on a thread while serving; off: in
  // Start(), before it returns (the simulator has one thread).
  bool background_rebuild = true;
  // Seeds the node's randomness (fault decisions, where anti-entropy starts
  // its round); 0 = random.
  uint64_t seed = 0;
  // Makes the link to each peer; empty = TCP (wire::RpcChannel).
  Peers::ChannelFactory channels;
  // Seeds the actor id a new data directory gets; 0 = random.
  uint64_t actor_seed = 0;
  // Told of every delivered hint the node deleted (handoff::Options).
  std::function<void(const std::string& target, const std::string& key,
                     const quorum::Object& hint)>
      on_hint_deleted;
  // The cluster state the node's seeds sent (shoald asks them before it
  // creates the Node when the config lists seeds instead of members).
  std::optional<cluster::ClusterState> learned;
  // Deliberate bugs the simulator must catch (doc/sim.md); never set by
  // shoald.
  struct PlantedBugs {
    bool repair_skips_stale = false;     // read repair leaves stale copies
    bool ack_before_commit = false;      // replica acks before its commit
    bool handoff_deletes_early = false;  // hint deleted before the ack
    bool reuse_dot = false;              // a coordinator reissues its dot
  } bugs;
};

class Node {
 public:
  // Opens the store and builds the ring; the node's probes report into
  // `metrics` (built by main, which serves it), which must outlive the
  // Node. Errors name the problem (bad config, data directory, LMDB).
  static Result<std::unique_ptr<Node>> Create(boost::asio::io_context& io,
                                              NodeConfig config,
                                              metrics::Metrics& metrics,
                                              NodeEnv env = {});
  // REQUIRE: Shutdown() has finished, or Start() was never called.
  ~Node();

  // Binds the listener (error if the address is taken) and starts accepting
  // and keeping peer links up.
  Status Start();
  // Stops accepting and closes connections and peer links, then cancels
  // every task the node's components run (doc/impl.md, "Threads") and
  // returns once all have ended. The store is closed (drained and synced)
  // when the Node is destroyed.
  wire::Awaitable<void> Shutdown();

  const NodeConfig& config() const { return config_; }
  // A frame that arrived on `conn` (the simulator's network; over TCP the
  // node's own connections hand their frames to the service).
  void Deliver(std::shared_ptr<wire::Connection> conn, wire::Message msg);
  // Test hooks for the simulator: a process crash (from now on the store
  // commits nothing; Shutdown() then unwinds the node), and the store.
  void TEST_Crash() { store_->TEST_Seal(); }
  storage::Store& TEST_store() { return *store_; }
  const reaper::Reaper& TEST_reaper() const { return reaper_; }
  quorum::ActorId actor() const { return store_->actor(); }
  // The cluster state the node serves with.
  const cluster::ClusterState& cluster_state() const {
    return gossip_.keeper().state();
  }
  // The simulator's way to change the cluster without staging (its
  // force-removal nemesis): `state` is adopted, stored and applied as if a
  // peer had sent it, and spreads from here by gossip.
  Result<bool> TEST_Adopt(const cluster::ClusterState& state) {
    return gossip_.Adopt(state, "the simulator");
  }

 private:
  Node(boost::asio::io_context& io, NodeConfig config, NodeEnv env,
       ring::Ring ring, ring::NodeIndex self,
       std::unique_ptr<storage::Store> store, cluster::ClusterState state,
       metrics::Metrics& metrics);
  // The synchronous part of Shutdown(): the listener and connections.
  void Stop();
  wire::Awaitable<void> AcceptLoop();
  // Starts serving an accepted connection. `refusing`: the node is at
  // limits.max_connections, so the connection is only kept if it turns out
  // to be a peer's (its first frame a Hello from a member); anything else
  // is answered `overloaded` and closed.
  void Serve(wire::tcp::socket socket, bool refusing);
  // Raises the open-file limit for max_connections; returns how many
  // client connections the node can really take.
  uint32_t ConnectionCapacity() const;
  // The members hints can be for: every member but this node.
  std::vector<std::string> HintTargetNames() const;
  // Serves with an adopted cluster state from now on (doc/membership.md,
  // "Applying a state"): the ring, peer links, their probes and the trees
  // follow it. On the io_context thread, from the gossip.
  void Apply(const cluster::ClusterState& state);
  // Deletes this node's copies of the partitions in undropped_ (changes
  // took them away from it) once every member that is up holds `epoch`
  // (none still reads them here). Stops at a newer epoch, whose Apply
  // starts it again for what is left; skips a partition this node
  // replicates again.
  wire::Awaitable<void> DropPartitions(uint64_t epoch);

  // Anti-entropy's and the reaper's calls to other members, over the peer
  // links.
  class PeerTransport : public antientropy::Transport,
                        public reaper::Transport {
   public:
    explicit PeerTransport(Peers& peers) : peers_(peers) {}
    bool IsUp(ring::NodeIndex node) const override;
    wire::Awaitable<Result<wire::Body>> Call(ring::NodeIndex node,
                                             wire::Body request,
                                             wire::Deadline deadline) override;

   private:
    Peers& peers_;
  };

  // Handoff's deliveries to hint targets, over the peer links (a call to
  // this node itself is merged into its store: the hints of a member that
  // left go to their keys' primaries). Unlike
  // anti-entropy's calls, a failed delivery is not reported to the failure
  // detector (doc/impl.md, "Sloppy quorum and hinted handoff").
  class HandoffTransport : public handoff::Transport {
   public:
    HandoffTransport(Peers& peers, storage::Store& store,
                     const ring::Ring& ring, ring::NodeIndex self)
        : peers_(peers), store_(store), ring_(ring), self_(self) {}
    bool IsUp(ring::NodeIndex node) const override;
    wire::Awaitable<Result<wire::Body>> Call(ring::NodeIndex node,
                                             wire::Body request,
                                             wire::Deadline deadline) override;

   private:
    Peers& peers_;
    storage::Store& store_;
    const ring::Ring& ring_;
    ring::NodeIndex self_;
  };

  boost::asio::io_context& io_;
  SystemClock system_clock_;
  Clock& clock_;  // env.clock or system_clock_
  NodeEnv env_;
  NodeConfig config_;
  ring::Ring ring_;
  ring::NodeIndex self_;
  std::unique_ptr<storage::Store> store_;
  metrics::Metrics& metrics_;
  RequestProbe request_probe_;
  quorum::QuorumProbe quorum_probe_;
  TransportProbe transport_probe_;
  storage::StorageProbe storage_probe_;
  handoff::HandoffProbe handoff_probe_;
  antientropy::AaeProbe aae_probe_;
  ClusterProbe cluster_probe_;
  uint64_t frame_cap_;
  // Defences (doc/impl.md, "Limits"): client requests coordinated at once,
  // bytes of client frames held, connections.
  Admission admission_;
  std::shared_ptr<wire::ByteBudget> budget_;
  uint32_t max_connections_;
  std::atomic<uint64_t> client_connections_{0};
  std::atomic<uint64_t> peer_connections_{0};
  // After what it reads.
  LoadProbe load_probe_;
  // Faults an operator injected (empty by default); consulted by the peer
  // links and the service for every frame sent.
  FaultTable faults_;
  Peers peers_;
  // The cluster state and its heartbeats (doc/membership.md).
  Gossip gossip_;
  HandoffTransport handoff_transport_;
  handoff::Handoff handoff_;
  // Kept current by the store's committing thread (removed as the store's
  // observer in ~Node, before it is destroyed).
  antientropy::Trees trees_;
  PeerTransport aae_transport_;
  antientropy::AntiEntropy aae_;
  reaper::Reaper reaper_;
  reaper::ReaperProbe reaper_probe_;
  Transfers transfers_;
  Service service_;
  wire::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
  // Open client and peer connections, closed on Stop().
  std::set<std::shared_ptr<wire::FramedConnection>> connections_;
  // The node's own tasks: the accept loop and its connections' loops.
  TaskGroup tasks_;
  bool stopped_ = false;
  // Partitions this node no longer holds whose copies are not dropped yet
  // (in memory: a restart forgets them).
  std::set<uint32_t> undropped_;
};

}  // namespace shoal::node
