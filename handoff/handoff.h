// Hinted handoff: delivers the hints this node keeps as a fallback to their
// target once the target is up again (Dynamo §4.6).
//
// One background loop per node. For each target with hints waiting that the
// failure detector sees up, it reads a batch of hints, sends each to the
// target as a plain replicate (the target merges it: a duplicate delivery
// adds no sibling), and deletes a hint only after the target acknowledged it
// and only if it has not changed since it was read. Delivery is throttled
// to `max_rate` hints/s and yields to the io_context between batches, so
// foreground requests keep their turn; while the node is busy with them
// (Options::busy) it slows to one batch per `busy_pace`.
//
// Threads: the node's io_context thread; hints are read inline (LMDB read
// transactions) and deleted through storage::AsyncWrite. Report runs there
// too.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <string>

#include "base/result.h"
#include "ring/ring.h"
#include "storage/store.h"
#include "wire/connection.h"
#include "wire/messages.h"

namespace shoal::handoff {

// How the loop reaches hint targets (node/ implements it over its peer
// links). A failed delivery only ends that target's drain for the round:
// it is not evidence for the failure detector.
class Transport {
 public:
  virtual ~Transport() = default;
  // Whether the failure detector believes `node` is up.
  virtual bool IsUp(ring::NodeIndex node) const = 0;
  // One request to `node`, answered by `deadline`.
  virtual wire::Awaitable<Result<wire::Body>> Call(ring::NodeIndex node,
                                                   wire::Body request,
                                                   wire::Deadline deadline) = 0;
};

struct Options {
  bool enabled = true;
  uint32_t max_rate = 20000;  // hints/s
  uint32_t batch = 256;
  std::chrono::milliseconds idle{200};  // pause when there is nothing to do
  // Foreground work comes first: while this says the node is busy, at most
  // one batch is sent per `busy_pace`. Empty = never busy.
  std::function<bool()> busy;
  std::chrono::milliseconds busy_pace{1000};
};

// All references must outlive the Handoff and the sends it leaves in
// flight when it stops.
class Handoff {
 public:
  Handoff(boost::asio::any_io_executor executor, storage::Store& store,
          Transport& transport, const ring::Ring& ring, Options options);

  // Runs until Stop(); spawned once by the node.
  wire::Awaitable<void> Run();
  void Stop();
  // Hints delivered per second over the last ~10 s.
  double DeliveredPerSec() const;
  // The answer to `shoal hints` on node `node` (this one): per target the
  // backlog (a full scan of the hints database, BacklogView) and whether
  // the target looks up, the lifetime counters and the delivery rate.
  // Errors: the store's (kCorruption, kOverloaded, kInternal).
  Result<wire::HintsReply> Report(std::string node) const;

 private:
  // Delivers `name`'s hints until none are left, the target stops
  // answering, or Stop(). Returns how many were delivered.
  wire::Awaitable<size_t> Drain(ring::NodeIndex target,
                                const std::string& name);
  void Count(size_t delivered);

  storage::Store& store_;
  Transport& transport_;
  const ring::Ring& ring_;
  Options options_;
  boost::asio::steady_timer idle_;
  bool stopped_ = false;
  std::deque<std::pair<wire::Clock::time_point, size_t>> recent_;
};

}  // namespace shoal::handoff
