// The messages shoal nodes and clients exchange, as plain C++ values.
//
// Only wire/ touches Cap'n Proto: frames are decoded into these structs at
// the edge (codec.h), so a malformed frame fails in one place and business
// code never meets a lazily-throwing capnp reader.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"
#include "cluster/state.h"
#include "merkle/merkle.h"
#include "quorum/level.h"
#include "quorum/version.h"

namespace shoal::wire {

inline constexpr uint32_t kProtocolVersion = 1;

// ---- client ----
struct GetRequest {
  std::string key;
  uint32_t r = 0;           // 0 = cluster default
  uint32_t timeout_ms = 0;  // 0 = node default
  bool local = false;       // diagnostic: this node's own copy only
  uint32_t pr = 0;          // primaries that must reply; 0 = none
  std::string session;      // packed SessionToken; "" = no session
  quorum::Level level = quorum::Level::kExplicit;  // else r == 0
};
struct GetReply {
  quorum::Object object;  // merged; not found = no live sibling
  std::string context;    // packed Context bound to the key; "" if none
  std::string session;    // the request's token updated with this read
};
struct PutRequest {
  std::string key;
  std::string value;
  bool is_delete = false;
  std::string context;  // packed Context bytes; empty = blind write
  uint32_t w = 0;
  uint32_t timeout_ms = 0;
  uint32_t pw = 0;      // primaries that must acknowledge; 0 = none
  std::string session;  // packed SessionToken; "" = no session
  quorum::Level level = quorum::Level::kExplicit;  // else w == 0
  std::string local_dc{};  // local_quorum's datacenter; "" = the coordinator's
};
struct PutReply {
  // Packed Context covering this write and what the put's context covered;
  // "" when the key now holds other siblings too (read before writing).
  std::string context;
  uint32_t siblings =
      1;  // siblings (tombstones included) at the coordinator after the write
  // The coordinator's version vector after the write: what a session that
  // wrote it must read from now on (quorum::PutOutcome::seen). Set in the
  // reply to a forwarded put (CoordinatePutRequest) only.
  quorum::VersionVector seen;
  std::string session;  // the request's token updated with this write
};

// ---- peer ----
struct Hello {
  std::string node;
  uint32_t protocol_version = kProtocolVersion;
};
// `epoch` on replica requests: the sender's cluster state epoch (peer.capnp);
// 0 = unstamped.
struct ReadRequest {
  std::string key;
  uint64_t epoch = 0;
};
struct ReadReply {
  quorum::Object object;  // empty when the replica holds nothing
};
struct RelayTarget {
  std::string node;
  std::string hint_for;  // "" = a normal replica write
  friend bool operator==(const RelayTarget&, const RelayTarget&) = default;
};
struct ReplicateRequest {
  std::string key;
  quorum::Object object;
  std::string hint_for;  // sloppy quorum: keep as a hint for this primary
  uint64_t epoch = 0;
  // A datacenter's forwarder also sends the object to these members and
  // answers with every result once `wait_for` acked (0 = all) or after
  // `timeout_ms`.
  std::vector<RelayTarget> also{};
  uint32_t timeout_ms = 0;
  uint32_t wait_for = 0;
};
// Heartbeats carry the sender's cluster state epoch and digest.
struct Ping {
  uint64_t epoch = 0;
  uint64_t digest = 0;
  uint64_t transferred = 0;  // a change's epoch whose transfers here are done
  friend bool operator==(const Ping&, const Ping&) = default;
};
struct Pong {
  uint64_t epoch = 0;
  uint64_t digest = 0;
  uint64_t transferred = 0;
  friend bool operator==(const Pong&, const Pong&) = default;
};
struct ClusterStateRequest {
  friend bool operator==(const ClusterStateRequest&,
                         const ClusterStateRequest&) = default;
};
struct ClusterStateReply {
  cluster::ClusterState state;
  friend bool operator==(const ClusterStateReply&,
                         const ClusterStateReply&) = default;
};
struct RelayResult {
  std::string node;
  Status status;  // kTimeout: no answer when the forwarder replied
};
struct ReplicateReply {
  std::vector<RelayResult> results{};  // a forwarder's, in target order
};
struct CoordinatePutRequest {
  PutRequest put;
  uint64_t epoch = 0;
};

// ---- anti-entropy (peer) ----
enum class AaeLevel { kRoot = 0, kBranches = 1, kLeaves = 2 };
struct AaeTreeRequest {
  uint32_t partition = 0;
  uint32_t segments = 0;  // the sender's tree shape
  AaeLevel level = AaeLevel::kRoot;
  std::vector<uint32_t> branches;  // for kLeaves
  friend bool operator==(const AaeTreeRequest&,
                         const AaeTreeRequest&) = default;
};
struct AaeTreeReply {
  std::vector<uint64_t> hashes;
  friend bool operator==(const AaeTreeReply&, const AaeTreeReply&) = default;
};
struct AaeKeysRequest {
  uint32_t partition = 0;
  uint32_t segments = 0;
  std::vector<uint32_t> leaves;
  // The asker holds none of these leaves' keys: the reply carries every
  // key with its object (AaeKeysReply::objects) instead of fingerprints.
  bool with_objects = false;
  friend bool operator==(const AaeKeysRequest&,
                         const AaeKeysRequest&) = default;
};
struct KeyObject {
  std::string key;
  quorum::Object object;
  friend bool operator==(const KeyObject&, const KeyObject&) = default;
};
struct AaeKeysReply {
  std::vector<merkle::KeyFingerprint> keys;
  uint32_t leaves_listed = 0;      // leading requested leaves listed completely
  std::vector<KeyObject> objects;  // instead of keys, when with_objects
  friend bool operator==(const AaeKeysReply&, const AaeKeysReply&) = default;
};
struct AaeFetchRequest {
  std::vector<std::string> keys;
  friend bool operator==(const AaeFetchRequest&,
                         const AaeFetchRequest&) = default;
};
struct AaeFetchReply {
  // For the first objects.size() keys asked (fewer when over the budget).
  std::vector<quorum::Object> objects;
  friend bool operator==(const AaeFetchReply&, const AaeFetchReply&) = default;
};
struct AaeRepairRequest {
  std::vector<KeyObject> items;
  friend bool operator==(const AaeRepairRequest&,
                         const AaeRepairRequest&) = default;
};
// Tombstone reaping (reaper/reaper.h).
struct ReapCheckKey {
  std::string key;
  uint32_t partition = 0;
  uint32_t segment = 0;
  uint64_t fingerprint = 0;  // quorum::CausalFingerprint of the tombstone
  friend bool operator==(const ReapCheckKey&, const ReapCheckKey&) = default;
};
struct ReapCheckRequest {
  uint64_t epoch = 0;
  std::vector<ReapCheckKey> keys;
  friend bool operator==(const ReapCheckRequest&,
                         const ReapCheckRequest&) = default;
};
enum class ReapHolding : uint8_t { kAbsent, kSame, kOther };
struct ReapCheckReply {
  std::vector<ReapHolding> holding;  // per key
  std::vector<bool> hinted;          // per key
  friend bool operator==(const ReapCheckReply&,
                         const ReapCheckReply&) = default;
};
struct AaeRepairReply {
  uint32_t changed = 0;
  friend bool operator==(const AaeRepairReply&,
                         const AaeRepairReply&) = default;
};

// ---- admin ----
struct HintsRequest {};
struct HintTarget {
  std::string target;
  uint64_t count = 0;
  uint64_t bytes = 0;
  int64_t oldest_age_ms = 0;
  bool target_up = false;
};
struct HintsReply {
  std::string node;
  std::vector<HintTarget> targets;
  uint64_t stored = 0, delivered = 0, dropped_cap = 0;
  double delivered_per_sec = 0;
};
struct StatusRequest {};
struct MemberStatus {
  std::string name;
  std::string address;
  bool up = false;
  bool is_self = false;
  int64_t last_heard_ms_ago = -1;
  uint32_t partitions_owned = 0;
  std::string state;      // joining, valid, leaving, removed
  uint64_t epoch = 0;     // cluster state epoch it last reported; 0 = none
  bool conflict = false;  // it reported another state at our epoch
  std::string dc{};       // its datacenter; empty without datacenters
  std::string rack{};
};
// What a node receives for a change in progress (doc/membership.md).
struct TransferStatus {
  uint64_t epoch = 0;  // the changing epoch; 0 = receiving nothing
  uint32_t partitions = 0;
  uint32_t received = 0;  // verified equal to their sources
  uint64_t keys = 0;      // replica copies the exchanges changed here
  uint64_t bytes = 0;     // frame bytes of the exchanges, both ways
  uint64_t elapsed_ms = 0;
  friend bool operator==(const TransferStatus&,
                         const TransferStatus&) = default;
};
struct TombstoneStatus {
  uint64_t count = 0;
  uint64_t reaped = 0;
  int64_t oldest_age_ms = -1;  // -1 = none
  std::string waiting_for;
  friend bool operator==(const TombstoneStatus&,
                         const TombstoneStatus&) = default;
};
struct StatusReply {
  std::string node;
  uint64_t actor = 0;
  uint32_t n = 0, w = 0, r = 0, partitions = 0;
  uint64_t uptime_ms = 0;
  std::vector<MemberStatus> members;
  uint64_t keys = 0;
  uint64_t storage_bytes = 0;
  uint64_t data_bytes = 0;  // storage_bytes less LMDB's free pages
  uint64_t map_size_bytes = 0;
  uint64_t epoch = 0;           // cluster state
  uint64_t cluster_digest = 0;  // ClusterState::Digest
  TransferStatus transfer;
  TombstoneStatus tombstones;
};

struct AaeStatusRequest {
  friend bool operator==(const AaeStatusRequest&,
                         const AaeStatusRequest&) = default;
};
struct AaePartitionStatus {
  uint32_t partition = 0;
  bool tree_ready = false;
  uint64_t exchanges = 0;
  int64_t last_exchange_ms_ago = -1;  // -1 = never
  std::string last_peer;
  std::string last_result;
  uint64_t keys_repaired_last = 0;
  uint64_t keys_repaired_total = 0;
  friend bool operator==(const AaePartitionStatus&,
                         const AaePartitionStatus&) = default;
};
struct AaeStatusReply {
  std::string node;
  bool enabled = false;
  uint64_t exchanges = 0, keys_repaired = 0, bytes = 0;
  std::vector<AaePartitionStatus> partitions;
  friend bool operator==(const AaeStatusReply&,
                         const AaeStatusReply&) = default;
};
struct AaeRunRequest {
  uint32_t partition = 0;
  friend bool operator==(const AaeRunRequest&, const AaeRunRequest&) = default;
};
struct AaeExchangeResult {
  std::string peer;
  std::string result;  // "ok" or the error
  uint64_t keys_repaired = 0;
  uint32_t segments_differing = 0;
  uint64_t bytes = 0;  // frame bytes of the exchange's calls
  friend bool operator==(const AaeExchangeResult&,
                         const AaeExchangeResult&) = default;
};
struct AaeRunReply {
  std::string node;
  uint32_t partition = 0;
  std::vector<AaeExchangeResult> exchanges;
  friend bool operator==(const AaeRunReply&, const AaeRunReply&) = default;
};

// ---- fault injection (admin; doc/faults.md) ----
enum class FaultKind { kCut = 0, kDelay = 1, kDrop = 2 };
struct FaultRule {
  std::string from;      // the node whose outgoing frames it affects
  std::string to;        // the member receiving them ("" when clients)
  bool clients = false;  // replies to client connections instead of a peer
  FaultKind kind = FaultKind::kCut;
  uint32_t delay_ms = 0;    // kDelay
  uint32_t jitter_ms = 0;   // kDelay: uniform in [-jitter, +jitter]
  double drop_percent = 0;  // kDrop: 0..100
  friend bool operator==(const FaultRule&, const FaultRule&) = default;
};
struct ClockSkew {
  std::string node;
  int64_t skew_ms = 0;  // added to the wall clock stamped on writes
  friend bool operator==(const ClockSkew&, const ClockSkew&) = default;
};
struct FaultRequest {
  bool set = false;  // replace the node's table; false = only report it
  std::vector<FaultRule> rules;
  std::vector<ClockSkew> skews;
  friend bool operator==(const FaultRequest&, const FaultRequest&) = default;
};
struct FaultReply {
  std::string node;
  std::vector<FaultRule> rules;
  std::vector<ClockSkew> skews;
  uint64_t frames_dropped = 0, frames_delayed = 0;
  friend bool operator==(const FaultReply&, const FaultReply&) = default;
};

// ---- membership (admin; doc/membership.md) ----
struct ClusterStageRequest {
  std::vector<cluster::Change> changes;  // appended; none = only report
  bool clear = false;                    // drop what is staged first
  friend bool operator==(const ClusterStageRequest&,
                         const ClusterStageRequest&) = default;
};
struct ClusterStageReply {
  uint64_t epoch = 0;  // the state the changes are staged on
  std::vector<cluster::Change> changes;
  friend bool operator==(const ClusterStageReply&,
                         const ClusterStageReply&) = default;
};
// Answered with ClusterStateReply: the committed state.
struct ClusterCommitRequest {
  uint64_t epoch = 0;  // the epoch the caller planned on; 0 = any
  friend bool operator==(const ClusterCommitRequest&,
                         const ClusterCommitRequest&) = default;
};

// ---- any reply ----
struct ErrorReply {
  Status status;  // never OK
};

using Body = std::variant<
    ErrorReply, GetRequest, GetReply, PutRequest, PutReply, Hello, ReadRequest,
    ReadReply, ReplicateRequest, ReplicateReply, CoordinatePutRequest,
    StatusRequest, StatusReply, Ping, Pong, HintsRequest, HintsReply,
    AaeTreeRequest, AaeTreeReply, AaeKeysRequest, AaeKeysReply, AaeFetchRequest,
    AaeFetchReply, AaeRepairRequest, AaeRepairReply, AaeStatusRequest,
    AaeStatusReply, AaeRunRequest, AaeRunReply, FaultRequest, FaultReply,
    ClusterStateRequest, ClusterStateReply, ClusterStageRequest,
    ClusterStageReply, ClusterCommitRequest, ReapCheckRequest, ReapCheckReply>;

struct Message {
  uint64_t id = 0;  // request id; a reply carries its request's id
  Body body;
};

}  // namespace shoal::wire
