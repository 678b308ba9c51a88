// The first part of a Store (store.h): the LMDB environment of one data
// directory. It holds the flock on <dir>/LOCK that keeps a second Store off
// the directory, the environment and its four named databases (objects,
// hints, meta, tombstones), and the meta records that give the directory its
// identity: the format version, the actor id and the session guard that mints a
// new actor after an unclean close followed by a reboot (doc/storage.md, "Actor
// ids"). It also says what a failed LMDB write means: the map is full, the
// filesystem is full, or something else.
//
// Internal to storage/: it pulls in lmdb.h, which storage links privately.
//
// Thread-safety: Open runs on one thread before any other part uses the
// Env; after it every member is const and safe to call from any thread. The
// Env is destroyed after every thread that used it has stopped.
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "quorum/version.h"
#include "storage/types.h"

namespace shoal::storage::internal {

class Env {
 public:
  explicit Env(const StoreOptions& options);
  // Releases what Open acquired, also after a failed Open: syncs what was
  // committed without a sync, records the clean close in the session
  // record, closes LMDB and releases the flock.
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  // Creates the directory, takes the flock, opens the environment and, in
  // one write transaction, the named databases and the meta records
  // (format, actor, session). `load` runs inside that transaction right
  // after the databases are open (the hints database counts its backlog
  // there); its error fails the Open. The meta records are synced before
  // Open returns, whatever the sync policy. Errors: as Store::Open.
  Status Open(const std::function<Status(MDB_txn*)>& load);

  const StoreOptions& options() const { return options_; }
  MDB_env* env() const { return env_; }
  MDB_dbi objects_dbi() const { return objects_dbi_; }
  MDB_dbi meta_dbi() const { return meta_dbi_; }
  MDB_dbi hints_dbi() const { return hints_dbi_; }
  MDB_dbi tombstones_dbi() const { return tombstones_dbi_; }
  // LMDB's key size limit (for a whole storage or hint key).
  size_t max_key_bytes() const { return max_key_bytes_; }
  // The map size LMDB actually uses.
  uint64_t map_size() const { return map_size_; }
  quorum::ActorId actor() const { return actor_; }
  bool actor_reminted() const { return actor_reminted_; }

  // The error for LMDB call `what` that failed with `rc` in a write
  // transaction: kStorageFull when the map is full (IsMapFull) or the
  // filesystem is (ENOSPC, EDQUOT, or EIO with the filesystem nearly full;
  // the message names the mount point and its free bytes), else kInternal
  // naming the call and the directory.
  Status WriteError(const char* what, int rc) const;

  // A record of the meta database that is not one of the store's own
  // (format, actor, session, hint_counters): its bytes, or nullopt if it was
  // never written. Any thread.
  Result<std::optional<std::string>> ReadRecord(std::string_view name) const;
  // Stores `bytes` under `name` in one write transaction and syncs it before
  // returning, whatever the sync policy. Blocks while another write
  // transaction commits. Error kInvalidArgument for one of the Env's own
  // names; otherwise as WriteError.
  Status WriteRecord(std::string_view name, std::string_view bytes);

  // Fills the environment's figures in `stats`: the map's size and the
  // bytes in use, the filesystem's free and total bytes.
  void FillStats(StoreStats& stats) const;

 private:
  Status LockDir();
  Status InitMeta(const std::function<Status(MDB_txn*)>& load);
  Status PutSession(MDB_txn* txn, const std::string& boot, bool clean);
  void MarkClosedCleanly();
  std::string CurrentBoot() const;
  // The error for a commit that failed with errno `rc` for lack of room
  // (ENOSPC, EDQUOT, or EIO with the filesystem nearly full), or nullopt
  // when `rc` is something else.
  std::optional<Status> DiskFull(const char* what, int rc) const;

  const StoreOptions options_;
  int lock_fd_ = -1;
  MDB_env* env_ = nullptr;
  MDB_dbi objects_dbi_ = 0;
  MDB_dbi meta_dbi_ = 0;
  MDB_dbi hints_dbi_ = 0;
  MDB_dbi tombstones_dbi_ = 0;
  size_t max_key_bytes_ = 0;
  uint64_t map_size_ = 0;  // the map size LMDB actually uses
  quorum::ActorId actor_ = 0;
  bool actor_reminted_ = false;
};

// True when `error`, a kStorageFull from Env::WriteError, says that the map
// is full; false when the filesystem is.
bool IsMapFull(const Status& error);

// A read-only transaction with a cursor on one database, closed on scope
// exit.
struct ReadCursor {
  MDB_txn* txn = nullptr;
  MDB_cursor* cursor = nullptr;
  Status Open(MDB_env* env, MDB_dbi dbi) {
    int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
    if (rc == 0) rc = mdb_cursor_open(txn, dbi, &cursor);
    if (rc != 0) {
      return Status(Code::kInternal,
                    std::string("storage read: ") + mdb_strerror(rc));
    }
    return Status::Ok();
  }
  ~ReadCursor() {
    if (cursor != nullptr) mdb_cursor_close(cursor);
    if (txn != nullptr) mdb_txn_abort(txn);
  }
};

}  // namespace shoal::storage::internal
