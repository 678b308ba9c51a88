// The objects database: each key's versioned object, written by
// coordinated writes and merges inside a batch's write transaction, read by
// point gets and segment range scans, and watched by the object observer.
// Contracts in objects.h and store.h.

#include "storage/objects.h"

#include <lmdb.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "storage/format.h"
#include "wire/codec.h"

namespace shoal::storage::internal {

ObjectsDb::ObjectsDb(const Env& env) : env_(env), options_(env.options()) {}

namespace {

// When an object was deleted: its newest tombstone's written_at.
int64_t DeletedAt(const quorum::Object& object) {
  int64_t at = 0;
  for (const quorum::Sibling& s : object.siblings) {
    if (s.tombstone) at = std::max(at, s.written_at_ms);
  }
  return at;
}

}  // namespace

Status ObjectsDb::IndexChange(MDB_txn* txn, MDB_val k,
                              const quorum::Object& before,
                              const quorum::Object& after,
                              Status* batch_error) {
  const bool was = before.Deleted();
  const bool is = after.Deleted();
  int rc = 0;
  if (is) {
    const int64_t at = DeletedAt(after);
    if (was && at == DeletedAt(before)) return Status::Ok();
    const std::string bytes =
        EncodeLittleEndian<uint64_t>(static_cast<uint64_t>(at));
    MDB_val val = ValOf(bytes);
    rc = mdb_put(txn, env_.tombstones_dbi(), &k, &val, 0);
  } else if (was) {
    rc = mdb_del(txn, env_.tombstones_dbi(), &k, nullptr);
    if (rc == MDB_NOTFOUND) rc = 0;
  }
  if (rc != 0) {
    *batch_error = env_.WriteError("updating the tombstone index", rc);
    return *batch_error;
  }
  return Status::Ok();
}

Status ObjectsDb::IndexTombstones(MDB_txn* txn) {
  MDB_val key = ValOf(kTombstoneIndexKey);
  MDB_val val;
  int rc = mdb_get(txn, env_.meta_dbi(), &key, &val);
  if (rc == 0) return Status::Ok();
  auto fail = [this](const char* what, int rc) {
    return Status(Code::kInternal, std::string(what) +
                                       " failed for storage dir '" +
                                       options_.dir + "': " + mdb_strerror(rc));
  };
  if (rc != MDB_NOTFOUND) return fail("reading the tombstone index record", rc);
  MDB_cursor* cursor = nullptr;
  if ((rc = mdb_cursor_open(txn, env_.objects_dbi(), &cursor)) != 0) {
    return fail("mdb_cursor_open", rc);
  }
  MDB_val k;
  MDB_val v;
  uint64_t indexed = 0;
  Status status;
  for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
    Result<quorum::Object> object = wire::DecodeObject(ViewOf(v));
    if (!object.ok() || !object->Deleted()) continue;  // corrupt: on read
    const std::string bytes =
        EncodeLittleEndian<uint64_t>(static_cast<uint64_t>(DeletedAt(*object)));
    MDB_val at = ValOf(bytes);
    MDB_val copy = k;
    if ((rc = mdb_put(txn, env_.tombstones_dbi(), &copy, &at, 0)) != 0) break;
    ++indexed;
  }
  mdb_cursor_close(cursor);
  if (rc != 0 && rc != MDB_NOTFOUND) return fail("indexing tombstones", rc);
  const std::string one = "1";
  val = ValOf(one);
  if ((rc = mdb_put(txn, env_.meta_dbi(), &key, &val, 0)) != 0) {
    return fail("storing the tombstone index record", rc);
  }
  if (indexed > 0) {
    spdlog::info(
        "storage in '{}': indexed {} tombstones written before the "
        "tombstone index",
        options_.dir, indexed);
  }
  return Status::Ok();
}

Result<std::vector<Tombstone>> ObjectsDb::ScanTombstones(std::string_view after,
                                                         size_t limit) const {
  ReadCursor cursor;
  if (Status st = cursor.Open(env_.env(), env_.tombstones_dbi()); !st.ok())
    return st;
  std::vector<Tombstone> out;
  MDB_val k = ValOf(after);
  MDB_val v;
  int rc = after.empty() ? mdb_cursor_get(cursor.cursor, &k, &v, MDB_FIRST)
                         : mdb_cursor_get(cursor.cursor, &k, &v, MDB_SET_RANGE);
  if (rc == 0 && !after.empty() && ViewOf(k) == after) {
    rc = mdb_cursor_get(cursor.cursor, &k, &v, MDB_NEXT);
  }
  while (rc == 0 && out.size() < limit) {
    Tombstone t;
    std::string_view key;
    uint32_t partition = 0;
    uint32_t segment = 0;
    const std::optional<uint64_t> at = DecodeLittleEndian<uint64_t>(ViewOf(v));
    if (SplitStorageKey(ViewOf(k), &partition, &segment, &key) && at) {
      t.key = std::string(key);
      t.storage_key = std::string(ViewOf(k));
      t.loc = ring::KeyLocation{0, partition, segment};
      t.deleted_at_ms = static_cast<int64_t>(*at);
      out.push_back(std::move(t));
    }
    rc = mdb_cursor_get(cursor.cursor, &k, &v, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) {
    return Status(Code::kInternal, "tombstone index scan in '" + options_.dir +
                                       "': " + mdb_strerror(rc));
  }
  return out;
}

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

std::optional<quorum::Object> ObjectsDb::TEST_Reaped(
    std::string_view key, const ring::KeyLocation& loc) const {
  auto it = reaped_.find(EncodeStorageKey(key, loc));
  if (it == reaped_.end()) return std::nullopt;
  return it->second.object;
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
    const std::string dropped(skey);
    rc = mdb_cursor_del(cursor, 0);
    if (rc != 0) break;
    MDB_val index_key = ValOf(dropped);
    rc = mdb_del(txn, env_.tombstones_dbi(), &index_key, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) break;
    rc = 0;
    reaped_.erase(dropped);  // no longer replicated here
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
  const bool found = rc == 0;
  if (rc == 0) {
    Result<quorum::Object> decoded = wire::DecodeObject(ViewOf(v));
    if (!decoded.ok()) return CorruptObject(op.key, op.loc, decoded.status());
    out.before = std::move(decoded).value();
  } else if (rc != MDB_NOTFOUND) {
    *batch_error = env_.WriteError("mdb_get", rc);
    return *batch_error;
  }
  if (op.kind == WriteOp::Kind::kReap) {
    return Reap(txn, op, k,
                found ? std::optional<quorum::Object>(std::move(out.before))
                      : std::nullopt,
                batch_error);
  }
  // A key reaped a short while ago takes merges and writes as if its
  // tombstone were still stored (objects.h, the reaped-key guard); what is
  // stored, and what the observer sees as before, is still "absent".
  const quorum::Object* base = &out.before;
  if (!found && !reaped_.empty()) {
    auto it = reaped_.find(skey);
    if (it != reaped_.end()) base = &it->second.object;
  }

  if (op.kind == WriteOp::Kind::kCoordinate) {
    out.after = quorum::NewWrite(*base, op.context, env_.actor(),
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
    out.after = quorum::Sync(*base, op.incoming);
  }
  if (options_.conflict == quorum::ConflictPolicy::kLastWriteWins) {
    quorum::KeepLastWrite(out.after);
  }
  if (base != &out.before && out.after == *base) {
    out.after = out.before;  // absorbed by the reaped tombstone: still absent
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
  if (Status st = IndexChange(txn, k, out.before, out.after, batch_error);
      !st.ok()) {
    return st;
  }
  return out;
}

Result<WriteResult> ObjectsDb::Reap(MDB_txn* txn, const WriteOp& op, MDB_val k,
                                    std::optional<quorum::Object> stored,
                                    Status* batch_error) {
  WriteResult out;
  if (!stored) return out;  // already gone
  out.before = std::move(*stored);
  if (!out.before.Deleted() ||
      quorum::CausalFingerprint(out.before) != op.expected_fingerprint) {
    out.after = out.before;  // written since it was checked: kept
    return out;
  }
  int rc = mdb_del(txn, env_.objects_dbi(), &k, nullptr);
  if (rc == 0) rc = mdb_del(txn, env_.tombstones_dbi(), &k, nullptr);
  if (rc != 0 && rc != MDB_NOTFOUND) {
    *batch_error = env_.WriteError("mdb_del (reap)", rc);
    return *batch_error;
  }
  out.changed = true;  // out.after: absent
  std::string skey(ViewOf(k));
  const uint64_t seq = ++reaped_seq_;
  reaped_[skey] = Reaped{out.before, seq};
  reaped_order_.emplace_back(std::move(skey), seq);
  while (reaped_order_.size() > kReapGuard) {
    auto& [oldest, oldest_seq] = reaped_order_.front();
    auto it = reaped_.find(oldest);
    if (it != reaped_.end() && it->second.seq == oldest_seq) reaped_.erase(it);
    reaped_order_.pop_front();
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
    if (mdb_stat(txn, env_.tombstones_dbi(), &db_stat) == 0) {
      stats.tombstones = db_stat.ms_entries;
    }
    mdb_txn_abort(txn);
  }
}

}  // namespace shoal::storage::internal
