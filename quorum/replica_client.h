// What a coordinator needs from the node it runs on: access to each replica
// of a key, local or remote. node/ implements it over storage/ (for the
// local replica) and peer connections (for the others); tests implement it
// in memory to drive coordinators through every interleaving.
//
// Threads: every method is called on, and completes on, the node's one
// io_context thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "base/result.h"
#include "quorum/level.h"
#include "quorum/session.h"
#include "quorum/version.h"
#include "ring/ring.h"

namespace shoal::quorum {

using Deadline = std::chrono::steady_clock::time_point;
template <typename T>
using Awaitable = boost::asio::awaitable<T>;

// A put as a client asked for it, after validation.
struct PutArgs {
  std::string key;
  ring::KeyLocation loc;
  std::optional<std::string> value;  // nullopt = delete (tombstone)
  VersionVector context;             // empty = blind write
  std::string raw_context;           // as received, for forwarding
  uint32_t w = 0;                    // resolved (1..n)
  uint32_t pw = 0;                   // primaries that must ack (0..n)
  // Acks required from each datacenter (Requirement::per_dc, by index into
  // Ring::dcs()); empty: none counted apart.
  std::vector<uint32_t> dc_w;
  Level level = Level::kExplicit;  // as received, for forwarding
  std::string local_dc{};          // the DC local_quorum counts in
  uint32_t timeout_ms = 0;         // as received, for forwarding
  Deadline deadline;
};

// What a put returns to its client.
struct PutOutcome {
  // The context for the client's next write of this key: the stored version
  // vector when the write left exactly one sibling (then it covers only this
  // write and what the put's context covered); empty when other siblings
  // remain, which the client must read before writing again.
  VersionVector context;
  uint32_t siblings = 1;          // siblings at the coordinator after the write
  bool coordinated_here = false;  // by this node (not handed to another)
  // The coordinator's version vector after the write. Every copy of this
  // write comes from the coordinator's object, so a replica holds the
  // write exactly when its vector covers this one: a session that wrote it
  // reads at least this from now on (quorum/session.h).
  VersionVector seen;
};

struct GetArgs {
  std::string key;
  ring::KeyLocation loc;
  uint32_t r = 0;   // resolved (1..n)
  uint32_t pr = 0;  // primaries that must reply (0..n)
  Deadline deadline;
  // A session's floor for this key (quorum/session.h): the answer must
  // reflect it, or the get fails naming the guarantee.
  std::optional<SessionFloor> floor;
  // Replies required from each datacenter, as PutArgs::dc_w.
  std::vector<uint32_t> dc_r{};
};

class ReplicaClient {
 public:
  virtual ~ReplicaClient() = default;

  virtual ring::NodeIndex self() const = 0;
  // Whether a replica is believed reachable (the local node always is).
  virtual bool IsUp(ring::NodeIndex node) const = 0;

  // `epoch` on the calls below: the ring epoch (ring::Ring::epoch) the
  // coordinator chose `node` under. A replica at a newer epoch does not
  // serve the call: the implementation fails it and the node adopts the
  // newer state, which the coordinator sees as a ring whose epoch moved
  // (doc/membership.md, "Requests across epochs").

  // A replica's own stored copy (empty Object when it holds none).
  virtual Awaitable<Result<Object>> Read(ring::NodeIndex node,
                                         const std::string& key,
                                         const ring::KeyLocation& loc,
                                         Deadline deadline, uint64_t epoch) = 0;
  // Asks a replica to merge `object` (DVV sync) and ack after its commit.
  // With `hint_for`, `node` is a fallback standing in for that primary: it
  // keeps the object as a durable hint and hands it over later.
  virtual Awaitable<Status> Replicate(
      ring::NodeIndex node, const std::string& key,
      const ring::KeyLocation& loc, const Object& object, Deadline deadline,
      uint64_t epoch,
      std::optional<ring::NodeIndex> hint_for = std::nullopt) = 0;
  // Replicate through a forwarder (doc/impl.md, "Datacenters and racks"):
  // one call to targets[0] (`via`, a member of a remote datacenter), which
  // replicates `object` to every target, itself included, and answers with
  // one status per target once `wait_for` acknowledged (0 = all) or at the
  // deadline; kTimeout for a target that had not answered. An error (the
  // forwarder unreachable, or refusing) is the whole call's.
  virtual Awaitable<Result<std::vector<Status>>> ReplicateVia(
      const std::vector<ring::ReplicaTarget>& targets, const std::string& key,
      const ring::KeyLocation& loc, const Object& object, Deadline deadline,
      uint64_t epoch, uint32_t wait_for) = 0;
  // The coordinator's atomic new-dot step on the local replica; returns the
  // stored object after the write.
  virtual Awaitable<Result<Object>> CoordinateLocally(const PutArgs& args) = 0;
  // Hands a put to another primary to coordinate. A failure to reach
  // `node` is kUnavailable without QuorumInfo (the caller may try another
  // primary); anything else is the coordinator's own answer.
  virtual Awaitable<Result<PutOutcome>> ForwardPut(ring::NodeIndex node,
                                                   const PutArgs& args,
                                                   uint64_t epoch) = 0;
};

}  // namespace shoal::quorum
