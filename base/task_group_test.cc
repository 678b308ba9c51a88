#include "base/task_group.h"

#include <doctest/doctest.h>

#include <boost/asio.hpp>
#include <chrono>
#include <stdexcept>

#include "base/clock.h"

namespace shoal {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// Coroutines take what they use as parameters: a lambda coroutine's
// captures die with the lambda, before the coroutine has finished.
asio::awaitable<void> SleepThenCount(Clock& clock, std::chrono::milliseconds d,
                                     int* done) {
  Timer t(clock, co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(kAsTuple);
  ++*done;
}

struct Unwind {
  int* count;
  ~Unwind() { ++*count; }
};

asio::awaitable<void> WaitTwiceForAnHour(Clock& clock, int* woke_normally,
                                         int* unwound) {
  Unwind u{unwound};
  Timer t(clock, co_await asio::this_coro::executor);
  t.expires_after(1h);
  auto [ec] = co_await t.async_wait(kAsTuple);
  CHECK(ec == asio::error::operation_aborted);
  // Awaiting again after a cancellation throws: the task unwinds.
  t.expires_after(1h);
  co_await t.async_wait(kAsTuple);
  ++*woke_normally;
}

asio::awaitable<void> WaitThenSet(TaskGroup* group, bool* waited) {
  co_await group->Wait();
  *waited = true;
}

asio::awaitable<void> CancelSoon(asio::io_context* io, TaskGroup* group) {
  asio::steady_timer soon(*io, 10ms);
  co_await soon.async_wait(kAsTuple);
  group->Cancel();
  co_await group->Wait();
}

asio::awaitable<void> Throw() {
  throw std::runtime_error("boom");
  co_return;
}

asio::awaitable<void> Nothing() { co_return; }

asio::awaitable<void> SetFlag(bool* flag) {
  *flag = true;
  co_return;
}

TEST_CASE("a task group runs its tasks and Wait returns when all are done") {
  asio::io_context io;
  TaskGroup group(io.get_executor());
  SystemClock clock;
  int done = 0;
  for (int i = 0; i < 5; ++i) {
    group.Spawn(SleepThenCount(clock, std::chrono::milliseconds(5 * i), &done));
  }
  CHECK(group.running() == 5);
  bool waited = false;
  asio::co_spawn(io, WaitThenSet(&group, &waited), asio::detached);
  io.run();
  CHECK(done == 5);
  CHECK(waited);
  CHECK(group.running() == 0);
  CHECK_FALSE(group.error());
}

TEST_CASE("Cancel ends tasks suspended in a wait, and nothing new starts") {
  asio::io_context io;
  SystemClock clock;
  TaskGroup group(io.get_executor());
  int woke_normally = 0, unwound = 0;
  for (int i = 0; i < 3; ++i) {
    group.Spawn(WaitTwiceForAnHour(clock, &woke_normally, &unwound));
  }
  const auto start = std::chrono::steady_clock::now();
  asio::co_spawn(io, CancelSoon(&io, &group), asio::detached);
  io.run();
  CHECK(std::chrono::steady_clock::now() - start < 10s);
  CHECK(woke_normally == 0);
  CHECK(unwound == 3);
  CHECK(group.running() == 0);
  CHECK_FALSE(group.error());  // operation_aborted is not an error
  CHECK(group.cancelled());
  bool ran = false;
  group.Spawn(SetFlag(&ran));
  io.restart();
  io.run();
  CHECK_FALSE(ran);
}

TEST_CASE("tasks spawned after others finished are still cancelled") {
  // Finished tasks' slots are reused: a reused one must carry the new
  // task's cancellation, not the finished one's.
  asio::io_context io;
  SystemClock clock;
  TaskGroup group(io.get_executor());
  int done = 0;
  for (int i = 0; i < 4; ++i) group.Spawn(SleepThenCount(clock, 1ms, &done));
  io.run();
  REQUIRE(done == 4);
  REQUIRE(group.running() == 0);
  int woke_normally = 0, unwound = 0;
  for (int i = 0; i < 6; ++i) {
    group.Spawn(WaitTwiceForAnHour(clock, &woke_normally, &unwound));
  }
  CHECK(group.running() == 6);
  const auto start = std::chrono::steady_clock::now();
  asio::co_spawn(io, CancelSoon(&io, &group), asio::detached);
  io.restart();
  io.run();
  CHECK(std::chrono::steady_clock::now() - start < 10s);
  CHECK(woke_normally == 0);
  CHECK(unwound == 6);
  CHECK(group.running() == 0);
  CHECK_FALSE(group.error());
}

TEST_CASE("the first unexpected exception of a task is kept") {
  asio::io_context io;
  TaskGroup group(io.get_executor());
  group.Spawn(Throw());
  group.Spawn(Nothing());
  io.run();
  REQUIRE(group.error());
  try {
    std::rethrow_exception(group.error());
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == "boom");
  }
}

TEST_CASE("a Timer on the system clock expires, and cancel aborts its wait") {
  asio::io_context io;
  SystemClock clock;
  Timer t(clock, io.get_executor());
  const auto start = clock.Now();
  t.expires_after(20ms);
  CHECK(t.expiry() >= start + 20ms);
  boost::system::error_code first;
  t.async_wait([&](boost::system::error_code ec) { first = ec; });
  io.run();
  CHECK_FALSE(first);
  CHECK(clock.Now() - start >= 20ms);

  t.expires_after(1h);
  boost::system::error_code second;
  t.async_wait([&](boost::system::error_code ec) { second = ec; });
  CHECK(t.cancel() == 1);
  io.restart();
  io.run();
  CHECK(second == asio::error::operation_aborted);
  const int64_t wall = clock.WallMs();
  CHECK(wall > 1'700'000'000'000);  // after 2023
}

}  // namespace
}  // namespace shoal
