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
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "quorum/version.h"
#include "ring/ring.h"
#include "storage/env.h"
#include "storage/types.h"

namespace shoal::storage::internal {

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

  void SetObserver(ObjectObserver* observer);
  // kDropPartition: deletes up to kDropBatch objects of `partition`.
  Result<WriteResult> DropSome(MDB_txn* txn, uint32_t partition,
                               Status* batch_error);
  // Tells the observer, if any, of a committed batch's changes, in order, on
  // the calling thread.
  void NotifyCommitted(const std::vector<ObjectChange>& changes);

  Result<uint64_t> ScanObjects(uint32_t partition, uint32_t first_segment,
                               uint32_t last_segment, const ScanFn& fn) const;
  // Fills the number of keys in `stats`.
  void FillStats(StoreStats& stats) const;
  std::vector<std::string> TEST_StorageKeys() const;

 private:
  const Env& env_;
  const StoreOptions& options_;  // env_'s

  // Objects, the observer: held while the observer is called, and while it
  // is replaced (so a removed observer is never called again).
  std::mutex observer_mu_;
  ObjectObserver* observer_ = nullptr;  // guarded by observer_mu_
};

}  // namespace shoal::storage::internal
