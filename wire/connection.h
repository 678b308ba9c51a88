// Framed, multiplexed connections over TCP (Boost.Asio, C++20 coroutines).
//
// FramedConnection reads length-prefixed frames and hands each decoded
// Message to a handler; Send() appends a frame to an output buffer that one
// writer coroutine flushes, so every frame queued while a write is in flight
// (or within one turn of the io_context) goes out in a single syscall.
//
// RpcChannel is the client side: one connection to one address, connected
// lazily, calls multiplexed by request id, each with its own deadline.
//
// Threads: everything here runs on the one io_context thread that owns the
// socket; none of it is thread-safe. Lifetime: a FramedConnection is held by
// shared_ptr because its reader and writer coroutines and its owner all keep
// it alive; Close() (or the peer closing) ends both coroutines.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "wire/codec.h"
#include "wire/messages.h"

namespace shoal::wire {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
template <typename T>
using Awaitable = asio::awaitable<T>;

// "host:port" -> endpoint. Errors: kInvalidArgument naming the text.
Result<tcp::endpoint> ParseEndpoint(std::string_view host_port);

// Connects a new socket to `endpoint`, giving up at `deadline`. Errors:
// kUnavailable naming `what` and the system error.
Awaitable<Result<tcp::socket>> ConnectBy(asio::any_io_executor executor,
                                         tcp::endpoint endpoint,
                                         Deadline deadline, std::string what);

// What fault injection (doc/faults.md) does to one outgoing frame: send it,
// drop it (it is lost: the call times out) or hold it back `delay` first.
struct FrameFate {
  bool drop = false;
  std::chrono::milliseconds delay{0};
};

class FramedConnection : public std::enable_shared_from_this<FramedConnection> {
 public:
  using MessageHandler = std::function<void(Message)>;
  // Called once, when the connection ends; the Status says why (ok = closed
  // by us or cleanly by the peer).
  using CloseHandler = std::function<void(const Status&)>;

  // Output bytes queued beyond this make Send() close the connection: a peer
  // that does not read is cut off instead of growing memory without bound.
  static constexpr size_t kMaxQueuedBytes = 256ull << 20;

  FramedConnection(tcp::socket socket, uint64_t frame_cap);
  ~FramedConnection();

  // Starts the reader. A frame that fails to decode gets an ErrorReply (id
  // 0, the problem named) and then the connection is closed.
  void Start(MessageHandler on_message, CloseHandler on_close);
  // Queues one frame. No-op once closed.
  void Send(const Message& msg);
  // Flushes what is queued, then closes. Idempotent.
  void Close();
  // Drops the handlers (the owner is going away); the connection no longer
  // calls back.
  void Detach();
  bool open() const { return open_; }
  std::string remote() const { return remote_; }
  // Who is on the other side, as its owner learnt it (a peer's name from
  // its hello); "" until set.
  const std::string& label() const { return label_; }
  void set_label(std::string label) { label_ = std::move(label); }
  asio::any_io_executor get_executor() { return socket_.get_executor(); }

 private:
  Awaitable<void> ReadLoop();
  Awaitable<void> WriteLoop();
  void Shutdown(const Status& why);

  tcp::socket socket_;
  uint64_t frame_cap_;
  std::string remote_;
  std::string label_;
  MessageHandler on_message_;
  CloseHandler on_close_;
  std::vector<uint8_t> pending_;   // frames queued for the next write
  std::vector<uint8_t> inflight_;  // frames being written
  bool writing_ = false;
  bool open_ = true;
  bool close_after_flush_ = false;
};

class RpcChannel {
 public:
  // `peer_name`, when set, is sent in a Hello after connecting and the reply
  // must name `expect_name` (when set) or the connection is refused: it
  // catches a member list that points at the wrong node.
  struct Options {
    std::string address;      // host:port
    std::string hello_name;   // our name, for peer links; empty = client
    std::string expect_name;  // the node we expect; empty = any
    uint64_t frame_cap = FrameCapFor(kDefaultMaxObjectBytes);
    std::chrono::milliseconds connect_timeout{1000};
    // After a failed connect, calls fail fast for this long.
    std::chrono::milliseconds retry_backoff{200};
    // Fault injection: asked before each request frame (the hello included)
    // is sent. A dropped frame leaves its call to time out; a delayed one
    // is sent after the delay (or the call times out first). Empty = no
    // faults.
    std::function<FrameFate()> outgoing;
  };

  RpcChannel(asio::any_io_executor executor, Options options);
  ~RpcChannel();
  RpcChannel(const RpcChannel&) = delete;
  RpcChannel& operator=(const RpcChannel&) = delete;

  // Sends `body` and waits for the reply with the same id. An ErrorReply
  // becomes the error Status it carries. Errors: kUnavailable (cannot
  // connect / connection lost before the reply), kTimeout (deadline).
  Awaitable<Result<Body>> Call(Body body, Deadline deadline);

  // Connects now if not connected (e.g. a probe); ok when connected.
  Awaitable<Status> EnsureConnected(Deadline deadline);

  bool connected() const { return conn_ && conn_->open(); }
  // Time of the last frame received, or nullopt if never.
  std::optional<Clock::time_point> last_heard() const { return last_heard_; }
  const std::string& address() const { return options_.address; }
  // Why the last connect failed or the connection was lost; ok after a
  // successful connect (and before any attempt).
  const Status& last_error() const { return last_error_; }
  // Closes the connection and fails every pending call (kUnavailable).
  void Close();

 private:
  struct PendingCall;
  Awaitable<Status> Connect(Deadline deadline);
  Awaitable<Status> ConnectOnce(Deadline deadline);
  void OnMessage(Message msg);
  void OnClose(const Status& why);

  asio::any_io_executor executor_;
  Options options_;
  std::shared_ptr<FramedConnection> conn_;
  std::unordered_map<uint64_t, PendingCall*> pending_;
  uint64_t next_id_ = 1;
  bool connecting_ = false;
  std::vector<asio::steady_timer*> connect_waiters_;  // woken after connect
  Clock::time_point retry_after_{};
  Status last_error_;
  std::optional<Clock::time_point> last_heard_;
};

}  // namespace shoal::wire
