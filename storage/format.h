// The on-disk formats of a data directory (doc/storage.md), shared by the
// Store (store.cc) and the read-only dump (dump.cc) so that both read the
// same bytes the same way. Internal to storage/: no other module includes
// this header (it pulls in lmdb.h, which storage links privately).
//
// Thread-safety: constants and pure functions.
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "quorum/version.h"
#include "ring/ring.h"

namespace shoal::storage::internal {

// Named databases.
inline constexpr char kObjectsDb[] = "objects";
inline constexpr char kMetaDb[] = "meta";
inline constexpr char kHintsDb[] = "hints";
inline constexpr char kTombstonesDb[] = "tombstones";
// Meta record: present once `tombstones` indexes every tombstoned object
// (directories written before the index get it at their next open).
inline constexpr char kTombstoneIndexKey[] = "tombstone_index";
// meta key of the format version (u32 little-endian).
inline constexpr char kFormatKey[] = "format";
// The environment's limits. Every process that opens a directory sets the
// same maxdbs; the reader table's size is fixed by whoever creates
// lock.mdb.
inline constexpr unsigned int kMaxDbs = 8;
inline constexpr unsigned int kMaxReaders = 256;
// partition:u16be | segment:u32be, in front of every user key.
inline constexpr size_t kStorageKeyPrefixBytes = 6;

// Bytes as an MDB_val (LMDB does not write through it) and back.
inline MDB_val ValOf(std::string_view bytes) {
  MDB_val v;
  v.mv_size = bytes.size();
  v.mv_data = const_cast<char*>(bytes.data());
  return v;
}
inline std::string_view ViewOf(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

template <typename T>
std::string EncodeLittleEndian(T value) {
  std::string out(sizeof(T), '\0');
  for (size_t i = 0; i < sizeof(T); ++i) {
    out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  }
  return out;
}

// The value of exactly sizeof(T) little-endian bytes; nullopt for any other
// length.
template <typename T>
std::optional<T> DecodeLittleEndian(std::string_view bytes) {
  if (bytes.size() != sizeof(T)) return std::nullopt;
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    value |= static_cast<T>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  }
  return value;
}

// The unsigned big-endian number in bytes [at, at + n) of `bytes` (which the
// caller checked is long enough; n <= 4).
uint32_t BigEndianAt(std::string_view bytes, size_t at, size_t n);

// A storage key's parts: partition, segment and user key (a view into
// `storage_key`). False when it is shorter than the 6-byte prefix.
bool SplitStorageKey(std::string_view storage_key, uint32_t* partition,
                     uint32_t* segment, std::string_view* key);

// The kCorruption error for a stored object that does not decode. It names
// the key's size and partition, never the key itself.
Status CorruptObject(std::string_view key, const ring::KeyLocation& loc,
                     const Status& decode_error);

// The kTooLarge error for a user key whose storage key would be over
// `max_key_bytes` (LMDB's limit, less what precedes the storage key).
Status KeyTooLarge(size_t key_bytes, size_t max_key_bytes);

// A hint's stored value: stored_at_ms:i64le | EncodeObject(object).
// Sets *stored_at_ms and returns the object, or kCorruption.
Result<quorum::Object> DecodeHintValue(std::string_view bytes,
                                       int64_t* stored_at_ms);

// Splits a hint key (target_len:u8 | target | storage key) into target and
// storage key (views into `hkey`); false if malformed.
bool SplitHintKey(std::string_view hkey, std::string_view* target,
                  std::string_view* storage_key);

}  // namespace shoal::storage::internal
