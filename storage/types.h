// The values a Store is given and hands back (store.h has the Store
// itself): its options and sync policies, the write ops and their results,
// hints and their backlogs, the store's figures, and the observer of
// committed object changes. doc/storage.md describes the formats they map
// to.
//
// Thread-safety: plain values, and one interface (ObjectObserver) whose
// contract says on which thread it is called.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "quorum/conflict.h"
#include "quorum/version.h"
#include "ring/ring.h"

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
  // kLastWriteWins (conflict = "lww"): after every write and merge into
  // `objects`, only the sibling quorum::KeepLastWrite picks is kept
  // (doc/faults.md; unsafe).
  quorum::ConflictPolicy conflict = quorum::ConflictPolicy::kSiblings;
  // Every write is applied and committed on the thread that submits or
  // commits it, hints and kAlways writes included (they still fsync), and
  // the store starts no thread. For the single-threaded simulator
  // (tests/sim), where a writer thread would make runs unrepeatable.
  bool inline_writes = false;
  // The wall clock a hint's stored_at is read from; null = the system
  // clock. Must outlive the Store.
  const Clock* clock = nullptr;
  // Seeds the actor id minted for a new (or reminted) replica; 0 = random.
  // The simulator derives it from its seed so that runs repeat.
  uint64_t actor_seed = 0;
  // Test hook: the boot id to record instead of the kernel's.
  std::string TEST_boot_id;
  // PLANTED BUG, for tests/sim only (the simulator must catch it): a
  // coordinated write reuses this actor's last dot instead of minting the
  // next one, so two different values can carry one dot.
  bool TEST_reuse_dot = false;
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
    // Deletes up to kDropBatch objects of partition `loc.partition` (a
    // partition this node no longer replicates, doc/membership.md);
    // `changed` says whether any was left to delete. Not observed.
    kDropPartition,
    // Reaps a tombstoned key (doc/impl.md, "Reaping tombstones"): deletes
    // the object if every sibling is a tombstone and its causal fingerprint
    // is still `expected_fingerprint`; otherwise changes nothing. For a
    // while after, a merge or write of the key behaves as if the tombstone
    // were still stored (the reaped-key guard, objects.h).
    kReap,
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
  // kReap
  uint64_t expected_fingerprint = 0;
};

// A key whose every sibling is a tombstone, from the `tombstones` index.
struct Tombstone {
  std::string key;            // user key
  std::string storage_key;    // its key in `objects` (a resume point)
  ring::KeyLocation loc;      // partition and segment (hash 0)
  int64_t deleted_at_ms = 0;  // the newest tombstone sibling's written_at
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

// Objects one kDropPartition op deletes at most: one op holds the writer
// for a bounded time; the caller repeats it until nothing is left.
inline constexpr size_t kDropBatch = 1000;

struct WriteResult {
  quorum::Object before;  // stored object before the op (empty if none)
  quorum::Object after;   // stored object after the op
  bool changed = false;   // false when the op changed nothing (not rewritten)
};

struct StoreStats {
  uint64_t keys = 0;        // entries in `objects`
  uint64_t tombstones = 0;  // of them, tombstoned (entries in `tombstones`)
  uint64_t used_bytes = 0;  // pages in use * page size
  // Pages the databases hold * page size: used_bytes less the free pages
  // LMDB reuses for new writes (it shrinks when keys are deleted).
  uint64_t data_bytes = 0;
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

// The LMDB key for a user key: partition:u16be | segment:u32be | key.
std::string EncodeStorageKey(std::string_view key,
                             const ring::KeyLocation& loc);

}  // namespace shoal::storage
