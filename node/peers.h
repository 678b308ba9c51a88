// The node's links to the other members: one persistent, multiplexed
// RpcChannel per peer, kept connected by a maintenance loop.
//
// Liveness, for now, is connection state: a peer is up while its channel is
// connected or has never failed; it goes down when a connect fails or the
// connection drops, and comes back when the maintenance loop reconnects.
//
// Threads: the node's io_context thread only.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "node/config.h"
#include "ring/ring.h"
#include "wire/connection.h"

namespace shoal::node {

class Peers {
 public:
  // One channel per member except `self` (indices are ring indices).
  Peers(boost::asio::any_io_executor executor, const ring::Ring& ring,
        ring::NodeIndex self, const std::vector<Member>& members,
        uint64_t frame_cap);

  // The channel to a peer (never self).
  wire::RpcChannel& Channel(ring::NodeIndex node);
  bool IsUp(ring::NodeIndex node) const;
  std::optional<wire::Clock::time_point> LastHeard(ring::NodeIndex node) const;
  const std::string& Address(ring::NodeIndex node) const;

  // Reconnects down peers every `interval` until Stop(). Owned by the node:
  // spawned once by Node::Start and ended by Stop().
  wire::Awaitable<void> MaintainLoop(std::chrono::milliseconds interval);
  void Stop();

 private:
  ring::NodeIndex self_;
  std::vector<std::string> addresses_;                    // by ring index
  std::vector<std::unique_ptr<wire::RpcChannel>> links_;  // null for self
  boost::asio::steady_timer tick_;
  bool stopped_ = false;
};

}  // namespace shoal::node
