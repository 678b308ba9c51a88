#include "tools/check/session_op.h"

#include <utility>
#include <vector>

namespace shoal::tools::check {

wire::Awaitable<void> RunSessionOp(
    client::Client& client, SessionOp op,
    const std::function<void(Event)>& record,
    const std::function<EventType(const Status&)>& outcome) {
  client::GetOptions get_options{.r = 1, .timeout_ms = op.timeout_ms};
  get_options.session = op.session;
  record(MakeEvent(EventType::kInvoke, op.process, "read", op.key, ""));
  auto got = co_await client.Get(op.key, get_options);
  if (!got.ok()) {
    Event e = MakeEvent(EventType::kFail, op.process, "read", op.key, "");
    e.error = got.status().ToString();
    record(std::move(e));
    co_return;
  }
  std::vector<std::string> seen;
  for (const quorum::Sibling& s : got->values) seen.push_back(s.value);
  record(MakeEvent(EventType::kOk, op.process, "read", op.key, "", seen));
  if (!op.write) co_return;
  record(MakeEvent(EventType::kInvoke, op.process, "write", op.key, op.value,
                   seen));
  client::PutOptions put_options{
      .context = got->context, .w = 1, .timeout_ms = op.timeout_ms};
  put_options.session = op.session;
  auto put = co_await client.Put(op.key, op.value, put_options);
  Event e = MakeEvent(outcome(put.status()), op.process, "write", op.key,
                      op.value, {});
  if (!put.ok()) e.error = put.status().ToString();
  record(std::move(e));
}

}  // namespace shoal::tools::check
