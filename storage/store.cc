// The Store: opens a data directory's parts (env.cc, hints.cc,
// objects.cc, commit.cc) and closes them in order. Contracts in store.h.

#include "storage/store.h"

#include <lmdb.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <utility>

#include "storage/env.h"
#include "storage/format.h"

namespace shoal::storage {

using internal::ViewOf;

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

}  // namespace shoal::storage
