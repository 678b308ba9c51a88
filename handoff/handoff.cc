#include "handoff/handoff.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <numeric>

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
  Batch(Clock& clock, asio::any_io_executor ex, size_t n)
      : acked(n, false), remaining(n), wake(clock, std::move(ex)) {}
  std::vector<bool> acked;
  size_t remaining;
  Timer wake;  // Drain waits on it until the deadline or the last answer
};

// One hint's delivery: a task of the Handoff's group.
wire::Awaitable<void> Send(Transport& transport, ring::NodeIndex target,
                           wire::Body request, size_t slot,
                           std::shared_ptr<Batch> batch,
                           wire::Deadline deadline) {
  auto reply = co_await transport.Call(target, std::move(request), deadline);
  batch->acked[slot] =
      reply.ok() && std::holds_alternative<wire::ReplicateReply>(reply.value());
  if (--batch->remaining == 0) batch->wake.cancel();
}
}  // namespace

Handoff::Handoff(asio::any_io_executor executor, Clock& clock,
                 storage::Store& store, Transport& transport,
                 const ring::Ring& ring, Options options)
    : clock_(clock),
      store_(store),
      transport_(transport),
      ring_(ring),
      options_(std::move(options)),
      idle_(clock, executor),
      tasks_(executor) {}

void Handoff::Start() {
  if (options_.enabled) tasks_.Spawn(Run());
}

void Handoff::Stop() {
  stopped_ = true;
  idle_.cancel();
  tasks_.Cancel();
}

asio::awaitable<void> Handoff::Shutdown() {
  Stop();
  co_await tasks_.Wait();
}

void Handoff::Count(size_t delivered) {
  const auto now = clock_.Now();
  recent_.emplace_back(now, delivered);
  while (!recent_.empty() && now - recent_.front().first > kRateWindow) {
    recent_.pop_front();
  }
}

double Handoff::DeliveredPerSec() const {
  if (recent_.empty()) return 0;
  const auto now = clock_.Now();
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
  for (const TargetBacklog& b : BacklogView(*backlogs, clock_.WallMs())) {
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
  while (!stopped_) {
    size_t delivered = 0;
    for (const auto& [name, count] : store_.HintTargets()) {
      if (stopped_) co_return;
      if (count == 0) continue;
      auto target = ring_.IndexOf(name);
      if (!target) continue;  // never a member: kept, never sent
      if (ring_.retired(*target)) {
        delivered += co_await Retarget(name);
        continue;
      }
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
  const auto started = clock_.Now();
  while (!stopped_ && transport_.IsUp(target)) {
    auto hints = store_.ScanHints(name, cursor, options_.batch);
    if (!hints) {
      spdlog::error("handoff to {}: {}", name, hints.status().message());
      co_return delivered;
    }
    if (hints->empty()) break;
    cursor = hints->back().storage_key;

    // Send the batch concurrently; wait for every answer (bounded).
    auto batch = std::make_shared<Batch>(clock_, ex, hints->size());
    const auto deadline = clock_.Now() + kSendTimeout;
    for (size_t i = 0; i < hints->size(); ++i) {
      wire::Body request =
          wire::ReplicateRequest{(*hints)[i].key, (*hints)[i].object, ""};
      tasks_.Spawn(
          Send(transport_, target, std::move(request), i, batch, deadline));
    }
    // Cancelled (Stop): the group started no send, so none will answer.
    if (tasks_.cancelled()) co_return delivered;
    if (options_.TEST_deletes_early) {
      // The planted bug (Options::TEST_deletes_early): every hint sent is
      // deleted now, before the target answered.
      std::vector<size_t> all(hints->size());
      std::iota(all.begin(), all.end(), size_t{0});
      if (!co_await Delete(name, *hints, all)) co_return delivered;
    }
    while (batch->remaining > 0 && clock_.Now() < deadline) {
      batch->wake.expires_at(deadline);
      co_await batch->wake.async_wait(kAsTuple);
    }

    // Delete what the target acknowledged (if unchanged since read).
    std::vector<size_t> acked;
    for (size_t i = 0; i < hints->size(); ++i) {
      if (batch->acked[i]) acked.push_back(i);
    }
    if (!options_.TEST_deletes_early && !co_await Delete(name, *hints, acked)) {
      co_return delivered;
    }
    delivered += acked.size();
    Count(acked.size());
    if (acked.size() < hints->size()) break;  // the target stopped answering

    // Throttle to max_rate (one batch per busy_pace while the node is busy
    // with foreground requests), then let foreground work run.
    auto due =
        started + std::chrono::duration_cast<Clock::Duration>(
                      std::chrono::duration<double>(
                          static_cast<double>(delivered) / options_.max_rate));
    if (options_.busy && options_.busy()) {
      due = std::max(due, clock_.Now() + options_.busy_pace);
    }
    if (due > clock_.Now()) {
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

wire::Awaitable<size_t> Handoff::Retarget(const std::string& name) {
  auto ex = co_await asio::this_coro::executor;
  size_t delivered = 0;
  std::string cursor;
  while (!stopped_) {
    auto hints = store_.ScanHints(name, cursor, options_.batch);
    if (!hints) {
      spdlog::error("handoff of {}'s hints: {}", name,
                    hints.status().message());
      co_return delivered;
    }
    if (hints->empty()) break;
    cursor = hints->back().storage_key;

    // Every hint to every current primary of its key; one that is down
    // keeps the hint for a later round.
    std::vector<bool> complete(hints->size(), true);
    std::vector<std::pair<ring::NodeIndex, size_t>> sends;
    for (size_t i = 0; i < hints->size(); ++i) {
      const auto loc = ring_.Locate((*hints)[i].key);
      for (ring::NodeIndex p : ring_.Primaries(loc.partition)) {
        if (!transport_.IsUp(p)) {
          complete[i] = false;
          continue;
        }
        sends.emplace_back(p, i);
      }
    }
    auto batch = std::make_shared<Batch>(clock_, ex, sends.size());
    const auto deadline = clock_.Now() + kSendTimeout;
    for (size_t j = 0; j < sends.size(); ++j) {
      const storage::Hint& h = (*hints)[sends[j].second];
      wire::Body request = wire::ReplicateRequest{h.key, h.object, ""};
      tasks_.Spawn(Send(transport_, sends[j].first, std::move(request), j,
                        batch, deadline));
    }
    if (tasks_.cancelled()) co_return delivered;
    while (batch->remaining > 0 && clock_.Now() < deadline) {
      batch->wake.expires_at(deadline);
      co_await batch->wake.async_wait(kAsTuple);
    }
    for (size_t j = 0; j < sends.size(); ++j) {
      if (!batch->acked[j]) complete[sends[j].second] = false;
    }
    std::vector<size_t> acked;
    for (size_t i = 0; i < hints->size(); ++i) {
      if (complete[i]) acked.push_back(i);
    }
    if (!co_await Delete(name, *hints, acked)) co_return delivered;
    delivered += acked.size();
    Count(acked.size());
    if (acked.size() < hints->size()) break;  // the rest in a later round
    if (options_.busy && options_.busy()) {   // foreground first
      idle_.expires_after(options_.busy_pace);
      co_await idle_.async_wait(kAsTuple);
    } else {
      co_await asio::post(ex, asio::use_awaitable);
    }
  }
  if (delivered > 0) {
    spdlog::info(
        "handoff: {} hints for {}, which left the cluster, delivered to "
        "their keys' primaries",
        delivered, name);
  }
  co_return delivered;
}

wire::Awaitable<bool> Handoff::Delete(const std::string& name,
                                      const std::vector<storage::Hint>& hints,
                                      const std::vector<size_t>& which) {
  if (which.empty()) co_return true;
  std::vector<storage::WriteOp> ops;
  ops.reserve(which.size());
  for (size_t i : which) {
    const storage::Hint& h = hints[i];
    storage::WriteOp op;
    op.kind = storage::WriteOp::Kind::kDeleteHint;
    op.hint_target = name;
    op.key = h.key;
    op.loc = ring_.Locate(h.key);
    op.expected_hint_hash = h.bytes_hash;
    ops.push_back(std::move(op));
  }
  // Staged together, they share a group commit; each result says whether
  // its hint was deleted (changed) or kept as newer than what was sent.
  auto results = co_await storage::AsyncWriteAll(store_, std::move(ops));
  bool ok = true;
  for (size_t j = 0; j < results.size(); ++j) {
    if (!results[j].ok()) {
      // The hint stays and will be sent again (replay is idempotent).
      if (ok) {
        spdlog::error("handoff to {}: deleting delivered hints failed: {}",
                      name, results[j].status().message());
      }
      ok = false;
      continue;
    }
    if (results[j]->changed && options_.on_delivered) {
      const storage::Hint& h = hints[which[j]];
      options_.on_delivered(name, h.key, h.object);
    }
  }
  co_return ok;
}

}  // namespace shoal::handoff
