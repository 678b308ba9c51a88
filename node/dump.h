// `shoald dump`: prints the records of a data directory, read with
// storage::DumpDirectory (read-only, no flock, no threads), so it works
// while the node that owns the directory runs. This file only formats and
// prints; reading and decoding live in storage/dump.h.
//
// Output, one line per record, in LMDB key order:
//   --json  one JSON document per line:
//             {"partition", "segment", "key"[, "key_encoding": "base64"],
//              ("target"[, "target_encoding": "base64"], "stored_at_ms":
//              hints only), "vv": [["<actor hex16>", counter], ...],
//              "siblings": [{"actor", "counter", "written_at_ms",
//              "tombstone", "value"[, "encoding": "base64"]}],
//              "raw": "<hex of the stored value bytes>"}
//           Keys, targets and values are UTF-8 text when they are valid
//           UTF-8, else base64 with the matching *encoding field. A
//           tombstone's value is "".
//   text    partition=P segment=S key="..." vv=[actor:counter ...]
//           siblings=[actor:counter written_at_ms=T value="..." | ...]
//           bytes=N (hints start with target=... stored_at_ms=...); text
//           is quoted with C escapes, non-UTF-8 bytes as base64:...,
//           values over 64 bytes shortened with "...(N bytes)".
//
// Thread-safety: plain functions; RunDump writes to `out` from the calling
// thread only.
#pragma once

#include <cstdio>
#include <string>

#include "base/result.h"
#include "storage/dump.h"

namespace shoal::node {

// `shoald dump --data-dir DIR [--db objects|hints] [--json]`.
struct DumpArgs {
  std::string data_dir;
  storage::DumpDb db = storage::DumpDb::kObjects;
  bool json = false;
};

// One record of `db` as its JSON line, without the newline.
std::string DumpRecordToJson(const storage::DumpRecord& record,
                             storage::DumpDb db);
// One record of `db` as its readable line, without the newline.
std::string DumpRecordToText(const storage::DumpRecord& record,
                             storage::DumpDb db);

// Dumps args.db of args.data_dir to `out`, a line per record, and flushes
// it. Errors: those of storage::DumpDirectory, or kInternal when writing to
// `out` fails (the dump stops there). main() prints them as
// "shoald: <message>" and exits 1.
Status RunDump(const DumpArgs& args, std::FILE* out);

}  // namespace shoal::node
