#include "wire/connection.h"

#include <algorithm>
#include <cstring>

namespace shoal::wire {
namespace {

using asio::use_awaitable;
constexpr auto kAsTuple = asio::as_tuple(use_awaitable);

// Reads are issued into a buffer of at least this size, so many small frames
// arrive in one syscall; a larger frame grows it temporarily.
constexpr size_t kReadChunk = 64 * 1024;

}  // namespace

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

FramedConnection::FramedConnection(tcp::socket socket, uint64_t frame_cap)
    : socket_(std::move(socket)), frame_cap_(frame_cap) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  remote_ = ec ? std::string("?")
               : ep.address().to_string() + ":" + std::to_string(ep.port());
  socket_.set_option(tcp::no_delay(true), ec);
}

FramedConnection::~FramedConnection() = default;

void FramedConnection::Start(MessageHandler on_message, CloseHandler on_close) {
  on_message_ = std::move(on_message);
  on_close_ = std::move(on_close);
  auto self = shared_from_this();
  // The coroutine holds `self`: the connection lives until the reader ends,
  // which Close() or the peer's close guarantees.
  asio::co_spawn(
      socket_.get_executor(),
      [self]() -> Awaitable<void> { co_await self->ReadLoop(); },
      asio::detached);
}

Awaitable<void> FramedConnection::ReadLoop() {
  std::vector<uint8_t> buf(kReadChunk);
  std::vector<uint64_t> body;  // 8-byte aligned copy of one frame body
  size_t have = 0;
  for (;;) {
    size_t pos = 0;
    size_t need = 0;  // bytes a partially received frame needs in total
    while (have - pos >= kFrameHeaderBytes) {
      auto len = CheckFrameLength(ReadFrameLength(&buf[pos]), frame_cap_);
      if (!len) {
        Send(Message{0, ErrorReply{len.status()}});
        Close();
        co_return;
      }
      if (have - pos - kFrameHeaderBytes < *len) {
        need = kFrameHeaderBytes + *len;
        break;
      }
      body.resize(*len / 8);
      std::memcpy(body.data(), &buf[pos + kFrameHeaderBytes], *len);
      pos += kFrameHeaderBytes + *len;
      auto msg = DecodeFrameBody(body, frame_cap_);
      if (!msg) {
        Send(Message{0, ErrorReply{msg.status()}});
        Close();
        co_return;
      }
      if (!open_ || !on_message_) co_return;
      on_message_(std::move(msg.value()));
      if (!open_) co_return;
    }
    if (pos > 0) {
      std::memmove(buf.data(), buf.data() + pos, have - pos);
      have -= pos;
    }
    if (need > buf.size()) {
      buf.resize(need);
    } else if (need == 0 && buf.size() > 4 * kReadChunk && have < kReadChunk) {
      buf.resize(kReadChunk);  // give back the room a big frame needed
      buf.shrink_to_fit();
    }
    auto [ec, n] = co_await socket_.async_read_some(
        asio::buffer(buf.data() + have, buf.size() - have), kAsTuple);
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
  }
}

void FramedConnection::Send(const Message& msg) {
  if (!open_ || close_after_flush_) return;
  AppendFrame(msg, pending_);
  if (pending_.size() > kMaxQueuedBytes) {
    Shutdown(Status(Code::kOverloaded,
                    "connection to " + remote_ +
                        " closed: peer does not read its replies"));
    return;
  }
  if (!writing_) {
    writing_ = true;
    auto self = shared_from_this();
    asio::co_spawn(
        socket_.get_executor(),
        [self]() -> Awaitable<void> { co_await self->WriteLoop(); },
        asio::detached);
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
    if (ec) {
      Shutdown(Status(Code::kUnavailable,
                      "write to " + remote_ + " failed: " + ec.message()));
      break;
    }
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
  // Named locals, not temporaries, around co_await: GCC 12 mis-destroys
  // temporaries of class type in coroutines (see doc/impl.md, "Toolchain").
  const Message msg{id, std::move(body)};
  if (!fate.drop) conn_->Send(msg);  // a dropped frame is simply lost
  co_await call.timer.async_wait(kAsTuple);
  pending_.erase(id);
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
    co_await wait.async_wait(kAsTuple);
    std::erase(connect_waiters_, &wait);
    if (connected()) co_return Status::Ok();
    co_return Status(Code::kUnavailable, options_.address + " unreachable (" +
                                             last_error_.message() + ")");
  }
  connecting_ = true;
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
  conn_ = std::make_shared<FramedConnection>(std::move(sock.value()),
                                             options_.frame_cap);
  conn_->Start([this](Message m) { OnMessage(std::move(m)); },
               [this](const Status& why) { OnClose(why); });
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
