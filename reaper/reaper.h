// Tombstone reaping: a deleted key's tombstone is removed from this replica
// once no copy anywhere can bring the deleted value back (doc/impl.md,
// "Reaping tombstones").
//
// Every `interval` the reaper takes up to `batch` keys from the store's
// tombstone index (storage::Store::ScanTombstones, resuming where the last
// round stopped) whose delete is older than `grace`, and groups them by
// partition. A partition's keys are reaped here only when
//   - no membership change is in progress (no transfer can carry an old
//     copy in, and no old owner keeps one);
//   - this node is one of the partition's primaries;
//   - every member of the cluster is up and, asked at the same epoch
//     (ReapCheckRequest), says for each key that it holds no hint for it
//     and that it stores either nothing or exactly this tombstone (same
//     causal fingerprint); this node holds no hint for it either.
// Then each such key is reaped with a kReap write, which deletes it only if
// it is still that tombstone. So when a key is reaped no replica, fallback
// or hint holds a version the tombstone does not dominate, except a message
// already in flight, which the store's reaped-key guard absorbs.
//
// Each primary decides for its own copy; the others follow on their own
// rounds (an absent copy counts as safe, so the order does not matter).
//
// Threads: the node's io_context thread (store reads inline, writes
// through storage::AsyncWrite). Stats() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/task_group.h"
#include "ring/ring.h"
#include "storage/store.h"
#include "wire/connection.h"
#include "wire/messages.h"

namespace shoal::reaper {

struct Options {
  bool enabled = true;
  // How old a delete (its tombstone's written_at) must be before it is
  // considered: a replica message older than this is no longer in flight.
  std::chrono::milliseconds grace{10000};
  std::chrono::milliseconds interval{1000};  // between rounds
  size_t batch = 1000;                       // index entries per round
  std::chrono::milliseconds call_timeout{5000};
  // Foreground work comes first: a round is skipped while this says the
  // node is busy. Empty = never.
  std::function<bool()> busy;
  // PLANTED BUG, for tests only (the delete checker must catch it): reap
  // every tombstone at the next round, without grace or checks.
  bool TEST_unsafe = false;
};

// How the reaper reaches the other members (implemented by the node).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual bool IsUp(ring::NodeIndex node) const = 0;
  virtual wire::Awaitable<Result<wire::Body>> Call(ring::NodeIndex node,
                                                   wire::Body request,
                                                   wire::Deadline deadline) = 0;
};

// What `status` and the metrics show.
struct Stats {
  uint64_t reaped = 0;  // keys reaped since the node started
  // The oldest tombstone left here (by its delete's written_at, wall clock
  // ms; 0 = none) and why it is still here.
  int64_t oldest_deleted_at_ms = 0;
  std::string oldest_waiting_for;
};

// All references must outlive the Reaper. Start() it once and co_await
// Shutdown() before destroying it.
class Reaper {
 public:
  Reaper(boost::asio::any_io_executor executor, Clock& clock,
         const ring::Ring& ring, ring::NodeIndex self, storage::Store& store,
         Transport& transport, Options options);

  void Start();
  wire::Awaitable<void> Shutdown();

  // One round now, as the loop runs them; returns the keys reaped.
  wire::Awaitable<uint64_t> RunOnce();

  // A peer's check: what this node holds of each key.
  wire::Body OnCheck(const wire::ReapCheckRequest& req) const;

  Stats stats() const;

 private:
  wire::Awaitable<void> Run();
  // Why the keys of `partition` cannot be reaped now ("" = they may be,
  // subject to the check).
  std::string Blocked(uint32_t partition) const;
  // Checks and reaps one partition's candidates; returns the keys reaped.
  // Records why the others wait in waiting_.
  wire::Awaitable<uint64_t> ReapPartition(
      uint32_t partition, std::vector<storage::Tombstone> candidates);
  // Finds the oldest tombstone in the index and publishes it with its
  // reason.
  void NoteOldest();

  boost::asio::any_io_executor executor_;
  Clock& clock_;
  const ring::Ring& ring_;
  ring::NodeIndex self_;
  storage::Store& store_;
  Transport& transport_;
  Options options_;
  Timer timer_;
  TaskGroup tasks_;

  std::string resume_;  // the index key the next round starts after
  // Why the keys last considered wait, by storage key (pruned each round to
  // the keys still in the index that the round saw).
  std::map<std::string, std::string> waiting_;
  std::map<uint32_t, std::string> partition_waiting_;
  Clock::TimePoint oldest_at_{};    // the last NoteOldest
  Clock::Duration oldest_every_{};  // until the next one

  std::atomic<uint64_t> reaped_{0};
  mutable std::mutex stats_mu_;
  int64_t oldest_ms_ = 0;           // guarded by stats_mu_
  std::string oldest_waiting_for_;  // guarded by stats_mu_
};

}  // namespace shoal::reaper
