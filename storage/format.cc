#include "storage/format.h"

#include "storage/store.h"
#include "wire/codec.h"

namespace shoal::storage::internal {

uint32_t BigEndianAt(std::string_view bytes, size_t at, size_t n) {
  uint32_t value = 0;
  for (size_t i = 0; i < n; ++i) {
    value = (value << 8) | static_cast<uint8_t>(bytes[at + i]);
  }
  return value;
}

bool SplitStorageKey(std::string_view storage_key, uint32_t* partition,
                     uint32_t* segment, std::string_view* key) {
  if (storage_key.size() < kStorageKeyPrefixBytes) return false;
  *partition = BigEndianAt(storage_key, 0, 2);
  *segment = BigEndianAt(storage_key, 2, 4);
  *key = storage_key.substr(kStorageKeyPrefixBytes);
  return true;
}

Status CorruptObject(std::string_view key, const ring::KeyLocation& loc,
                     const Status& decode_error) {
  return Status(Code::kCorruption,
                "stored object for a key of " + std::to_string(key.size()) +
                    " bytes in partition " + std::to_string(loc.partition) +
                    " does not decode: " + decode_error.message());
}

Result<quorum::Object> DecodeHintValue(std::string_view bytes,
                                       int64_t* stored_at_ms) {
  auto at = bytes.size() >= 8 ? DecodeLittleEndian<int64_t>(bytes.substr(0, 8))
                              : std::nullopt;
  if (!at) return Status(Code::kCorruption, "short hint");
  *stored_at_ms = *at;
  return wire::DecodeObject(bytes.substr(8));
}

bool SplitHintKey(std::string_view hkey, std::string_view* target,
                  std::string_view* storage_key) {
  if (hkey.empty()) return false;
  const size_t len = static_cast<uint8_t>(hkey[0]);
  if (hkey.size() < 1 + len + kStorageKeyPrefixBytes) return false;
  *target = hkey.substr(1, len);
  *storage_key = hkey.substr(1 + len);
  return true;
}

Status KeyTooLarge(size_t key_bytes, size_t max_key_bytes) {
  return Status(Code::kTooLarge,
                "key of " + std::to_string(key_bytes) +
                    " bytes is over the storage limit of " +
                    std::to_string(max_key_bytes - kStorageKeyPrefixBytes) +
                    " bytes");
}

}  // namespace shoal::storage::internal

namespace shoal::storage {

using internal::kStorageKeyPrefixBytes;

std::string EncodeStorageKey(std::string_view key,
                             const ring::KeyLocation& loc) {
  SHOAL_REQUIRE(loc.partition < 65536, "partition does not fit in 16 bits");
  std::string out;
  out.reserve(kStorageKeyPrefixBytes + key.size());
  out.push_back(static_cast<char>((loc.partition >> 8) & 0xff));
  out.push_back(static_cast<char>(loc.partition & 0xff));
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((loc.segment >> shift) & 0xff));
  }
  out.append(key);
  return out;
}

}  // namespace shoal::storage
