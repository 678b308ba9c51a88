// The Merkle trees of the partitions this node replicates, kept current by
// every committed object change and rebuilt from storage at start-up.
//
// Each tree has a state: kEmpty (not built yet), kBuilding, kReady. Only a
// ready tree is compared with other replicas. A rebuild reads one partition
// from one LMDB read snapshot S (Store::ScanObjects) while writes go on: a
// change committed by transaction T is folded into the tree if T > S and
// skipped if T <= S (the snapshot already holds it). Changes that arrive
// while the tree is building wait in a list until S is known; changes that
// arrive before the build starts are dropped, since the snapshot taken after
// them sees them. XOR makes the order of deltas irrelevant.
//
// Threads: ObjectChanged runs on the thread that committed (the io_context
// thread or the store's writer thread), Rebuild on the
// rebuild thread, the readers on the io_context thread; one mutex per tree.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "merkle/merkle.h"
#include "ring/ring.h"
#include "storage/store.h"

namespace shoal::antientropy {

class Trees : public storage::ObjectObserver {
 public:
  // Trees for every partition `self` is a primary of.
  Trees(const ring::Ring& ring, ring::NodeIndex self);
  ~Trees() override;

  // Starts rebuilding every tree from `store` on a background thread,
  // partition by partition. `store` must outlive this object. Call once.
  void StartRebuild(const storage::Store& store);
  // Rebuilds every tree now on the calling thread (tests). Errors from the
  // store (a corrupt object) leave that tree kEmpty and are returned.
  Status RebuildAll(const storage::Store& store);

  // storage::ObjectObserver (the committing thread).
  void ObjectChanged(const storage::ObjectChange& change) override;

  uint32_t segments() const { return segments_; }
  // Partitions with a tree, ascending.
  const std::vector<uint32_t>& partitions() const { return partitions_; }
  bool Holds(uint32_t partition) const;
  bool Ready(uint32_t partition) const;
  size_t ReadyCount() const;

  // Reads of a ready tree. Errors: kNotFound (no tree for the partition),
  // kUnavailable (the tree is still being built), kInvalidArgument (a bad
  // branch index).
  Result<uint64_t> Root(uint32_t partition);
  Result<std::vector<uint64_t>> Branches(uint32_t partition);
  Result<std::vector<uint64_t>> Leaves(uint32_t partition,
                                       const std::vector<uint32_t>& branches);

 private:
  enum class State { kEmpty, kBuilding, kReady };
  struct Delta {
    uint64_t txn_id;
    uint32_t segment;
    uint64_t value;
  };
  struct Slot {
    explicit Slot(uint32_t segments) : tree(segments) {}
    mutable std::mutex mu;
    merkle::Tree tree;            // guarded by mu
    State state = State::kEmpty;  // guarded by mu
    std::vector<Delta> pending;   // guarded by mu, while kBuilding
  };
  Slot* Find(uint32_t partition);
  const Slot* Find(uint32_t partition) const;
  Status Rebuild(const storage::Store& store, uint32_t partition);
  // The tree of a ready slot, or an error; locks slot->mu into *lock.
  Result<Slot*> ReadySlot(uint32_t partition,
                          std::unique_lock<std::mutex>* lock);

  const uint32_t segments_;
  std::vector<uint32_t> partitions_;
  std::vector<std::unique_ptr<Slot>> slots_;  // by partition; null if not held
  std::thread rebuild_;
  std::atomic<bool> stopping_{false};
};

}  // namespace shoal::antientropy
