// Owned background work (doc/impl.md, "Threads"): every coroutine a
// long-lived object starts runs in a TaskGroup that object owns, so that it
// can be stopped and waited for instead of left detached (as kj::TaskSet
// and Seastar's gate do).
//
//   TaskGroup tasks(executor);
//   tasks.Spawn(Loop());          // runs until it returns or is cancelled
//   ...
//   tasks.Cancel();               // ask every task to stop
//   co_await tasks.Wait();        // until every task has finished
//
// Cancel() emits a terminal cancellation to each running task: the
// asynchronous operation it is suspended in completes at once with
// operation_aborted, and every later co_await of an asynchronous operation
// in that coroutine throws boost::system::system_error(operation_aborted),
// unwinding it. The group swallows that exception; the first other
// exception a task ends with is kept (error()): errors are values, so there
// should be none. After Cancel(), Spawn() starts nothing.
//
// Threads: Spawn, Cancel and Wait on the executor's thread only. Lifetime:
// destroy the group only once running() is 0 (Cancel, then co_await Wait()
// in a coroutine that is not one of its tasks).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <exception>
#include <list>

namespace shoal {

class TaskGroup {
 public:
  explicit TaskGroup(boost::asio::any_io_executor executor);
  // REQUIRE: running() == 0.
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // Starts `task` on the group's executor. co_spawn dispatches: called
  // from a handler already running on that executor, the task runs inline
  // up to its first suspension before Spawn returns. No-op after Cancel().
  void Spawn(boost::asio::awaitable<void> task);
  // Emits a terminal cancellation to every running task. Idempotent.
  void Cancel();
  // Returns once no task is running. Must not be awaited by one of the
  // group's own tasks.
  boost::asio::awaitable<void> Wait();

  size_t running() const { return tasks_.size(); }
  bool cancelled() const { return cancelled_; }
  // The first exception a task ended with, other than the operation_aborted
  // of a cancellation; null if none.
  std::exception_ptr error() const { return error_; }

 private:
  struct Task {
    boost::asio::cancellation_signal signal;
  };
  void Finished(std::list<Task>::iterator task, std::exception_ptr e);

  boost::asio::any_io_executor executor_;
  std::list<Task> tasks_;  // running; stable addresses for the signals
  // Finished tasks' nodes, kept for the next Spawn: a signal keeps the
  // memory of the cancellation handler co_spawn installed in it, so a
  // reused node costs no allocation for its list node or that handler.
  std::list<Task> free_;
  boost::asio::steady_timer idle_;  // an event, not a clock: never expires
  bool cancelled_ = false;
  std::exception_ptr error_;
};

}  // namespace shoal
