// Group commit: the Store's writes, applied in batches (on the thread that
// calls CommitStaged, or on the writer thread).
//
// Why things are done the way they are (contracts live in commit.h and
// store.h):
// - Every write is a read-merge-write done inside its batch's write
//   transaction, and batches never overlap (apply_mu_), so two racing writes to
//   one key are serialized and neither loses the other's sibling. Ops later in
//   a batch see the puts of earlier ops of the same batch (LMDB txns read their
//   own writes).
// - A batch is all-or-nothing on disk: a transaction-wide LMDB error
//   (MDB_MAP_FULL and friends) aborts it and fails every op in it. Errors
//   that concern one op only (its stored value does not decode, its key is
//   too long) are detected before anything is put, so the rest proceeds.
// - Completions run after the commit returned, so an ack never precedes
//   the commit. Under kPeriodic the fsync comes after the completions.

#include "storage/commit.h"

#include <lmdb.h>
#include <spdlog/spdlog.h>

#include <utility>

namespace shoal::storage::internal {
namespace {

// A write txn keeps its dirty pages in memory until the commit: bound a
// batch by payload too, so 512 ops of 4 MiB values do not make one 2 GiB
// transaction (nor hit MDB_TXN_FULL).
constexpr size_t kMaxBatchBytes = 64u << 20;

size_t ApproxBytes(const WriteOp& op) {
  size_t bytes = op.key.size();
  if (op.kind == WriteOp::Kind::kCoordinate) {
    bytes += op.value ? op.value->size() : 0;
  } else if (op.kind != WriteOp::Kind::kDeleteHint) {
    bytes += op.incoming.ValueBytes();
  }
  return bytes;
}

Status QueueFull(size_t queued) {
  return Status(Code::kOverloaded,
                "overloaded: " + std::to_string(queued) +
                    " writes already wait for the disk "
                    "(storage.max_queued_writes); back off and retry");
}

}  // namespace

GroupCommit::GroupCommit(const Env& env, HintsDb& hints, ObjectsDb& objects)
    : env_(env), options_(env.options()), hints_(hints), objects_(objects) {
  if (options_.inline_writes) return;  // no threads: every op applied inline
  writer_ = std::thread(&GroupCommit::WriterLoop, this);
  if (options_.sync == SyncPolicy::kPeriodic) {
    syncer_ = std::thread(&GroupCommit::SyncLoop, this);
  }
}

GroupCommit::~GroupCommit() {
  if (options_.inline_writes) {
    CommitStaged();  // what was staged and not yet committed
    return;
  }
  if (syncer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(sync_mu_);
      sync_stopping_ = true;
    }
    sync_cv_.notify_all();
    syncer_.join();
  }
  if (writer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      for (Pending& p : staged_) queue_.push_back(std::move(p));
      staged_.clear();
    }
    cv_.notify_all();
    writer_.join();  // the loop drains the queue before it exits
  }
}

void GroupCommit::Submit(WriteOp op, WriteCallback done) {
  if (options_.inline_writes) {
    std::deque<Pending> batch;
    batch.push_back(Pending{std::move(op), std::move(done)});
    ApplyBatch(batch);
    return;
  }
  size_t refused_at = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (options_.max_queued_writes != 0 &&
        queue_.size() >= options_.max_queued_writes) {
      refused_at = queue_.size();
    } else {
      queue_.push_back(Pending{std::move(op), std::move(done)});
    }
  }
  if (refused_at != 0) {
    done(QueueFull(refused_at));
    return;
  }
  cv_.notify_one();
}

bool GroupCommit::Stage(WriteOp op, WriteCallback done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    staged_.push_back(Pending{std::move(op), std::move(done)});
  }
  return !commit_owed_.exchange(true);
}

void GroupCommit::CommitStaged() {
  std::deque<Pending> here;
  std::vector<Pending> refused;
  size_t queued = 0;
  bool to_writer = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    commit_owed_ = false;
    for (Pending& p : staged_) {
      // An op that is acknowledged only once on disk goes to the writer, so
      // this thread never waits for an fsync.
      if (!options_.inline_writes && (options_.sync == SyncPolicy::kAlways ||
                                      p.op.kind == WriteOp::Kind::kHint)) {
        if (options_.max_queued_writes != 0 &&
            queue_.size() >= options_.max_queued_writes) {
          refused.push_back(std::move(p));
          continue;
        }
        queue_.push_back(std::move(p));
        to_writer = true;
      } else {
        here.push_back(std::move(p));
      }
    }
    staged_.clear();
    queued = queue_.size();
  }
  if (to_writer) cv_.notify_one();
  for (Pending& p : refused) p.done(QueueFull(queued));
  std::deque<Pending> batch;
  while (!here.empty()) {
    TakeBatch(here, batch);
    ApplyBatch(batch);
    batch.clear();
  }
}

// Moves at least one op from `from` to `batch`, then more until there are
// max_batch ops or the ops taken hold kMaxBatchBytes.
void GroupCommit::TakeBatch(std::deque<Pending>& from,
                            std::deque<Pending>& batch) const {
  size_t bytes = 0;
  while (!from.empty() && batch.size() < options_.max_batch &&
         (batch.empty() || bytes < kMaxBatchBytes)) {
    bytes += ApproxBytes(from.front().op);
    batch.push_back(std::move(from.front()));
    from.pop_front();
  }
}

void GroupCommit::WriterLoop() {
  std::deque<Pending> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty() && stopping_) break;  // drained
      TakeBatch(queue_, batch);
      writing_ = true;
    }
    ApplyBatch(batch);
    batch.clear();
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
    }
    idle_cv_.notify_all();
  }
}

void GroupCommit::Drain() {
  CommitStaged();
  if (options_.inline_writes) return;
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return queue_.empty() && !writing_; });
}

// kPeriodic: flushes what was committed since the last sync, every
// sync_interval, on its own thread, so a slow fsync never holds up the
// next batch (LMDB allows mdb_env_sync concurrently with a write txn).
void GroupCommit::SyncLoop() {
  std::unique_lock<std::mutex> lock(sync_mu_);
  while (!sync_stopping_) {
    sync_cv_.wait_for(lock, options_.sync_interval,
                      [this] { return sync_stopping_; });
    if (sync_stopping_) break;
    // Cleared before the sync: a commit that lands during it sets it again
    // and is flushed next time.
    if (!unsynced_.exchange(false)) continue;
    lock.unlock();
    const int rc = mdb_env_sync(env_.env(), 1);
    lock.lock();
    if (rc != 0) {
      // Retried at the next interval. After a failed fsync Linux may have
      // dropped the dirty pages: this only counts the failure.
      unsynced_ = true;
      sync_failures_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

void GroupCommit::NoteFull(const Status& batch_error) {
  const bool map = IsMapFull(batch_error);
  (map ? full_map_errors_ : full_disk_errors_)
      .fetch_add(1, std::memory_order_relaxed);
  if (!full_.exchange(true)) spdlog::error("{}", batch_error.message());
}

void GroupCommit::NoteCommitted() {
  if (full_.exchange(false)) {
    spdlog::warn("storage in '{}' accepts writes again", options_.dir);
  }
}

void GroupCommit::ApplyBatch(std::deque<Pending>& batch) {
  if (sealed_) {
    const Status sealed(Code::kUnavailable, "store sealed (TEST_Seal)");
    for (Pending& p : batch) p.done(sealed);
    return;
  }
  std::vector<Result<WriteResult>> results;
  results.reserve(batch.size());
  Status batch_error;

  // Batches never overlap up to their commit. The lock is let go before a
  // hint batch's forced fsync, so that fsync (on the writer thread) does not
  // hold up the batches the io thread commits meanwhile.
  std::unique_lock<std::mutex> apply_lock(apply_mu_);

  // Hint bookkeeping is updated as ops apply; a failed batch restores it.
  hints_.BeginBatch();
  bool has_hints = false;

  MDB_txn* txn = nullptr;
  uint64_t txn_id = 0;
  int rc = mdb_txn_begin(env_.env(), nullptr, 0, &txn);
  if (rc != 0) {
    batch_error = env_.WriteError("mdb_txn_begin", rc);
  } else {
    txn_id = mdb_txn_id(txn);
    for (Pending& p : batch) {
      has_hints |= p.op.kind == WriteOp::Kind::kHint;
      results.push_back(ApplyOne(txn, p.op, &batch_error));
      if (!batch_error.ok()) break;
    }
    if (batch_error.ok()) {
      rc = mdb_txn_commit(txn);  // frees txn whatever the outcome
      if (rc != 0) batch_error = env_.WriteError("mdb_txn_commit", rc);
    } else {
      mdb_txn_abort(txn);
    }
  }
  if (batch_error.code() == Code::kStorageFull) {
    NoteFull(batch_error);
  } else if (batch_error.ok()) {
    NoteCommitted();
  }
  if (!batch_error.ok()) {
    hints_.AbortBatch();
  } else {
    hints_.PublishBatch();
  }
  apply_lock.unlock();
  if (batch_error.ok() && options_.sync != SyncPolicy::kAlways) {
    for (const Result<WriteResult>& r : results) {
      if (r.ok() && r->changed) unsynced_ = true;
    }
    // A hint is acknowledged only once it is on disk, whatever the policy:
    // its fallback is the only copy the target will get back.
    if (has_hints) {
      const int src = mdb_env_sync(env_.env(), 1);
      if (src != 0) {
        sync_failures_.fetch_add(1, std::memory_order_relaxed);
        batch_error =
            Status(Code::kInternal,
                   std::string("fsync of hints failed: ") + mdb_strerror(src));
      }
    }
  }

  if (batch_error.ok()) {
    std::vector<ObjectChange> changes;
    for (size_t i = 0; i < results.size(); ++i) {
      const WriteOp& op = batch[i].op;
      if (op.kind == WriteOp::Kind::kHint ||
          op.kind == WriteOp::Kind::kDeleteHint ||
          op.kind == WriteOp::Kind::kDropPartition) {
        continue;
      }
      const Result<WriteResult>& r = results[i];
      if (!r.ok() || !r->changed) continue;
      changes.push_back(
          ObjectChange{op.key, op.loc, r->before, r->after, txn_id});
    }
    objects_.NotifyCommitted(changes);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch_error.ok()) {
      batch[i].done(std::move(results[i]));
    } else {
      batch[i].done(batch_error);
    }
  }
}

Result<WriteResult> GroupCommit::ApplyOne(MDB_txn* txn, WriteOp& op,
                                          Status* batch_error) {
  if (op.kind == WriteOp::Kind::kHint ||
      op.kind == WriteOp::Kind::kDeleteHint) {
    return hints_.ApplyHint(txn, op, batch_error);
  }
  return objects_.ApplyObject(txn, op, batch_error);
}

void GroupCommit::FillStats(StoreStats& stats) const {
  stats.sync_failures = sync_failures_.load(std::memory_order_relaxed);
  stats.full = full_.load(std::memory_order_relaxed);
  stats.full_map_errors = full_map_errors_.load(std::memory_order_relaxed);
  stats.full_disk_errors = full_disk_errors_.load(std::memory_order_relaxed);
}

}  // namespace shoal::storage::internal
