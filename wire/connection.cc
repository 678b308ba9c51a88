#include "wire/connection.h"

#include <algorithm>
#include <cstring>

namespace shoal::wire {
namespace {

using asio::use_awaitable;
constexpr auto kAsTuple = asio::as_tuple(use_awaitable);

// What a connection's receive buffer starts with (and all an idle
// connection holds).
constexpr size_t kInitialBuffer = 4 * 1024;
// A busy connection's buffer: reads that fill the buffer double it up to
// this, so many small frames arrive in one syscall. Only a frame larger
// than this grows it further, and only as its bytes arrive.
constexpr size_t kReadChunk = 64 * 1024;

uint64_t MaxQueuedBytes(uint64_t frame_cap) {
  return std::max<uint64_t>(64ull << 20, 4 * frame_cap);
}

std::string Millis(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

}  // namespace

// ---------------------------------------------------------------------------
// ByteBudget

bool ByteBudget::TryAcquire(uint64_t bytes) {
  const uint64_t used = this->used();
  if (limit_ != 0 && used + bytes > limit_) return false;
  used_.store(used + bytes, std::memory_order_relaxed);
  return true;
}

void ByteBudget::Release(uint64_t bytes) {
  const uint64_t used = this->used();
  used_.store(used - std::min(used, bytes), std::memory_order_relaxed);
  if (exhausted() || waiters_.empty()) return;
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& [handle, wake] : waiters) wake();
}

uint64_t ByteBudget::Wait(std::function<void()> wake) {
  const uint64_t handle = next_handle_++;
  waiters_.emplace_back(handle, std::move(wake));
  return handle;
}

void ByteBudget::Cancel(uint64_t handle) {
  std::erase_if(waiters_,
                [handle](const auto& w) { return w.first == handle; });
}

// ---------------------------------------------------------------------------
// RequestTicket

RequestTicket& RequestTicket::operator=(RequestTicket&& other) noexcept {
  if (this != &other) {
    Finish();
    conn_ = std::move(other.conn_);
    bytes_ = other.bytes_;
  }
  return *this;
}

void RequestTicket::Finish() {
  if (!conn_) return;
  auto conn = std::move(conn_);
  conn_.reset();
  conn->RequestDone(bytes_);
}

Result<tcp::endpoint> ParseEndpoint(std::string_view host_port) {
  const auto colon = host_port.rfind(':');
  const Status bad(Code::kInvalidArgument,
                   "bad address '" + std::string(host_port) +
                       "' (expected HOST:PORT, e.g. 127.0.0.1:7101)");
  if (colon == std::string_view::npos || colon == 0 ||
      colon + 1 == host_port.size()) {
    return bad;
  }
  std::string host(host_port.substr(0, colon));
  if (host == "localhost") host = "127.0.0.1";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned long port = 0;
  try {
    size_t used = 0;
    std::string port_text(host_port.substr(colon + 1));
    port = std::stoul(port_text, &used);
    if (used != port_text.size() || port == 0 || port > 65535) return bad;
  } catch (const std::exception&) {
    return bad;
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return bad;
  return tcp::endpoint(addr, static_cast<uint16_t>(port));
}

Awaitable<Result<tcp::socket>> ConnectBy(asio::any_io_executor executor,
                                         tcp::endpoint endpoint,
                                         Deadline deadline, std::string what) {
  tcp::socket sock(executor);
  asio::steady_timer guard(executor);
  guard.expires_at(deadline);
  // Closing the socket aborts a connect that outlives the deadline. The
  // expiry handler may already be queued when the connect completes, so it
  // reaches the socket only through `target`, cleared once connect is done.
  auto target = std::make_shared<tcp::socket*>(&sock);
  guard.async_wait([target](boost::system::error_code ec) {
    if (!ec && *target != nullptr) {
      boost::system::error_code ignored;
      (*target)->close(ignored);
    }
  });
  auto [ec] = co_await sock.async_connect(endpoint, kAsTuple);
  *target = nullptr;
  guard.cancel();
  if (ec) co_return Status(Code::kUnavailable, what + ": " + ec.message());
  co_return std::move(sock);
}

// ---------------------------------------------------------------------------
// FramedConnection

FramedConnection::FramedConnection(tcp::socket socket, uint64_t frame_cap,
                                   ConnectionLimits limits)
    : socket_(std::move(socket)),
      frame_cap_(frame_cap),
      limits_(std::move(limits)),
      wake_(socket_.get_executor()),
      last_activity_(Clock::now()),
      watch_(socket_.get_executor()) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  remote_ = ec ? std::string("?")
               : ep.address().to_string() + ":" + std::to_string(ep.port());
  socket_.set_option(tcp::no_delay(true), ec);
}

FramedConnection::~FramedConnection() {
  if (limits_.budget != nullptr) {
    if (budget_wait_ != 0) limits_.budget->Cancel(budget_wait_);
    limits_.budget->Release(charged_);
  }
}

namespace {
// One loop of a connection, holding it alive until the loop ends (a
// parameter, so the shared_ptr lives in the coroutine frame).
Awaitable<void> Holding(std::shared_ptr<FramedConnection> self,
                        Awaitable<void> loop) {
  co_await std::move(loop);
}
}  // namespace

void FramedConnection::RunLoop(Awaitable<void> (FramedConnection::*loop)()) {
  // The loop holds the connection either way: it lives until its loops end,
  // which Close() or the peer's close guarantees.
  Awaitable<void> task = Holding(shared_from_this(), (this->*loop)());
  if (tasks_ != nullptr) {
    tasks_->Spawn(std::move(task));
    return;
  }
  // The client library's connections: owned by themselves until closed.
  asio::co_spawn(socket_.get_executor(), std::move(task),
                 [](std::exception_ptr) {});
}

void FramedConnection::Start(MessageHandler on_message, CloseHandler on_close,
                             TaskGroup* tasks) {
  on_message_ = std::move(on_message);
  on_close_ = std::move(on_close);
  tasks_ = tasks;
  last_activity_ = Clock::now();
  RunLoop(&FramedConnection::ReadLoop);
  if (limits_.frame_timeout.count() > 0 || limits_.idle_timeout.count() > 0) {
    RunLoop(&FramedConnection::WatchLoop);
  }
}

bool FramedConnection::ResizeBuffer(size_t size) {
  // The first kInitialBuffer bytes are every connection's own; the rest is
  // charged to the budget.
  const uint64_t charge = size > kInitialBuffer ? size - kInitialBuffer : 0;
  if (limits_.budget != nullptr && label_.empty() && charge > charged_) {
    if (!limits_.budget->TryAcquire(charge - charged_)) return false;
    charged_ = charge;
  } else if (limits_.budget != nullptr && charge < charged_) {
    limits_.budget->Release(charged_ - charge);
    charged_ = charge;
  }
  buf_.resize(size);
  if (buf_.capacity() > 2 * size) buf_.shrink_to_fit();
  return true;
}

Awaitable<void> FramedConnection::Pause(ConnectionLimits::Event why) {
  Observe(why);
  if (why == ConnectionLimits::Event::kPausedBudget &&
      limits_.budget != nullptr && budget_wait_ == 0) {
    std::weak_ptr<FramedConnection> weak = weak_from_this();
    budget_wait_ = limits_.budget->Wait([weak] {
      if (auto c = weak.lock()) {
        c->budget_wait_ = 0;
        c->Wake();
      }
    });
  }
  paused_ = true;
  wake_.expires_at(Clock::time_point::max());
  co_await wake_.async_wait(kAsTuple);
  paused_ = false;
  if (budget_wait_ != 0 && limits_.budget != nullptr) {
    limits_.budget->Cancel(budget_wait_);
    budget_wait_ = 0;
  }
}

void FramedConnection::Wake() {
  if (paused_) wake_.cancel();
}

void FramedConnection::RequestDone(uint64_t bytes) {
  --in_flight_;
  last_activity_ = Clock::now();
  if (bytes != 0 && limits_.budget != nullptr) limits_.budget->Release(bytes);
  Wake();
}

Awaitable<void> FramedConnection::ReadLoop() {
  using Event = ConnectionLimits::Event;
  // Limits that push back on the sender apply to clients: a labelled
  // connection is a peer's, whose load its own node bounds.
  auto in_flight_full = [this] {
    return limits_.max_in_flight != 0 && label_.empty() &&
           in_flight_ >= limits_.max_in_flight;
  };
  auto output_backlogged = [this] {
    return limits_.max_in_flight != 0 &&
           pending_.size() + inflight_.size() > kOutputHighWater;
  };
  auto budget_used_up = [this] {
    return limits_.budget != nullptr && label_.empty() &&
           limits_.budget->exhausted();
  };
  std::vector<uint64_t> body;  // 8-byte aligned copy of one frame body
  ResizeBuffer(kInitialBuffer);
  size_t have = 0;
  for (;;) {
    size_t pos = 0;
    size_t need = 0;  // bytes a partially received frame needs in total
    while (have - pos >= kFrameHeaderBytes) {
      auto len = CheckFrameLength(ReadFrameLength(&buf_[pos]), frame_cap_);
      if (!len) {
        Observe(Event::kBadFrame);
        Send(Message{0, ErrorReply{len.status()}});
        Close();
        co_return;
      }
      if (have - pos - kFrameHeaderBytes < *len) {
        need = kFrameHeaderBytes + *len;
        break;
      }
      // Backpressure before handing on another request.
      while (open_ && in_flight_full()) co_await Pause(Event::kPausedInFlight);
      while (open_ && output_backlogged()) co_await Pause(Event::kPausedOutput);
      if (!open_) co_return;
      body.resize(*len / 8);
      std::memcpy(body.data(), &buf_[pos + kFrameHeaderBytes], *len);
      pos += kFrameHeaderBytes + *len;
      auto msg = DecodeFrameBody(body, frame_cap_);
      if (body.size() * 8 > kReadChunk) body = {};  // not kept for the next
      if (!msg) {
        Observe(Event::kBadFrame);
        Send(Message{0, ErrorReply{msg.status()}});
        Close();
        co_return;
      }
      if (!open_ || !on_message_) co_return;
      // The request's bytes count against the budget until it is done.
      uint64_t charged = 0;
      if (limits_.budget != nullptr && label_.empty()) {
        charged = *len;
        limits_.budget->Force(charged);
      }
      ++in_flight_;
      on_message_(std::move(msg.value()),
                  RequestTicket(shared_from_this(), charged));
      if (!open_) co_return;
    }
    if (pos > 0) {
      std::memmove(buf_.data(), buf_.data() + pos, have - pos);
      have -= pos;
    }
    // The clock of a frame that has started: from when its first bytes
    // were seen.
    if (have == 0) {
      partial_since_.reset();
    } else if (pos > 0 || !partial_since_) {
      partial_since_ = Clock::now();
    }
    if (need > buf_.size() && have == buf_.size()) {
      // Grow with the bytes that arrived (at most doubling), never to the
      // announced length at once: a header alone allocates nothing.
      const size_t target =
          std::min(need, std::max(buf_.size() * 2, kReadChunk));
      while (open_ && !ResizeBuffer(target)) {
        co_await Pause(Event::kPausedBudget);
      }
      if (!open_) co_return;
    } else if (buf_.size() > kReadChunk && have <= kReadChunk / 2 &&
               need <= kReadChunk) {
      ResizeBuffer(kReadChunk);  // give back the room a big frame needed
    }
    while (open_ && (budget_used_up() || output_backlogged())) {
      co_await Pause(budget_used_up() ? Event::kPausedBudget
                                      : Event::kPausedOutput);
    }
    if (!open_) co_return;
    const size_t room = buf_.size() - have;
    auto [ec, n] = co_await socket_.async_read_some(
        asio::buffer(buf_.data() + have, room), kAsTuple);
    if (ec) {
      if (ec == asio::error::eof || ec == asio::error::operation_aborted) {
        Shutdown(Status::Ok());
      } else {
        Shutdown(Status(Code::kUnavailable, "connection to " + remote_ +
                                                " failed: " + ec.message()));
      }
      co_return;
    }
    have += n;
    last_activity_ = Clock::now();
    // A read that filled the buffer: more is probably waiting.
    if (n == room && buf_.size() < kReadChunk) {
      ResizeBuffer(
          std::min(kReadChunk, buf_.size() * 2));  // if the budget allows
    }
  }
}

Awaitable<void> FramedConnection::WatchLoop() {
  using Event = ConnectionLimits::Event;
  const auto frame_timeout = limits_.frame_timeout;
  const auto idle_timeout = limits_.idle_timeout;
  // The watcher looks at least this often, so a deadline that starts while
  // it sleeps is enforced at most this late.
  auto period = std::chrono::milliseconds::max();
  if (frame_timeout.count() > 0) period = std::min(period, frame_timeout / 2);
  if (idle_timeout.count() > 0) period = std::min(period, idle_timeout / 2);
  period = std::max(period, std::chrono::milliseconds(10));
  while (open_) {
    const auto now = Clock::now();
    const bool idle_counts = idle_timeout.count() > 0 && label_.empty() &&
                             in_flight_ == 0 && !writing_ && pending_.empty();
    if (frame_timeout.count() > 0 && partial_since_ &&
        now - *partial_since_ >= frame_timeout) {
      Observe(Event::kFrameTimeout);
      Shutdown(Status(Code::kTimeout,
                      "connection from " + remote_ +
                          " closed: a frame did not complete within " +
                          Millis(frame_timeout)));
      co_return;
    }
    if (idle_counts && now - last_activity_ >= idle_timeout) {
      Observe(Event::kIdleTimeout);
      Shutdown(Status(Code::kTimeout, "connection from " + remote_ +
                                          " closed: idle for " +
                                          Millis(idle_timeout)));
      co_return;
    }
    auto next = now + period;
    if (frame_timeout.count() > 0 && partial_since_) {
      next = std::min(next, *partial_since_ + frame_timeout);
    }
    if (idle_counts) next = std::min(next, last_activity_ + idle_timeout);
    watch_.expires_at(next);
    co_await watch_.async_wait(kAsTuple);
  }
}

void FramedConnection::Send(const Message& msg) {
  if (!open_ || close_after_flush_) return;
  AppendFrame(msg, pending_);
  if (pending_.size() > MaxQueuedBytes(frame_cap_)) {
    Observe(ConnectionLimits::Event::kOutputBacklog);
    Shutdown(Status(Code::kOverloaded,
                    "connection to " + remote_ +
                        " closed: peer does not read its replies"));
    return;
  }
  if (!writing_) {
    writing_ = true;
    RunLoop(&FramedConnection::WriteLoop);
  }
}

Awaitable<void> FramedConnection::WriteLoop() {
  // Yield once so every frame queued in this turn of the io_context goes
  // out in the same write.
  co_await asio::post(socket_.get_executor(), use_awaitable);
  while (open_ && !pending_.empty()) {
    inflight_.swap(pending_);
    auto [ec, n] =
        co_await asio::async_write(socket_, asio::buffer(inflight_), kAsTuple);
    inflight_.clear();
    if (inflight_.capacity() > kReadChunk) inflight_.shrink_to_fit();
    if (ec) {
      Shutdown(Status(Code::kUnavailable,
                      "write to " + remote_ + " failed: " + ec.message()));
      break;
    }
    Wake();  // a reader paused on the output backlog may go on
  }
  writing_ = false;
  if (close_after_flush_) Shutdown(Status::Ok());
}

void FramedConnection::Close() {
  if (!open_) return;
  if (writing_) {
    close_after_flush_ = true;  // WriteLoop shuts down when flushed
  } else {
    Shutdown(Status::Ok());
  }
}

void FramedConnection::Detach() {
  on_message_ = nullptr;
  on_close_ = nullptr;
}

void FramedConnection::Shutdown(const Status& why) {
  if (!open_) return;
  open_ = false;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  pending_.clear();
  wake_.cancel();
  watch_.cancel();
  if (auto cb = std::move(on_close_)) {
    on_close_ = nullptr;
    cb(why);
  }
}

// ---------------------------------------------------------------------------
// RpcChannel

struct RpcChannel::PendingCall {
  explicit PendingCall(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;
  std::optional<Result<Body>> result;
};

RpcChannel::RpcChannel(asio::any_io_executor executor, Options options)
    : executor_(std::move(executor)), options_(std::move(options)) {}

RpcChannel::~RpcChannel() {
  if (conn_) {
    conn_->Detach();
    conn_->Close();
  }
}

void RpcChannel::Close() {
  if (conn_) conn_->Close();
  OnClose(Status(Code::kUnavailable, "channel closed"));
}

Awaitable<Status> RpcChannel::EnsureConnected(Deadline deadline) {
  if (connected()) co_return Status::Ok();
  co_return co_await Connect(deadline);
}

Awaitable<Result<Body>> RpcChannel::Call(Body body, Deadline deadline) {
  if (!connected()) {
    Status st = co_await Connect(deadline);
    if (!st.ok()) co_return st;
  }
  FrameFate fate;
  if (options_.outgoing) fate = options_.outgoing();
  if (fate.delay.count() > 0 && !fate.drop) {
    asio::steady_timer hold(executor_);
    hold.expires_at(std::min(deadline, Clock::now() + fate.delay));
    co_await hold.async_wait(kAsTuple);
    if (Clock::now() >= deadline) {
      co_return Status(Code::kTimeout,
                       "no reply from " + options_.address + " in time");
    }
    if (!connected()) {
      co_return Status(Code::kUnavailable,
                       "connection to " + options_.address + " lost");
    }
  }
  const uint64_t id = next_id_++;
  PendingCall call(executor_);
  call.timer.expires_at(deadline);
  pending_.emplace(id, &call);
  // Erased however this frame ends: a cancelled coroutine (its TaskGroup's
  // Cancel) throws at its next co_await instead of waiting, and the entry
  // must not outlive `call`.
  struct Unregister {
    decltype(pending_)& pending;
    uint64_t id;
    ~Unregister() { pending.erase(id); }
  } unregister{pending_, id};
  // Named locals, not temporaries, around co_await: GCC 12 mis-destroys
  // temporaries of class type in coroutines (see doc/impl.md, "Toolchain").
  const Message msg{id, std::move(body)};
  if (!fate.drop) conn_->Send(msg);  // a dropped frame is simply lost
  co_await call.timer.async_wait(kAsTuple);
  if (!call.result) {
    co_return Status(Code::kTimeout,
                     "no reply from " + options_.address + " in time");
  }
  co_return std::move(*call.result);
}

Awaitable<Status> RpcChannel::Connect(Deadline deadline) {
  const auto now = Clock::now();
  if (now < retry_after_) {
    co_return Status(Code::kUnavailable, options_.address + " unreachable (" +
                                             last_error_.message() + ")");
  }
  if (connecting_) {
    // Another call is connecting: wait for it (or our deadline).
    asio::steady_timer wait(executor_);
    wait.expires_at(deadline);
    connect_waiters_.push_back(&wait);
    struct Unregister {  // however the frame ends, as in Call
      decltype(connect_waiters_)& waiters;
      asio::steady_timer* wait;
      ~Unregister() { std::erase(waiters, wait); }
    } unregister{connect_waiters_, &wait};
    co_await wait.async_wait(kAsTuple);
    if (connected()) co_return Status::Ok();
    co_return Status(Code::kUnavailable, options_.address + " unreachable (" +
                                             last_error_.message() + ")");
  }
  connecting_ = true;
  struct Connecting {  // cleared however the frame ends, as in Call
    bool& flag;
    ~Connecting() { flag = false; }
  } connecting{connecting_};
  Status st =
      co_await ConnectOnce(std::min(deadline, now + options_.connect_timeout));
  connecting_ = false;
  if (!st.ok()) {
    last_error_ = st;
    retry_after_ = Clock::now() + options_.retry_backoff;
    if (conn_) {
      conn_->Detach();
      conn_->Close();
      conn_.reset();
    }
  }
  if (st.ok()) last_error_ = Status::Ok();
  for (auto* w : connect_waiters_) w->cancel();
  co_return st;
}

Awaitable<Status> RpcChannel::ConnectOnce(Deadline deadline) {
  auto ep = ParseEndpoint(options_.address);
  if (!ep) co_return ep.status();
  std::string what = "cannot connect to " + options_.address;
  auto sock = co_await ConnectBy(executor_, *ep, deadline, std::move(what));
  if (!sock) co_return sock.status();
  if (conn_) conn_->Detach();
  ConnectionLimits limits;
  limits.frame_timeout = options_.frame_timeout;
  conn_ = std::make_shared<FramedConnection>(std::move(sock.value()),
                                             options_.frame_cap, limits);
  conn_->Start([this](Message m, RequestTicket) { OnMessage(std::move(m)); },
               [this](const Status& why) { OnClose(why); }, options_.tasks);
  if (options_.hello_name.empty()) co_return Status::Ok();

  Body hello_request = Hello{options_.hello_name, kProtocolVersion};
  auto reply = co_await Call(std::move(hello_request), deadline);
  if (!reply) co_return reply.status();
  const auto* hello = std::get_if<Hello>(&reply.value());
  if (hello == nullptr) {
    co_return Status(Code::kInternal,
                     options_.address + " answered Hello with another type");
  }
  if (!options_.expect_name.empty() && hello->node != options_.expect_name) {
    co_return Status(Code::kInvalidArgument, options_.address + " is node '" +
                                                 hello->node + "', expected '" +
                                                 options_.expect_name +
                                                 "' (check the member list)");
  }
  co_return Status::Ok();
}

void RpcChannel::OnMessage(Message msg) {
  last_heard_ = Clock::now();
  auto it = pending_.find(msg.id);
  if (it == pending_.end()) return;  // a reply after its caller gave up
  PendingCall* call = it->second;
  if (call->result) return;
  if (auto* err = std::get_if<ErrorReply>(&msg.body)) {
    call->result.emplace(err->status);
  } else {
    call->result.emplace(std::move(msg.body));
  }
  call->timer.cancel();
}

void RpcChannel::OnClose(const Status& why) {
  const Status lost(Code::kUnavailable,
                    "connection to " + options_.address + " lost" +
                        (why.ok() ? std::string() : ": " + why.message()));
  last_error_ = lost;
  for (auto& [id, call] : pending_) {
    if (!call->result) {
      call->result.emplace(lost);
      call->timer.cancel();
    }
  }
}

}  // namespace shoal::wire
