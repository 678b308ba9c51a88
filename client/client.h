// The shoal client library: typed calls to one node over one connection.
//
// Used by the CLI (one call, then exit) and by the bench (many concurrent
// calls over several clients). Calls are multiplexed on the connection, so
// one Client can carry many in-flight requests.
//
// Threads: a Client lives on one io_context thread; not thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "quorum/level.h"
#include "quorum/session.h"
#include "quorum/version.h"
#include "wire/connection.h"
#include "wire/messages.h"

namespace shoal::client {

namespace asio = boost::asio;
using wire::Awaitable;

// A client session (doc/impl.md, "Sessions"): reads through it see the
// session's own writes and never go back to older data than it read, on any
// node, or fail `unavailable` naming the guarantee. The session keeps the
// floors of the 64 keys it touched last; a request carries only its key's
// floor, and its reply's floor replaces it. `token()` is the whole session
// as opaque bytes, which may be saved and handed to another client or
// process (`FromToken`) to continue the session there. A session's requests
// go one at a time per key; it must outlive the calls made with it.
class Session {
 public:
  Session() = default;
  // Errors: kInvalidArgument when `token` is not a session token.
  static Result<Session> FromToken(std::string_view token);
  std::string token() const;
  // The keys it holds a floor for.
  size_t keys() const { return floors_.floors().size(); }

 private:
  friend class Client;
  quorum::SessionToken floors_;
};

struct GetOptions {
  uint32_t r = 0;           // 0 = cluster default
  uint32_t timeout_ms = 0;  // 0 = node default (2 s)
  bool local = false;       // diagnostic: the node's own stored copy
  uint32_t pr = 0;  // primary replicas that must reply; 0 = no requirement
  Session* session = nullptr;  // updated from the reply; nullptr = none
  // A consistency level instead of r (quorum/level.h): quorum,
  // local_quorum (in the asked node's datacenter) or each_quorum.
  quorum::Level level = quorum::Level::kExplicit;
};

struct GetResult {
  bool found = false;
  std::vector<quorum::Sibling> values;  // live siblings, dot order
  std::string context;                  // packed context bytes ("" if none)
  quorum::Object object;                // everything, incl. tombstones
};

struct PutOptions {
  std::string context;  // packed context bytes from a get; "" = blind
  uint32_t w = 0;
  uint32_t timeout_ms = 0;
  // Primary replicas that must acknowledge; 0 = no requirement. Under a
  // sloppy quorum an ack from a fallback node keeping a hint counts toward
  // w but not toward pw.
  uint32_t pw = 0;
  Session* session = nullptr;  // updated from the reply; nullptr = none
  quorum::Level level = quorum::Level::kExplicit;  // instead of w, as Get's
};

// What a put or delete returns.
struct PutResult {
  // Packed context covering this write (and what the put's context
  // covered); "" when the key now holds other siblings too.
  std::string context;
  // Siblings (tombstones included) at the coordinator after the write. More
  // than one: the write raced another (or was blind); read the key before
  // writing again.
  uint32_t siblings = 1;
};

class Client {
 public:
  // address: host:port of any node; over TCP, deadlines on the system
  // clock.
  Client(asio::any_io_executor executor, std::string address);
  // Over `channel` (any wire::Channel: the simulator's, tests/sim),
  // deadlines on `clock`, which must outlive the Client.
  Client(std::unique_ptr<wire::Channel> channel, Clock& clock);

  Awaitable<Result<GetResult>> Get(std::string key, GetOptions options);
  Awaitable<Result<PutResult>> Put(std::string key, std::string value,
                                   PutOptions options);
  Awaitable<Result<PutResult>> Delete(std::string key, PutOptions options);
  Awaitable<Result<wire::StatusReply>> Status(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  // The asked node's cluster state (members, claim, epoch).
  Awaitable<Result<cluster::ClusterState>> ClusterState(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  // Stages `request.changes` at the asked node (after dropping what it had
  // staged, if request.clear); the reply lists everything staged there.
  Awaitable<Result<wire::ClusterStageReply>> ClusterStage(
      wire::ClusterStageRequest request, std::chrono::milliseconds timeout);
  // Commits what the asked node has staged, planned at `epoch` (0 = any);
  // the committed state.
  Awaitable<Result<cluster::ClusterState>> ClusterCommit(
      uint64_t epoch, std::chrono::milliseconds timeout);
  // The asked node's hinted-handoff state: hints it keeps for other nodes.
  Awaitable<Result<wire::HintsReply>> Hints(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  // The asked node's anti-entropy state, per partition it replicates.
  Awaitable<Result<wire::AaeStatusReply>> AaeStatus(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  // Has the asked node exchange `partition` now with its other replicas.
  Awaitable<Result<wire::AaeRunReply>> AaeRun(
      uint32_t partition, std::chrono::milliseconds timeout);

  // Fault injection (doc/faults.md): replaces the node's fault table when
  // request.set, and returns the table it holds.
  Awaitable<Result<wire::FaultReply>> Fault(wire::FaultRequest request,
                                            std::chrono::milliseconds timeout);

  const std::string& address() const { return channel_->address(); }

 private:
  wire::Deadline DeadlineFor(uint32_t timeout_ms) const;
  // What a request for `key` carries for `session` ("" for none), and the
  // reply's token taken into it.
  static std::string SessionRequest(const Session* session,
                                    std::string_view key);
  static shoal::Status SessionReply(Session* session, std::string_view reply);
  Awaitable<Result<PutResult>> Write(wire::PutRequest request,
                                     Session* session);
  SystemClock system_clock_;
  Clock& clock_;  // system_clock_ unless one was given
  std::unique_ptr<wire::Channel> channel_;
};

// Turns a GetReply (object and the context the node issued) into a
// GetResult.
GetResult ToGetResult(wire::GetReply reply);
PutResult ToPutResult(wire::PutReply reply);

}  // namespace shoal::client
