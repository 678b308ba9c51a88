// The Merkle trees of the partitions this node replicates, kept current by
// every committed object change. A clean shutdown saves them in the store's
// meta record kSavedTreesRecord (Save) and the next start loads them (Load)
// and deletes the record before anything is written, so the record exists
// only while the data directory is closed and its trees hold every write.
// A tree not loaded that way (after a crash, or for a partition the node
// did not hold) is rebuilt from storage in the background.
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
// The partitions held change with the cluster state (doc/membership.md):
// Track() drops the trees of partitions the node no longer replicates and
// starts empty ones for those it now does, which the rebuild thread builds
// like the others. A build that overlaps a drop of its partition is thrown
// away (each slot counts its changes in a generation).
//
// Threads: ObjectChanged runs on the thread that committed (the io_context
// thread or the store's writer thread), builds on the rebuild thread, the
// readers and Track on the io_context thread; one mutex per tree. Every
// partition has a slot from the start (2^18 leaves over the whole ring), so
// no thread ever sees the slot table change.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "merkle/merkle.h"
#include "ring/ring.h"
#include "storage/store.h"

namespace shoal::antientropy {

// The meta record of the trees saved at a clean shutdown.
inline constexpr char kSavedTreesRecord[] = "aae_trees";
// How saved leaves were hashed (merkle::LeafHash of
// quorum::CausalFingerprint). Change it whenever either changes: trees saved
// by an older build are then rebuilt instead of loaded.
inline constexpr uint32_t kSavedTreesFormat = 1;

class Trees : public storage::ObjectObserver {
 public:
  // Trees for every partition `self` is a primary of.
  Trees(const ring::Ring& ring, ring::NodeIndex self);
  ~Trees() override;

  // Loads the trees the last clean shutdown saved, for the partitions held
  // now, as ready, and deletes the record (an empty value) so that a crash
  // later in this session leaves none behind. Call before anything writes
  // to `store` and before StartRebuild / RebuildAll. Returns how many trees
  // were loaded; none (and a log line saying why) when there is no record,
  // it does not decode, it was saved under another Q or format, or the
  // record cannot be deleted.
  size_t Load(storage::Store& store);
  // Saves every ready tree in the record Load reads. Call once nothing can
  // write to `store` any more and every write has reached the trees (after
  // Store::Drain). Errors: the store's (kStorageFull, kUnavailable after
  // TEST_Seal); the next start then rebuilds.
  Status Save(storage::Store& store);

  // Starts the rebuild thread, which builds every held tree that is not
  // ready from `store`, partition by partition, and then each one Track()
  // adds. `store` must outlive this object. Call once.
  void StartRebuild(const storage::Store& store);
  // Builds every held tree that is not ready now, on the calling thread
  // (tests, the simulator). Errors from the store (a corrupt object) leave
  // that tree kEmpty and are returned.
  Status RebuildAll(const storage::Store& store);
  // Holds exactly `partitions` (each < the ring's Q) from now on: trees of
  // the others are dropped, new ones start empty and are queued for the
  // rebuild thread (or built by the next RebuildAll). Returns the new ones.
  std::vector<uint32_t> Track(std::vector<uint32_t> partitions);

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
    bool held = false;            // guarded by mu
    uint64_t generation = 0;      // guarded by mu; + 1 per drop or add
    merkle::Tree tree;            // guarded by mu
    State state = State::kEmpty;  // guarded by mu
    std::vector<Delta> pending;   // guarded by mu, while kBuilding
  };
  // The slot of a held partition, or null.
  Slot* Find(uint32_t partition);
  const Slot* Find(uint32_t partition) const;
  Status Rebuild(const storage::Store& store, uint32_t partition);
  // The rebuild thread: builds queued partitions until stopping_.
  void RebuildLoop(const storage::Store& store);
  // The tree of a ready slot, or an error; locks slot->mu into *lock.
  Result<Slot*> ReadySlot(uint32_t partition,
                          std::unique_lock<std::mutex>* lock);

  const uint32_t segments_;
  std::vector<uint32_t> partitions_;          // held, ascending (io thread)
  std::vector<std::unique_ptr<Slot>> slots_;  // by partition, all of them
  std::thread rebuild_;
  std::atomic<bool> stopping_{false};
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<uint32_t> queue_;  // guarded by queue_mu_: partitions to build
};

}  // namespace shoal::antientropy
