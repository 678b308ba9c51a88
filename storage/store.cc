// LMDB-backed Store: inline reads, group-committed writes (on the thread
// that calls CommitStaged, or on the writer thread).
//
// Why things are done the way they are (contracts live in store.h):
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

#include "storage/store.h"

#include <fcntl.h>
#include <lmdb.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <system_error>
#include <utility>

#include "storage/format.h"
#include "wire/codec.h"

namespace shoal::storage {
namespace {

using internal::BigEndianAt;
using internal::CorruptObject;
using internal::DecodeHintValue;
using internal::DecodeLittleEndian;
using internal::EncodeLittleEndian;
using internal::kFormatKey;
using internal::kHintsDb;
using internal::kMaxDbs;
using internal::kMaxReaders;
using internal::kMetaDb;
using internal::kObjectsDb;
using internal::kStorageKeyPrefixBytes;
using internal::SplitHintKey;
using internal::ValOf;
using internal::ViewOf;

constexpr char kHintCountersKey[] = "hint_counters";
constexpr char kActorKey[] = "actor";
// boot id of the machine that opened the directory last, then '0' while it
// is open or '1' after a clean close.
constexpr char kSessionKey[] = "session";
constexpr char kLockFile[] = "LOCK";
// How a full map's error begins (NoteFull tells the two kinds of full apart).
constexpr char kMapFull[] = "storage full: LMDB map of ";
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

// The kernel's id of the current boot; changes on every reboot.
std::string BootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id.empty() ? std::string("unknown-boot") : id;
}

// The mount point of the filesystem holding `dir`: the highest ancestor on
// the same device.
std::string MountPoint(const std::string& dir) {
  std::error_code ec;
  std::filesystem::path path = std::filesystem::absolute(dir, ec);
  if (ec) return dir;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return dir;
  const dev_t dev = st.st_dev;
  while (path.has_parent_path() && path.parent_path() != path) {
    const std::filesystem::path parent = path.parent_path();
    if (::stat(parent.c_str(), &st) != 0 || st.st_dev != dev) break;
    path = parent;
  }
  return path.string();
}

quorum::ActorId MintActor() {
  std::random_device rd;
  quorum::ActorId actor = 0;
  while (actor == 0) {
    actor = (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
  }
  return actor;
}

Status KeyTooLarge(size_t key_bytes, size_t max_key_bytes) {
  return Status(Code::kTooLarge,
                "key of " + std::to_string(key_bytes) +
                    " bytes is over the storage limit of " +
                    std::to_string(max_key_bytes - kStorageKeyPrefixBytes) +
                    " bytes");
}

}  // namespace

Result<SyncPolicy> ParseSyncPolicy(std::string_view name) {
  if (name == "periodic") return SyncPolicy::kPeriodic;
  if (name == "always") return SyncPolicy::kAlways;
  if (name == "none") return SyncPolicy::kNone;
  return Status(Code::kInvalidArgument,
                "unknown sync policy '" + std::string(name) +
                    "' (expected periodic, always or none)");
}

const char* SyncPolicyName(SyncPolicy policy) {
  switch (policy) {
    case SyncPolicy::kPeriodic:
      return "periodic";
    case SyncPolicy::kAlways:
      return "always";
    case SyncPolicy::kNone:
      return "none";
  }
  return "unknown";
}

std::string EncodeStorageKey(std::string_view key,
                             const ring::KeyLocation& loc) {
  SHOAL_REQUIRE(loc.partition < 65536, "partition does not fit in 16 bits");
  std::string out;
  out.reserve(kStorageKeyPrefixBytes + key.size());
  out.push_back(static_cast<char>((loc.partition >> 8) & 0xff));
  out.push_back(static_cast<char>(loc.partition & 0xff));
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((loc.segment >> shift) & 0xff));
  }
  out.append(key);
  return out;
}

Store::Store(const StoreOptions& options) : options_(options) {}

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (options.dir.empty()) {
    return Status(Code::kInvalidArgument, "storage dir is empty");
  }
  if (options.max_batch == 0) {
    return Status(Code::kInvalidArgument, "storage max_batch must be >= 1");
  }
  if (options.map_size_bytes == 0) {
    return Status(Code::kInvalidArgument, "storage map_size must be > 0");
  }
  if (options.sync == SyncPolicy::kPeriodic &&
      options.sync_interval.count() <= 0) {
    return Status(Code::kInvalidArgument,
                  "storage sync_interval must be > 0 for sync policy "
                  "'periodic'");
  }
  std::unique_ptr<Store> store(new Store(options));
  Status status = store->Init();
  if (!status.ok()) return status;  // ~Store releases what Init acquired
  store->writer_ = std::thread(&Store::WriterLoop, store.get());
  if (options.sync == SyncPolicy::kPeriodic) {
    store->syncer_ = std::thread(&Store::SyncLoop, store.get());
  }
  return Result<std::unique_ptr<Store>>(std::move(store));
}

Status Store::LockDir() {
  const std::string path =
      (std::filesystem::path(options_.dir) / kLockFile).string();
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    return Status(Code::kInternal, "cannot open storage lock file '" + path +
                                       "': " + std::strerror(errno));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      return Status(Code::kInvalidArgument,
                    "storage dir '" + options_.dir +
                        "' is already open (lock file '" + path + "' is held)");
    }
    return Status(Code::kInternal, "cannot lock storage lock file '" + path +
                                       "': " + std::strerror(err));
  }
  return Status::Ok();
}

Status Store::Init() {
  const std::string& dir = options_.dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Status(Code::kInternal,
                  "cannot create storage dir '" + dir + "': " + ec.message());
  }
  if (Status s = LockDir(); !s.ok()) return s;

  auto lmdb_error = [&dir](const char* what, int rc) {
    const Code code = (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
                          ? Code::kCorruption
                          : Code::kInternal;
    return Status(code, std::string(what) + " failed for storage dir '" + dir +
                            "': " + mdb_strerror(rc));
  };
  int rc = mdb_env_create(&env_);
  if (rc != 0) {
    env_ = nullptr;
    return lmdb_error("mdb_env_create", rc);
  }
  if ((rc = mdb_env_set_maxdbs(env_, kMaxDbs)) != 0) {
    return lmdb_error("mdb_env_set_maxdbs", rc);
  }
  if ((rc = mdb_env_set_mapsize(env_, options_.map_size_bytes)) != 0) {
    return lmdb_error("mdb_env_set_mapsize", rc);
  }
  if ((rc = mdb_env_set_maxreaders(env_, kMaxReaders)) != 0) {
    return lmdb_error("mdb_env_set_maxreaders", rc);
  }
  unsigned int flags = MDB_NOTLS;
  if (options_.sync != SyncPolicy::kAlways) flags |= MDB_NOSYNC;
  if ((rc = mdb_env_open(env_, dir.c_str(), flags, 0644)) != 0) {
    return lmdb_error("mdb_env_open", rc);  // ~Store calls mdb_env_close
  }
  max_key_bytes_ = static_cast<size_t>(mdb_env_get_maxkeysize(env_));
  MDB_envinfo info;
  if ((rc = mdb_env_info(env_, &info)) != 0) {
    return lmdb_error("mdb_env_info", rc);
  }
  map_size_ = info.me_mapsize;
  return InitMeta();
}

// Opens the named databases and reads (or creates) the actor and format
// records in one write transaction.
Status Store::InitMeta() {
  const std::string& dir = options_.dir;
  auto lmdb_error = [&dir](const char* what, int rc) {
    return Status(Code::kInternal, std::string(what) +
                                       " failed for storage dir '" + dir +
                                       "': " + mdb_strerror(rc));
  };
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
  if (rc != 0) return lmdb_error("mdb_txn_begin", rc);
  auto fail = [&](Status s) {
    mdb_txn_abort(txn);
    return s;
  };
  if ((rc = mdb_dbi_open(txn, kObjectsDb, MDB_CREATE, &objects_dbi_)) != 0) {
    return fail(lmdb_error("opening database 'objects'", rc));
  }
  if ((rc = mdb_dbi_open(txn, kMetaDb, MDB_CREATE, &meta_dbi_)) != 0) {
    return fail(lmdb_error("opening database 'meta'", rc));
  }
  if ((rc = mdb_dbi_open(txn, kHintsDb, MDB_CREATE, &hints_dbi_)) != 0) {
    return fail(lmdb_error("opening database 'hints'", rc));
  }
  if (Status st = InitHints(txn); !st.ok()) return fail(st);

  bool minted = false;
  MDB_val key = ValOf(kFormatKey);
  MDB_val val;
  rc = mdb_get(txn, meta_dbi_, &key, &val);
  if (rc == 0) {
    const std::optional<uint32_t> found =
        DecodeLittleEndian<uint32_t>(ViewOf(val));
    if (!found || *found != kFormatVersion) {
      return fail(Status(
          Code::kCorruption,
          "storage dir '" + dir + "' has format version " +
              (found ? std::to_string(*found)
                     : "<" + std::to_string(val.mv_size) + " bad bytes>") +
              " but this build reads format version " +
              std::to_string(kFormatVersion)));
    }
  } else if (rc == MDB_NOTFOUND) {
    const std::string bytes = EncodeLittleEndian<uint32_t>(kFormatVersion);
    val = ValOf(bytes);
    if ((rc = mdb_put(txn, meta_dbi_, &key, &val, 0)) != 0) {
      return fail(lmdb_error("storing the format version", rc));
    }
    minted = true;
  } else {
    return fail(lmdb_error("reading the format version", rc));
  }

  key = ValOf(kActorKey);
  rc = mdb_get(txn, meta_dbi_, &key, &val);
  if (rc == 0) {
    const std::optional<uint64_t> found =
        DecodeLittleEndian<uint64_t>(ViewOf(val));
    if (!found || *found == 0) {
      return fail(Status(Code::kCorruption,
                         "storage dir '" + dir + "' has an invalid actor id (" +
                             std::to_string(val.mv_size) + " bytes)"));
    }
    actor_ = *found;
  } else if (rc == MDB_NOTFOUND) {
    actor_ = MintActor();
    const std::string bytes = EncodeLittleEndian<uint64_t>(actor_);
    val = ValOf(bytes);
    if ((rc = mdb_put(txn, meta_dbi_, &key, &val, 0)) != 0) {
      return fail(lmdb_error("storing the actor id", rc));
    }
    minted = true;
  } else {
    return fail(lmdb_error("reading the actor id", rc));
  }

  // Session guard (doc/storage.md, "Actor ids"): without fsync per commit a
  // machine crash can lose the last acknowledged writes, and with them the
  // highest dots this actor issued. Reissuing those dots for different values
  // would make replicas silently disagree (Riak's kv679). So when the last
  // session did not close cleanly and the machine has rebooted since, this
  // directory takes a new actor. A killed process (same boot) loses nothing.
  key = ValOf(kSessionKey);
  rc = mdb_get(txn, meta_dbi_, &key, &val);
  const std::string boot = CurrentBoot();
  if (rc == 0 && !minted) {
    const std::string_view session = ViewOf(val);
    const bool clean = !session.empty() && session.back() == '1';
    const std::string_view last_boot = session.substr(0, session.size() - 1);
    if (!clean && last_boot != boot) {
      actor_ = MintActor();
      const std::string bytes = EncodeLittleEndian<uint64_t>(actor_);
      MDB_val akey = ValOf(kActorKey);
      val = ValOf(bytes);
      if ((rc = mdb_put(txn, meta_dbi_, &akey, &val, 0)) != 0) {
        return fail(lmdb_error("storing the actor id", rc));
      }
      actor_reminted_ = true;
    }
  } else if (rc != 0 && rc != MDB_NOTFOUND) {
    return fail(lmdb_error("reading the session record", rc));
  }
  if (Status st = PutSession(txn, boot, /*clean=*/false); !st.ok()) {
    return fail(st);
  }

  rc = mdb_txn_commit(txn);  // frees txn whatever the outcome
  if (rc != 0) return lmdb_error("committing the meta records", rc);
  // Synced at once, whatever the policy: the directory's identity and the
  // "session open" mark must not wait for the next periodic sync.
  rc = mdb_env_sync(env_, 1);
  if (rc != 0) return lmdb_error("syncing the meta records", rc);
  return Status::Ok();
}

Status Store::PutSession(MDB_txn* txn, const std::string& boot, bool clean) {
  const std::string record = boot + (clean ? "1" : "0");
  MDB_val key = ValOf(kSessionKey);
  MDB_val val = ValOf(record);
  const int rc = mdb_put(txn, meta_dbi_, &key, &val, 0);
  if (rc != 0) return WriteError("storing the session record", rc);
  return Status::Ok();
}

std::string Store::CurrentBoot() const {
  return options_.TEST_boot_id.empty() ? BootId() : options_.TEST_boot_id;
}

void Store::MarkClosedCleanly() {
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env_, nullptr, 0, &txn) != 0) return;
  if (!PutSession(txn, CurrentBoot(), /*clean=*/true).ok()) {
    mdb_txn_abort(txn);
    return;
  }
  if (mdb_txn_commit(txn) == 0) mdb_env_sync(env_, 1);
}

Store::~Store() {
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
  if (env_ != nullptr) {
    // A no-op unless something was committed without a sync (harmless if
    // mdb_env_open failed). Errors have nobody left to report to.
    mdb_env_sync(env_, 1);
    if (meta_dbi_ != 0) MarkClosedCleanly();
    if (objects_dbi_ != 0) mdb_dbi_close(env_, objects_dbi_);
    if (meta_dbi_ != 0) mdb_dbi_close(env_, meta_dbi_);
    mdb_env_close(env_);
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Result<std::optional<quorum::Object>> Store::Get(
    std::string_view key, const ring::KeyLocation& loc) const {
  const std::string skey = EncodeStorageKey(key, loc);
  if (skey.size() > max_key_bytes_) {
    return KeyTooLarge(key.size(), max_key_bytes_);
  }
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc == MDB_READERS_FULL) {
    return Status(Code::kOverloaded,
                  std::string("storage read: ") + mdb_strerror(rc));
  }
  if (rc != 0) {
    return Status(Code::kInternal, "storage read in '" + options_.dir +
                                       "': " + mdb_strerror(rc));
  }
  MDB_val k = ValOf(skey);
  MDB_val v;
  rc = mdb_get(txn, objects_dbi_, &k, &v);
  if (rc == MDB_NOTFOUND) {
    mdb_txn_abort(txn);
    return std::optional<quorum::Object>();
  }
  if (rc != 0) {
    mdb_txn_abort(txn);
    return Status(Code::kInternal, "storage read in '" + options_.dir +
                                       "': " + mdb_strerror(rc));
  }
  // DecodeObject copies out of the map, so the txn can end right after.
  Result<quorum::Object> decoded = wire::DecodeObject(ViewOf(v));
  mdb_txn_abort(txn);
  if (!decoded.ok()) return CorruptObject(key, loc, decoded.status());
  return std::optional<quorum::Object>(std::move(decoded).value());
}

namespace {
Status QueueFull(size_t queued) {
  return Status(Code::kOverloaded,
                "overloaded: " + std::to_string(queued) +
                    " writes already wait for the disk "
                    "(storage.max_queued_writes); back off and retry");
}
}  // namespace

void Store::Submit(WriteOp op, WriteCallback done) {
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

bool Store::Stage(WriteOp op, WriteCallback done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    staged_.push_back(Pending{std::move(op), std::move(done)});
  }
  return !commit_owed_.exchange(true);
}

void Store::CommitStaged() {
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
      if (options_.sync == SyncPolicy::kAlways ||
          p.op.kind == WriteOp::Kind::kHint) {
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

StoreStats Store::Stats() const {
  StoreStats stats;
  stats.sync_failures = sync_failures_.load(std::memory_order_relaxed);
  stats.full = full_.load(std::memory_order_relaxed);
  stats.full_map_errors = full_map_errors_.load(std::memory_order_relaxed);
  stats.full_disk_errors = full_disk_errors_.load(std::memory_order_relaxed);
  struct statvfs fs;
  if (::statvfs(options_.dir.c_str(), &fs) == 0) {
    stats.fs_free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    stats.fs_size_bytes = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
  }
  stats.map_size_bytes = map_size_;
  MDB_envinfo info;
  MDB_stat env_stat;
  if (mdb_env_info(env_, &info) == 0 && mdb_env_stat(env_, &env_stat) == 0) {
    stats.map_size_bytes = info.me_mapsize;
    stats.used_bytes =
        (static_cast<uint64_t>(info.me_last_pgno) + 1) * env_stat.ms_psize;
  }
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) == 0) {
    MDB_stat db_stat;
    if (mdb_stat(txn, objects_dbi_, &db_stat) == 0) {
      stats.keys = db_stat.ms_entries;
    }
    mdb_txn_abort(txn);
  }
  return stats;
}

std::vector<std::string> Store::TEST_StorageKeys() const {
  std::vector<std::string> keys;
  MDB_txn* txn = nullptr;
  SHOAL_ASSERT(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) == 0,
               "TEST_StorageKeys: mdb_txn_begin");
  MDB_cursor* cursor = nullptr;
  SHOAL_ASSERT(mdb_cursor_open(txn, objects_dbi_, &cursor) == 0,
               "TEST_StorageKeys: mdb_cursor_open");
  MDB_val k;
  MDB_val v;
  for (int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
    keys.emplace_back(ViewOf(k));
  }
  mdb_cursor_close(cursor);
  mdb_txn_abort(txn);
  return keys;
}

// Moves at least one op from `from` to `batch`, then more until there are
// max_batch ops or the ops taken hold kMaxBatchBytes.
void Store::TakeBatch(std::deque<Pending>& from,
                      std::deque<Pending>& batch) const {
  size_t bytes = 0;
  while (!from.empty() && batch.size() < options_.max_batch &&
         (batch.empty() || bytes < kMaxBatchBytes)) {
    bytes += ApproxBytes(from.front().op);
    batch.push_back(std::move(from.front()));
    from.pop_front();
  }
}

void Store::WriterLoop() {
  std::deque<Pending> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty() && stopping_) break;  // drained
      TakeBatch(queue_, batch);
    }
    ApplyBatch(batch);
    batch.clear();
  }
}

// kPeriodic: flushes what was committed since the last sync, every
// sync_interval, on its own thread, so a slow fsync never holds up the
// next batch (LMDB allows mdb_env_sync concurrently with a write txn).
void Store::SyncLoop() {
  std::unique_lock<std::mutex> lock(sync_mu_);
  while (!sync_stopping_) {
    sync_cv_.wait_for(lock, options_.sync_interval,
                      [this] { return sync_stopping_; });
    if (sync_stopping_) break;
    // Cleared before the sync: a commit that lands during it sets it again
    // and is flushed next time.
    if (!unsynced_.exchange(false)) continue;
    lock.unlock();
    const int rc = mdb_env_sync(env_, 1);
    lock.lock();
    if (rc != 0) {
      // Retried at the next interval. After a failed fsync Linux may have
      // dropped the dirty pages: this only counts the failure.
      unsynced_ = true;
      sync_failures_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

Status Store::WriteError(const char* what, int rc) const {
  if (rc == MDB_MAP_FULL) {
    return Status(Code::kStorageFull,
                  kMapFull + std::to_string(map_size_) +
                      " bytes is full (storage.map_size); reads still work");
  }
  if (auto full = DiskFull(what, rc)) return *full;
  return Status(Code::kInternal, std::string("storage write (") + what +
                                     ") in '" + options_.dir +
                                     "': " + mdb_strerror(rc));
}

std::optional<Status> Store::DiskFull(const char* what, int rc) const {
  if (rc != ENOSPC && rc != EDQUOT && rc != EIO) return std::nullopt;
  struct statvfs fs;
  if (::statvfs(options_.dir.c_str(), &fs) != 0) return std::nullopt;
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  const uint64_t size_bytes = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
  // LMDB reports a short write as EIO: with the filesystem (nearly) full it
  // is a lack of room, otherwise a real I/O error.
  if (rc == EIO &&
      free_bytes >= std::min<uint64_t>(64ull << 20, size_bytes / 20)) {
    return std::nullopt;
  }
  return Status(Code::kStorageFull,
                "storage full: the filesystem at " + MountPoint(options_.dir) +
                    " holding '" + options_.dir + "' has " +
                    std::to_string(free_bytes) + " bytes free of " +
                    std::to_string(size_bytes) + " (" + what + ": " +
                    mdb_strerror(rc) +
                    "); reads still work, writes resume once space is freed");
}

void Store::NoteFull(const Status& batch_error) {
  const bool map = batch_error.message().starts_with(kMapFull);
  (map ? full_map_errors_ : full_disk_errors_)
      .fetch_add(1, std::memory_order_relaxed);
  if (!full_.exchange(true)) spdlog::error("{}", batch_error.message());
}

void Store::NoteCommitted() {
  if (full_.exchange(false)) {
    spdlog::warn("storage in '{}' accepts writes again", options_.dir);
  }
}

Result<WriteResult> Store::ApplyOne(MDB_txn* txn, WriteOp& op,
                                    Status* batch_error) {
  if (op.kind == WriteOp::Kind::kHint ||
      op.kind == WriteOp::Kind::kDeleteHint) {
    return ApplyHint(txn, op, batch_error);
  }
  const std::string skey = EncodeStorageKey(op.key, op.loc);
  if (skey.size() > max_key_bytes_) {
    return KeyTooLarge(op.key.size(), max_key_bytes_);
  }
  MDB_val k = ValOf(skey);
  MDB_val v;
  WriteResult out;
  int rc = mdb_get(txn, objects_dbi_, &k, &v);
  if (rc == 0) {
    Result<quorum::Object> decoded = wire::DecodeObject(ViewOf(v));
    if (!decoded.ok()) return CorruptObject(op.key, op.loc, decoded.status());
    out.before = std::move(decoded).value();
  } else if (rc != MDB_NOTFOUND) {
    *batch_error = WriteError("mdb_get", rc);
    return *batch_error;
  }

  if (op.kind == WriteOp::Kind::kCoordinate) {
    out.after = quorum::NewWrite(out.before, op.context, actor_,
                                 std::move(op.value), op.written_at_ms);
    // Only a client's write is refused for size: a merge of replicas' states
    // is always taken, or replicas could never converge.
    const size_t siblings = out.after.siblings.size();
    if (options_.max_siblings != 0 && siblings > options_.max_siblings &&
        siblings > out.before.siblings.size()) {
      return Status(Code::kTooLarge,
                    "the key would have " + std::to_string(siblings) +
                        " siblings, over the limit of " +
                        std::to_string(options_.max_siblings) +
                        " (limits.max_siblings); read it and write back "
                        "with the read's context to resolve them");
    }
    const uint64_t bytes = out.after.ValueBytes();
    if (options_.max_object_bytes != 0 && bytes > options_.max_object_bytes) {
      return Status(Code::kTooLarge,
                    "the object would hold " + std::to_string(bytes) +
                        " bytes of sibling values, over the limit of " +
                        std::to_string(options_.max_object_bytes) +
                        " (limits.max_object_bytes); resolve its siblings by "
                        "writing with the context of a read");
    }
  } else {
    out.after = quorum::Sync(out.before, op.incoming);
  }
  if (options_.last_write_wins) quorum::KeepLastWrite(out.after);
  out.changed = !(out.after == out.before);
  if (!out.changed) return out;

  const std::string encoded = wire::EncodeObject(out.after);
  MDB_val val = ValOf(encoded);
  rc = mdb_put(txn, objects_dbi_, &k, &val, 0);
  if (rc != 0) {
    *batch_error = WriteError("mdb_put", rc);
    return *batch_error;
  }
  return out;
}

void Store::ApplyBatch(std::deque<Pending>& batch) {
  std::vector<Result<WriteResult>> results;
  results.reserve(batch.size());
  Status batch_error;

  // Batches never overlap up to their commit. The lock is let go before a
  // hint batch's forced fsync, so that fsync (on the writer thread) does not
  // hold up the batches the io thread commits meanwhile.
  std::unique_lock<std::mutex> apply_lock(apply_mu_);

  // Hint bookkeeping is updated as ops apply; a failed batch restores it.
  const auto saved_hint_counts = hint_counts_;
  const auto saved_hint_tallies = hint_tallies_;
  const HintCounters saved_counters = counters_;
  bool has_hints = false;

  MDB_txn* txn = nullptr;
  uint64_t txn_id = 0;
  int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
  if (rc != 0) {
    batch_error = WriteError("mdb_txn_begin", rc);
  } else {
    txn_id = mdb_txn_id(txn);
    for (Pending& p : batch) {
      has_hints |= p.op.kind == WriteOp::Kind::kHint;
      results.push_back(ApplyOne(txn, p.op, &batch_error));
      if (!batch_error.ok()) break;
    }
    if (batch_error.ok()) {
      rc = mdb_txn_commit(txn);  // frees txn whatever the outcome
      if (rc != 0) batch_error = WriteError("mdb_txn_commit", rc);
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
    hint_counts_ = saved_hint_counts;
    hint_tallies_ = saved_hint_tallies;
    counters_ = saved_counters;
  } else {
    std::lock_guard<std::mutex> lock(counters_mu_);
    published_counters_ = counters_;
    published_hint_counts_ = hint_counts_;
    published_hint_tallies_ = hint_tallies_;
  }
  apply_lock.unlock();
  if (batch_error.ok() && options_.sync != SyncPolicy::kAlways) {
    for (const Result<WriteResult>& r : results) {
      if (r.ok() && r->changed) unsynced_ = true;
    }
    // A hint is acknowledged only once it is on disk, whatever the policy:
    // its fallback is the only copy the target will get back.
    if (has_hints) {
      const int src = mdb_env_sync(env_, 1);
      if (src != 0) {
        sync_failures_.fetch_add(1, std::memory_order_relaxed);
        batch_error =
            Status(Code::kInternal,
                   std::string("fsync of hints failed: ") + mdb_strerror(src));
      }
    }
  }

  if (batch_error.ok()) {
    std::lock_guard<std::mutex> lock(observer_mu_);
    for (size_t i = 0; observer_ != nullptr && i < results.size(); ++i) {
      const WriteOp& op = batch[i].op;
      if (op.kind == WriteOp::Kind::kHint ||
          op.kind == WriteOp::Kind::kDeleteHint) {
        continue;
      }
      const Result<WriteResult>& r = results[i];
      if (!r.ok() || !r->changed) continue;
      observer_->ObjectChanged(
          ObjectChange{op.key, op.loc, r->before, r->after, txn_id});
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch_error.ok()) {
      batch[i].done(std::move(results[i]));
    } else {
      batch[i].done(batch_error);
    }
  }
}

// ---------------------------------------------------------------------------
// Hints: key = target_len:u8 | target | storage key;
//        value = stored_at_ms:i64le | EncodeObject(object).

namespace {

std::string HintPrefix(std::string_view target) {
  std::string out(1, static_cast<char>(target.size()));
  out.append(target);
  return out;
}

uint64_t HashBytes(std::string_view bytes) {
  return ring::HashKey(bytes);  // XXH3-64; not a security boundary
}

// A read-only transaction with a cursor on `hints`, closed on scope exit.
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

}  // namespace

Status Store::InitHints(MDB_txn* txn) {
  MDB_val key = ValOf(kHintCountersKey);
  MDB_val val;
  int rc = mdb_get(txn, meta_dbi_, &key, &val);
  if (rc == 0) {
    const std::string_view v = ViewOf(val);
    if (v.size() == 24) {
      counters_.stored = *DecodeLittleEndian<uint64_t>(v.substr(0, 8));
      counters_.delivered = *DecodeLittleEndian<uint64_t>(v.substr(8, 8));
      counters_.dropped_cap = *DecodeLittleEndian<uint64_t>(v.substr(16, 8));
    }
  } else if (rc != MDB_NOTFOUND) {
    return WriteError("reading the hint counters", rc);
  }
  published_counters_ = counters_;
  MDB_cursor* cur = nullptr;
  if ((rc = mdb_cursor_open(txn, hints_dbi_, &cur)) != 0) {
    return WriteError("opening a hints cursor", rc);
  }
  MDB_val k, v;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    std::string_view target, skey;
    if (SplitHintKey(ViewOf(k), &target, &skey)) {
      ++hint_counts_[std::string(target)];
      HintTally& t = hint_tallies_[std::string(target)];
      t.bytes += v.mv_size;
      auto at = DecodeLittleEndian<int64_t>(ViewOf(v).substr(0, 8));
      if (at && (t.oldest_ms == 0 || *at < t.oldest_ms)) t.oldest_ms = *at;
    }
  }
  mdb_cursor_close(cur);
  published_hint_counts_ = hint_counts_;
  published_hint_tallies_ = hint_tallies_;
  return Status::Ok();
}

Status Store::PutCounters(MDB_txn* txn) {
  const std::string bytes = EncodeLittleEndian<uint64_t>(counters_.stored) +
                            EncodeLittleEndian<uint64_t>(counters_.delivered) +
                            EncodeLittleEndian<uint64_t>(counters_.dropped_cap);
  MDB_val key = ValOf(kHintCountersKey);
  MDB_val val = ValOf(bytes);
  const int rc = mdb_put(txn, meta_dbi_, &key, &val, 0);
  if (rc != 0) return WriteError("storing the hint counters", rc);
  return Status::Ok();
}

Result<WriteResult> Store::ApplyHint(MDB_txn* txn, WriteOp& op,
                                     Status* batch_error) {
  if (op.hint_target.empty() || op.hint_target.size() > 255) {
    return Status(Code::kInvalidArgument,
                  "hint target name must be 1..255 bytes");
  }
  const std::string skey = EncodeStorageKey(op.key, op.loc);
  const std::string hkey = HintPrefix(op.hint_target) + skey;
  if (hkey.size() > max_key_bytes_) {
    return KeyTooLarge(op.key.size(),
                       max_key_bytes_ - (hkey.size() - op.key.size()));
  }
  MDB_val k = ValOf(hkey);
  MDB_val v;
  WriteResult out;
  int64_t stored_at = 0;
  uint64_t existing_hash = 0;
  uint64_t existing_bytes = 0;
  bool exists = false;
  int rc = mdb_get(txn, hints_dbi_, &k, &v);
  if (rc == 0) {
    const std::string_view bytes = ViewOf(v);
    exists = true;
    existing_bytes = bytes.size();
    existing_hash = HashBytes(bytes);
    auto decoded = DecodeHintValue(bytes, &stored_at);
    if (!decoded.ok()) return CorruptObject(op.key, op.loc, decoded.status());
    out.before = std::move(decoded).value();
  } else if (rc != MDB_NOTFOUND) {
    *batch_error = WriteError("mdb_get (hints)", rc);
    return *batch_error;
  }

  if (op.kind == WriteOp::Kind::kDeleteHint) {
    if (!exists || existing_hash != op.expected_hint_hash) return out;  // newer
    if ((rc = mdb_del(txn, hints_dbi_, &k, nullptr)) != 0) {
      *batch_error = WriteError("mdb_del (hints)", rc);
      return *batch_error;
    }
    if (--hint_counts_[op.hint_target] == 0) {
      hint_counts_.erase(op.hint_target);
      hint_tallies_.erase(op.hint_target);
    } else {
      HintTally& t = hint_tallies_[op.hint_target];
      t.bytes -= std::min(t.bytes, existing_bytes);
      if (t.oldest_ms == 0 || stored_at <= t.oldest_ms) {
        t.oldest_ms = 0;  // it may have been the oldest: rescan when asked
        ++t.generation;
      }
    }
    ++counters_.delivered;
    if (Status st = PutCounters(txn); !st.ok()) {
      *batch_error = st;
      return st;
    }
    out.changed = true;
    return out;
  }

  // kHint
  if (!exists && options_.max_hints_per_target != 0 &&
      hint_counts_[op.hint_target] >= options_.max_hints_per_target) {
    ++counters_.dropped_cap;
    if (Status st = PutCounters(txn); !st.ok()) {
      *batch_error = st;
      return st;
    }
    return Status(
        Code::kOverloaded,
        "hint dropped: " + std::to_string(hint_counts_[op.hint_target]) +
            " hints already wait for " + op.hint_target +
            " (handoff.max_hints_per_target)");
  }
  out.after = quorum::Sync(out.before, op.incoming);
  out.changed = !exists || !(out.after == out.before);
  if (!out.changed) return out;
  if (!exists) {
    stored_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  }
  const std::string bytes =
      EncodeLittleEndian<int64_t>(stored_at) + wire::EncodeObject(out.after);
  MDB_val val = ValOf(bytes);
  if ((rc = mdb_put(txn, hints_dbi_, &k, &val, 0)) != 0) {
    *batch_error = WriteError("mdb_put (hints)", rc);
    return *batch_error;
  }
  HintTally& tally = hint_tallies_[op.hint_target];
  tally.bytes += bytes.size();
  tally.bytes -= std::min(tally.bytes, existing_bytes);
  if (!exists) {
    // A new hint is the newest; it is the oldest only of an empty backlog.
    if (hint_counts_[op.hint_target]++ == 0) tally.oldest_ms = stored_at;
  }
  ++counters_.stored;
  if (Status st = PutCounters(txn); !st.ok()) {
    *batch_error = st;
    return st;
  }
  return out;
}

void Store::SetObjectObserver(ObjectObserver* observer) {
  std::lock_guard<std::mutex> lock(observer_mu_);
  observer_ = observer;
}

Result<uint64_t> Store::ScanObjects(uint32_t partition, uint32_t first_segment,
                                    uint32_t last_segment,
                                    const ScanFn& fn) const {
  ReadCursor cursor;
  if (Status st = cursor.Open(env_, objects_dbi_); !st.ok()) return st;
  const uint64_t snapshot = mdb_txn_id(cursor.txn);
  const ring::KeyLocation first{0, partition, first_segment};
  const std::string start = EncodeStorageKey("", first);
  MDB_val k = ValOf(start);
  MDB_val v;
  int rc = mdb_cursor_get(cursor.cursor, &k, &v, MDB_SET_RANGE);
  while (rc == 0) {
    const std::string_view skey = ViewOf(k);
    if (skey.size() < kStorageKeyPrefixBytes) break;
    const uint32_t p = BigEndianAt(skey, 0, 2);
    const uint32_t seg = BigEndianAt(skey, 2, 4);
    if (p != partition || seg > last_segment) break;
    const std::string_view key = skey.substr(kStorageKeyPrefixBytes);
    Result<quorum::Object> decoded = wire::DecodeObject(ViewOf(v));
    if (!decoded.ok()) {
      return CorruptObject(key, ring::KeyLocation{0, partition, seg},
                           decoded.status());
    }
    if (!fn(key, seg, *decoded)) break;
    rc = mdb_cursor_get(cursor.cursor, &k, &v, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) {
    return Status(Code::kInternal, "storage scan in '" + options_.dir +
                                       "': " + mdb_strerror(rc));
  }
  return snapshot;
}

Result<std::vector<Hint>> Store::ScanHints(std::string_view target,
                                           std::string_view after,
                                           size_t limit) const {
  std::vector<Hint> out;
  ReadCursor hc;
  if (Status st = hc.Open(env_, hints_dbi_); !st.ok()) return st;
  MDB_cursor* cur = hc.cursor;
  int rc = 0;
  const std::string prefix = HintPrefix(target);
  const std::string start = prefix + std::string(after);
  MDB_val k = ValOf(start);
  MDB_val v;
  rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  Status error;
  while (rc == 0 && out.size() < limit) {
    const std::string_view hkey = ViewOf(k);
    if (hkey.substr(0, prefix.size()) != prefix) break;
    std::string_view t, skey;
    if (!SplitHintKey(hkey, &t, &skey)) break;
    if (!after.empty() && skey == after) {  // resume strictly after
      rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
      continue;
    }
    const std::string_view bytes = ViewOf(v);
    Hint h;
    h.storage_key = std::string(skey);
    h.key = std::string(skey.substr(kStorageKeyPrefixBytes));
    h.bytes = bytes.size();
    h.bytes_hash = HashBytes(bytes);
    auto decoded = DecodeHintValue(bytes, &h.stored_at_ms);
    if (!decoded.ok()) {
      error = Status(Code::kCorruption,
                     "hint for " + std::string(target) +
                         " does not decode: " + decoded.status().message());
      break;
    }
    h.object = std::move(decoded).value();
    out.push_back(std::move(h));
    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  }
  if (!error.ok()) return error;
  return out;
}

Result<std::vector<HintBacklog>> Store::HintBacklogs() const {
  std::vector<HintBacklog> out;
  ReadCursor hc;
  if (Status st = hc.Open(env_, hints_dbi_); !st.ok()) return st;
  MDB_cursor* cur = hc.cursor;
  int rc = 0;
  MDB_val k, v;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    std::string_view target, skey;
    if (!SplitHintKey(ViewOf(k), &target, &skey)) continue;
    if (out.empty() || out.back().target != target) {
      out.push_back(HintBacklog{std::string(target), 0, 0, 0});
    }
    HintBacklog& b = out.back();
    const std::string_view bytes = ViewOf(v);
    ++b.count;
    b.bytes += bytes.size();
    if (auto at = DecodeLittleEndian<int64_t>(bytes.substr(0, 8))) {
      if (b.oldest_stored_at_ms == 0 || *at < b.oldest_stored_at_ms) {
        b.oldest_stored_at_ms = *at;
      }
    }
  }
  return out;
}

Result<std::vector<HintBacklog>> Store::HintBacklogsCached() const {
  std::map<std::string, uint64_t> counts;
  std::map<std::string, HintTally> tallies;
  {
    std::lock_guard<std::mutex> lock(counters_mu_);
    counts = published_hint_counts_;
    tallies = published_hint_tallies_;
  }
  std::vector<HintBacklog> out;
  std::lock_guard<std::mutex> lock(oldest_mu_);
  for (auto it = oldest_cache_.begin(); it != oldest_cache_.end();) {
    it = counts.count(it->first) ? std::next(it) : oldest_cache_.erase(it);
  }
  for (const auto& [target, count] : counts) {
    const HintTally& t = tallies[target];
    HintBacklog b{target, count, t.bytes, t.oldest_ms};
    if (b.oldest_stored_at_ms == 0) {
      auto cached = oldest_cache_.find(target);
      if (cached != oldest_cache_.end() &&
          cached->second.first == t.generation) {
        b.oldest_stored_at_ms = cached->second.second;
      } else {
        // One target's hints, reading only each value's 8-byte header.
        ReadCursor hc;
        if (Status st = hc.Open(env_, hints_dbi_); !st.ok()) return st;
        const std::string prefix = HintPrefix(target);
        MDB_val k = ValOf(prefix);
        MDB_val v;
        for (int rc = mdb_cursor_get(hc.cursor, &k, &v, MDB_SET_RANGE);
             rc == 0 && ViewOf(k).substr(0, prefix.size()) == prefix;
             rc = mdb_cursor_get(hc.cursor, &k, &v, MDB_NEXT)) {
          auto at = DecodeLittleEndian<int64_t>(ViewOf(v).substr(0, 8));
          if (at && (b.oldest_stored_at_ms == 0 || *at < b.oldest_stored_at_ms))
            b.oldest_stored_at_ms = *at;
        }
        oldest_cache_[target] = {t.generation, b.oldest_stored_at_ms};
      }
    }
    out.push_back(std::move(b));
  }
  return out;
}

std::map<std::string, uint64_t> Store::HintTargets() const {
  std::lock_guard<std::mutex> lock(counters_mu_);
  return published_hint_counts_;
}

HintCounters Store::hint_counters() const {
  std::lock_guard<std::mutex> lock(counters_mu_);
  return published_counters_;
}

}  // namespace shoal::storage
