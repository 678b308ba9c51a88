// The objects database: each key's versioned object, written by
// coordinated writes and merges inside a batch's write transaction, read by
// point gets and segment range scans, and watched by the object observer.
// Contracts in objects.h and store.h.

#include "storage/objects.h"

#include <lmdb.h>

#include <algorithm>
#include <utility>

#include "storage/format.h"
#include "wire/codec.h"

namespace shoal::storage::internal {

ObjectsDb::ObjectsDb(const Env& env) : env_(env), options_(env.options()) {}

Result<std::optional<quorum::Object>> ObjectsDb::Get(
    std::string_view key, const ring::KeyLocation& loc) const {
  const std::string skey = EncodeStorageKey(key, loc);
  if (skey.size() > env_.max_key_bytes()) {
    return KeyTooLarge(key.size(), env_.max_key_bytes());
  }
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_.env(), nullptr, MDB_RDONLY, &txn);
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
  rc = mdb_get(txn, env_.objects_dbi(), &k, &v);
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

std::vector<std::string> ObjectsDb::TEST_StorageKeys() const {
  std::vector<std::string> keys;
  MDB_txn* txn = nullptr;
  SHOAL_ASSERT(mdb_txn_begin(env_.env(), nullptr, MDB_RDONLY, &txn) == 0,
               "TEST_StorageKeys: mdb_txn_begin");
  MDB_cursor* cursor = nullptr;
  SHOAL_ASSERT(mdb_cursor_open(txn, env_.objects_dbi(), &cursor) == 0,
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

namespace {
// The planted bug StoreOptions::TEST_reuse_dot: the write's new dot takes
// the counter of this actor's previous one.
void ReuseLastDot(const quorum::Object& before, quorum::Object& after) {
  std::vector<quorum::Dot> entries = after.vv.entries();
  for (quorum::Dot& e : entries) {
    const uint64_t last = before.vv.Get(e.actor);
    if (last == 0 || e.counter != last + 1) continue;
    for (quorum::Sibling& s : after.siblings) {
      if (s.dot == e) s.dot.counter = last;
    }
    e.counter = last;
  }
  after.vv = quorum::VersionVector::FromEntries(std::move(entries));
  // One dot, one sibling: an older sibling with the reused dot stays.
  std::stable_sort(after.siblings.begin(), after.siblings.end(),
                   [](const quorum::Sibling& a, const quorum::Sibling& b) {
                     return a.dot < b.dot;
                   });
  after.siblings.erase(
      std::unique(after.siblings.begin(), after.siblings.end(),
                  [](const quorum::Sibling& a, const quorum::Sibling& b) {
                    return a.dot == b.dot;
                  }),
      after.siblings.end());
}
}  // namespace

Result<WriteResult> ObjectsDb::DropSome(MDB_txn* txn, uint32_t partition,
                                        Status* batch_error) {
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn, env_.objects_dbi(), &cursor);
  if (rc != 0) {
    *batch_error = env_.WriteError("mdb_cursor_open", rc);
    return *batch_error;
  }
  const std::string start =
      EncodeStorageKey("", ring::KeyLocation{0, partition, 0});
  MDB_val k = ValOf(start);
  MDB_val v;
  WriteResult out;
  size_t deleted = 0;
  rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && deleted < kDropBatch) {
    const std::string_view skey = ViewOf(k);
    if (skey.size() < kStorageKeyPrefixBytes ||
        BigEndianAt(skey, 0, 2) != partition) {
      break;
    }
    rc = mdb_cursor_del(cursor, 0);
    if (rc != 0) break;
    ++deleted;
    k = ValOf(start);  // the partition's first object left, if any
    rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
  }
  mdb_cursor_close(cursor);
  if (rc != 0 && rc != MDB_NOTFOUND) {
    *batch_error = env_.WriteError("mdb_cursor_del", rc);
    return *batch_error;
  }
  out.changed = deleted > 0;
  return out;
}

Result<WriteResult> ObjectsDb::ApplyObject(MDB_txn* txn, WriteOp& op,
                                           Status* batch_error) {
  if (op.kind == WriteOp::Kind::kDropPartition) {
    return DropSome(txn, op.loc.partition, batch_error);
  }
  const std::string skey = EncodeStorageKey(op.key, op.loc);
  if (skey.size() > env_.max_key_bytes()) {
    return KeyTooLarge(op.key.size(), env_.max_key_bytes());
  }
  MDB_val k = ValOf(skey);
  MDB_val v;
  WriteResult out;
  int rc = mdb_get(txn, env_.objects_dbi(), &k, &v);
  if (rc == 0) {
    Result<quorum::Object> decoded = wire::DecodeObject(ViewOf(v));
    if (!decoded.ok()) return CorruptObject(op.key, op.loc, decoded.status());
    out.before = std::move(decoded).value();
  } else if (rc != MDB_NOTFOUND) {
    *batch_error = env_.WriteError("mdb_get", rc);
    return *batch_error;
  }

  if (op.kind == WriteOp::Kind::kCoordinate) {
    out.after = quorum::NewWrite(out.before, op.context, env_.actor(),
                                 std::move(op.value), op.written_at_ms);
    if (options_.TEST_reuse_dot) ReuseLastDot(out.before, out.after);
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
  if (options_.conflict == quorum::ConflictPolicy::kLastWriteWins) {
    quorum::KeepLastWrite(out.after);
  }
  out.changed = !(out.after == out.before);
  if (!out.changed) return out;

  const std::string encoded = wire::EncodeObject(out.after);
  MDB_val val = ValOf(encoded);
  rc = mdb_put(txn, env_.objects_dbi(), &k, &val, 0);
  if (rc != 0) {
    *batch_error = env_.WriteError("mdb_put", rc);
    return *batch_error;
  }
  return out;
}

void ObjectsDb::SetObserver(ObjectObserver* observer) {
  std::lock_guard<std::mutex> lock(observer_mu_);
  observer_ = observer;
}

void ObjectsDb::NotifyCommitted(const std::vector<ObjectChange>& changes) {
  std::lock_guard<std::mutex> lock(observer_mu_);
  for (size_t i = 0; observer_ != nullptr && i < changes.size(); ++i) {
    observer_->ObjectChanged(changes[i]);
  }
}

Result<uint64_t> ObjectsDb::ScanObjects(uint32_t partition,
                                        uint32_t first_segment,
                                        uint32_t last_segment,
                                        const ScanFn& fn) const {
  ReadCursor cursor;
  if (Status st = cursor.Open(env_.env(), env_.objects_dbi()); !st.ok())
    return st;
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

void ObjectsDb::FillStats(StoreStats& stats) const {
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env_.env(), nullptr, MDB_RDONLY, &txn) == 0) {
    MDB_stat db_stat;
    if (mdb_stat(txn, env_.objects_dbi(), &db_stat) == 0) {
      stats.keys = db_stat.ms_entries;
    }
    mdb_txn_abort(txn);
  }
}

}  // namespace shoal::storage::internal
