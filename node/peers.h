// The node's links to the other members: one persistent, multiplexed
// RpcChannel per peer, and a failure detector per peer fed by heartbeats.
//
// The maintenance loop runs every `heartbeat` interval: it reconnects peers
// that are not connected and pings the connected ones; any frame heard marks
// a peer up; a failed connect, a dropped connection, a request that timed
// out (ReportFailure) or silence longer than `down_after` marks it down.
//
// Threads: the node's io_context thread only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "node/config.h"
#include "node/failure_detector.h"
#include "ring/ring.h"
#include "wire/connection.h"

namespace shoal::node {

struct PeerOptions {
  std::chrono::milliseconds heartbeat{200};
  std::chrono::milliseconds down_after{1000};
  uint64_t frame_cap = 0;
  // A reply frame that has started must complete within this; 0 = no limit.
  std::chrono::milliseconds frame_timeout{0};
  // Told a peer's up/down opinion whenever evidence about it is folded in
  // (probes, failed requests, heartbeat ticks), for metrics; may be empty.
  // Called on the io_context thread.
  std::function<void(ring::NodeIndex, bool up)> observe;
  // Fault injection (node/faults.h): the fate of each request frame sent
  // to a peer, heartbeats included; may be empty.
  std::function<wire::FrameFate(ring::NodeIndex)> fate;
};

class Peers {
 public:
  // One channel per member except `self` (indices are ring indices).
  Peers(boost::asio::any_io_executor executor, const ring::Ring& ring,
        ring::NodeIndex self, const std::vector<Member>& members,
        PeerOptions options);

  // The channel to a peer (never self).
  wire::RpcChannel& Channel(ring::NodeIndex node);
  // Up, or not judged yet (worth trying). Self is always up.
  bool IsUp(ring::NodeIndex node) const;
  std::optional<wire::Clock::time_point> LastHeard(ring::NodeIndex node) const;
  const std::string& Address(ring::NodeIndex node) const;
  // A request to `node` failed with `status`: a timeout or a transport
  // failure is evidence it is down; an error it answered with is not.
  void ReportFailure(ring::NodeIndex node, const Status& status);

  // Heartbeats and reconnects until Stop(). Owned by the node: spawned once
  // by Node::Start and ended by Stop().
  wire::Awaitable<void> MaintainLoop();
  void Stop();

 private:
  struct Link {
    std::unique_ptr<wire::RpcChannel> channel;
    FailureDetector detector;
    bool probing = false;  // a connect or ping is in flight
  };
  wire::Awaitable<void> Probe(ring::NodeIndex node);

  ring::NodeIndex self_;
  PeerOptions options_;
  std::vector<std::string> addresses_;  // by ring index
  std::vector<Link> links_;             // channel null for self
  boost::asio::steady_timer tick_;
  bool stopped_ = false;
};

}  // namespace shoal::node
