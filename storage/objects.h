// The objects database of a Store (store.h): each key's versioned object
// under partition:u16be | segment:u32be | user key, the value being
// wire::EncodeObject. A write is a read-merge-write inside a batch's write
// transaction (commit.h): kCoordinate applies quorum::NewWrite under the
// client's context and the object and sibling limits, kMerge applies
// quorum::Sync, and under ConflictPolicy::kLastWriteWins (StoreOptions::
// conflict) quorum::KeepLastWrite runs after either; an op that changes
// nothing is not rewritten. Reads are inline
// read-only transactions. The object observer is told of every committed
// change (anti-entropy keeps its Merkle trees this way).
//
// The `tombstones` database indexes the objects whose every sibling is a
// tombstone (storage key -> the newest tombstone's written_at, u64 LE),
// updated in the same transaction as the object, so the reaper lists them
// without scanning `objects`. kReap deletes such an object; the last
// kReapGuard keys reaped are remembered (key -> the reaped object) and a
// later merge or write of one of them, while it is absent, applies to that
// object as if it were still stored: a straggling replica message carrying
// an older version (sent before the delete, delivered after the reap) is
// absorbed by the tombstone instead of bringing the value back.
//
// Internal to storage/. Contracts of Get, ScanObjects and the observer are
// in store.h.
//
// Thread-safety: ApplyObject is called by the group commit only, under its
// apply lock; Get, ScanObjects, FillStats and TEST_StorageKeys run on any
// thread; SetObserver and NotifyCommitted may run on any thread (they lock
// observer_mu_).
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "quorum/version.h"
#include "ring/ring.h"
#include "storage/env.h"
#include "storage/types.h"

namespace shoal::storage::internal {

// Reaped keys remembered by the guard (objects.h): at the reaper's default
// pace this covers well over the longest a replica message can be in flight.
inline constexpr size_t kReapGuard = 65536;

class ObjectsDb {
 public:
  // `env` must outlive the ObjectsDb.
  explicit ObjectsDb(const Env& env);
  ObjectsDb(const ObjectsDb&) = delete;
  ObjectsDb& operator=(const ObjectsDb&) = delete;

  Result<std::optional<quorum::Object>> Get(std::string_view key,
                                            const ring::KeyLocation& loc) const;
  // One kCoordinate or kMerge inside the batch's write transaction (store.h,
  // WriteOp). An error that poisons the whole transaction is stored in
  // *batch_error; any other error fails this op only.
  Result<WriteResult> ApplyObject(MDB_txn* txn, WriteOp& op,
                                  Status* batch_error);
  // At open, inside the Env's first transaction: indexes every tombstoned
  // object in `tombstones` unless the meta record kTombstoneIndexKey says
  // the index is complete (a directory from before the index), then writes
  // that record.
  Status IndexTombstones(MDB_txn* txn);
  // Up to `limit` index entries whose storage key sorts after `after` (""
  // = from the start), in storage key order. Any thread.
  Result<std::vector<Tombstone>> ScanTombstones(std::string_view after,
                                                size_t limit) const;

  void SetObserver(ObjectObserver* observer);
  // kDropPartition: deletes up to kDropBatch objects of `partition`.
  Result<WriteResult> DropSome(MDB_txn* txn, uint32_t partition,
                               Status* batch_error);
  // kReap of the object stored under `k` (found: `stored`).
  Result<WriteResult> Reap(MDB_txn* txn, const WriteOp& op, MDB_val k,
                           std::optional<quorum::Object> stored,
                           Status* batch_error);
  // Keeps `tombstones` in step with a change of the object under `k`.
  Status IndexChange(MDB_txn* txn, MDB_val k, const quorum::Object& before,
                     const quorum::Object& after, Status* batch_error);
  // Tells the observer, if any, of a committed batch's changes, in order, on
  // the calling thread.
  void NotifyCommitted(const std::vector<ObjectChange>& changes);

  Result<uint64_t> ScanObjects(uint32_t partition, uint32_t first_segment,
                               uint32_t last_segment, const ScanFn& fn) const;
  // Fills the number of keys in `stats`.
  void FillStats(StoreStats& stats) const;
  std::vector<std::string> TEST_StorageKeys() const;
  // Store::TEST_Reaped.
  std::optional<quorum::Object> TEST_Reaped(std::string_view key,
                                            const ring::KeyLocation& loc) const;

 private:
  const Env& env_;
  const StoreOptions& options_;  // env_'s

  // Objects, the observer: held while the observer is called, and while it
  // is replaced (so a removed observer is never called again).
  std::mutex observer_mu_;
  ObjectObserver* observer_ = nullptr;  // guarded by observer_mu_

  // The reaped-key guard, touched by ApplyObject only (under the group
  // commit's apply lock): storage key -> the object reaped, and the keys in
  // the order they were reaped (the oldest is forgotten first).
  struct Reaped {
    quorum::Object object;
    uint64_t seq = 0;  // which entry of reaped_order_ is this one's
  };
  std::unordered_map<std::string, Reaped> reaped_;
  std::deque<std::pair<std::string, uint64_t>> reaped_order_;
  uint64_t reaped_seq_ = 0;
};

}  // namespace shoal::storage::internal
