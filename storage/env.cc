// The LMDB environment of a data directory and its meta records: the flock
// on <dir>/LOCK, the environment and its named databases, the format and
// actor records and the session guard; and what a failed write means (map
// full, filesystem full, or another LMDB error). Contracts in env.h and
// store.h.

#include "storage/env.h"

#include <fcntl.h>
#include <lmdb.h>
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

namespace shoal::storage::internal {
namespace {

constexpr char kActorKey[] = "actor";
// boot id of the machine that opened the directory last, then '0' while it
// is open or '1' after a clean close.
constexpr char kSessionKey[] = "session";
constexpr char kLockFile[] = "LOCK";
// How a full map's error begins (IsMapFull tells the two kinds of full
// apart).
constexpr char kMapFull[] = "storage full: LMDB map of ";

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

// A new actor id: random, or derived from `seed` (and from the id it
// replaces, so a remint under one seed still gives a new id).
quorum::ActorId MintActor(uint64_t seed, quorum::ActorId previous) {
  if (seed != 0) {
    std::mt19937_64 gen(seed ^ (previous * 0x9e3779b97f4a7c15ull));
    quorum::ActorId actor = 0;
    while (actor == 0 || actor == previous) actor = gen();
    return actor;
  }
  std::random_device rd;
  quorum::ActorId actor = 0;
  while (actor == 0 || actor == previous) {
    actor = (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
  }
  return actor;
}

}  // namespace

Env::Env(const StoreOptions& options) : options_(options) {}

Env::~Env() {
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

Status Env::LockDir() {
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

Status Env::Open(const std::function<Status(MDB_txn*)>& load) {
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
    return lmdb_error("mdb_env_open", rc);  // ~Env calls mdb_env_close
  }
  max_key_bytes_ = static_cast<size_t>(mdb_env_get_maxkeysize(env_));
  MDB_envinfo info;
  if ((rc = mdb_env_info(env_, &info)) != 0) {
    return lmdb_error("mdb_env_info", rc);
  }
  map_size_ = info.me_mapsize;
  return InitMeta(load);
}

// Opens the named databases, runs `load`, and reads (or creates) the actor
// and format records in one write transaction.
Status Env::InitMeta(const std::function<Status(MDB_txn*)>& load) {
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
  if ((rc = mdb_dbi_open(txn, kTombstonesDb, MDB_CREATE, &tombstones_dbi_)) !=
      0) {
    return fail(lmdb_error("opening database 'tombstones'", rc));
  }
  if (Status st = load(txn); !st.ok()) return fail(st);

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
    actor_ = MintActor(options_.actor_seed, 0);
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
      actor_ = MintActor(options_.actor_seed, actor_);
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

Status Env::PutSession(MDB_txn* txn, const std::string& boot, bool clean) {
  const std::string record = boot + (clean ? "1" : "0");
  MDB_val key = ValOf(kSessionKey);
  MDB_val val = ValOf(record);
  const int rc = mdb_put(txn, meta_dbi_, &key, &val, 0);
  if (rc != 0) return WriteError("storing the session record", rc);
  return Status::Ok();
}

std::string Env::CurrentBoot() const {
  return options_.TEST_boot_id.empty() ? BootId() : options_.TEST_boot_id;
}

namespace {
// The store's own records: the Env's and the hints part's counters.
bool IsEnvRecord(std::string_view name) {
  return name == kFormatKey || name == kActorKey || name == kSessionKey ||
         name == "hint_counters" || name == kTombstoneIndexKey;
}
}  // namespace

Result<std::optional<std::string>> Env::ReadRecord(
    std::string_view name) const {
  if (IsEnvRecord(name)) {
    return Status(Code::kInvalidArgument,
                  "meta record '" + std::string(name) + "' is the store's own");
  }
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) {
    return Status(Code::kInternal,
                  std::string("reading meta: ") + mdb_strerror(rc));
  }
  MDB_val key = ValOf(name);
  MDB_val val;
  rc = mdb_get(txn, meta_dbi_, &key, &val);
  std::optional<std::string> out;
  if (rc == 0) out.emplace(static_cast<const char*>(val.mv_data), val.mv_size);
  mdb_txn_abort(txn);
  if (rc != 0 && rc != MDB_NOTFOUND) {
    return Status(Code::kInternal, "reading meta record '" + std::string(name) +
                                       "': " + mdb_strerror(rc));
  }
  return out;
}

Status Env::WriteRecord(std::string_view name, std::string_view bytes) {
  if (IsEnvRecord(name)) {
    return Status(Code::kInvalidArgument,
                  "meta record '" + std::string(name) + "' is the store's own");
  }
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
  if (rc != 0) return WriteError("starting a meta write", rc);
  MDB_val key = ValOf(name);
  MDB_val val = ValOf(bytes);
  if ((rc = mdb_put(txn, meta_dbi_, &key, &val, 0)) != 0) {
    mdb_txn_abort(txn);
    return WriteError("storing a meta record", rc);
  }
  if ((rc = mdb_txn_commit(txn)) != 0) {
    return WriteError("committing a meta record", rc);
  }
  if ((rc = mdb_env_sync(env_, 1)) != 0) {
    return WriteError("syncing a meta record", rc);
  }
  return Status::Ok();
}

void Env::MarkClosedCleanly() {
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env_, nullptr, 0, &txn) != 0) return;
  if (!PutSession(txn, CurrentBoot(), /*clean=*/true).ok()) {
    mdb_txn_abort(txn);
    return;
  }
  if (mdb_txn_commit(txn) == 0) mdb_env_sync(env_, 1);
}

Status Env::WriteError(const char* what, int rc) const {
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

std::optional<Status> Env::DiskFull(const char* what, int rc) const {
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

void Env::FillStats(StoreStats& stats) const {
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
  // Pages the databases hold: the main one (it lists the named ones), the
  // named ones, and the free list's own pages.
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) == 0) {
    uint64_t pages = 0;
    for (MDB_dbi dbi : {MDB_dbi{0}, MDB_dbi{1}, objects_dbi_, meta_dbi_,
                        hints_dbi_, tombstones_dbi_}) {
      MDB_stat s;
      if (mdb_stat(txn, dbi, &s) == 0) {
        pages += s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages;
      }
    }
    mdb_txn_abort(txn);
    stats.data_bytes = pages * env_stat.ms_psize;
  }
}

bool IsMapFull(const Status& error) {
  return error.message().starts_with(kMapFull);
}

}  // namespace shoal::storage::internal
