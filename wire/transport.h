// The two ends of shoal's request/reply traffic as the node's code sees
// them. FramedConnection and RpcChannel (connection.h) are the TCP ones;
// the simulator (tests/sim) has in-memory ones, so the node's code runs
// unchanged over a simulated network.
//
// Threads: both live on one io_context thread and are not thread-safe.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "base/result.h"
#include "wire/messages.h"

namespace shoal::wire {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
template <typename T>
using Awaitable = boost::asio::awaitable<T>;

// Where a request came from, and where its reply goes.
class Connection {
 public:
  virtual ~Connection() = default;
  // Queues one frame. No-op once closed.
  virtual void Send(const Message& msg) = 0;
  // Flushes what is queued, then closes. Idempotent.
  virtual void Close() = 0;
  virtual bool open() const = 0;
  // The other side's address, for logs.
  virtual std::string remote() const = 0;
  // Who is on the other side, as its owner learnt it (a peer's member name
  // from its hello); "" for a client.
  virtual const std::string& label() const = 0;
  virtual void set_label(std::string label) = 0;
  virtual boost::asio::any_io_executor get_executor() = 0;
};

// Calls to one address, multiplexed, each with its own deadline.
class Channel {
 public:
  virtual ~Channel() = default;
  // Sends `body` and waits for the reply with the same id. An ErrorReply
  // becomes the error Status it carries. Errors: kUnavailable (cannot
  // connect / connection lost before the reply), kTimeout (deadline).
  virtual Awaitable<Result<Body>> Call(Body body, Deadline deadline) = 0;
  // Connects now if not connected (e.g. a probe); ok when connected.
  virtual Awaitable<Status> EnsureConnected(Deadline deadline) = 0;
  virtual bool connected() const = 0;
  // Time of the last frame received, or nullopt if never.
  virtual std::optional<Clock::time_point> last_heard() const = 0;
  virtual const std::string& address() const = 0;
  // Why the last connect failed or the connection was lost; ok after a
  // successful connect (and before any attempt).
  virtual const Status& last_error() const = 0;
  // Closes the connection and fails every pending call (kUnavailable).
  virtual void Close() = 0;
};

}  // namespace shoal::wire
