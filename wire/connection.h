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

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "base/task_group.h"
#include "wire/codec.h"
#include "wire/messages.h"
#include "wire/transport.h"

namespace shoal::wire {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

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

// A node-wide budget of bytes held for client connections (doc/impl.md,
// "Limits"): receive buffers grown for frames that are still arriving, and
// the frames of requests being served. While it is used up, client
// connections stop reading (TCP pushes back on the senders) until bytes are
// released; nothing already received is dropped.
//
// Threads: the io_context thread of the connections that share it; used()
// may be read from any thread (metrics).
class ByteBudget {
 public:
  // limit 0 = no limit.
  explicit ByteBudget(uint64_t limit) : limit_(limit) {}
  ByteBudget(const ByteBudget&) = delete;
  ByteBudget& operator=(const ByteBudget&) = delete;

  // Takes `bytes` if they fit under the limit; false (nothing taken) if not.
  bool TryAcquire(uint64_t bytes);
  // Takes `bytes` even over the limit (they are already in memory).
  void Force(uint64_t bytes) {
    used_.fetch_add(bytes, std::memory_order_relaxed);
  }
  // Gives back bytes taken before; wakes every waiter once usage is below
  // the limit again.
  void Release(uint64_t bytes);
  bool exhausted() const { return limit_ != 0 && used() >= limit_; }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }

  // `wake` runs once, the next time usage drops below the limit (it may
  // not run at all if the waiter is cancelled first). Returns a handle for
  // Cancel().
  uint64_t Wait(std::function<void()> wake);
  void Cancel(uint64_t handle);

 private:
  uint64_t limit_;
  std::atomic<uint64_t> used_{0};
  uint64_t next_handle_ = 1;
  std::vector<std::pair<uint64_t, std::function<void()>>> waiters_;
};

// What a connection enforces on what it receives (doc/impl.md, "Limits").
// Zero disables a limit.
struct ConnectionLimits {
  // A frame whose first byte arrived must be complete within this, or the
  // connection is closed: a sender that announces a large frame and stalls
  // holds nothing for long.
  std::chrono::milliseconds frame_timeout{0};
  // Closed after this long with no frame received, no request in flight and
  // nothing being sent. Only while the connection has no label (labels are
  // set for peers, which heartbeat).
  std::chrono::milliseconds idle_timeout{0};
  // Requests handed to the handler and not yet finished (their ticket not
  // yet destroyed). At the limit the connection stops reading its socket
  // (TCP backpressure) instead of queueing more.
  uint32_t max_in_flight = 0;
  // Node-wide bytes (see ByteBudget); null = none. Shared: connections
  // may outlive their owner by the last turns of the io_context.
  std::shared_ptr<ByteBudget> budget;
  // Why a connection closed itself or paused, for metrics; may be empty.
  // Called on the io_context thread.
  enum class Event {
    kFrameTimeout,    // closed: a frame did not complete in time
    kIdleTimeout,     // closed: idle
    kOutputBacklog,   // closed: the other side does not read its replies
    kBadFrame,        // closed: a frame that does not decode
    kPausedInFlight,  // stopped reading: max_in_flight requests in flight
    kPausedBudget,    // stopped reading: the byte budget is used up
    kPausedOutput,    // stopped reading: replies not read by the other side
  };
  std::function<void(Event)> observe;
};

class FramedConnection;

// One request handed to a connection's handler. The connection counts it
// as in flight (max_in_flight) and its frame's bytes against the budget
// until the ticket is destroyed: keep it alive until the reply is sent (or
// dropped). Move-only; a default-constructed ticket counts nothing.
class RequestTicket {
 public:
  RequestTicket() = default;
  RequestTicket(std::shared_ptr<FramedConnection> conn, uint64_t bytes)
      : conn_(std::move(conn)), bytes_(bytes) {}
  RequestTicket(RequestTicket&& other) noexcept
      : conn_(std::move(other.conn_)), bytes_(other.bytes_) {}
  RequestTicket& operator=(RequestTicket&& other) noexcept;
  RequestTicket(const RequestTicket&) = delete;
  RequestTicket& operator=(const RequestTicket&) = delete;
  ~RequestTicket() { Finish(); }
  // Ends the request now (idempotent).
  void Finish();

 private:
  std::shared_ptr<FramedConnection> conn_;
  uint64_t bytes_ = 0;
};

class FramedConnection : public Connection,
                         public std::enable_shared_from_this<FramedConnection> {
 public:
  // `ticket` counts the request until destroyed (see RequestTicket).
  using MessageHandler = std::function<void(Message, RequestTicket ticket)>;
  // Called once, when the connection ends; the Status says why (ok = closed
  // by us or cleanly by the peer).
  using CloseHandler = std::function<void(const Status&)>;

  // While more reply bytes than this wait to be written, the connection
  // stops reading new requests: a client that does not read its replies
  // gets TCP backpressure on its requests.
  static constexpr size_t kOutputHighWater = 1u << 20;

  FramedConnection(tcp::socket socket, uint64_t frame_cap,
                   ConnectionLimits limits = {});
  ~FramedConnection();

  // Starts the reader (and the timeouts, if any). A frame that fails to
  // decode gets an ErrorReply (id 0, the problem named) and then the
  // connection is closed. The connection's loops run in `tasks` when given
  // (the owner's TaskGroup, which then must outlive the connection's use
  // and be awaited after Close(): shoald's connections); without one, the
  // loops keep the connection alive until it is closed (the client
  // library's, whose owners have no shutdown to await).
  void Start(MessageHandler on_message, CloseHandler on_close,
             TaskGroup* tasks = nullptr);
  // Queues one frame. No-op once closed. Output queued beyond
  // max(64 MiB, 4 frame caps) closes the connection: a peer that does not
  // read is cut off instead of growing memory without bound.
  void Send(const Message& msg) override;
  // Flushes what is queued, then closes. Idempotent.
  void Close() override;
  // Drops the handlers (the owner is going away); the connection no longer
  // calls back.
  void Detach();
  bool open() const override { return open_; }
  std::string remote() const override { return remote_; }
  // Who is on the other side, as its owner learnt it (a peer's name from
  // its hello); "" until set.
  const std::string& label() const override { return label_; }
  void set_label(std::string label) override { label_ = std::move(label); }
  asio::any_io_executor get_executor() override {
    return socket_.get_executor();
  }
  // Requests whose ticket is still alive.
  uint32_t in_flight() const { return in_flight_; }
  // Bytes of the receive buffer (for tests and status).
  size_t buffer_bytes() const { return buf_.size(); }

 private:
  friend class RequestTicket;
  Awaitable<void> ReadLoop();
  Awaitable<void> WriteLoop();
  Awaitable<void> WatchLoop();
  void Shutdown(const Status& why);
  // Waits until Wake() (or close).
  Awaitable<void> Pause(ConnectionLimits::Event why);
  void Wake();
  void RequestDone(uint64_t bytes);
  // Resizes the receive buffer, keeping the budget's account; false when
  // the budget cannot take the growth.
  bool ResizeBuffer(size_t size);
  void Observe(ConnectionLimits::Event e) const {
    if (limits_.observe) limits_.observe(e);
  }

  tcp::socket socket_;
  uint64_t frame_cap_;
  ConnectionLimits limits_;
  std::string remote_;
  std::string label_;
  // Runs one of the connection's loops: in tasks_, or holding the
  // connection alive (Start).
  void RunLoop(Awaitable<void> (FramedConnection::*loop)());
  TaskGroup* tasks_ = nullptr;
  MessageHandler on_message_;
  CloseHandler on_close_;
  std::vector<uint8_t> buf_;       // received bytes not yet decoded
  uint64_t charged_ = 0;           // buf_ bytes charged to the budget
  std::vector<uint8_t> pending_;   // frames queued for the next write
  std::vector<uint8_t> inflight_;  // frames being written
  bool writing_ = false;
  bool open_ = true;
  bool close_after_flush_ = false;
  uint32_t in_flight_ = 0;
  // Reader paused (see Pause): woken by Wake().
  bool paused_ = false;
  asio::steady_timer wake_;
  uint64_t budget_wait_ = 0;  // ByteBudget::Wait handle while waiting
  // When the partly received frame at the front of buf_ began to arrive.
  std::optional<Clock::time_point> partial_since_;
  Clock::time_point last_activity_;
  asio::steady_timer watch_;
};

class RpcChannel final : public Channel {
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
    // A reply frame that starts arriving must be complete within this
    // (ConnectionLimits::frame_timeout); 0 = no limit.
    std::chrono::milliseconds frame_timeout{0};
    // The TaskGroup the connection's loops run in (FramedConnection::Start);
    // null = the connection keeps itself alive until closed.
    TaskGroup* tasks = nullptr;
  };

  RpcChannel(asio::any_io_executor executor, Options options);
  ~RpcChannel() override;
  RpcChannel(const RpcChannel&) = delete;
  RpcChannel& operator=(const RpcChannel&) = delete;

  // wire::Channel.
  Awaitable<Result<Body>> Call(Body body, Deadline deadline) override;
  Awaitable<Status> EnsureConnected(Deadline deadline) override;
  bool connected() const override { return conn_ && conn_->open(); }
  std::optional<Clock::time_point> last_heard() const override {
    return last_heard_;
  }
  const std::string& address() const override { return options_.address; }
  const Status& last_error() const override { return last_error_; }
  void Close() override;

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
