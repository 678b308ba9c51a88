// The Store facade: builds the four parts of a data directory (env.h,
// hints.h, objects.h, commit.h) in order, hands each call to the part that
// owns it, and tears the parts down in the reverse order. Contracts in
// store.h.

#include "storage/store.h"

#include <utility>

#include "storage/commit.h"
#include "storage/env.h"
#include "storage/hints.h"
#include "storage/objects.h"

namespace shoal::storage {

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

Store::Store() = default;

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
  std::unique_ptr<Store> store(new Store());
  store->env_ = std::make_unique<internal::Env>(options);
  store->hints_ = std::make_unique<internal::HintsDb>(*store->env_);
  store->objects_ = std::make_unique<internal::ObjectsDb>(*store->env_);
  internal::HintsDb& hints = *store->hints_;
  internal::ObjectsDb& objects = *store->objects_;
  Status status = store->env_->Open([&hints, &objects](MDB_txn* txn) {
    Status st = hints.Load(txn);
    return st.ok() ? objects.IndexTombstones(txn) : st;
  });
  if (!status.ok()) return status;  // ~Store releases what Open acquired
  // Starts the writer thread (and the syncer).
  store->commit_ = std::make_unique<internal::GroupCommit>(
      *store->env_, *store->hints_, *store->objects_);
  return Result<std::unique_ptr<Store>>(std::move(store));
}

Store::~Store() {
  commit_.reset();  // drains the queue, joins the writer and the syncer
  objects_.reset();
  hints_.reset();
  env_.reset();  // syncs, records the clean close, closes LMDB
}

quorum::ActorId Store::actor() const { return env_->actor(); }

bool Store::actor_reminted() const { return env_->actor_reminted(); }

Result<std::optional<quorum::Object>> Store::Get(
    std::string_view key, const ring::KeyLocation& loc) const {
  return objects_->Get(key, loc);
}

void Store::Submit(WriteOp op, WriteCallback done) {
  commit_->Submit(std::move(op), std::move(done));
}

bool Store::Stage(WriteOp op, WriteCallback done) {
  return commit_->Stage(std::move(op), std::move(done));
}

void Store::CommitStaged() { commit_->CommitStaged(); }

void Store::Drain() { commit_->Drain(); }

void Store::TEST_Seal() { commit_->Seal(); }

void Store::SetObjectObserver(ObjectObserver* observer) {
  objects_->SetObserver(observer);
}

Result<uint64_t> Store::ScanObjects(uint32_t partition, uint32_t first_segment,
                                    uint32_t last_segment,
                                    const ScanFn& fn) const {
  return objects_->ScanObjects(partition, first_segment, last_segment, fn);
}

Result<std::optional<std::string>> Store::ReadMeta(
    std::string_view name) const {
  return env_->ReadRecord(name);
}

Status Store::WriteMeta(std::string_view name, std::string_view bytes) {
  if (commit_->sealed()) {
    return Status(Code::kUnavailable, "store sealed (TEST_Seal)");
  }
  return env_->WriteRecord(name, bytes);
}

StoreStats Store::Stats() const {
  StoreStats stats;
  commit_->FillStats(stats);
  env_->FillStats(stats);
  objects_->FillStats(stats);
  return stats;
}

Result<std::vector<Tombstone>> Store::ScanTombstones(std::string_view after,
                                                     size_t limit) const {
  return objects_->ScanTombstones(after, limit);
}

Result<std::vector<Hint>> Store::ScanHints(std::string_view target,
                                           std::string_view after,
                                           size_t limit) const {
  return hints_->ScanHints(target, after, limit);
}

Result<std::vector<HintBacklog>> Store::HintBacklogs() const {
  return hints_->HintBacklogs();
}

HintCounters Store::hint_counters() const { return hints_->hint_counters(); }

std::map<std::string, uint64_t> Store::HintTargets() const {
  return hints_->HintTargets();
}

Result<std::vector<std::string>> Store::HintTargetsOf(
    std::string_view key, const ring::KeyLocation& loc) const {
  return hints_->HintTargetsOf(key, loc);
}

Result<std::vector<HintBacklog>> Store::HintBacklogsCached() const {
  return hints_->HintBacklogsCached();
}

std::optional<quorum::Object> Store::TEST_Reaped(
    std::string_view key, const ring::KeyLocation& loc) const {
  return objects_->TEST_Reaped(key, loc);
}

std::vector<std::string> Store::TEST_StorageKeys() const {
  return objects_->TEST_StorageKeys();
}

}  // namespace shoal::storage
