#include "node/transfers.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>

namespace shoal::node {

namespace asio = boost::asio;

namespace {
// Between rounds that could not reach a source, or whose tree is not built
// yet: short, a transfer is what the operator waits for.
constexpr std::chrono::milliseconds kRetry{500};
}  // namespace

Transfers::Transfers(asio::any_io_executor executor, Clock& clock,
                     const ring::Ring& ring, ring::NodeIndex self,
                     antientropy::AntiEntropy& aae, ClusterProbe& probe,
                     IsUp is_up, Done done)
    : clock_(clock),
      ring_(ring),
      self_(self),
      aae_(aae),
      probe_(probe),
      is_up_(std::move(is_up)),
      done_(std::move(done)),
      tasks_(std::move(executor)) {}

void Transfers::Follow(uint64_t epoch) {
  if (epoch == epoch_ || tasks_.cancelled()) return;
  epoch_ = epoch;  // transfers of an older epoch see it and stop
  std::vector<uint32_t> partitions;
  // Only while the change transfers: once it is switched, the pending
  // replicas are the previous owners, which keep their copies.
  if (ring_.changing() &&
      ring_.pending_kind() == ring::PendingKind::kIncoming) {
    for (uint32_t p = 0; p < ring_.partitions(); ++p) {
      for (ring::NodeIndex i : ring_.Pending(p)) {
        if (i == self_) partitions.push_back(p);
      }
    }
  }
  remaining_ = partitions.size();
  partitions_ = partitions.size();
  keys_ = bytes_ = 0;
  started_ = clock_.Now();
  finished_.reset();
  probe_.Changing(ring_.changing());
  started_wall_ms_ = partitions.empty() ? 0 : clock_.WallMs();
  probe_.Receiving(remaining_, started_wall_ms_);
  if (partitions.empty()) return;
  spdlog::info("cluster epoch {}: receiving {} partitions", epoch,
               partitions.size());
  tasks_.Spawn(Receive(epoch, std::move(partitions)));
}

wire::Awaitable<void> Transfers::Receive(uint64_t epoch,
                                         std::vector<uint32_t> partitions) {
  const auto started = clock_.Now();
  for (uint32_t p : partitions) {
    while (true) {
      if (epoch_ != epoch || tasks_.cancelled()) co_return;
      if (!aae_.TreeReady(p)) {
        co_await Wait(kRetry);
        continue;
      }
      if (co_await Round(p)) break;
      if (epoch_ != epoch || tasks_.cancelled()) co_return;
      // A failed exchange or a difference: again (after a pause only when
      // something failed; Round pauses for that itself).
    }
    --remaining_;
    probe_.Received();
    probe_.Receiving(remaining_, remaining_ == 0 ? 0 : started_wall_ms_);
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      clock_.Now() - started)
                      .count();
  finished_ = clock_.Now();
  spdlog::info("cluster epoch {}: received {} partitions in {} ms", epoch,
               partitions.size(), ms);
  if (epoch_ == epoch && done_) done_(epoch);
}

wire::Awaitable<bool> Transfers::Round(uint32_t partition) {
  const uint64_t epoch = epoch_;
  bool clean = true;
  bool failed = false;
  int exchanged = 0;
  for (ring::NodeIndex source : ring_.Primaries(partition)) {
    if (source == self_ || !is_up_(source)) continue;
    const wire::AaeExchangeResult r =
        co_await aae_.ExchangeWith(partition, source);
    if (epoch_ != epoch || tasks_.cancelled()) co_return false;
    keys_ += r.keys_repaired;
    bytes_ += r.bytes;
    if (r.result != "ok") {
      spdlog::info("transfer of partition {} from {}: {}", partition, r.peer,
                   r.result);
      failed = true;
      continue;
    }
    ++exchanged;
    if (r.segments_differing > 0) clean = false;
  }
  if (failed || exchanged == 0) {
    co_await Wait(kRetry);
    co_return false;
  }
  co_return clean;
}

wire::TransferStatus Transfers::Progress() const {
  wire::TransferStatus t;
  if (partitions_ == 0) return t;
  t.epoch = epoch_;
  t.partitions = static_cast<uint32_t>(partitions_);
  t.received = static_cast<uint32_t>(partitions_ - remaining_);
  t.keys = keys_;
  t.bytes = bytes_;
  t.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     finished_.value_or(clock_.Now()) - started_)
                     .count();
  return t;
}

wire::Awaitable<void> Transfers::Wait(std::chrono::milliseconds delay) {
  Timer timer(clock_, co_await asio::this_coro::executor);
  timer.expires_after(delay);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

wire::Awaitable<void> Transfers::Shutdown() {
  tasks_.Cancel();
  co_await tasks_.Wait();
}

}  // namespace shoal::node
