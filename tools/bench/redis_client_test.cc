// RESP2 parsing on canned byte streams (every type, values split across
// reads at every byte, malformed input), command encoding, error mapping,
// and RedisClient against an in-process fake server: FIFO matching of
// pipelined replies, WAIT, and a parse error failing calls cleanly.
#include "tools/bench/redis_client.h"

#include <doctest/doctest.h>

#include <optional>

namespace shoal::tools {
namespace {

using Type = RespValue::Type;
using Outcome = RespParser::Outcome;

// Parses `bytes` fed in one piece; returns every value (REQUIREs no error).
std::vector<RespValue> ParseAll(std::string_view bytes) {
  RespParser parser;
  parser.Feed(bytes);
  std::vector<RespValue> out;
  for (;;) {
    RespValue v;
    std::string error;
    const Outcome o = parser.Next(&v, &error);
    REQUIRE_MESSAGE(o != Outcome::kError, error);
    if (o == Outcome::kNeedMore) break;
    out.push_back(std::move(v));
  }
  CHECK(parser.buffered() == 0);
  return out;
}

// The error for `bytes`, or "" when none.
std::string ParseError(std::string_view bytes) {
  RespParser parser;
  parser.Feed(bytes);
  for (;;) {
    RespValue v;
    std::string error;
    const Outcome o = parser.Next(&v, &error);
    if (o == Outcome::kError) {
      // The stream stays broken.
      std::string again;
      CHECK(parser.Next(&v, &again) == Outcome::kError);
      return error;
    }
    if (o == Outcome::kNeedMore) return "";
  }
}

TEST_CASE("RESP2: simple string, error, integer, bulk, null bulk, array") {
  std::vector<RespValue> v = ParseAll(
      "+OK\r\n"
      "-ERR unknown command 'FOO'\r\n"
      ":42\r\n"
      ":-7\r\n"
      "$5\r\nhello\r\n"
      "$0\r\n\r\n"
      "$-1\r\n"
      "*2\r\n$3\r\nfoo\r\n:1\r\n"
      "*-1\r\n"
      "*0\r\n");
  REQUIRE(v.size() == 10);
  CHECK(v[0].type == Type::kSimpleString);
  CHECK(v[0].str == "OK");
  CHECK(v[1].type == Type::kError);
  CHECK(v[1].str == "ERR unknown command 'FOO'");
  CHECK(v[2].type == Type::kInteger);
  CHECK(v[2].integer == 42);
  CHECK(v[3].integer == -7);
  CHECK(v[4].type == Type::kBulkString);
  CHECK(v[4].str == "hello");
  CHECK(v[5].type == Type::kBulkString);
  CHECK(v[5].str.empty());
  CHECK(v[6].type == Type::kNull);
  CHECK(v[7].type == Type::kArray);
  REQUIRE(v[7].elements.size() == 2);
  CHECK(v[7].elements[0].str == "foo");
  CHECK(v[7].elements[1].integer == 1);
  CHECK(v[8].type == Type::kNull);
  CHECK(v[9].type == Type::kArray);
  CHECK(v[9].elements.empty());
}

TEST_CASE("RESP2: bulk strings are binary-safe") {
  const std::string payload("a\r\nb\0c", 6);
  std::vector<RespValue> v = ParseAll("$6\r\n" + payload + "\r\n");
  REQUIRE(v.size() == 1);
  CHECK(v[0].str == payload);
}

TEST_CASE("RESP2: a stream split at every byte gives the same values") {
  const std::string stream =
      "+OK\r\n:12345\r\n$11\r\nhello world\r\n$-1\r\n-WRONGTYPE x\r\n"
      "*3\r\n$1\r\na\r\n*1\r\n:5\r\n$-1\r\n";
  const std::vector<RespValue> whole = ParseAll(stream);
  REQUIRE(whole.size() == 6);
  for (size_t cut1 = 0; cut1 <= stream.size(); ++cut1) {
    for (size_t cut2 = cut1; cut2 <= stream.size(); cut2 += 7) {
      RespParser parser;
      std::vector<RespValue> got;
      auto drain = [&] {
        for (;;) {
          RespValue v;
          std::string error;
          const Outcome o = parser.Next(&v, &error);
          REQUIRE(o != Outcome::kError);
          if (o == Outcome::kNeedMore) return;
          got.push_back(std::move(v));
        }
      };
      parser.Feed(std::string_view(stream).substr(0, cut1));
      drain();
      parser.Feed(std::string_view(stream).substr(cut1, cut2 - cut1));
      drain();
      parser.Feed(std::string_view(stream).substr(cut2));
      drain();
      REQUIRE(got.size() == whole.size());
      for (size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].type == whole[i].type);
        CHECK(got[i].str == whole[i].str);
        CHECK(got[i].integer == whole[i].integer);
        CHECK(got[i].elements.size() == whole[i].elements.size());
      }
    }
  }
}

TEST_CASE("RESP2: an incomplete value consumes nothing") {
  RespParser parser;
  parser.Feed("$11\r\nhel");
  RespValue v;
  std::string error;
  CHECK(parser.Next(&v, &error) == Outcome::kNeedMore);
  CHECK(parser.buffered() == 8);
  parser.Feed("lo worl");
  CHECK(parser.Next(&v, &error) == Outcome::kNeedMore);
  parser.Feed("d\r");
  CHECK(parser.Next(&v, &error) == Outcome::kNeedMore);
  parser.Feed("\n:1");
  REQUIRE(parser.Next(&v, &error) == Outcome::kValue);
  CHECK(v.str == "hello world");
  CHECK(parser.Next(&v, &error) == Outcome::kNeedMore);
  CHECK(parser.buffered() == 2);
}

TEST_CASE("RESP2: malformed input is an error, not a crash") {
  CHECK(ParseError("!oops\r\n").find("unexpected byte 0x21") !=
        std::string::npos);
  CHECK(ParseError("+OK\n").find("CRLF") != std::string::npos);
  CHECK(ParseError(":12a\r\n").find("bad RESP integer") != std::string::npos);
  CHECK(ParseError(":\r\n").find("bad RESP integer") != std::string::npos);
  CHECK(ParseError(":99999999999999999999\r\n").find("bad RESP integer") !=
        std::string::npos);
  CHECK(ParseError("$-2\r\n").find("bulk string length") != std::string::npos);
  CHECK(ParseError("$abc\r\n").find("bulk string length") != std::string::npos);
  CHECK(ParseError("$3\r\nabcde\r\n").find("not followed by CRLF") !=
        std::string::npos);
  CHECK(ParseError("$99999999999\r\n").find("bulk string length") !=
        std::string::npos);
  CHECK(ParseError("*-5\r\n").find("array length") != std::string::npos);
  CHECK(ParseError("*1\r\n?\r\n").find("unexpected byte") != std::string::npos);
  CHECK(ParseError(std::string(70 * 1024, 'x')).find("unexpected byte") !=
        std::string::npos);
  CHECK(ParseError("+" + std::string(70 * 1024, 'x')).find("longer than") !=
        std::string::npos);
  std::string deep;
  for (int i = 0; i < 20; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  CHECK(ParseError(deep).find("nested deeper") != std::string::npos);
  // A value after a good one: the good one is still returned first.
  RespParser parser;
  parser.Feed("+OK\r\n%bad\r\n");
  RespValue v;
  std::string error;
  CHECK(parser.Next(&v, &error) == Outcome::kValue);
  CHECK(parser.Next(&v, &error) == Outcome::kError);
}

TEST_CASE("RESP2: integers are strict") {
  int64_t v = 0;
  CHECK(ParseRespInteger("0", &v));
  CHECK(v == 0);
  CHECK(ParseRespInteger("-9223372036854775808", &v));
  CHECK(v == INT64_MIN);
  CHECK_FALSE(ParseRespInteger("", &v));
  CHECK_FALSE(ParseRespInteger("+1", &v));
  CHECK_FALSE(ParseRespInteger(" 1", &v));
  CHECK_FALSE(ParseRespInteger("1 ", &v));
  CHECK_FALSE(ParseRespInteger("9223372036854775808", &v));
}

TEST_CASE("commands are arrays of bulk strings") {
  std::string out;
  AppendRespCommand(&out, {"SET", "k", std::string_view("a\0b", 3)});
  AppendRespCommand(&out, {"GET", ""});
  CHECK(out == std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\0b\r\n"
                           "*2\r\n$3\r\nGET\r\n$0\r\n\r\n",
                           48));
}

TEST_CASE("server errors map to codes by their prefix") {
  CHECK(RedisErrorStatus("NOREPLICAS Not enough good replicas").code() ==
        Code::kUnavailable);
  CHECK(RedisErrorStatus("READONLY You can't write against a replica").code() ==
        Code::kUnavailable);
  CHECK(RedisErrorStatus("LOADING Redis is loading").code() ==
        Code::kUnavailable);
  CHECK(RedisErrorStatus("BUSY script").code() == Code::kOverloaded);
  CHECK(RedisErrorStatus("OOM command not allowed").code() ==
        Code::kStorageFull);
  const Status other = RedisErrorStatus("ERR wrong number of arguments");
  CHECK(other.code() == Code::kInternal);
  CHECK(other.message() == "redis: ERR wrong number of arguments");
  CHECK(RedisErrorStatus("BUSYKEY x").code() == Code::kInternal);
}

// ---- RedisClient against a fake server ----

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// Accepts one connection, reads `expect` bytes of commands, then writes
// each of `chunks` as a separate write (with a yield in between).
Awaitable<void> FakeServer(tcp::acceptor* acceptor, size_t expect,
                           std::vector<std::string> chunks,
                           std::string* received) {
  auto [ec, socket] = co_await acceptor->async_accept(kAsTuple);
  if (ec) co_return;
  std::vector<char> buf(4096);
  while (received->size() < expect) {
    auto [rec, n] =
        co_await socket.async_read_some(asio::buffer(buf), kAsTuple);
    if (rec) co_return;
    received->append(buf.data(), n);
  }
  for (const std::string& chunk : chunks) {
    auto [wec, n] =
        co_await asio::async_write(socket, asio::buffer(chunk), kAsTuple);
    if (wec) co_return;
    asio::steady_timer pause(socket.get_executor());
    pause.expires_after(std::chrono::milliseconds(2));
    co_await pause.async_wait(kAsTuple);
  }
  // Keep the connection open until the client is done.
  asio::steady_timer linger(socket.get_executor());
  linger.expires_after(std::chrono::milliseconds(200));
  co_await linger.async_wait(kAsTuple);
}

struct ClientOutcome {
  std::optional<Result<RedisClient::GetReply>> get1, get2;
  std::optional<Status> set;
};

Awaitable<void> GetInto(RedisClient* client, std::string key,
                        std::optional<Result<RedisClient::GetReply>>* out) {
  const wire::Deadline deadline = wire::Clock::now() + std::chrono::seconds(5);
  Result<RedisClient::GetReply> r =
      co_await client->Get(std::move(key), deadline);
  out->emplace(std::move(r));
}

Awaitable<void> SetInto(RedisClient* client, std::optional<Status>* out,
                        uint32_t wait) {
  const wire::Deadline deadline = wire::Clock::now() + std::chrono::seconds(5);
  std::string key = "k";
  std::string value = "v";
  Status st = co_await client->Set(std::move(key), std::move(value), wait, 100,
                                   deadline);
  out->emplace(std::move(st));
}

// Runs three pipelined calls (get a, set k=v [+ WAIT], get b) against a
// fake server answering with `chunks`.
ClientOutcome RunAgainst(std::vector<std::string> chunks, uint32_t wait,
                         std::string* received) {
  asio::io_context io;
  tcp::acceptor acceptor(io,
                         tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t port = acceptor.local_endpoint().port();
  std::string expect;
  AppendRespCommand(&expect, {"GET", "a"});
  AppendRespCommand(&expect, {"SET", "k", "v"});
  if (wait > 0)
    AppendRespCommand(&expect, {"WAIT", std::to_string(wait), "100"});
  AppendRespCommand(&expect, {"GET", "b"});
  asio::co_spawn(
      io, FakeServer(&acceptor, expect.size(), std::move(chunks), received),
      asio::detached);
  RedisClient::Options options;
  options.address = "127.0.0.1:" + std::to_string(port);
  RedisClient client(io.get_executor(), options);
  ClientOutcome out;
  // All three are issued in the same turn: they share one write.
  asio::co_spawn(io, GetInto(&client, "a", &out.get1), asio::detached);
  asio::co_spawn(io, SetInto(&client, &out.set, wait), asio::detached);
  asio::co_spawn(io, GetInto(&client, "b", &out.get2), asio::detached);
  io.run_for(std::chrono::seconds(5));
  CHECK(*received == expect);
  return out;
}

TEST_CASE("RedisClient: pipelined replies are matched first in, first out") {
  std::string received;
  // The replies arrive split in awkward places.
  ClientOutcome out =
      RunAgainst({"$3\r\nfo", "o\r\n+O", "K\r\n$", "-1\r\n"}, 0, &received);
  REQUIRE(out.get1.has_value());
  REQUIRE(out.get1->ok());
  CHECK((*out.get1)->found);
  CHECK((*out.get1)->value == "foo");
  REQUIRE(out.set.has_value());
  CHECK(out.set->ok());
  REQUIRE(out.get2.has_value());
  REQUIRE(out.get2->ok());
  CHECK_FALSE((*out.get2)->found);  // a missing key is a successful read
}

TEST_CASE("RedisClient: WAIT with too few replicas is a timeout") {
  std::string received;
  ClientOutcome out =
      RunAgainst({"$-1\r\n+OK\r\n:0\r\n$1\r\nx\r\n"}, 1, &received);
  REQUIRE(out.set.has_value());
  CHECK(out.set->code() == Code::kTimeout);
  REQUIRE(out.set->quorum().has_value());
  CHECK(out.set->quorum()->acked == 0);
  CHECK(out.set->quorum()->required == 1);
  CHECK(out.set->quorum()->maybe_applied);
  REQUIRE(out.get2.has_value());
  REQUIRE(out.get2->ok());
  CHECK((*out.get2)->value == "x");
}

TEST_CASE("RedisClient: a RESP parse error fails the pending calls cleanly") {
  std::string received;
  ClientOutcome out = RunAgainst({"+OK\r\n", "!garbage\r\n"}, 0, &received);
  // The first reply was fine (a simple string is not a GET reply type).
  REQUIRE(out.get1.has_value());
  REQUIRE_FALSE(out.get1->ok());
  CHECK(out.get1->status().code() == Code::kInternal);
  REQUIRE(out.set.has_value());
  CHECK(out.set->code() == Code::kCorruption);
  CHECK(out.set->message().find("bad RESP") != std::string::npos);
  REQUIRE(out.get2.has_value());
  CHECK(out.get2->status().code() == Code::kCorruption);
}

TEST_CASE("RedisClient: nothing listening is unavailable") {
  asio::io_context io;
  // Bind then close to get a port that is (very likely) free.
  uint16_t port = 0;
  {
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  RedisClient::Options options;
  options.address = "127.0.0.1:" + std::to_string(port);
  RedisClient client(io.get_executor(), options);
  std::optional<Result<RedisClient::GetReply>> got;
  asio::co_spawn(io, GetInto(&client, "a", &got), asio::detached);
  io.run_for(std::chrono::seconds(5));
  REQUIRE(got.has_value());
  CHECK(got->status().code() == Code::kUnavailable);
}

}  // namespace
}  // namespace shoal::tools
