// A read-only look at the records of a data directory, for `shoald dump`
// and for tests that compare replicas byte for byte.
//
// It opens the directory's LMDB environment read-only (MDB_RDONLY |
// MDB_NOTLS), takes no flock on <dir>/LOCK and starts no thread, so it works
// while a Store in another process owns the directory and writes to it: it
// reads one snapshot (one read transaction), as any other LMDB reader does.
// LMDB forbids opening one environment twice in the same process at the same
// time, so do not dump a directory that a Store in this process has open.
//
// Thread-safety: DumpDirectory owns everything it opens and may run on any
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "quorum/version.h"

namespace shoal::storage {

// The named databases a dump can read (doc/storage.md, "Databases").
enum class DumpDb { kObjects, kHints };

// "objects" | "hints"; anything else is kInvalidArgument naming the known
// names.
Result<DumpDb> ParseDumpDb(std::string_view name);
const char* DumpDbName(DumpDb db);

// One record, as stored. Every view points into LMDB's memory map and is
// valid only during the callback that receives it.
struct DumpRecord {
  uint32_t partition = 0;  // from the storage key's u16be prefix
  uint32_t segment = 0;    // from the storage key's u32be segment
  std::string_view key;    // the user key
  // kHints only: the member the hint is kept for, and when the first hint
  // for this (target, key) was stored (ms since the epoch). Empty / 0 for
  // kObjects.
  std::string_view target;
  int64_t stored_at_ms = 0;
  // The LMDB key: the storage key (kObjects) or the hint key (kHints).
  std::string_view db_key;
  // The stored value bytes, exactly: wire::EncodeObject(object) for
  // kObjects, stored_at_ms:i64le | EncodeObject(object) for kHints.
  std::string_view value;
  const quorum::Object* object = nullptr;  // `value` decoded; never null
};

// Called once per record, in LMDB key order. A non-OK Status stops the
// dump, and DumpDirectory returns it unchanged.
using DumpFn = std::function<Status(const DumpRecord& record)>;

// Calls `fn` for every record of `db` in the data directory `dir`, all from
// one read snapshot, and returns how many records it passed to `fn`.
// Writes nothing to `dir` except LMDB's reader slot in lock.mdb (which it
// creates if no process has the environment open). Errors (each naming
// `dir`):
//   kInvalidArgument  "no shoal data directory at DIR (no data.mdb)";
//   kCorruption       not an LMDB environment, no `meta` database or no
//                     format record (not a shoal directory), a format
//                     version this build does not read, a database that is
//                     missing or not a plain named database, a key that is
//                     not a storage key (or hint key), a value that does not
//                     decode (naming the partition and the key's size, never
//                     the key); the dump stops at the first such record;
//   kOverloaded       every LMDB reader slot is taken;
//   kInternal         any other LMDB or file-system error;
// or whatever `fn` returned. A directory written before the `hints`
// database existed has no hints: dumping kHints returns 0 records.
Result<uint64_t> DumpDirectory(const std::string& dir, DumpDb db,
                               const DumpFn& fn);

}  // namespace shoal::storage
