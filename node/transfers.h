// Receives the partitions a change in progress gives this node
// (doc/membership.md, "Transfer"). For each partition this node is an
// incoming pending replica of (ring::Ring::Pending), it runs anti-entropy
// exchanges with every current primary that is up, repeated until one round
// finds no segment differing with any of them (at least one answered): the
// partition's Merkle tree then equals each source's, so what counts as
// received is verified, not assumed. Writes meanwhile reach this node as a
// pending replica, so the rounds converge. Once every partition is
// received it tells `done` the epoch (Gossip::TransfersDone, which the
// heartbeats carry to the other members).
//
// Resumable by construction: a node restarted mid-transfer, or one whose
// source was restarted, starts the partitions over, and an exchange copies
// only what differs. A newer state ends the old transfers (Follow).
//
// Time comes from the injected Clock only (waits between attempts); the
// work runs in a TaskGroup the Transfers owns. Threads: the node's
// io_context thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "antientropy/antientropy.h"
#include "base/clock.h"
#include "base/task_group.h"
#include "node/probe.h"
#include "ring/ring.h"
#include "wire/transport.h"

namespace shoal::node {

// All references must outlive the Transfers.
class Transfers {
 public:
  using IsUp = std::function<bool(ring::NodeIndex)>;
  using Done = std::function<void(uint64_t epoch)>;
  Transfers(boost::asio::any_io_executor executor, Clock& clock,
            const ring::Ring& ring, ring::NodeIndex self,
            antientropy::AntiEntropy& aae, ClusterProbe& probe, IsUp is_up,
            Done done);

  // The node serves the ring of `epoch` now: transfers of an older epoch
  // stop, and this node's pending partitions (if any) are received.
  void Follow(uint64_t epoch);
  // Partitions of the current epoch still to receive here.
  size_t remaining() const { return remaining_; }
  // What this node receives for the change in progress (epoch 0: nothing),
  // for `shoal status` and `shoal cluster status`.
  wire::TransferStatus Progress() const;

  // Ends every transfer; returns once none runs.
  wire::Awaitable<void> Shutdown();

 private:
  wire::Awaitable<void> Receive(uint64_t epoch,
                                std::vector<uint32_t> partitions);
  // One round over the partition's live current primaries: true when
  // every exchange succeeded, at least one ran, and none found a
  // difference.
  wire::Awaitable<bool> Round(uint32_t partition);
  wire::Awaitable<void> Wait(std::chrono::milliseconds delay);

  Clock& clock_;
  const ring::Ring& ring_;
  ring::NodeIndex self_;
  antientropy::AntiEntropy& aae_;
  ClusterProbe& probe_;
  IsUp is_up_;
  Done done_;
  uint64_t epoch_ = 0;
  size_t remaining_ = 0;
  int64_t started_wall_ms_ = 0;  // 0: receiving nothing
  // The current epoch's transfer: partitions, what its exchanges changed
  // and carried, when it began and (once all are received) ended.
  size_t partitions_ = 0;
  uint64_t keys_ = 0;
  uint64_t bytes_ = 0;
  Clock::TimePoint started_{};
  std::optional<Clock::TimePoint> finished_;
  TaskGroup tasks_;  // last: destroyed first
};

}  // namespace shoal::node
