// RESP2 (https://redis.io/docs/reference/protocol-spec/): every value
// starts with a type byte and a line ending in CRLF; bulk strings carry
// their length, arrays their element count. A client sends each command as
// an array of bulk strings.
//
// The connection follows wire::FramedConnection: a writer coroutine
// flushes everything queued in one turn of the io_context in one write,
// and a reader coroutine parses replies and hands each to the oldest call
// still waiting for one.
#include "tools/bench/redis_client.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>
#include <utility>

namespace shoal::tools {
namespace {

using asio::use_awaitable;
using tcp = asio::ip::tcp;
constexpr auto kAsTuple = asio::as_tuple(use_awaitable);
constexpr size_t kReadChunk = 64 * 1024;

bool StartsWithWord(std::string_view text, std::string_view word) {
  return text.size() >= word.size() && text.substr(0, word.size()) == word &&
         (text.size() == word.size() || text[word.size()] == ' ');
}

}  // namespace

// ---------------------------------------------------------------------------
// RESP2 encoding and parsing

bool ParseRespInteger(std::string_view text, int64_t* out) {
  if (text.empty() || text.front() == '+') return false;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || ptr != last) return false;
  *out = value;
  return true;
}

void AppendRespCommand(std::string* out,
                       std::initializer_list<std::string_view> args) {
  out->push_back('*');
  out->append(std::to_string(args.size()));
  out->append("\r\n");
  for (std::string_view arg : args) {
    out->push_back('$');
    out->append(std::to_string(arg.size()));
    out->append("\r\n");
    out->append(arg);
    out->append("\r\n");
  }
}

Status RedisErrorStatus(std::string_view text) {
  const std::string message = "redis: " + std::string(text);
  for (std::string_view word :
       {"LOADING", "MASTERDOWN", "NOREPLICAS", "READONLY", "TRYAGAIN"}) {
    if (StartsWithWord(text, word)) return Status(Code::kUnavailable, message);
  }
  if (StartsWithWord(text, "BUSY")) return Status(Code::kOverloaded, message);
  if (StartsWithWord(text, "OOM")) return Status(Code::kStorageFull, message);
  return Status(Code::kInternal, message);
}

void RespParser::Feed(std::string_view bytes) {
  if (!error_.empty()) return;
  // Drop what was already returned before growing the buffer.
  if (pos_ > 0 && (pos_ == buffer_.size() || pos_ >= kReadChunk)) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  buffer_.append(bytes);
}

RespParser::Outcome RespParser::Next(RespValue* out, std::string* error) {
  if (!error_.empty()) {
    *error = error_;
    return Outcome::kError;
  }
  size_t pos = pos_;
  RespValue value;
  const Outcome outcome = ParseAt(&pos, 0, &value, &error_);
  if (outcome == Outcome::kError) {
    *error = error_;
    return outcome;
  }
  if (outcome == Outcome::kValue) {
    pos_ = pos;
    *out = std::move(value);
  }
  return outcome;
}

RespParser::Outcome RespParser::ReadLine(size_t* pos, std::string_view* line,
                                         std::string* error) {
  const size_t start = *pos;
  const size_t limit = std::min(buffer_.size(), start + kMaxLineBytes + 2);
  const size_t nl = buffer_.find('\n', start);
  if (nl == std::string::npos || nl >= limit) {
    if (buffer_.size() - start > kMaxLineBytes + 1) {
      *error =
          "RESP line longer than " + std::to_string(kMaxLineBytes) + " bytes";
      return Outcome::kError;
    }
    return Outcome::kNeedMore;
  }
  if (nl == start || buffer_[nl - 1] != '\r') {
    *error = "RESP line not terminated by CRLF";
    return Outcome::kError;
  }
  *line = std::string_view(buffer_).substr(start, nl - 1 - start);
  *pos = nl + 1;
  return Outcome::kValue;
}

RespParser::Outcome RespParser::ParseAt(size_t* pos, int depth, RespValue* out,
                                        std::string* error) {
  if (depth > kMaxDepth) {
    *error = "RESP arrays nested deeper than " + std::to_string(kMaxDepth);
    return Outcome::kError;
  }
  size_t p = *pos;
  if (p >= buffer_.size()) return Outcome::kNeedMore;
  const char type = buffer_[p];
  if (type != '+' && type != '-' && type != ':' && type != '$' && type != '*') {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02x",
                  static_cast<unsigned>(static_cast<unsigned char>(type)));
    *error = std::string("unexpected byte ") + hex +
             " where a RESP2 type (+ - : $ *) was expected";
    return Outcome::kError;
  }
  ++p;
  std::string_view line;
  const Outcome got_line = ReadLine(&p, &line, error);
  if (got_line != Outcome::kValue) return got_line;

  switch (type) {
    case '+':
      out->type = RespValue::Type::kSimpleString;
      out->str.assign(line);
      break;
    case '-':
      out->type = RespValue::Type::kError;
      out->str.assign(line);
      break;
    case ':':
      out->type = RespValue::Type::kInteger;
      if (!ParseRespInteger(line, &out->integer)) {
        *error = "bad RESP integer '" + std::string(line) + "'";
        return Outcome::kError;
      }
      break;
    case '$': {
      int64_t length = 0;
      if (!ParseRespInteger(line, &length) || length < -1 ||
          length > kMaxBulkBytes) {
        *error = "bad RESP bulk string length '" + std::string(line) + "'";
        return Outcome::kError;
      }
      if (length == -1) {
        out->type = RespValue::Type::kNull;
        break;
      }
      const auto n = static_cast<size_t>(length);
      if (buffer_.size() - p < n + 2) return Outcome::kNeedMore;
      if (buffer_[p + n] != '\r' || buffer_[p + n + 1] != '\n') {
        *error = "RESP bulk string of " + std::to_string(n) +
                 " bytes not followed by CRLF";
        return Outcome::kError;
      }
      out->type = RespValue::Type::kBulkString;
      out->str.assign(buffer_, p, n);
      p += n + 2;
      break;
    }
    case '*': {
      int64_t count = 0;
      if (!ParseRespInteger(line, &count) || count < -1 ||
          count > kMaxArrayElements) {
        *error = "bad RESP array length '" + std::string(line) + "'";
        return Outcome::kError;
      }
      if (count == -1) {
        out->type = RespValue::Type::kNull;
        break;
      }
      out->type = RespValue::Type::kArray;
      out->elements.clear();
      out->elements.reserve(std::min<int64_t>(count, 1024));
      for (int64_t i = 0; i < count; ++i) {
        RespValue element;
        const Outcome got = ParseAt(&p, depth + 1, &element, error);
        if (got != Outcome::kValue) return got;
        out->elements.push_back(std::move(element));
      }
      break;
    }
  }
  *pos = p;
  return Outcome::kValue;
}

// ---------------------------------------------------------------------------
// Connection

// One request's wait for its replies.
struct RedisClient::Call {
  explicit Call(asio::any_io_executor executor) : timer(std::move(executor)) {}
  asio::steady_timer timer;  // cancelled when the replies or a failure came
  std::vector<RespValue> replies;
  std::optional<Status> failure;
  bool done = false;
};

struct RedisClient::Connection
    : public std::enable_shared_from_this<Connection> {
  explicit Connection(tcp::socket s) : socket(std::move(s)) {
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
  }

  // A call waiting for `remaining` more replies, in send order. `call` is
  // null once its caller gave up: its replies are still read and dropped.
  struct Waiting {
    Call* call;
    size_t remaining;
  };

  void Start(std::string address_for_errors) {
    address = std::move(address_for_errors);
    auto self = shared_from_this();
    asio::co_spawn(
        socket.get_executor(),
        [self]() -> Awaitable<void> { co_await self->ReadLoop(); },
        asio::detached);
  }

  void Send(std::string_view bytes) {
    if (!open) return;
    pending.append(bytes);
    if (writing) return;
    writing = true;
    auto self = shared_from_this();
    asio::co_spawn(
        socket.get_executor(),
        [self]() -> Awaitable<void> { co_await self->WriteLoop(); },
        asio::detached);
  }

  Awaitable<void> WriteLoop() {
    // Yield once so every command queued in this turn goes in one write.
    co_await asio::post(socket.get_executor(), use_awaitable);
    while (open && !pending.empty()) {
      inflight.swap(pending);
      auto [ec, n] =
          co_await asio::async_write(socket, asio::buffer(inflight), kAsTuple);
      inflight.clear();
      if (ec) {
        Fail(Status(Code::kUnavailable,
                    "write to redis " + address + " failed: " + ec.message()));
        break;
      }
    }
    writing = false;
  }

  Awaitable<void> ReadLoop() {
    std::vector<char> buf(kReadChunk);
    for (;;) {
      auto [ec, n] =
          co_await socket.async_read_some(asio::buffer(buf), kAsTuple);
      if (ec) {
        const std::string why = ec == asio::error::eof
                                    ? std::string("closed by the server")
                                    : ec.message();
        Fail(Status(Code::kUnavailable,
                    "connection to redis " + address + " lost: " + why));
        co_return;
      }
      parser.Feed(std::string_view(buf.data(), n));
      for (;;) {
        RespValue value;
        std::string error;
        const RespParser::Outcome outcome = parser.Next(&value, &error);
        if (outcome == RespParser::Outcome::kNeedMore) break;
        if (outcome == RespParser::Outcome::kError) {
          Fail(Status(Code::kCorruption,
                      "redis " + address + " sent bad RESP: " + error));
          co_return;
        }
        if (waiting.empty()) {
          Fail(Status(Code::kCorruption,
                      "redis " + address + " sent a reply nobody asked for"));
          co_return;
        }
        Waiting& front = waiting.front();
        if (front.call != nullptr)
          front.call->replies.push_back(std::move(value));
        if (--front.remaining == 0) {
          if (Call* call = front.call) {
            call->done = true;
            call->timer.cancel();
          }
          waiting.pop_front();
        }
        if (!open) co_return;
      }
    }
  }

  // Closes the connection and fails every waiting call with `why`.
  void Fail(const Status& why) {
    if (!open) return;
    open = false;
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    pending.clear();
    std::deque<Waiting> failed;
    failed.swap(waiting);
    for (Waiting& w : failed) {
      if (w.call != nullptr && !w.call->done) {
        w.call->failure = why;
        w.call->timer.cancel();
      }
    }
  }

  // The owner goes away: forget the calls (their coroutines are gone or
  // will never resume) and close.
  void Detach() {
    waiting.clear();
    Fail(Status(Code::kUnavailable, "client closed"));
  }

  tcp::socket socket;
  std::string address;
  RespParser parser;
  std::deque<Waiting> waiting;
  std::string pending;   // commands queued for the next write
  std::string inflight;  // commands being written
  bool writing = false;
  bool open = true;
};

// ---------------------------------------------------------------------------
// RedisClient

RedisClient::RedisClient(asio::any_io_executor executor, Options options)
    : executor_(std::move(executor)), options_(std::move(options)) {}

RedisClient::~RedisClient() {
  if (conn_) conn_->Detach();
}

bool RedisClient::connected() const { return conn_ && conn_->open; }

Awaitable<Status> RedisClient::Connect(wire::Deadline deadline) {
  const auto now = wire::Clock::now();
  if (now < retry_after_) {
    co_return Status(Code::kUnavailable, "redis " + options_.address +
                                             " unreachable (" +
                                             last_error_.message() + ")");
  }
  if (connecting_) {
    asio::steady_timer wait(executor_);
    wait.expires_at(deadline);
    connect_waiters_.push_back(&wait);
    co_await wait.async_wait(kAsTuple);
    std::erase(connect_waiters_, &wait);
    if (connected()) co_return Status::Ok();
    co_return Status(Code::kUnavailable, "redis " + options_.address +
                                             " unreachable (" +
                                             last_error_.message() + ")");
  }
  connecting_ = true;
  const wire::Deadline until =
      std::min(deadline, now + options_.connect_timeout);
  Status st = co_await ConnectOnce(until);
  connecting_ = false;
  if (st.ok()) {
    last_error_ = Status::Ok();
  } else {
    last_error_ = st;
    retry_after_ = wire::Clock::now() + options_.retry_backoff;
  }
  for (asio::steady_timer* w : connect_waiters_) w->cancel();
  co_return st;
}

Awaitable<Status> RedisClient::ConnectOnce(wire::Deadline deadline) {
  Result<tcp::endpoint> endpoint = wire::ParseEndpoint(options_.address);
  if (!endpoint.ok()) co_return endpoint.status();
  std::string what = "cannot connect to redis " + options_.address;
  auto socket =
      co_await wire::ConnectBy(executor_, *endpoint, deadline, std::move(what));
  if (!socket) co_return socket.status();
  if (conn_) conn_->Detach();
  conn_ = std::make_shared<Connection>(std::move(socket.value()));
  conn_->Start(options_.address);
  co_return Status::Ok();
}

Awaitable<Result<std::vector<RespValue>>> RedisClient::Execute(
    std::string commands, size_t replies, wire::Deadline deadline) {
  if (!connected()) {
    Status st = co_await Connect(deadline);
    if (!st.ok()) co_return st;
  }
  // Our own reference: a failure may replace conn_ before we resume.
  std::shared_ptr<Connection> conn = conn_;
  Call call(executor_);
  call.timer.expires_at(deadline);
  conn->waiting.push_back(Connection::Waiting{&call, replies});
  conn->Send(commands);
  co_await call.timer.async_wait(kAsTuple);
  if (call.done) co_return std::move(call.replies);
  if (call.failure) co_return *call.failure;
  // Timed out: the replies may still come; they must be read and dropped.
  for (Connection::Waiting& w : conn->waiting) {
    if (w.call == &call) w.call = nullptr;
  }
  co_return Status(Code::kTimeout,
                   "no reply from redis " + options_.address + " in time");
}

Awaitable<Result<RedisClient::GetReply>> RedisClient::Get(
    std::string key, wire::Deadline deadline) {
  std::string command;
  AppendRespCommand(&command, {"GET", key});
  Result<std::vector<RespValue>> replies =
      co_await Execute(std::move(command), 1, deadline);
  if (!replies.ok()) co_return replies.status();
  RespValue& reply = replies->front();
  GetReply out;
  switch (reply.type) {
    case RespValue::Type::kNull:
      co_return out;
    case RespValue::Type::kBulkString:
      out.found = true;
      out.value = std::move(reply.str);
      co_return out;
    case RespValue::Type::kError:
      co_return RedisErrorStatus(reply.str);
    default:
      co_return Status(Code::kInternal, "redis GET: unexpected reply type");
  }
}

namespace {

// Checks the replies of a write (SET or DEL) and of its WAIT, if any.
Status CheckWrite(const std::vector<RespValue>& replies, const char* verb,
                  uint32_t wait_replicas, uint32_t wait_timeout_ms) {
  const RespValue& write = replies.front();
  if (write.type == RespValue::Type::kError) return RedisErrorStatus(write.str);
  const bool ok_reply = write.type == RespValue::Type::kSimpleString ||
                        write.type == RespValue::Type::kInteger;
  if (!ok_reply) {
    return Status(Code::kInternal,
                  std::string("redis ") + verb + ": unexpected reply type");
  }
  if (wait_replicas == 0) return Status::Ok();
  const RespValue& wait = replies.back();
  if (wait.type == RespValue::Type::kError) return RedisErrorStatus(wait.str);
  if (wait.type != RespValue::Type::kInteger) {
    return Status(Code::kInternal, "redis WAIT: unexpected reply type");
  }
  if (wait.integer < static_cast<int64_t>(wait_replicas)) {
    Status st(Code::kTimeout, "redis WAIT: " + std::to_string(wait.integer) +
                                  " of " + std::to_string(wait_replicas) +
                                  " replicas acknowledged within " +
                                  std::to_string(wait_timeout_ms) +
                                  " ms (applied on the "
                                  "primary)");
    QuorumInfo q;
    q.acked = static_cast<uint32_t>(std::max<int64_t>(wait.integer, 0));
    q.required = wait_replicas;
    q.maybe_applied = true;
    st.WithQuorum(q);
    return st;
  }
  return Status::Ok();
}

}  // namespace

Awaitable<Status> RedisClient::Set(std::string key, std::string value,
                                   uint32_t wait_replicas,
                                   uint32_t wait_timeout_ms,
                                   wire::Deadline deadline) {
  std::string command;
  AppendRespCommand(&command, {"SET", key, value});
  size_t replies = 1;
  if (wait_replicas > 0) {
    const std::string n = std::to_string(wait_replicas);
    const std::string ms = std::to_string(wait_timeout_ms);
    AppendRespCommand(&command, {"WAIT", n, ms});
    ++replies;
  }
  Result<std::vector<RespValue>> got =
      co_await Execute(std::move(command), replies, deadline);
  if (!got.ok()) co_return got.status();
  co_return CheckWrite(*got, "SET", wait_replicas, wait_timeout_ms);
}

Awaitable<Status> RedisClient::Del(std::string key, uint32_t wait_replicas,
                                   uint32_t wait_timeout_ms,
                                   wire::Deadline deadline) {
  std::string command;
  AppendRespCommand(&command, {"DEL", key});
  size_t replies = 1;
  if (wait_replicas > 0) {
    const std::string n = std::to_string(wait_replicas);
    const std::string ms = std::to_string(wait_timeout_ms);
    AppendRespCommand(&command, {"WAIT", n, ms});
    ++replies;
  }
  Result<std::vector<RespValue>> got =
      co_await Execute(std::move(command), replies, deadline);
  if (!got.ok()) co_return got.status();
  co_return CheckWrite(*got, "DEL", wait_replicas, wait_timeout_ms);
}

Awaitable<Status> RedisClient::Ping(wire::Deadline deadline) {
  std::string command;
  AppendRespCommand(&command, {"PING"});
  Result<std::vector<RespValue>> got =
      co_await Execute(std::move(command), 1, deadline);
  if (!got.ok()) co_return got.status();
  const RespValue& reply = got->front();
  if (reply.type == RespValue::Type::kError)
    co_return RedisErrorStatus(reply.str);
  co_return Status::Ok();
}

}  // namespace shoal::tools
