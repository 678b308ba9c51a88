// Frames and encodings (doc/wire.md).
//
// Frame  = length:u32 little-endian | body
// body   = a Cap'n Proto flat (unpacked) message whose root is `Frame`;
//          its size is a multiple of 8 bytes and at most the frame cap.
// Context = packed Cap'n Proto message whose root is `Context`.
// Stored object = flat Cap'n Proto message whose root is `Object`.
// Cluster state = flat Cap'n Proto message whose root is `ClusterState`.
//
// Decoding validates everything: a bad length, a truncated or garbage body,
// an unknown union member or nonsense version data is a Status
// (kCorruption / kTooLarge), never a crash or an exception escaping.
//
// Thread-safety: free functions over plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "cluster/state.h"
#include "quorum/session.h"
#include "quorum/version.h"
#include "wire/messages.h"

namespace shoal::wire {

inline constexpr size_t kFrameHeaderBytes = 4;
inline constexpr uint32_t kMaxKeyBytes = 500;
inline constexpr uint64_t kDefaultMaxValueBytes = 4ull << 20;    // 4 MiB
inline constexpr uint64_t kDefaultMaxObjectBytes = 16ull << 20;  // siblings
inline constexpr uint64_t kFrameHeadroomBytes = 64ull << 10;

// The frame cap for a given object cap: the largest object plus room for
// the envelope, key and version data.
inline uint64_t FrameCapFor(uint64_t max_object_bytes) {
  return max_object_bytes + kFrameHeadroomBytes;
}

// Appends one frame (header + body) for `msg` to `out`.
void AppendFrame(const Message& msg, std::vector<uint8_t>& out);

// Checks a frame header's length against the cap. Errors: kTooLarge when
// over `frame_cap`, kCorruption when 0 or not a multiple of 8.
Result<uint32_t> CheckFrameLength(uint32_t length, uint64_t frame_cap);

// Decodes a frame body (without the header). `body` must be 8-byte aligned
// (e.g. the data of a std::vector<uint64_t>) and a multiple of 8 bytes.
Result<Message> DecodeFrameBody(std::span<const uint64_t> body,
                                uint64_t frame_cap);

// Reads a u32 little-endian frame header.
uint32_t ReadFrameLength(const uint8_t header[kFrameHeaderBytes]);

// Client contexts: a version vector bound to the key it was read from
// (key_hash = ring::HashKey(key)), so a context pasted onto another key is
// refused instead of silently marking that key's writes as seen.
// An empty vector encodes to "".
std::string EncodeContext(const quorum::VersionVector& vv, uint64_t key_hash);
// Errors: kInvalidArgument naming the problem ("context is not a valid
// shoal context ..." or "... was read from another key"). Empty bytes decode
// to an empty vector.
Result<quorum::VersionVector> DecodeContext(std::string_view bytes,
                                            uint64_t key_hash);

// Session tokens (quorum/session.h): opaque to clients, which hand back
// the bytes a reply carried. A request without a token ("") has no
// session; a new session sends the encoding of an empty token, which is
// never "".
std::string EncodeSession(const quorum::SessionToken& token);
// Errors: kInvalidArgument naming the problem ("session token is not a
// valid shoal session token ..."). Empty bytes decode to an empty token.
Result<quorum::SessionToken> DecodeSession(std::string_view bytes);

// Stored objects (the LMDB value format).
std::string EncodeObject(const quorum::Object& object);
// `bytes` need not be aligned. Errors: kCorruption.
Result<quorum::Object> DecodeObject(std::string_view bytes);

// Validates a version vector / object received from outside: sorted unique
// actors, counters >= 1, siblings sorted by unique dots, tombstones empty,
// every sibling's dot covered by the vector.
Status ValidateObject(const quorum::Object& object);

// The cluster state (cluster.capnp): flat Cap'n Proto, the value of the
// node's meta record and of a gossip reply.
std::string EncodeClusterState(const cluster::ClusterState& state);
// `bytes` need not be aligned. Errors: kCorruption naming what is wrong
// (not a message, epoch 0, Q not a power of two or not the claim's size,
// members unsorted or repeated, an owner that is no member or is removed).
Result<cluster::ClusterState> DecodeClusterState(std::string_view bytes);

// Anti-entropy trees saved at a clean shutdown (trees.capnp): flat Cap'n
// Proto, the value of a node's meta record.
struct SavedTree {
  uint32_t partition = 0;
  std::vector<uint64_t> leaves;  // one per segment
};
struct SavedTrees {
  uint32_t format = 0;      // how the leaves were hashed
  uint32_t partitions = 0;  // the ring's Q
  uint32_t segments = 0;    // leaves per tree
  std::vector<SavedTree> trees;
};
std::string EncodeSavedTrees(const SavedTrees& saved);
// `bytes` need not be aligned. Errors: kCorruption naming what is wrong (not
// a message, a partition >= partitions or repeated, a tree whose leaf count
// is not segments).
Result<SavedTrees> DecodeSavedTrees(std::string_view bytes);

}  // namespace shoal::wire
