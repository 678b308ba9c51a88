#include "storage/async.h"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <memory>
#include <mutex>

namespace shoal::storage {

namespace asio = boost::asio;

namespace {

// Commits once the io_context has run what is already queued: the other
// requests decoded in this turn stage their writes first, and they all go
// into one group commit.
template <typename Executor>
void CommitLater(Store& store, const Executor& ex) {
  asio::post(ex, [&store] { store.CommitStaged(); });
}

}  // namespace

asio::awaitable<Result<WriteResult>> AsyncWrite(Store& store, WriteOp op) {
  using Signature = void(Result<WriteResult>);
  return asio::async_initiate<const asio::use_awaitable_t<>, Signature>(
      [&store](auto handler, WriteOp op) {
        // The store's callback type is copyable; the coroutine's handler is
        // move-only, so it waits in a shared_ptr until the commit is done.
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto ex = asio::get_associated_executor(*h);
        const bool owed =
            store.Stage(std::move(op), [h, ex](Result<WriteResult> r) {
              asio::post(
                  ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
            });
        if (owed) CommitLater(store, ex);
      },
      asio::use_awaitable, std::move(op));
}

asio::awaitable<std::vector<Result<WriteResult>>> AsyncWriteAll(
    Store& store, std::vector<WriteOp> ops) {
  using Results = std::vector<Result<WriteResult>>;
  using Signature = void(Results);
  return asio::async_initiate<const asio::use_awaitable_t<>, Signature>(
      [&store](auto handler, std::vector<WriteOp> ops) {
        using Handler = decltype(handler);
        struct State {
          explicit State(Handler h, size_t n)
              : handler(std::move(h)),
                results(n, Result<WriteResult>(
                               Status(Code::kInternal, "write not run"))),
                left(n) {}
          Handler handler;
          std::mutex mu;
          Results results;
          size_t left;
        };
        auto state = std::make_shared<State>(std::move(handler), ops.size());
        auto finish = [state] {
          auto ex = asio::get_associated_executor(state->handler);
          asio::post(ex, [state]() mutable {
            state->handler(std::move(state->results));
          });
        };
        if (ops.empty()) {
          finish();
          return;
        }
        bool owed = false;
        for (size_t i = 0; i < ops.size(); ++i) {
          owed |= store.Stage(std::move(ops[i]),
                              [state, finish, i](Result<WriteResult> r) {
                                bool last = false;
                                {
                                  std::lock_guard<std::mutex> lock(state->mu);
                                  state->results[i] = std::move(r);
                                  last = --state->left == 0;
                                }
                                if (last) finish();
                              });
        }
        if (owed) {
          CommitLater(store, asio::get_associated_executor(state->handler));
        }
      },
      asio::use_awaitable, std::move(ops));
}

}  // namespace shoal::storage
