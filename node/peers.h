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
#include <deque>
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
  // once per peer, from the constructor or Update().
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

  // Follows a new ring (doc/membership.md, "Applying a state"): a link for
  // each member beyond the ones known (`members` gives their addresses),
  // and the link of each member the ring retired closed for good (never up
  // again). Indices never move, so every other link stays as it is.
  void Update(const ring::Ring& ring, const std::vector<Member>& members);

  // The channel to a peer (never self). A retired member's fails every
  // call with kUnavailable, naming it.
  wire::Channel& Channel(ring::NodeIndex node);
  // Up, or not judged yet (worth trying). Self is always up.
  bool IsUp(ring::NodeIndex node) const;
  ring::NodeIndex self() const { return self_; }
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
    std::unique_ptr<wire::Channel> channel;  // null: self
    FailureDetector detector;
    bool probing = false;  // a connect or ping is in flight
    // The member left: its channel fails every call, it is never up.
    bool retired = false;
  };
  // Appends the link of member links_.size(): `name` at `address`.
  void AddLink(const std::string& name, const std::string& address,
               bool retired);
  wire::Awaitable<void> MaintainLoop();
  wire::Awaitable<void> Probe(ring::NodeIndex node);

  boost::asio::any_io_executor executor_;
  shoal::Clock& clock_;
  ring::NodeIndex self_;
  std::string self_name_;
  PeerOptions options_;
  ChannelFactory factory_;
  // By ring index. Deques: a probe keeps a reference to its link across
  // awaits while Update() appends.
  std::deque<std::string> addresses_;
  std::deque<Link> links_;
  // Channels of retired members, closed; kept until the Peers is destroyed
  // because a call may still be unwinding on one.
  std::vector<std::unique_ptr<wire::Channel>> closed_;
  shoal::Timer tick_;
  bool stopped_ = false;
  // Last: its tasks use everything above.
  TaskGroup tasks_;
};

}  // namespace shoal::node
