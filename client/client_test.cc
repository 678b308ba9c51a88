// Unit tests for the client library. Linked against shoal::client alone:
// that it builds and links is part of the test (a third party links only
// this library).
#include "client/client.h"

#include <doctest/doctest.h>

#include <boost/asio.hpp>
#include <exception>
#include <optional>

namespace shoal::client {
namespace {

quorum::Sibling MakeSibling(uint64_t actor, uint64_t counter, std::string value,
                            bool tombstone = false) {
  quorum::Sibling s;
  s.dot = {actor, counter};
  s.tombstone = tombstone;
  s.value = std::move(value);
  return s;
}

TEST_CASE("a get reply becomes the live values, the context and the object") {
  quorum::Object object;
  object.siblings = {MakeSibling(1, 1, "a"), MakeSibling(2, 1, "", true),
                     MakeSibling(3, 1, "c")};
  const GetResult result =
      ToGetResult(wire::GetReply{.object = object, .context = "ctx"});
  CHECK(result.found);
  REQUIRE(result.values.size() == 2);
  CHECK(result.values[0].value == "a");
  CHECK(result.values[1].value == "c");
  CHECK(result.context == "ctx");
  CHECK(result.object.siblings.size() == 3);  // the tombstone too

  const GetResult deleted = ToGetResult(wire::GetReply{
      .object = quorum::Object{.siblings = {MakeSibling(2, 1, "", true)}},
      .context = "ctx"});
  CHECK_FALSE(deleted.found);
  CHECK(deleted.values.empty());
}

TEST_CASE("a put reply keeps its context and sibling count") {
  const PutResult one =
      ToPutResult(wire::PutReply{.context = "c", .siblings = 1});
  CHECK(one.context == "c");
  CHECK(one.siblings == 1);
  const PutResult three =
      ToPutResult(wire::PutReply{.context = "", .siblings = 3});
  CHECK(three.context.empty());
  CHECK(three.siblings == 3);
}

TEST_CASE("a call to a closed port fails instead of hanging") {
  boost::asio::io_context io;
  Client client(io.get_executor(), "127.0.0.1:1");
  CHECK(client.address() == "127.0.0.1:1");
  std::optional<Result<GetResult>> got;
  boost::asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        got = co_await client.Get("k", GetOptions{.timeout_ms = 100});
      },
      [&](std::exception_ptr) { io.stop(); });
  io.run_for(std::chrono::seconds(10));
  REQUIRE(got.has_value());
  REQUIRE_FALSE(got->ok());
  CHECK((got->status().code() == Code::kUnavailable ||
         got->status().code() == Code::kTimeout));
}

}  // namespace
}  // namespace shoal::client
