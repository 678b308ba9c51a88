// The hints database of a Store (store.h; doc/storage.md, "Hints"): the
// writes this node keeps as a fallback for primaries that are down, until
// hinted handoff (handoff/) delivers them. Key = target_len:u8 | target |
// storage key; value = stored_at_ms:i64le | wire::EncodeObject(object).
// It lives in the store's environment because hints must be written inside
// the same write transactions as everything else (group commit, commit.h).
//
// Beside the database it keeps, per target, how many hints wait, their
// bytes and the oldest one's time, and the lifetime counters (stored,
// delivered, dropped at the cap) that live in `meta`. A batch updates them
// as its ops apply; they are published to readers when the batch commits
// and restored when it fails.
//
// Internal to storage/. Contracts of the reads are in store.h.
//
// Thread-safety: Load, BeginBatch, ApplyHint, AbortBatch and PublishBatch
// are called by the group commit only, under its apply lock (so never
// concurrently); the reads may run on any thread at any time.
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "storage/env.h"
#include "storage/types.h"

namespace shoal::storage::internal {

class HintsDb {
 public:
  // `env` must outlive the HintsDb.
  explicit HintsDb(const Env& env);
  HintsDb(const HintsDb&) = delete;
  HintsDb& operator=(const HintsDb&) = delete;

  // Reads the lifetime counters and counts the waiting hints per target,
  // inside the environment's opening write transaction (Env::Open's
  // `load`).
  Status Load(MDB_txn* txn);

  // A batch's bookkeeping, around its ops (GroupCommit::ApplyBatch):
  // BeginBatch remembers the tallies and counters; AbortBatch returns to
  // them (the batch failed); PublishBatch shows the batch's to readers (it
  // committed).
  void BeginBatch();
  void AbortBatch();
  void PublishBatch();
  // One kHint or kDeleteHint inside the batch's write transaction (store.h,
  // WriteOp). An error that poisons the whole transaction is stored in
  // *batch_error; any other error fails this op only.
  Result<WriteResult> ApplyHint(MDB_txn* txn, WriteOp& op, Status* batch_error);

  // The reads behind Store::ScanHints, HintBacklogs, HintBacklogsCached,
  // HintTargets and hint_counters (contracts in store.h).
  Result<std::vector<Hint>> ScanHints(std::string_view target,
                                      std::string_view after,
                                      size_t limit) const;
  Result<std::vector<HintBacklog>> HintBacklogs() const;
  Result<std::vector<HintBacklog>> HintBacklogsCached() const;
  std::map<std::string, uint64_t> HintTargets() const;
  Result<std::vector<std::string>> HintTargetsOf(
      std::string_view key, const ring::KeyLocation& loc) const;
  HintCounters hint_counters() const;

 private:
  Status PutCounters(MDB_txn* txn);

  const Env& env_;
  const StoreOptions& options_;  // env_'s

  // The batch applier's view, touched only under the group commit's apply
  // lock (Load, BeginBatch, ApplyHint, AbortBatch, PublishBatch).
  std::map<std::string, uint64_t> hint_counts_;  // target -> hints waiting
  // Per target with hints waiting: their bytes, and the oldest stored_at_ms
  // (0 = unknown since that hint was delivered; `generation` counts such
  // losses, so a reader's rescanned value is known to be current).
  struct HintTally {
    uint64_t bytes = 0;
    int64_t oldest_ms = 0;
    uint64_t generation = 0;
  };
  std::map<std::string, HintTally> hint_tallies_;
  HintCounters counters_;  // as committed in `meta`
  // What BeginBatch saw, for AbortBatch.
  std::map<std::string, uint64_t> saved_hint_counts_;
  std::map<std::string, HintTally> saved_hint_tallies_;
  HintCounters saved_counters_;

  // Hints, what readers see: guards the copies below, published by each
  // committed batch.
  mutable std::mutex counters_mu_;
  HintCounters published_counters_;  // guarded by counters_mu_
  std::map<std::string, uint64_t> published_hint_counts_;    // counters_mu_
  std::map<std::string, HintTally> published_hint_tallies_;  // counters_mu_
  // Hints, HintBacklogsCached's rescans: guards oldest_cache_, target ->
  // (generation, oldest_ms).
  mutable std::mutex oldest_mu_;
  mutable std::map<std::string, std::pair<uint64_t, int64_t>> oldest_cache_;
};

}  // namespace shoal::storage::internal
