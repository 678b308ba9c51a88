// A minimal Redis client for `shoal bench --target redis://HOST:PORT`: the
// RESP2 protocol over one TCP connection, on the same Asio coroutine
// machinery as wire/connection.h.
//
// RespParser turns a byte stream into RESP2 values incrementally (a value
// split across reads waits for the rest). RedisClient pipelines: requests
// are written back to back as they come, and replies are matched to
// requests first-in first-out, which is how Redis answers on one
// connection. A reply to a request whose caller timed out is read and
// dropped, so the matching stays in step.
//
// Errors are values (never exceptions): kUnavailable (cannot connect,
// connection lost), kTimeout (deadline), kCorruption (the server sent bytes
// that are not RESP2; the connection is closed and every pending call
// fails), and the server's own error replies, mapped by their prefix
// (RedisErrorStatus).
//
// Threads: a RedisClient lives on one io_context thread; not thread-safe.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "wire/connection.h"

namespace shoal::tools {

namespace asio = boost::asio;
using wire::Awaitable;

// One RESP2 value.
struct RespValue {
  enum class Type {
    kSimpleString,  // +OK
    kError,         // -ERR message (text in `str`)
    kInteger,       // :42
    kBulkString,    // $3\r\nfoo
    kNull,          // $-1 (null bulk string) or *-1 (null array)
    kArray,         // *2\r\n...
  };
  Type type = Type::kNull;
  std::string str;  // simple string, error text or bulk bytes
  int64_t integer = 0;
  std::vector<RespValue> elements;
};

// Incremental RESP2 parser. Feed() bytes as they arrive; Next() returns
// the values in order.
class RespParser {
 public:
  // Limits, so a bad peer cannot make the parser allocate without bound.
  static constexpr int64_t kMaxBulkBytes = 512ll << 20;  // Redis's own cap
  static constexpr int64_t kMaxArrayElements = 1 << 20;
  static constexpr size_t kMaxLineBytes = 64 * 1024;
  static constexpr int kMaxDepth = 8;

  enum class Outcome { kValue, kNeedMore, kError };

  void Feed(std::string_view bytes);
  // kValue: `*out` holds the next value, its bytes consumed. kNeedMore:
  // nothing consumed. kError: `*error` says what is wrong; the stream is
  // unusable from there on (every later call returns kError).
  Outcome Next(RespValue* out, std::string* error);
  // Bytes received but not yet returned as values.
  size_t buffered() const { return buffer_.size() - pos_; }

 private:
  // Parses one value at buffer_[*pos]; on kValue advances *pos past it.
  Outcome ParseAt(size_t* pos, int depth, RespValue* out, std::string* error);
  // The line at *pos (without CRLF); kNeedMore when no CRLF yet.
  Outcome ReadLine(size_t* pos, std::string_view* line, std::string* error);

  std::string buffer_;
  size_t pos_ = 0;
  std::string error_;  // set once the stream is broken
};

// Parses a RESP2 integer line ("-12", "0"): strict decimal, no sign but
// '-', no overflow. Exposed for tests.
bool ParseRespInteger(std::string_view text, int64_t* out);

// Appends one command (a RESP array of bulk strings) to `out`.
void AppendRespCommand(std::string* out,
                       std::initializer_list<std::string_view> args);

// A server error reply ("ERR ...", "NOREPLICAS ...") as a Status: LOADING,
// MASTERDOWN, NOREPLICAS, READONLY, TRYAGAIN -> kUnavailable; BUSY ->
// kOverloaded; OOM -> kStorageFull; anything else -> kInternal. The message
// starts with "redis: ".
Status RedisErrorStatus(std::string_view text);

class RedisClient {
 public:
  struct Options {
    std::string address;  // host:port
    std::chrono::milliseconds connect_timeout{1000};
    // After a failed connect, calls fail fast for this long.
    std::chrono::milliseconds retry_backoff{200};
  };

  RedisClient(asio::any_io_executor executor, Options options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Sends `commands` (one or more RESP commands, e.g. from
  // AppendRespCommand) and waits for `replies` replies, which are returned
  // in order. Server error replies are returned as values (type kError),
  // not as a failed Result. Errors: kUnavailable, kTimeout, kCorruption.
  Awaitable<Result<std::vector<RespValue>>> Execute(std::string commands,
                                                    size_t replies,
                                                    wire::Deadline deadline);

  // Typed commands. Get: found=false for a missing key. Set and Del with
  // `wait_replicas` > 0 also send `WAIT wait_replicas wait_timeout_ms` in
  // the same write; fewer acknowledgements than asked is kTimeout (with
  // QuorumInfo, maybe_applied: the primary did apply it).
  struct GetReply {
    bool found = false;
    std::string value;
  };
  Awaitable<Result<GetReply>> Get(std::string key, wire::Deadline deadline);
  Awaitable<Status> Set(std::string key, std::string value,
                        uint32_t wait_replicas, uint32_t wait_timeout_ms,
                        wire::Deadline deadline);
  Awaitable<Status> Del(std::string key, uint32_t wait_replicas,
                        uint32_t wait_timeout_ms, wire::Deadline deadline);
  Awaitable<Status> Ping(wire::Deadline deadline);

  const std::string& address() const { return options_.address; }
  bool connected() const;

 private:
  struct Call;
  struct Connection;

  Awaitable<Status> Connect(wire::Deadline deadline);
  Awaitable<Status> ConnectOnce(wire::Deadline deadline);

  asio::any_io_executor executor_;
  Options options_;
  // Shared with the connection's reader and writer coroutines, which keep
  // it alive until they end (as wire::FramedConnection is).
  std::shared_ptr<Connection> conn_;
  bool connecting_ = false;
  std::vector<asio::steady_timer*> connect_waiters_;
  wire::Clock::time_point retry_after_{};
  Status last_error_;
};

}  // namespace shoal::tools
