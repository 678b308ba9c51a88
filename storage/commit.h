// The write path of a Store (store.h), group commit: writes are applied in
// batches, each op's read-merge-write inside one write transaction that is
// committed once for the whole batch, and a write's completion runs only
// after its batch committed. Batches never overlap.
//
// Two ways in: Submit queues an op for the one writer thread; Stage +
// CommitStaged apply the ops staged in one io_context turn on the calling
// thread, except those that must be on disk before their ack (hints, and
// every op under SyncPolicy::kAlways), which go to the writer thread so no
// caller ever waits for an fsync. Under kPeriodic a syncer thread fsyncs
// every sync_interval when there were commits since the last sync. Each op
// is applied by the part that owns its database (hints.h for kHint and
// kDeleteHint, objects.h for the rest).
//
// Internal to storage/. Contracts of Submit, Stage and CommitStaged are in
// store.h.
//
// Thread-safety: Submit, Stage and CommitStaged may be called from any
// thread (not concurrently with the destructor); the writer and syncer
// threads are owned here.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/env.h"
#include "storage/hints.h"
#include "storage/objects.h"
#include "storage/types.h"

namespace shoal::storage::internal {

class GroupCommit {
 public:
  // Starts the writer thread, and the syncer thread under kPeriodic. `env`,
  // `hints` and `objects` must outlive the GroupCommit.
  GroupCommit(const Env& env, HintsDb& hints, ObjectsDb& objects);
  // Stops the syncer, applies every op still queued or staged, and joins
  // the writer.
  ~GroupCommit();
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  void Submit(WriteOp op, WriteCallback done);
  [[nodiscard]] bool Stage(WriteOp op, WriteCallback done);
  void CommitStaged();
  // Commits what is staged on the calling thread, then waits until the
  // writer thread has committed everything queued and run its completions.
  void Drain();

  // Fills the write path's figures in `stats`: sync failures, and whether
  // (and how often) batches were refused for lack of room.
  void FillStats(StoreStats& stats) const;
  // Every later batch fails (kUnavailable) without touching the disk.
  void Seal() { sealed_ = true; }
  bool sealed() const { return sealed_; }

 private:
  struct Pending {
    WriteOp op;
    WriteCallback done;
  };
  void WriterLoop();
  void TakeBatch(std::deque<Pending>& from, std::deque<Pending>& batch) const;
  // Applies and commits `batch`, then runs its completions. Holds apply_mu_
  // up to the commit (not during a hint batch's forced fsync).
  void ApplyBatch(std::deque<Pending>& batch);
  // One op inside the batch's write transaction, by the part that owns its
  // database. An error that poisons the whole transaction is stored in
  // *batch_error (the op's result is then irrelevant); any other error
  // fails this op only.
  Result<WriteResult> ApplyOne(MDB_txn* txn, WriteOp& op, Status* batch_error);
  // Counts a batch refused with kStorageFull and logs the start of an
  // episode; ends the episode (logged) after a successful commit.
  void NoteFull(const Status& batch_error);
  void NoteCommitted();
  void SyncLoop();  // the syncer thread (kPeriodic)

  const Env& env_;
  const StoreOptions& options_;  // env_'s
  std::atomic<bool> sealed_{false};
  HintsDb& hints_;
  ObjectsDb& objects_;

  // Group commit, applying: held while a batch is applied and committed
  // (ApplyBatch), on the writer thread or in CommitStaged, so batches never
  // overlap. HintsDb's batch bookkeeping is only touched under it.
  std::mutex apply_mu_;

  // Commits since the last sync (kPeriodic): set by the committing thread,
  // cleared by the syncer thread.
  std::atomic<bool> unsynced_{false};
  std::atomic<uint64_t> sync_failures_{0};
  std::atomic<bool> full_{false};
  std::atomic<uint64_t> full_map_errors_{0};
  std::atomic<uint64_t> full_disk_errors_{0};

  // Group commit, the syncer thread: guards sync_stopping_.
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool sync_stopping_ = false;  // guarded by sync_mu_
  std::thread syncer_;

  // Group commit, the queue: guards queue_ (the writer thread's work),
  // staged_ and stopping_.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;    // guarded by mu_
  std::vector<Pending> staged_;  // Stage()'s, until CommitStaged(); mu_
  std::atomic<bool> commit_owed_{false};  // a Stage() awaits CommitStaged()
  bool stopping_ = false;                 // guarded by mu_
  bool writing_ = false;             // guarded by mu_: the writer holds a batch
  std::condition_variable idle_cv_;  // queue_ empty and !writing_
  std::thread writer_;
};

}  // namespace shoal::storage::internal
