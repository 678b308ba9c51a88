// The node's durable store: one LMDB environment per data directory.
//
// Named databases:
//   objects  key = partition:u16be | segment:u32be | user key
//            value = wire::EncodeObject(object)
//   tombstones  storage key of every object whose siblings are all
//            tombstones -> the newest tombstone's written_at, u64 LE (the
//            reaper's list, kept in the object's own transaction)
//   meta     "actor" -> u64 little-endian (minted when the directory is new)
//            "format" -> u32 little-endian (kFormatVersion)
//            "session" -> boot id + clean-close mark (env.h)
//            other names: records kept for other modules (ReadMeta)
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
// Inside, the Store is a facade over four parts, each in its own files
// (internal to storage/):
//   env.h      the environment, the flock, the meta records (format, actor,
//              session guard) and what a failed LMDB write means;
//   commit.h   group commit: staging, the queue, the writer and syncer
//              threads, applying and committing a batch;
//   hints.h    the hints database, its tallies and lifetime counters;
//   objects.h  the objects database: coordinated writes and merges, Get,
//              ScanObjects and the object observer.
//
// Ownership: Store owns the environment and the writer thread; the
// destructor drains queued writes, syncs, and joins the thread. At most one
// Store may have a directory open at a time (enforced with an flock on
// <dir>/LOCK, across processes too).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "quorum/version.h"
#include "ring/ring.h"
#include "storage/types.h"

namespace shoal::storage {

namespace internal {
class Env;
class GroupCommit;
class HintsDb;
class ObjectsDb;
}  // namespace internal

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
  // the previous session ended in a machine crash (the session guard,
  // env.h). Never reused.
  quorum::ActorId actor() const;
  // True when Open minted a new actor for an existing directory because its
  // last session did not close cleanly before a reboot.
  bool actor_reminted() const;

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
  // LMDB errors; the whole batch failed). With StoreOptions::inline_writes
  // the op is applied, committed and `done` run before Submit returns.
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
  // Blocks until every write submitted or staged before the call has
  // committed (or failed) and its completion and the object observer ran.
  // For a node that is shutting down, once nothing submits any more: what
  // it then reads of its observers (the anti-entropy trees it saves) holds
  // every write. Any thread; not from a write's completion.
  void Drain();

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

  // Small records kept for other modules in the meta database (the node's
  // cluster state is one), by name; the store's own records (format, actor,
  // session, hint_counters) are refused with kInvalidArgument. ReadMeta: the
  // bytes, or nullopt if never written; any thread. WriteMeta: written and
  // synced in its own write transaction before it returns (so it waits for a
  // batch committing at the time); for rare writes only. Fails with
  // kUnavailable after TEST_Seal; else errors as Submit's.
  Result<std::optional<std::string>> ReadMeta(std::string_view name) const;
  Status WriteMeta(std::string_view name, std::string_view bytes);

  // Up to `limit` tombstoned keys (every sibling a tombstone) whose storage
  // key sorts after `after` ("" = from the start), in storage key order,
  // with when each was deleted. Any thread. Errors: kInternal.
  Result<std::vector<Tombstone>> ScanTombstones(std::string_view after,
                                                size_t limit) const;

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
  // The targets this node holds a hint of `key` for (the reaper asks every
  // node before it reaps the key). Any thread. Errors: kInternal.
  Result<std::vector<std::string>> HintTargetsOf(
      std::string_view key, const ring::KeyLocation& loc) const;
  // Like HintBacklogs, without scanning the whole of `hints` (for metrics
  // scrapes): count and bytes per target are kept up to date by each batch
  // as of the last commit; the oldest hint's time is cached per target and
  // recomputed by a scan of that one target only after the hint that held
  // it was delivered. Errors: as ScanHints. Any thread.
  Result<std::vector<HintBacklog>> HintBacklogsCached() const;

  // Test hook: every raw LMDB key of `objects`, in LMDB order.
  std::vector<std::string> TEST_StorageKeys() const;
  // Test hook: the object the reaped-key guard remembers for `key` (reaped
  // here and not yet forgotten), if any. Only while no write is applied
  // (the simulator's one thread, with inline writes).
  std::optional<quorum::Object> TEST_Reaped(std::string_view key,
                                            const ring::KeyLocation& loc) const;
  // A process crash, for the simulator: from now on no write commits (each
  // fails with kUnavailable), so what the node's code does while it is
  // unwound after a "kill" leaves nothing on disk. Irreversible; any thread.
  void TEST_Seal();

 private:
  Store();

  // The four parts (doc/storage.md; internal headers beside this one), built
  // in this order by Open and destroyed in the reverse order by ~Store: the
  // group commit first (it applies what is still queued and joins its
  // threads), the environment last (it syncs, records the clean close and
  // closes LMDB).
  std::unique_ptr<internal::Env> env_;             // env.h: environment, meta
  std::unique_ptr<internal::HintsDb> hints_;       // hints.h: the hints db
  std::unique_ptr<internal::ObjectsDb> objects_;   // objects.h: objects db
  std::unique_ptr<internal::GroupCommit> commit_;  // commit.h: the writes
};

}  // namespace shoal::storage
