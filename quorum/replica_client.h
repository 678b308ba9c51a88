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
  uint32_t timeout_ms = 0;           // as received, for forwarding
  Deadline deadline;
};

struct GetArgs {
  std::string key;
  ring::KeyLocation loc;
  uint32_t r = 0;  // resolved (1..n)
  Deadline deadline;
};

class ReplicaClient {
 public:
  virtual ~ReplicaClient() = default;

  virtual ring::NodeIndex self() const = 0;
  // Whether a replica is believed reachable (the local node always is).
  virtual bool IsUp(ring::NodeIndex node) const = 0;

  // A replica's own stored copy (empty Object when it holds none).
  virtual Awaitable<Result<Object>> Read(ring::NodeIndex node,
                                         const std::string& key,
                                         const ring::KeyLocation& loc,
                                         Deadline deadline) = 0;
  // Asks a replica to merge `object` (DVV sync) and ack after its commit.
  virtual Awaitable<Status> Replicate(ring::NodeIndex node,
                                      const std::string& key,
                                      const ring::KeyLocation& loc,
                                      const Object& object,
                                      Deadline deadline) = 0;
  // The coordinator's atomic new-dot step on the local replica; returns the
  // stored object after the write.
  virtual Awaitable<Result<Object>> CoordinateLocally(const PutArgs& args) = 0;
  // Hands a put to another primary to coordinate; returns the version
  // vector of the object after the write. A failure to reach `node` is
  // kUnavailable without QuorumInfo (the caller may try another primary);
  // anything else is the coordinator's own answer.
  virtual Awaitable<Result<VersionVector>> ForwardPut(ring::NodeIndex node,
                                                      const PutArgs& args) = 0;
};

}  // namespace shoal::quorum
