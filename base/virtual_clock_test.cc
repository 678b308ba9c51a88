// VirtualClock: time moves only to the next event; timers and skew.
#include "base/virtual_clock.h"

#include <doctest/doctest.h>

#include <boost/asio.hpp>
#include <vector>

namespace shoal {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<void> Sleep(Clock& clock, Clock::Duration d,
                            std::vector<int>* order, int id) {
  Timer t(clock, co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  order->push_back(id);
}

TEST_CASE("virtual time moves only to the next event, timers fire in order") {
  VirtualClock clock;
  asio::io_context io;
  std::vector<int> order;
  const auto t0 = clock.Now();
  asio::co_spawn(io, Sleep(clock, 30ms, &order, 3), asio::detached);
  asio::co_spawn(io, Sleep(clock, 10ms, &order, 1), asio::detached);
  asio::co_spawn(io, Sleep(clock, 20ms, &order, 2), asio::detached);
  io.poll();
  CHECK(order.empty());
  CHECK(clock.scheduled() == 3);
  while (clock.RunNext()) {
    io.restart();
    io.poll();
  }
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK(clock.Now() - t0 == 30ms);
  CHECK(clock.WallMs() - 1'767'225'600'000 == 30);
}

TEST_CASE("a cancelled virtual wait completes at once with operation_aborted") {
  VirtualClock clock;
  asio::io_context io;
  Timer t(clock, io.get_executor());
  t.expires_after(1h);
  boost::system::error_code got;
  bool done = false;
  t.async_wait([&](boost::system::error_code ec) {
    got = ec;
    done = true;
  });
  CHECK(t.cancel() == 1);
  io.poll();
  CHECK(done);
  CHECK(got == asio::error::operation_aborted);
  CHECK(clock.scheduled() == 0);
  CHECK(clock.Elapsed() == Clock::Duration::zero());
}

TEST_CASE("a skewed clock moves the wall clock only") {
  VirtualClock base;
  SkewedClock skewed(base);
  skewed.set_skew_ms(-1500);
  CHECK(skewed.Now() == base.Now());
  CHECK(skewed.WallMs() == base.WallMs() - 1500);
}

}  // namespace
}  // namespace shoal
