// The node's durable store: one LMDB environment per data directory.
//
// Named databases:
//   objects  key = partition:u16be | segment:u32be | user key
//            value = wire::EncodeObject(object)
//   meta     "actor" -> u64 little-endian (minted when the directory is new)
//            "format" -> u32 little-endian (kFormatVersion)
// so a partition and any Merkle segment range are one cursor range scan and
// a point get is one lookup (doc/storage.md).
//
// Threads: reads run inline on the caller's thread (read-only transactions,
// MDB_NOTLS, so any thread may read). Writes are applied in batches, each
// op's read-merge-write inside one write transaction committed once for the
// whole batch (group commit), by one writer thread (Submit) or by the thread
// that calls CommitStaged (Stage); batches never overlap. A write's
// completion runs only after its batch committed. Sync policy
// (doc/storage.md):
//   kPeriodic: commits do not fsync; a syncer thread fsyncs every
//              sync_interval when there were commits since the last one. A
//              killed process loses nothing acknowledged; a machine crash may
//              lose up to about one interval.
//   kAlways:   every batch commit fsyncs before its completions run.
//   kNone:     never fsyncs while running (the OS writes back when it
//              likes); only a clean close syncs.
// With kPeriodic and kNone a machine crash may also leave the environment
// unreadable: LMDB without fsync does not order its page and meta writes.
// When the map is full, or the filesystem under the data directory has no
// room left (ENOSPC, EDQUOT, or EIO from a commit with the filesystem
// nearly full), the batch fails with kStorageFull naming the map size or
// the filesystem and its free bytes; reads still work, and writes succeed
// again by themselves once there is room (no restart). Each such episode is
// logged once when it starts and once when it ends.
//
// Ownership: Store owns the environment and the writer thread; the
// destructor drains queued writes, syncs, and joins the thread. At most one
// Store may have a directory open at a time (enforced with an flock on
// <dir>/LOCK, across processes too).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/result.h"
#include "quorum/version.h"
#include "ring/ring.h"

struct MDB_env;
struct MDB_txn;

namespace shoal::storage {

inline constexpr uint32_t kFormatVersion = 1;

enum class SyncPolicy { kPeriodic, kAlways, kNone };
// "periodic" | "always" | "none"
Result<SyncPolicy> ParseSyncPolicy(std::string_view name);
const char* SyncPolicyName(SyncPolicy policy);

struct StoreOptions {
  std::string dir;                       // created if missing
  uint64_t map_size_bytes = 1ull << 30;  // LMDB map size
  SyncPolicy sync = SyncPolicy::kPeriodic;
  std::chrono::milliseconds sync_interval{100};  // for kPeriodic
  size_t max_batch = 512;  // ops per group commit (also capped at ~64 MiB)
  // A coordinated write whose object would hold more sibling value bytes
  // fails with kTooLarge; 0 = no limit. Merges are never refused.
  uint64_t max_object_bytes = 0;
  // A new hint for a target that already has this many waiting is dropped
  // (kOverloaded) and counted; 0 = no limit.
  uint64_t max_hints_per_target = 0;
  // A coordinated write that would leave the key with more siblings than
  // this (and more than it had) fails with kTooLarge; 0 = no limit. Merges
  // are never refused.
  uint32_t max_siblings = 0;
  // Writes waiting for the writer thread (hints, every write under
  // kAlways) beyond this fail at once with kOverloaded; 0 = no limit.
  size_t max_queued_writes = 10000;
  // conflict = "lww": after every write and merge into `objects`, only the
  // sibling quorum::KeepLastWrite picks is kept (doc/faults.md; unsafe).
  bool last_write_wins = false;
  // Test hook: the boot id to record instead of the kernel's.
  std::string TEST_boot_id;
};

// One atomic read-merge-write on a key, applied in a batch (see Store).
struct WriteOp {
  enum class Kind {
    kCoordinate,  // quorum::NewWrite(stored, context, actor, value, written_at)
    kMerge,       // quorum::Sync(stored, incoming)
    // Hinted handoff (doc/storage.md, "Hints"): the object is kept for
    // `hint_target` in the `hints` database, merged with any hint already
    // there, and the batch is fsynced before the completion runs, whatever
    // the sync policy.
    kHint,
    // Delivered: delete the hint for (hint_target, key) if it is still the
    // one handoff read (its bytes hash to `expected_hint_hash`).
    kDeleteHint,
  };
  Kind kind = Kind::kMerge;
  std::string key;
  ring::KeyLocation loc;
  // kCoordinate
  quorum::VersionVector context;
  std::optional<std::string> value;  // nullopt = tombstone
  int64_t written_at_ms = 0;
  // kMerge, kHint
  quorum::Object incoming;
  // kHint, kDeleteHint
  std::string hint_target;
  uint64_t expected_hint_hash = 0;
};

// A hint waiting in the store for its target.
struct Hint {
  std::string key;          // user key
  std::string storage_key;  // its key in `hints` (a resume point for scans)
  quorum::Object object;
  int64_t stored_at_ms = 0;  // when the first hint for this key was stored
  uint64_t bytes_hash = 0;   // identifies this version (for kDeleteHint)
  size_t bytes = 0;          // stored size
};

struct HintBacklog {
  std::string target;
  uint64_t count = 0;
  uint64_t bytes = 0;
  int64_t oldest_stored_at_ms = 0;
};

// Lifetime totals, kept in `meta` so they survive restarts.
struct HintCounters {
  uint64_t stored = 0;       // hints written (new or merged)
  uint64_t delivered = 0;    // hints deleted after their target acked
  uint64_t dropped_cap = 0;  // hints refused: target over its cap
};

struct WriteResult {
  quorum::Object before;  // stored object before the op (empty if none)
  quorum::Object after;   // stored object after the op
  bool changed = false;   // false when the op changed nothing (not rewritten)
};

struct StoreStats {
  uint64_t keys = 0;        // entries in `objects`
  uint64_t used_bytes = 0;  // pages in use * page size
  uint64_t map_size_bytes = 0;
  uint64_t sync_failures = 0;  // mdb_env_sync errors since Open
  // The filesystem holding the data directory (statvfs): bytes available
  // to the store, and its size.
  uint64_t fs_free_bytes = 0;
  uint64_t fs_size_bytes = 0;
  // True from a batch refused for lack of room until the next commit.
  bool full = false;
  // Batches refused for lack of room since Open: the map was full / the
  // filesystem was.
  uint64_t full_map_errors = 0;
  uint64_t full_disk_errors = 0;
};

using WriteCallback = std::function<void(Result<WriteResult>)>;

// One committed change to an object in `objects`.
struct ObjectChange {
  std::string_view key;
  ring::KeyLocation loc;
  const quorum::Object& before;  // empty when the key was absent
  const quorum::Object& after;
  // The LMDB write transaction that committed it: a read snapshot whose
  // ScanObjects returned id >= txn_id already sees the change.
  uint64_t txn_id = 0;
};

// Told about every committed change to `objects` (coordinated writes and
// merges alike), on the thread that applied the batch (the writer thread or
// a CommitStaged caller), after the batch committed and before its
// completions run. Must be cheap and must not call back into the store.
class ObjectObserver {
 public:
  virtual ~ObjectObserver() = default;
  virtual void ObjectChanged(const ObjectChange& change) = 0;
};

// Called by ScanObjects for each object: its user key, 32-bit segment and
// decoded object. Return false to stop the scan.
using ScanFn = std::function<bool(std::string_view key, uint32_t segment,
                                  const quorum::Object& object)>;

class Store {
 public:
  // Opens (creating if needed) the environment in options.dir and starts the
  // writer thread. Errors name the directory and the LMDB error:
  // kInvalidArgument for bad options or a directory already in use,
  // kCorruption for a format version mismatch or a non-LMDB file, kInternal
  // otherwise.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // This data directory's actor id: minted at creation, and minted anew when
  // the previous session ended in a machine crash (see InitMeta). Never
  // reused.
  quorum::ActorId actor() const { return actor_; }
  // True when Open minted a new actor for an existing directory because its
  // last session did not close cleanly before a reboot.
  bool actor_reminted() const { return actor_reminted_; }

  // The stored object for a key, or nullopt. Any thread. Errors: kCorruption
  // when the stored bytes do not decode, kTooLarge for a key over LMDB's key
  // limit, kOverloaded when all reader slots are busy, kInternal otherwise.
  Result<std::optional<quorum::Object>> Get(std::string_view key,
                                            const ring::KeyLocation& loc) const;

  // Queues a write for the writer thread. `done` runs on that thread after
  // the batch holding the op committed (or failed); it must be cheap, must
  // not throw and must not block waiting for another write (posting to an
  // executor is the intended use; calling Submit or Stage from it is fine,
  // CommitStaged is not). Any thread, but not concurrently with the
  // destructor.
  // Errors: kStorageFull (the whole batch failed; nothing of it is visible),
  // kCorruption (this op's stored object does not decode; the rest of the
  // batch proceeds), kTooLarge (key over LMDB's limit, or a coordinated
  // write over max_object_bytes or max_siblings; this op only),
  // kOverloaded (max_queued_writes writes already wait for the writer
  // thread; `done` runs at once, on the calling thread), kInternal (other
  // LMDB errors; the whole batch failed).
  void Submit(WriteOp op, WriteCallback done);
  // Stages a write for the next CommitStaged(). When it returns true the
  // caller owes one CommitStaged() call soon (storage/async.cc posts it
  // once per turn of the io_context), so the writes of every request decoded
  // in one turn go into one group commit. Any thread.
  [[nodiscard]] bool Stage(WriteOp op, WriteCallback done);
  // Commits every staged op. Ops that must be fsynced before they are
  // acknowledged (hints, and every op under SyncPolicy::kAlways) go to the
  // writer thread, so no caller ever waits for an fsync; the rest are
  // applied right here, on the calling thread, in one write transaction
  // (several if there are more than max_batch), with their completions run
  // before it returns. That spares each write two thread hand-offs (wake the
  // writer, wake the caller back), which cost more than the commit itself
  // when writes arrive one at a time. Same errors as Submit.
  void CommitStaged();

  // Installs the observer of committed object changes (nullptr = none). Any
  // thread; once it returns, the previous observer is not called any more
  // (so its owner may destroy it after removing it).
  void SetObjectObserver(ObjectObserver* observer);

  // Calls `fn` for every object of `partition` whose segment is in
  // [first_segment, last_segment], in storage order, all from one read
  // snapshot; returns that snapshot's transaction id (see ObjectChange).
  // Any thread. Errors: kCorruption when a stored object does not decode
  // (the scan stops there), kOverloaded / kInternal as for Get.
  Result<uint64_t> ScanObjects(uint32_t partition, uint32_t first_segment,
                               uint32_t last_segment, const ScanFn& fn) const;

  // Any thread.
  StoreStats Stats() const;

  // Up to `limit` hints for `target` whose storage key sorts after `after`
  // ("" = from the start), in key order. Any thread.
  Result<std::vector<Hint>> ScanHints(std::string_view target,
                                      std::string_view after,
                                      size_t limit) const;
  // Every target with hints waiting: count, bytes, oldest. Scans `hints`
  // (cost grows with the backlog). Any thread.
  Result<std::vector<HintBacklog>> HintBacklogs() const;
  HintCounters hint_counters() const;
  // Targets with hints waiting and how many, as of the last commit. Cheap
  // (no scan). Any thread.
  std::map<std::string, uint64_t> HintTargets() const;
  // Like HintBacklogs, without scanning the whole of `hints` (for metrics
  // scrapes): count and bytes per target are kept up to date by each batch
  // as of the last commit; the oldest hint's time is cached per target and
  // recomputed by a scan of that one target only after the hint that held
  // it was delivered. Errors: as ScanHints. Any thread.
  Result<std::vector<HintBacklog>> HintBacklogsCached() const;

  // Test hook: every raw LMDB key of `objects`, in LMDB order.
  std::vector<std::string> TEST_StorageKeys() const;

 private:
  struct Pending {
    WriteOp op;
    WriteCallback done;
  };
  explicit Store(const StoreOptions& options);
  Status Init();
  Status LockDir();
  Status InitMeta();
  Status PutSession(MDB_txn* txn, const std::string& boot, bool clean);
  void MarkClosedCleanly();
  std::string CurrentBoot() const;
  void WriterLoop();
  void TakeBatch(std::deque<Pending>& from, std::deque<Pending>& batch) const;
  // Applies and commits `batch`, then runs its completions. Holds apply_mu_
  // up to the commit (not during a hint batch's forced fsync).
  void ApplyBatch(std::deque<Pending>& batch);
  // One op inside the batch's write transaction. An error that poisons the
  // whole transaction is stored in *batch_error (the op's result is then
  // irrelevant); any other error fails this op only.
  Result<WriteResult> ApplyOne(MDB_txn* txn, WriteOp& op, Status* batch_error);
  Result<WriteResult> ApplyHint(MDB_txn* txn, WriteOp& op, Status* batch_error);
  Status InitHints(MDB_txn* txn);
  Status PutCounters(MDB_txn* txn);
  Status WriteError(const char* what, int rc) const;
  // The error for a commit that failed with errno `rc` for lack of room
  // (ENOSPC, EDQUOT, or EIO with the filesystem nearly full), or nullopt
  // when `rc` is something else.
  std::optional<Status> DiskFull(const char* what, int rc) const;
  // Counts a batch refused with kStorageFull and logs the start of an
  // episode; ends the episode (logged) after a successful commit.
  void NoteFull(const Status& batch_error);
  void NoteCommitted();
  void SyncLoop();  // the syncer thread (kPeriodic)

  StoreOptions options_;
  int lock_fd_ = -1;
  MDB_env* env_ = nullptr;
  unsigned int objects_dbi_ = 0;
  unsigned int meta_dbi_ = 0;
  unsigned int hints_dbi_ = 0;
  size_t max_key_bytes_ = 0;
  uint64_t map_size_ = 0;  // the map size LMDB actually uses
  quorum::ActorId actor_ = 0;
  bool actor_reminted_ = false;

  // Held while a batch is applied and committed (ApplyBatch), on the writer
  // thread or in CommitStaged: batches never overlap, and the members below
  // are only touched under it (and by the destructor after the join).
  std::mutex apply_mu_;
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

  mutable std::mutex counters_mu_;
  HintCounters published_counters_;  // guarded by counters_mu_
  std::map<std::string, uint64_t> published_hint_counts_;    // counters_mu_
  std::map<std::string, HintTally> published_hint_tallies_;  // counters_mu_
  // HintBacklogsCached's rescanned oldest times: target -> (generation,
  // oldest_ms).
  mutable std::mutex oldest_mu_;
  mutable std::map<std::string, std::pair<uint64_t, int64_t>> oldest_cache_;

  // Commits since the last sync (kPeriodic): set by the writer thread,
  // cleared by the syncer thread.
  std::atomic<bool> unsynced_{false};
  std::atomic<uint64_t> sync_failures_{0};
  std::atomic<bool> full_{false};
  std::atomic<uint64_t> full_map_errors_{0};
  std::atomic<uint64_t> full_disk_errors_{0};
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool sync_stopping_ = false;  // guarded by sync_mu_
  std::thread syncer_;
  std::mutex observer_mu_;              // held while the observer is called
  ObjectObserver* observer_ = nullptr;  // guarded by observer_mu_

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;    // guarded by mu_
  std::vector<Pending> staged_;  // Stage()'s, until CommitStaged(); mu_
  std::atomic<bool> commit_owed_{false};  // a Stage() awaits CommitStaged()
  bool stopping_ = false;                 // guarded by mu_
  std::thread writer_;
};

// The LMDB key for a user key: partition:u16be | segment:u32be | key.
std::string EncodeStorageKey(std::string_view key,
                             const ring::KeyLocation& loc);

}  // namespace shoal::storage
