// The node's links to the other members: one persistent, multiplexed
// RpcChannel per peer, and a failure detector per peer fed by heartbeats.
//
// The maintenance loop runs every `heartbeat` interval: it reconnects peers
// that are not connected and pings the connected ones; any frame heard marks
// a peer up; a failed connect, a dropped connection, a request that timed
// out (ReportFailure) or silence longer than `down_after` marks it down.
//
// Time comes only from the injected Clock and the channels from the
// injected factory (TCP RpcChannels by default), so the simulator and the
// unit tests run the same code in virtual time over fake links. The loop
// and its probes run in a TaskGroup Peers owns: Start() begins them,
// Shutdown() ends them (doc/impl.md, "Threads").
//
// Threads: the node's io_context thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/task_group.h"
#include "node/config.h"
#include "node/failure_detector.h"
#include "ring/ring.h"
#include "wire/connection.h"
#include "wire/messages.h"

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
  // What each ping carries (the cluster state's epoch and digest; empty:
  // zeros), and who is told what each pong carried; either may be empty.
  std::function<wire::Ping()> ping;
  std::function<void(ring::NodeIndex, const wire::Pong&)> pong;
};

class Peers {
 public:
  // Makes the channel to `node` at `address` (a member's host:port). Called
  // once per peer, from the constructor.
  using ChannelFactory = std::function<std::unique_ptr<wire::Channel>(
      ring::NodeIndex node, const std::string& address)>;

  // One channel per member except `self` (indices are ring indices), made by
  // `factory`, or, when it is empty, a wire::RpcChannel that says hello as
  // `self`, expects the member's name and applies `options` (frame cap and
  // timeout, fate). `clock` must outlive the Peers.
  Peers(boost::asio::any_io_executor executor, shoal::Clock& clock,
        const ring::Ring& ring, ring::NodeIndex self,
        const std::vector<Member>& members, PeerOptions options,
        ChannelFactory factory = {});
  // REQUIRE: no task running (Shutdown() has finished, or Start() was never
  // called).
  ~Peers() = default;
  Peers(const Peers&) = delete;
  Peers& operator=(const Peers&) = delete;

  // The channel to a peer (never self).
  wire::Channel& Channel(ring::NodeIndex node);
  // Up, or not judged yet (worth trying). Self is always up.
  bool IsUp(ring::NodeIndex node) const;
  // When `node` was last heard from (self: now), nullopt if never.
  std::optional<shoal::Clock::TimePoint> LastHeard(ring::NodeIndex node) const;
  const std::string& Address(ring::NodeIndex node) const;
  // A request to `node` failed with `status`: a timeout or a transport
  // failure is evidence it is down; an error it answered with is not.
  void ReportFailure(ring::NodeIndex node, const Status& status);

  // Starts the heartbeats and reconnects (the maintenance loop, which
  // spawns the per-peer probes) in the group. Once; no-op after Stop().
  void Start();
  // Stops: no more ticks or probes, every channel closed (its pending calls
  // fail), every task cancelled. Synchronous: the tasks end once the
  // executor runs their completions, so co_await Shutdown() (or keep
  // running the executor until running() is 0) before destroying.
  // Idempotent.
  void Stop();
  // Stop(), then waits until every task of the group has ended. Not from
  // one of Peers' own tasks.
  boost::asio::awaitable<void> Shutdown();
  // Tasks of the group still running (the loop and probes in flight).
  size_t running() const { return tasks_.running(); }

 private:
  struct Link {
    std::unique_ptr<wire::Channel> channel;
    FailureDetector detector;
    bool probing = false;  // a connect or ping is in flight
  };
  wire::Awaitable<void> MaintainLoop();
  wire::Awaitable<void> Probe(ring::NodeIndex node);

  shoal::Clock& clock_;
  ring::NodeIndex self_;
  PeerOptions options_;
  std::vector<std::string> addresses_;  // by ring index
  std::vector<Link> links_;             // channel null for self
  shoal::Timer tick_;
  bool stopped_ = false;
  // Last: its tasks use everything above.
  TaskGroup tasks_;
};

}  // namespace shoal::node
