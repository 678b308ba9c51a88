#include "tools/ring/fault_ops.h"

#include <fstream>
#include <memory>
#include <sstream>

#include "client/client.h"
#include "tools/ring/launcher.h"

namespace shoal::tools {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using client::Client;
using wire::Awaitable;

Result<FaultSet> LoadFaultSet(const fs::path& ring_dir) {
  const fs::path path = ring_dir / "faults.json";
  std::ifstream in(path);
  if (!in) return FaultSet{};
  std::stringstream text;
  text << in.rdbuf();
  FaultJson json = FaultJson::parse(text.str(), nullptr, false);
  if (json.is_discarded()) {
    return Status(Code::kCorruption, path.string() + " is not valid JSON");
  }
  return FaultSetFromJson(json);
}

Status SaveFaultSet(const fs::path& ring_dir, const FaultSet& set) {
  return WriteFileAtomically(ring_dir / "faults.json",
                             FaultSetToJson(set).dump(2) + "\n");
}

namespace {

// The calls run concurrently; the last one to finish wakes the waiter.
struct PushState {
  explicit PushState(asio::any_io_executor ex) : done(std::move(ex)) {}
  std::vector<PushOutcome> outcomes;
  size_t pending = 0;
  asio::steady_timer done;
};

Awaitable<void> PushOne(std::shared_ptr<PushState> state, size_t slot,
                        FaultTarget target, wire::FaultRequest request,
                        std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  Client client(ex, target.address);
  auto reply = co_await client.Fault(std::move(request), timeout);
  state->outcomes[slot].status = reply.status();
  if (--state->pending == 0) state->done.cancel();
}

}  // namespace

Awaitable<std::vector<PushOutcome>> PushFaults(
    std::vector<FaultTarget> targets, FaultSet set,
    std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  // Shared: the calls and this coroutine all reach it until the last ends.
  auto state = std::make_shared<PushState>(ex);
  for (size_t i = 0; i < targets.size(); ++i) {
    state->outcomes.push_back({targets[i].name, Status::Ok()});
    if (!targets[i].running) {
      state->outcomes[i].status =
          Status(Code::kUnavailable,
                 "not running; it gets the fault table when started with "
                 "`shoal fault start " +
                     targets[i].name + "`");
      continue;
    }
    ++state->pending;
    wire::FaultRequest request;
    request.set = true;
    request.rules = set.rules;
    request.skews = set.skews;
    asio::co_spawn(ex,
                   PushOne(state, i, targets[i], std::move(request), timeout),
                   asio::detached);
  }
  if (state->pending > 0) {
    state->done.expires_after(timeout + std::chrono::seconds(5));
    co_await state->done.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return state->outcomes;
}

}  // namespace shoal::tools
