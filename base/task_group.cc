#include "base/task_group.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <iterator>

#include "base/assert.h"

namespace shoal {

namespace asio = boost::asio;

TaskGroup::TaskGroup(asio::any_io_executor executor)
    : executor_(executor), idle_(executor) {}

TaskGroup::~TaskGroup() {
  SHOAL_REQUIRE(tasks_.empty(),
                "TaskGroup destroyed with tasks running (Cancel, then Wait)");
}

void TaskGroup::Spawn(asio::awaitable<void> task) {
  if (cancelled_) return;
  if (free_.empty()) {
    tasks_.emplace_back();
  } else {
    tasks_.splice(tasks_.end(), free_, free_.begin());
  }
  auto it = std::prev(tasks_.end());
  asio::co_spawn(executor_, std::move(task),
                 asio::bind_cancellation_slot(
                     it->signal.slot(),
                     [this, it](std::exception_ptr e) { Finished(it, e); }));
}

void TaskGroup::Finished(std::list<Task>::iterator task, std::exception_ptr e) {
  if (e) {
    try {
      std::rethrow_exception(e);
    } catch (const boost::system::system_error& err) {
      if (err.code() != asio::error::operation_aborted && !error_) error_ = e;
    } catch (...) {
      if (!error_) error_ = e;
    }
  }
  // The signal still holds co_spawn's handler; the next Spawn's emplace
  // destroys it and reuses its memory. Cancel() never reaches free_.
  free_.splice(free_.begin(), tasks_, task);
  if (tasks_.empty()) idle_.cancel();
}

void TaskGroup::Cancel() {
  cancelled_ = true;
  for (Task& t : tasks_) t.signal.emit(asio::cancellation_type::terminal);
}

asio::awaitable<void> TaskGroup::Wait() {
  while (!tasks_.empty()) {
    idle_.expires_at(asio::steady_timer::time_point::max());
    co_await idle_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace shoal
