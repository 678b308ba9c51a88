// Tombstone reaping. Contracts in reaper.h; the rule and why it is safe in
// doc/impl.md, "Reaping tombstones".

#include "reaper/reaper.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

#include "quorum/version.h"
#include "storage/async.h"

namespace shoal::reaper {

namespace asio = boost::asio;

namespace {

// How often the oldest tombstone is looked for (a scan of the index on the
// io thread): every second, or ten times as long as the last scan took.
constexpr std::chrono::seconds kOldestEvery{1};
// The most index entries that scan reads.
constexpr size_t kOldestScanLimit = 4'000'000;

}  // namespace

Reaper::Reaper(asio::any_io_executor executor, Clock& clock,
               const ring::Ring& ring, ring::NodeIndex self,
               storage::Store& store, Transport& transport, Options options)
    : executor_(executor),
      clock_(clock),
      ring_(ring),
      self_(self),
      store_(store),
      transport_(transport),
      options_(std::move(options)),
      timer_(clock, executor),
      tasks_(executor) {}

void Reaper::Start() {
  if (options_.enabled) tasks_.Spawn(Run());
}

wire::Awaitable<void> Reaper::Shutdown() {
  tasks_.Cancel();
  timer_.cancel();
  co_await tasks_.Wait();
}

wire::Awaitable<void> Reaper::Run() {
  while (!tasks_.cancelled()) {
    timer_.expires_after(options_.interval);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (tasks_.cancelled()) co_return;
    if (options_.busy && options_.busy()) continue;  // foreground first
    co_await RunOnce();
  }
}

wire::Awaitable<uint64_t> Reaper::RunOnce() {
  auto listed = store_.ScanTombstones(resume_, options_.batch);
  if (!listed.ok()) {
    spdlog::warn("reaper: tombstone index not read: {}",
                 listed.status().message());
    co_return 0;
  }
  // The next round goes on after this one's last key, and from the start
  // again once the index is done.
  resume_ = listed->size() < options_.batch ? std::string()
                                            : listed->back().storage_key;
  const int64_t now_ms = clock_.WallMs();
  std::map<uint32_t, std::vector<storage::Tombstone>> by_partition;
  for (storage::Tombstone& t : *listed) {
    if (!options_.TEST_unsafe &&
        now_ms - t.deleted_at_ms < options_.grace.count()) {
      continue;
    }
    by_partition[t.loc.partition].push_back(std::move(t));
  }
  uint64_t reaped = 0;
  for (auto& [partition, candidates] : by_partition) {
    if (tasks_.cancelled()) break;
    reaped += co_await ReapPartition(partition, std::move(candidates));
  }
  if (reaped > 0) reaped_.fetch_add(reaped, std::memory_order_relaxed);
  if (oldest_at_ == Clock::TimePoint{} ||
      clock_.Now() - oldest_at_ >= oldest_every_ || reaped > 0) {
    const auto started = std::chrono::steady_clock::now();
    NoteOldest();
    oldest_every_ = std::max<Clock::Duration>(
        kOldestEvery, 10 * (std::chrono::steady_clock::now() - started));
  }
  co_return reaped;
}

std::string Reaper::Blocked(uint32_t partition) const {
  // While a change is in progress partitions move (transfers, copies that
  // are dropped later): their holders are not only the primaries.
  if (ring_.changing()) return "a membership change is in progress";
  const auto primaries = ring_.Primaries(partition);
  if (std::find(primaries.begin(), primaries.end(), self_) == primaries.end()) {
    return "this node is not a primary of partition " +
           std::to_string(partition);
  }
  for (ring::NodeIndex i = 0; i < ring_.members().size(); ++i) {
    if (i == self_ || ring_.retired(i) || transport_.IsUp(i)) continue;
    return ring_.members()[i] + " is down (its hints and copies are unknown)";
  }
  return "";
}

wire::Awaitable<uint64_t> Reaper::ReapPartition(
    uint32_t partition, std::vector<storage::Tombstone> candidates) {
  std::string blocked = options_.TEST_unsafe ? "" : Blocked(partition);
  if (!blocked.empty()) {
    partition_waiting_[partition] = blocked;
    co_return 0;
  }
  // This node's own copies: still tombstones, and their fingerprints.
  wire::ReapCheckRequest check{.epoch = ring_.epoch(), .keys = {}};
  std::vector<storage::Tombstone> keys;
  for (storage::Tombstone& t : candidates) {
    auto local = store_.Get(t.key, t.loc);
    if (!local.ok() || !local->has_value() || !(*local)->Deleted()) continue;
    if (!options_.TEST_unsafe) {
      auto hinted = store_.HintTargetsOf(t.key, t.loc);
      if (!hinted.ok() || !hinted->empty()) {
        partition_waiting_[partition] =
            "this node holds a hint for a key of partition " +
            std::to_string(partition);
        continue;
      }
    }
    check.keys.push_back({t.key, t.loc.partition, t.loc.segment,
                          quorum::CausalFingerprint(**local)});
    keys.push_back(std::move(t));
  }
  if (keys.empty()) co_return 0;
  std::vector<bool> ok(keys.size(), true);
  if (!options_.TEST_unsafe) {
    for (ring::NodeIndex i = 0; i < ring_.members().size(); ++i) {
      if (i == self_ || ring_.retired(i)) continue;
      // A copy: the ring may be replaced while the call waits.
      const std::string name = ring_.members()[i];
      auto reply = co_await transport_.Call(
          i, wire::Body{check}, clock_.Now() + options_.call_timeout);
      if (tasks_.cancelled()) co_return 0;
      if (ring_.epoch() != check.epoch) {
        // Members asked so far were those of the old ring: ask again next
        // round.
        partition_waiting_[partition] =
            "the cluster state changed during the check";
        co_return 0;
      }
      const wire::ReapCheckReply* r =
          reply.ok() ? std::get_if<wire::ReapCheckReply>(&*reply) : nullptr;
      if (r == nullptr || r->holding.size() != keys.size()) {
        std::string why =
            !reply.ok() ? reply.status().ToString()
            : std::holds_alternative<wire::ErrorReply>(*reply)
                ? std::get<wire::ErrorReply>(*reply).status.ToString()
                : "a malformed reply";
        partition_waiting_[partition] =
            name + " did not answer the reap check (" + why + ")";
        co_return 0;
      }
      for (size_t k = 0; k < keys.size(); ++k) {
        if (r->hinted[k]) {
          ok[k] = false;
          partition_waiting_[partition] = name + " holds a hint for a key";
        } else if (r->holding[k] == wire::ReapHolding::kOther) {
          ok[k] = false;
          partition_waiting_[partition] = name + " holds another version";
        }
      }
    }
  }
  std::vector<storage::WriteOp> ops;
  for (size_t k = 0; k < keys.size(); ++k) {
    if (!ok[k]) continue;
    storage::WriteOp op;
    op.kind = storage::WriteOp::Kind::kReap;
    op.key = keys[k].key;
    op.loc = keys[k].loc;
    op.expected_fingerprint = check.keys[k].fingerprint;
    ops.push_back(std::move(op));
  }
  if (ops.empty()) co_return 0;
  auto results = co_await storage::AsyncWriteAll(store_, std::move(ops));
  uint64_t reaped = 0;
  for (const auto& r : results) {
    if (r.ok() && r->changed) ++reaped;
    if (!r.ok()) {
      partition_waiting_[partition] = "reap failed: " + r.status().ToString();
    }
  }
  if (reaped == keys.size()) partition_waiting_.erase(partition);
  co_return reaped;
}

void Reaper::NoteOldest() {
  oldest_at_ = clock_.Now();
  int64_t oldest = 0;
  uint32_t oldest_partition = 0;
  std::string after;
  size_t seen = 0;
  while (seen < kOldestScanLimit) {
    auto page = store_.ScanTombstones(after, 10000);
    if (!page.ok() || page->empty()) break;
    for (const storage::Tombstone& t : *page) {
      if (oldest == 0 || t.deleted_at_ms < oldest) {
        oldest = t.deleted_at_ms;
        oldest_partition = t.loc.partition;
      }
    }
    seen += page->size();
    after = page->back().storage_key;
    if (page->size() < 10000) break;
  }
  std::string why;
  if (oldest != 0) {
    if (!options_.enabled) {
      why = "reaping is off (storage.reap = false)";
    } else if (clock_.WallMs() - oldest < options_.grace.count()) {
      why = "its grace period (storage.tombstone_grace)";
    } else {
      auto it = partition_waiting_.find(oldest_partition);
      why = it != partition_waiting_.end() ? it->second
                                           : "its turn in the reaper's round";
    }
  }
  std::lock_guard<std::mutex> lock(stats_mu_);
  oldest_ms_ = oldest;
  oldest_waiting_for_ = std::move(why);
}

wire::Body Reaper::OnCheck(const wire::ReapCheckRequest& req) const {
  if (req.epoch != ring_.epoch()) {
    return wire::ErrorReply{Status(
        Code::kUnavailable, "reap check at epoch " + std::to_string(req.epoch) +
                                ", this node is at epoch " +
                                std::to_string(ring_.epoch()))};
  }
  wire::ReapCheckReply reply;
  reply.holding.reserve(req.keys.size());
  reply.hinted.reserve(req.keys.size());
  for (const wire::ReapCheckKey& k : req.keys) {
    if (k.partition >= ring_.partitions()) {
      return wire::ErrorReply{
          Status(Code::kInvalidArgument,
                 "reap check: partition " + std::to_string(k.partition) +
                     " is out of range (the ring has " +
                     std::to_string(ring_.partitions()) + " partitions)")};
    }
    const ring::KeyLocation loc{0, k.partition, k.segment};
    auto local = store_.Get(k.key, loc);
    auto hinted = store_.HintTargetsOf(k.key, loc);
    if (!local.ok() || !hinted.ok()) {
      return wire::ErrorReply{!local.ok() ? local.status() : hinted.status()};
    }
    if (!local->has_value()) {
      reply.holding.push_back(wire::ReapHolding::kAbsent);
    } else if (quorum::CausalFingerprint(**local) == k.fingerprint) {
      reply.holding.push_back(wire::ReapHolding::kSame);
    } else {
      reply.holding.push_back(wire::ReapHolding::kOther);
    }
    reply.hinted.push_back(!hinted->empty());
  }
  return reply;
}

Stats Reaper::stats() const {
  Stats s;
  s.reaped = reaped_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(stats_mu_);
  s.oldest_deleted_at_ms = oldest_ms_;
  s.oldest_waiting_for = oldest_waiting_for_;
  return s;
}

}  // namespace shoal::reaper
