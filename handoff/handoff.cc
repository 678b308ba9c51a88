#include "handoff/handoff.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <optional>

#include "handoff/backlog.h"
#include "storage/async.h"

namespace shoal::handoff {

namespace asio = boost::asio;

namespace {
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kRateWindow = std::chrono::seconds(10);
constexpr auto kSendTimeout = std::chrono::seconds(2);

// One batch in flight: how many sends are still out and which succeeded.
// Shared with the send tasks, which may finish after Drain stopped waiting.
struct Batch {
  Batch(asio::any_io_executor ex, size_t n)
      : acked(n, false), remaining(n), wake(std::move(ex)) {}
  std::vector<bool> acked;
  size_t remaining;
  asio::steady_timer wake;
};
}  // namespace

Handoff::Handoff(asio::any_io_executor executor, storage::Store& store,
                 Transport& transport, const ring::Ring& ring, Options options)
    : store_(store),
      transport_(transport),
      ring_(ring),
      options_(options),
      idle_(std::move(executor)) {}

void Handoff::Stop() {
  stopped_ = true;
  idle_.cancel();
}

void Handoff::Count(size_t delivered) {
  const auto now = wire::Clock::now();
  recent_.emplace_back(now, delivered);
  while (!recent_.empty() && now - recent_.front().first > kRateWindow) {
    recent_.pop_front();
  }
}

double Handoff::DeliveredPerSec() const {
  if (recent_.empty()) return 0;
  const auto now = wire::Clock::now();
  size_t total = 0;
  for (const auto& [at, n] : recent_) {
    if (now - at <= kRateWindow) total += n;
  }
  return static_cast<double>(total) /
         std::chrono::duration<double>(kRateWindow).count();
}

Result<wire::HintsReply> Handoff::Report(std::string node) const {
  wire::HintsReply h;
  h.node = std::move(node);
  auto backlogs = store_.HintBacklogs();
  if (!backlogs) return backlogs.status();
  for (const TargetBacklog& b : BacklogView(*backlogs, WallNowMs())) {
    wire::HintTarget t;
    t.target = b.target;
    t.count = b.count;
    t.bytes = b.bytes;
    t.oldest_age_ms = b.oldest_age_ms;
    auto idx = ring_.IndexOf(b.target);
    t.target_up = idx.ok() && transport_.IsUp(*idx);
    h.targets.push_back(std::move(t));
  }
  const storage::HintCounters c = store_.hint_counters();
  h.stored = c.stored;
  h.delivered = c.delivered;
  h.dropped_cap = c.dropped_cap;
  h.delivered_per_sec = DeliveredPerSec();
  return h;
}

wire::Awaitable<void> Handoff::Run() {
  if (!options_.enabled) co_return;
  while (!stopped_) {
    size_t delivered = 0;
    for (const auto& [name, count] : store_.HintTargets()) {
      if (stopped_) co_return;
      if (count == 0) continue;
      auto target = ring_.IndexOf(name);
      if (!target) continue;  // not a member (any more): kept, never sent
      if (!transport_.IsUp(*target)) continue;
      delivered += co_await Drain(*target, name);
    }
    if (delivered == 0) {
      idle_.expires_after(options_.idle);
      co_await idle_.async_wait(kAsTuple);
    }
  }
}

wire::Awaitable<size_t> Handoff::Drain(ring::NodeIndex target,
                                       const std::string& name) {
  auto ex = co_await asio::this_coro::executor;
  size_t delivered = 0;
  std::string cursor;
  const auto started = wire::Clock::now();
  while (!stopped_ && transport_.IsUp(target)) {
    auto hints = store_.ScanHints(name, cursor, options_.batch);
    if (!hints) {
      spdlog::error("handoff to {}: {}", name, hints.status().message());
      co_return delivered;
    }
    if (hints->empty()) break;
    cursor = hints->back().storage_key;

    // Send the batch concurrently; wait for every answer (bounded).
    auto batch = std::make_shared<Batch>(ex, hints->size());
    const auto deadline = wire::Clock::now() + kSendTimeout;
    for (size_t i = 0; i < hints->size(); ++i) {
      wire::Body request =
          wire::ReplicateRequest{(*hints)[i].key, (*hints)[i].object, ""};
      asio::co_spawn(
          ex,
          [](Transport& transport, ring::NodeIndex target, wire::Body request,
             size_t slot, std::shared_ptr<Batch> batch,
             wire::Deadline deadline) -> wire::Awaitable<void> {
            auto reply =
                co_await transport.Call(target, std::move(request), deadline);
            batch->acked[slot] =
                reply.ok() &&
                std::holds_alternative<wire::ReplicateReply>(reply.value());
            if (--batch->remaining == 0) batch->wake.cancel();
          }(transport_, target, std::move(request), i, batch, deadline),
          asio::detached);
    }
    while (batch->remaining > 0 && wire::Clock::now() < deadline) {
      batch->wake.expires_at(deadline);
      co_await batch->wake.async_wait(kAsTuple);
    }

    // Delete what the target acknowledged (if unchanged since read). The
    // writer applies ops in order, so once the last delete has committed
    // all of them have, and the next scan will not see them again.
    size_t acked = 0;
    std::optional<storage::WriteOp> last;
    for (size_t i = 0; i < hints->size(); ++i) {
      if (!batch->acked[i]) continue;
      ++acked;
      const storage::Hint& h = (*hints)[i];
      storage::WriteOp op;
      op.kind = storage::WriteOp::Kind::kDeleteHint;
      op.hint_target = name;
      op.key = h.key;
      op.loc = ring_.Locate(h.key);
      op.expected_hint_hash = h.bytes_hash;
      if (last)
        store_.Submit(std::move(*last), [](Result<storage::WriteResult>) {});
      last = std::move(op);
    }
    if (last) {
      auto done = co_await storage::AsyncWrite(store_, std::move(*last));
      if (!done) {
        // The hints stay and will be sent again (replay is idempotent);
        // stop this round rather than loop on a store that cannot write.
        spdlog::error("handoff to {}: deleting delivered hints failed: {}",
                      name, done.status().message());
        co_return delivered;
      }
    }
    delivered += acked;
    Count(acked);
    if (acked < hints->size()) break;  // the target stopped answering

    // Throttle to max_rate (one batch per busy_pace while the node is busy
    // with foreground requests), then let foreground work run.
    auto due =
        started + std::chrono::duration_cast<wire::Clock::duration>(
                      std::chrono::duration<double>(
                          static_cast<double>(delivered) / options_.max_rate));
    if (options_.busy && options_.busy()) {
      due = std::max(due, wire::Clock::now() + options_.busy_pace);
    }
    if (due > wire::Clock::now()) {
      idle_.expires_at(due);
      co_await idle_.async_wait(kAsTuple);
    } else {
      co_await asio::post(ex, asio::use_awaitable);
    }
  }
  if (delivered > 0) {
    spdlog::info("handoff: delivered {} hints to {}", delivered, name);
  }
  co_return delivered;
}

}  // namespace shoal::handoff
