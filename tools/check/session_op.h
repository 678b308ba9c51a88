// One operation of `shoal check`'s session workload (check.h), shared by
// the runner (check_run.h) and the simulator (tests/sim), which differ only
// in where events go and how they tell a failed write's outcome.
//
// Threads: the client's (one io_context thread).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/result.h"
#include "client/client.h"
#include "tools/check/check.h"

namespace shoal::tools::check {

struct SessionOp {
  int process = 0;
  std::string key;
  std::string value;   // written when `write`
  bool write = false;  // after the read, write `value` with its context
  uint32_t timeout_ms = 0;
  client::Session* session = nullptr;  // nullptr: the control (no tokens)
};

// A read at r = 1 ("read" events: invoke, then ok with the values seen or
// fail with the error), then, when op.write and the read succeeded, a
// write at w = 1 of op.value with the read's context ("write": invoke with
// what the read saw, then `outcome(status)`). Each event goes to `record`.
wire::Awaitable<void> RunSessionOp(
    client::Client& client, SessionOp op,
    const std::function<void(Event)>& record,
    const std::function<EventType(const Status&)>& outcome);

}  // namespace shoal::tools::check
