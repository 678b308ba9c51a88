// The read-only dump of a data directory (contracts in dump.h).
//
// Why things are done the way they are:
// - No flock on <dir>/LOCK: that lock keeps a second *writer* (Store) off
//   the directory. LMDB itself lets any number of readers in other
//   processes share the environment with its writer, each in its own
//   reader slot, and a read transaction sees one consistent snapshot.
// - The map size is left at 0, so LMDB takes the one recorded in the data
//   file. If the owning node has grown the map since (a restart with a
//   larger storage.map_size), starting the read transaction fails with
//   MDB_MAP_RESIZED; adopting the new size and starting again is LMDB's
//   documented answer.
// - Databases are opened without MDB_CREATE (a read-only environment could
//   not create them anyway), and the format record is checked the way
//   Store::Open checks it, so the dump never decodes a format it does not
//   know.

#include "storage/dump.h"

#include <lmdb.h>

#include <filesystem>
#include <memory>
#include <system_error>

#include "storage/format.h"
#include "storage/store.h"
#include "wire/codec.h"

namespace shoal::storage {
namespace {

using internal::CorruptObject;
using internal::DecodeHintValue;
using internal::DecodeLittleEndian;
using internal::kFormatKey;
using internal::kHintsDb;
using internal::kMaxDbs;
using internal::kMaxReaders;
using internal::kMetaDb;
using internal::kObjectsDb;
using internal::SplitHintKey;
using internal::SplitStorageKey;
using internal::ValOf;
using internal::ViewOf;

struct EnvCloser {
  void operator()(MDB_env* env) const { mdb_env_close(env); }
};
using EnvPtr = std::unique_ptr<MDB_env, EnvCloser>;

// Aborts the read transaction (and so closes the cursor and the database
// handles opened in it) on scope exit.
struct ReadTxn {
  MDB_txn* txn = nullptr;
  MDB_cursor* cursor = nullptr;
  ~ReadTxn() {
    if (cursor != nullptr) mdb_cursor_close(cursor);
    if (txn != nullptr) mdb_txn_abort(txn);
  }
};

// Errors of one dump, each prefixed with the directory.
class Errors {
 public:
  explicit Errors(const std::string& dir) : prefix_("storage dir '" + dir) {}
  Status Make(Code code, const std::string& what) const {
    return Status(code, prefix_ + "': " + what);
  }
  Status Lmdb(const std::string& what, int rc) const {
    Code code = Code::kInternal;
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ||
        rc == MDB_INCOMPATIBLE || rc == MDB_CORRUPTED) {
      code = Code::kCorruption;
    } else if (rc == MDB_READERS_FULL) {
      code = Code::kOverloaded;
    }
    return Make(code, what + " failed: " + mdb_strerror(rc));
  }
  Status InDb(const char* db, Status decode) const {
    return Make(decode.code(),
                "database '" + std::string(db) + "': " + decode.message());
  }

 private:
  std::string prefix_;
};

// Checks the `meta` database's format record, as Store::Open does.
Status CheckFormat(MDB_txn* txn, const Errors& errors) {
  MDB_dbi meta = 0;
  int rc = mdb_dbi_open(txn, kMetaDb, 0, &meta);
  if (rc == MDB_NOTFOUND) {
    return errors.Make(Code::kCorruption,
                       "not a shoal data directory (no 'meta' database)");
  }
  if (rc != 0) return errors.Lmdb("opening database 'meta'", rc);
  MDB_val key = ValOf(kFormatKey);
  MDB_val val;
  rc = mdb_get(txn, meta, &key, &val);
  if (rc == MDB_NOTFOUND) {
    return errors.Make(Code::kCorruption,
                       "not a shoal data directory (no format record)");
  }
  if (rc != 0) return errors.Lmdb("reading the format version", rc);
  const std::optional<uint32_t> found =
      DecodeLittleEndian<uint32_t>(ViewOf(val));
  if (!found || *found != kFormatVersion) {
    return errors.Make(
        Code::kCorruption,
        "format version " +
            (found ? std::to_string(*found)
                   : "<" + std::to_string(val.mv_size) + " bad bytes>") +
            " but this build reads format version " +
            std::to_string(kFormatVersion));
  }
  return Status::Ok();
}

// Fills `record` (but for `object`) from one LMDB entry of `db`, and decodes
// its value into *object.
Status DecodeRecord(DumpDb db, std::string_view db_key, std::string_view value,
                    DumpRecord* record, quorum::Object* object) {
  record->db_key = db_key;
  record->value = value;
  std::string_view storage_key = db_key;
  if (db == DumpDb::kHints &&
      !SplitHintKey(db_key, &record->target, &storage_key)) {
    return Status(Code::kCorruption,
                  "a key of " + std::to_string(db_key.size()) +
                      " bytes is not target_len:u8 | target | storage key");
  }
  if (!SplitStorageKey(storage_key, &record->partition, &record->segment,
                       &record->key)) {
    return Status(Code::kCorruption,
                  "a key of " + std::to_string(db_key.size()) +
                      " bytes is shorter than partition:u16 | segment:u32");
  }
  const ring::KeyLocation loc{0, record->partition, record->segment};
  Result<quorum::Object> decoded =
      db == DumpDb::kHints ? DecodeHintValue(value, &record->stored_at_ms)
                           : wire::DecodeObject(value);
  if (!decoded.ok()) {
    Status corrupt = CorruptObject(record->key, loc, decoded.status());
    if (db == DumpDb::kHints) {
      return Status(
          Code::kCorruption,
          "hint for " + std::string(record->target) + ": " + corrupt.message());
    }
    return corrupt;
  }
  *object = std::move(decoded).value();
  return Status::Ok();
}

}  // namespace

Result<DumpDb> ParseDumpDb(std::string_view name) {
  if (name == "objects") return DumpDb::kObjects;
  if (name == "hints") return DumpDb::kHints;
  return Status(Code::kInvalidArgument, "unknown database '" +
                                            std::string(name) +
                                            "' (expected objects or hints)");
}

const char* DumpDbName(DumpDb db) {
  return db == DumpDb::kHints ? kHintsDb : kObjectsDb;
}

Result<uint64_t> DumpDirectory(const std::string& dir, DumpDb db,
                               const DumpFn& fn) {
  const Errors errors(dir);
  // 1. A shoal data directory has a data.mdb (LMDB would report a missing
  //    one as a bare "No such file or directory").
  std::error_code ec;
  const std::filesystem::path data = std::filesystem::path(dir) / "data.mdb";
  const bool exists = std::filesystem::is_regular_file(data, ec);
  if (ec && ec != std::errc::no_such_file_or_directory &&
      ec != std::errc::not_a_directory) {
    return errors.Make(Code::kInternal,
                       "cannot look at " + data.string() + ": " + ec.message());
  }
  if (!exists) {
    return Status(Code::kInvalidArgument,
                  "no shoal data directory at " + dir + " (no data.mdb)");
  }

  // 2. The environment, read-only, with the Store's limits.
  MDB_env* raw_env = nullptr;
  int rc = mdb_env_create(&raw_env);
  if (rc != 0) return errors.Lmdb("mdb_env_create", rc);
  EnvPtr env(raw_env);
  if ((rc = mdb_env_set_maxdbs(env.get(), kMaxDbs)) != 0) {
    return errors.Lmdb("mdb_env_set_maxdbs", rc);
  }
  if ((rc = mdb_env_set_maxreaders(env.get(), kMaxReaders)) != 0) {
    return errors.Lmdb("mdb_env_set_maxreaders", rc);
  }
  if ((rc = mdb_env_open(env.get(), dir.c_str(), MDB_RDONLY | MDB_NOTLS,
                         0644)) != 0) {
    return errors.Lmdb("mdb_env_open (read-only)", rc);
  }

  // 3. One read transaction for everything below.
  ReadTxn read;
  rc = mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &read.txn);
  if (rc == MDB_MAP_RESIZED) {
    read.txn = nullptr;
    if ((rc = mdb_env_set_mapsize(env.get(), 0)) != 0) {
      return errors.Lmdb("adopting the grown map size", rc);
    }
    rc = mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &read.txn);
  }
  if (rc != 0) {
    read.txn = nullptr;
    return errors.Lmdb("starting a read transaction", rc);
  }
  if (Status st = CheckFormat(read.txn, errors); !st.ok()) return st;

  // 4. The database, then every record in key order.
  const char* name = DumpDbName(db);
  MDB_dbi dbi = 0;
  rc = mdb_dbi_open(read.txn, name, 0, &dbi);
  if (rc == MDB_NOTFOUND && db == DumpDb::kHints) return uint64_t{0};
  if (rc == MDB_NOTFOUND) {
    return errors.Make(Code::kCorruption,
                       "no '" + std::string(name) + "' database");
  }
  if (rc != 0)
    return errors.Lmdb("opening database '" + std::string(name) + "'", rc);
  if ((rc = mdb_cursor_open(read.txn, dbi, &read.cursor)) != 0) {
    read.cursor = nullptr;
    return errors.Lmdb("opening a cursor", rc);
  }
  uint64_t count = 0;
  MDB_val k, v;
  for (rc = mdb_cursor_get(read.cursor, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(read.cursor, &k, &v, MDB_NEXT)) {
    DumpRecord record;
    quorum::Object object;
    if (Status st = DecodeRecord(db, ViewOf(k), ViewOf(v), &record, &object);
        !st.ok()) {
      return errors.InDb(name, st);
    }
    record.object = &object;
    if (Status st = fn(record); !st.ok()) return st;
    ++count;
  }
  if (rc != MDB_NOTFOUND) {
    return errors.Lmdb("reading database '" + std::string(name) + "'", rc);
  }
  return count;
}

}  // namespace shoal::storage
