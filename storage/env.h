// The LMDB environment of a data directory: helpers that the parts of the
// Store share (env.cc, commit.cc, hints.cc, objects.cc). Internal to
// storage/ (it pulls in lmdb.h, which storage links privately).
#pragma once

#include <lmdb.h>

#include <string>

#include "base/result.h"

namespace shoal::storage::internal {

// How a full map's error begins (NoteFull tells the two kinds of full apart).
inline constexpr char kMapFull[] = "storage full: LMDB map of ";

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

}  // namespace shoal::storage::internal
