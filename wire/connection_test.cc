// Tests for the limits a FramedConnection enforces on what it receives
// (wire/connection.h, doc/impl.md "Limits"): real sockets on 127.0.0.1, one
// io_context run by the test thread. The "client" side is a plain socket
// the test writes raw bytes to and reads replies from.
#include "wire/connection.h"

#include <doctest/doctest.h>

#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "wire/codec.h"

namespace shoal::wire {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kFrameCap = 16ull << 20;

// A server connection and the raw client socket on its other end.
struct Pair {
  asio::io_context io;
  tcp::socket client{io};
  std::shared_ptr<FramedConnection> server;
  std::vector<Message> received;      // every frame handed on
  std::deque<RequestTicket> tickets;  // held: requests "in flight"
  bool hold_tickets = false;
  std::optional<Status> closed;  // set by the close handler
  std::vector<ConnectionLimits::Event> events;

  explicit Pair(ConnectionLimits limits) {
    tcp::acceptor acceptor(
        io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client.connect(acceptor.local_endpoint());
    tcp::socket accepted(io);
    acceptor.accept(accepted);
    limits.observe = [this](ConnectionLimits::Event e) { events.push_back(e); };
    server = std::make_shared<FramedConnection>(std::move(accepted), kFrameCap,
                                                std::move(limits));
    server->Start(
        [this](Message m, RequestTicket t) {
          received.push_back(std::move(m));
          if (hold_tickets) tickets.push_back(std::move(t));
        },
        [this](const Status& why) { closed = why; });
  }

  // Runs the io_context until `done` or `limit` passes; returns done().
  bool RunUntil(const std::function<bool()>& done,
                std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (!done() && Clock::now() < end) {
      io.run_for(5ms);
      io.restart();
    }
    return done();
  }
  void Run(std::chrono::milliseconds d) {
    RunUntil([] { return false; }, d);
  }

  void SendRaw(const std::vector<uint8_t>& bytes) {
    asio::write(client, asio::buffer(bytes));
  }
  void SendFrame(const Message& m) {
    std::vector<uint8_t> out;
    AppendFrame(m, out);
    SendRaw(out);
  }
  // True once the server closed its end (the client reads EOF).
  bool ClientSeesClose() {
    client.non_blocking(true);
    std::vector<uint8_t> scratch(1 << 16);
    boost::system::error_code ec;
    for (;;) {
      client.read_some(asio::buffer(scratch), ec);
      if (ec == asio::error::would_block) return false;
      if (ec) return true;  // eof or reset
    }
  }
};

std::vector<uint8_t> HeaderOf(uint32_t length) {
  std::vector<uint8_t> h(4);
  for (int i = 0; i < 4; ++i) h[i] = static_cast<uint8_t>(length >> (8 * i));
  return h;
}

TEST_CASE(
    "a header announcing a large frame allocates nothing, and the frame "
    "deadline closes the stalled connection") {
  ConnectionLimits limits;
  limits.frame_timeout = 300ms;
  Pair p(limits);
  // Just under the cap, then nothing more.
  const uint32_t announced = static_cast<uint32_t>(kFrameCap - 8);
  auto bytes = HeaderOf(announced);
  bytes.resize(8, 0);  // and four bytes of body
  p.SendRaw(bytes);
  p.Run(100ms);
  CHECK(p.server->open());
  CHECK(p.server->buffer_bytes() <= 4096);  // what any connection starts with
  REQUIRE(p.RunUntil([&] { return p.closed.has_value(); }, 2000ms));
  CHECK(p.closed->code() == Code::kTimeout);
  CHECK(p.closed->message().find("did not complete") != std::string::npos);
  CHECK(std::count(p.events.begin(), p.events.end(),
                   ConnectionLimits::Event::kFrameTimeout) == 1);
  CHECK(p.ClientSeesClose());
}

TEST_CASE(
    "the receive buffer grows with the bytes that arrive, at most "
    "doubling, and a whole large frame is still received") {
  ConnectionLimits limits;
  limits.frame_timeout = 5000ms;
  Pair p(limits);
  // A put with a 1 MiB value.
  PutRequest put;
  put.key = "k";
  put.value = std::string(1 << 20, 'v');
  std::vector<uint8_t> frame;
  AppendFrame(Message{7, put}, frame);
  // First 100 KiB only.
  std::vector<uint8_t> first(frame.begin(), frame.begin() + (100 << 10));
  p.SendRaw(first);
  p.Run(100ms);
  CHECK(p.received.empty());
  CHECK(p.server->buffer_bytes() <= 2 * first.size());
  CHECK(p.server->buffer_bytes() >= first.size());
  std::vector<uint8_t> rest(frame.begin() + (100 << 10), frame.end());
  p.SendRaw(rest);
  REQUIRE(p.RunUntil([&] { return !p.received.empty(); }, 2000ms));
  CHECK(p.received[0].id == 7);
  CHECK(std::get<PutRequest>(p.received[0].body).value.size() == (1u << 20));
  // The room the big frame needed is given back.
  p.SendFrame(Message{8, Ping{}});
  REQUIRE(p.RunUntil([&] { return p.received.size() == 2; }, 2000ms));
  CHECK(p.server->buffer_bytes() <= 64 * 1024);
}

TEST_CASE(
    "at max_in_flight the connection stops handing on requests until "
    "one finishes") {
  ConnectionLimits limits;
  limits.max_in_flight = 3;
  Pair p(limits);
  p.hold_tickets = true;
  for (uint64_t id = 1; id <= 10; ++id) p.SendFrame(Message{id, Ping{}});
  p.Run(200ms);
  CHECK(p.received.size() == 3);
  CHECK(p.server->in_flight() == 3);
  CHECK(std::count(p.events.begin(), p.events.end(),
                   ConnectionLimits::Event::kPausedInFlight) >= 1);
  p.tickets.pop_front();  // one request answered
  REQUIRE(p.RunUntil([&] { return p.received.size() == 4; }, 1000ms));
  p.Run(50ms);
  CHECK(p.received.size() == 4);
  p.hold_tickets = false;
  p.tickets.clear();
  REQUIRE(p.RunUntil([&] { return p.received.size() == 10; }, 1000ms));
  for (uint64_t i = 0; i < 10; ++i) CHECK(p.received[i].id == i + 1);
  CHECK(p.server->in_flight() == 0);
}

TEST_CASE("a peer's connection (labelled) is not held to client limits") {
  ConnectionLimits limits;
  limits.max_in_flight = 1;
  limits.idle_timeout = 100ms;
  Pair p(limits);
  p.server->set_label("n2");
  p.hold_tickets = true;
  for (uint64_t id = 1; id <= 5; ++id) p.SendFrame(Message{id, Ping{}});
  REQUIRE(p.RunUntil([&] { return p.received.size() == 5; }, 1000ms));
  p.tickets.clear();
  p.Run(400ms);  // idle well past idle_timeout
  CHECK(p.server->open());
}

TEST_CASE(
    "an idle client connection is closed after idle_timeout, a busy one "
    "is not") {
  ConnectionLimits limits;
  limits.idle_timeout = 300ms;
  Pair p(limits);
  // Busy: a frame every 100 ms for 600 ms.
  for (int i = 0; i < 6; ++i) {
    p.SendFrame(Message{static_cast<uint64_t>(i + 1), Ping{}});
    p.Run(100ms);
  }
  CHECK(p.server->open());
  // A request in flight is not idleness either.
  p.hold_tickets = true;
  p.SendFrame(Message{99, Ping{}});
  p.Run(600ms);
  CHECK(p.server->open());
  p.tickets.clear();
  REQUIRE(p.RunUntil([&] { return p.closed.has_value(); }, 2000ms));
  CHECK(p.closed->message().find("idle") != std::string::npos);
  CHECK(std::count(p.events.begin(), p.events.end(),
                   ConnectionLimits::Event::kIdleTimeout) == 1);
}

TEST_CASE("a used-up byte budget stops reading until bytes are released") {
  ConnectionLimits limits;
  auto budget = std::make_shared<ByteBudget>(1000);
  limits.budget = budget;
  Pair p(limits);
  p.hold_tickets = true;
  // Someone else holds the whole budget.
  budget->Force(1000);
  REQUIRE(budget->exhausted());
  p.SendFrame(Message{1, Ping{}});
  p.Run(200ms);
  CHECK(p.received.empty());
  CHECK(std::count(p.events.begin(), p.events.end(),
                   ConnectionLimits::Event::kPausedBudget) >= 1);
  budget->Release(1000);
  REQUIRE(p.RunUntil([&] { return p.received.size() == 1; }, 1000ms));
  // The request's frame is charged while its ticket lives.
  CHECK(budget->used() > 0);
  p.tickets.clear();
  CHECK(budget->used() == 0);
}

TEST_CASE(
    "ByteBudget takes what fits, forces what must, wakes waiters once "
    "below the limit") {
  ByteBudget b(100);
  CHECK(b.TryAcquire(60));
  CHECK_FALSE(b.TryAcquire(50));
  CHECK(b.used() == 60);
  b.Force(50);
  CHECK(b.exhausted());
  int woken = 0;
  const uint64_t h1 = b.Wait([&] { ++woken; });
  b.Wait([&] { ++woken; });
  const uint64_t h3 = b.Wait([&] { woken += 100; });
  b.Cancel(h3);
  b.Release(5);  // 105: still over
  CHECK(woken == 0);
  b.Release(50);  // 55: below
  CHECK(woken == 2);
  b.Release(10);
  CHECK(woken == 2);  // each waiter runs once
  (void)h1;
  CHECK(ByteBudget(0).TryAcquire(1ull << 40));  // 0 = no limit
}

TEST_CASE("a malformed header gets an error reply and the connection closes") {
  ConnectionLimits limits;
  Pair p(limits);
  p.SendRaw(HeaderOf(7));  // not a multiple of 8
  REQUIRE(p.RunUntil([&] { return p.closed.has_value(); }, 1000ms));
  CHECK(std::count(p.events.begin(), p.events.end(),
                   ConnectionLimits::Event::kBadFrame) == 1);
}

}  // namespace
}  // namespace shoal::wire
