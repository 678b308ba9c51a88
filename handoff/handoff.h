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
// (Options::busy) it slows to one batch per `busy_pace`. A hint whose target
// left the cluster (retired in the ring, doc/membership.md) goes instead to
// every current primary of its key, and is deleted once all of them
// acknowledged it.
//
// Time comes only from the injected Clock (intervals, deadlines, the
// backlog's ages), so the simulator runs the loop in virtual time. The loop
// and the sends it makes run in a TaskGroup the Handoff owns: Start()
// begins them, Shutdown() ends them (doc/impl.md, "Threads").
//
// Threads: the node's io_context thread; hints are read inline (LMDB read
// transactions) and deleted through storage::AsyncWrite. Report runs there
// too.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <string>

#include "base/clock.h"
#include "base/result.h"
#include "base/task_group.h"
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
  // Told each delivered hint (its target, key and the object as read) right
  // after its deletion from the store committed: an observation hook for
  // the simulator's invariant that a hint is deleted only once its target
  // holds it. Not called for a hint that changed since it was read (the
  // store keeps it). May be empty. Called on the executor's thread.
  std::function<void(const std::string& target, const std::string& key,
                     const quorum::Object& hint)>
      on_delivered;
  // A DELIBERATELY PLANTED BUG, for the simulator to prove it catches a
  // hint lost before its target holds it: when set, each hint of a batch is
  // deleted as soon as it is sent, before (and whether or not) the target
  // acknowledged it. Never set by the product.
  bool TEST_deletes_early = false;
};

// All references must outlive the Handoff.
class Handoff {
 public:
  Handoff(boost::asio::any_io_executor executor, shoal::Clock& clock,
          storage::Store& store, Transport& transport, const ring::Ring& ring,
          Options options);
  // REQUIRE: no task running (Shutdown() has finished, or Start() was never
  // called).
  ~Handoff() = default;
  Handoff(const Handoff&) = delete;
  Handoff& operator=(const Handoff&) = delete;

  // Starts the delivery loop in the group (nothing when !enabled). Once;
  // no-op after Stop().
  void Start();
  // Stops the loop and cancels every task (the loop and the sends in
  // flight; a hint whose send is cut short stays and is sent again later).
  // Synchronous: the tasks end once the executor runs their completions,
  // so co_await Shutdown() (or keep running the executor until running()
  // is 0) before destroying. Idempotent.
  void Stop();
  // Stop(), then waits until every task has ended. Not from one of the
  // Handoff's own tasks.
  boost::asio::awaitable<void> Shutdown();
  // Tasks of the group still running (the loop and sends in flight).
  size_t running() const { return tasks_.running(); }
  // Hints delivered per second over the last ~10 s.
  double DeliveredPerSec() const;
  // The answer to `shoal hints` on node `node` (this one): per target the
  // backlog (a full scan of the hints database, BacklogView) and whether
  // the target looks up, the lifetime counters and the delivery rate.
  // Errors: the store's (kCorruption, kOverloaded, kInternal).
  Result<wire::HintsReply> Report(std::string node) const;

 private:
  // Until Stop().
  wire::Awaitable<void> Run();
  // Delivers `name`'s hints until none are left, the target stops
  // answering, or Stop(). Returns how many were delivered.
  wire::Awaitable<size_t> Drain(ring::NodeIndex target,
                                const std::string& name);
  // The hints for `name`, a member that left the cluster: each goes to
  // every current primary of its key (this node included, through the
  // transport) and is deleted once all of them acknowledged it. Returns
  // how many were delivered.
  wire::Awaitable<size_t> Retarget(const std::string& name);
  // Deletes `hints[i]` for each i in `which`, if unchanged since read, and
  // tells on_delivered of each one deleted. False if the store failed.
  wire::Awaitable<bool> Delete(const std::string& name,
                               const std::vector<storage::Hint>& hints,
                               const std::vector<size_t>& which);
  void Count(size_t delivered);

  shoal::Clock& clock_;
  storage::Store& store_;
  Transport& transport_;
  const ring::Ring& ring_;
  Options options_;
  shoal::Timer idle_;
  bool stopped_ = false;
  std::deque<std::pair<shoal::Clock::TimePoint, size_t>> recent_;
  // Last: its tasks use everything above.
  TaskGroup tasks_;
};

}  // namespace shoal::handoff
