#include "quorum/coordinator.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <memory>
#include <vector>

#include "quorum/tally.h"

namespace shoal::quorum {
namespace {

namespace asio = boost::asio;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// The state one request shares with its replica tasks: the tally, each
// replica's reply (gets), and a timer used as the coordinator's wake-up.
// Held by shared_ptr because replica tasks outlive the answer (the slower
// n-w replicas are allowed to finish).
struct FanOut {
  FanOut(asio::any_io_executor ex, uint32_t contacted, uint32_t required)
      : tally(contacted, required), wake(std::move(ex)), replies(contacted) {}

  QuorumTally tally;
  asio::steady_timer wake;
  std::vector<std::optional<Object>> replies;  // gets: by preference index

  void Record(bool ok) {
    if (ok) {
      tally.RecordSuccess();
    } else {
      tally.RecordFailure();
    }
    if (tally.state() != QuorumTally::State::kPending || tally.all_replied()) {
      wake.cancel();
    }
  }

  // Returns when the quorum is decided or at the deadline.
  Awaitable<void> WaitDecided(Deadline deadline) {
    while (tally.Decision() == QuorumTally::State::kPending &&
           std::chrono::steady_clock::now() < deadline) {
      wake.expires_at(deadline);
      co_await wake.async_wait(kAsTuple);
    }
  }

  // Returns when every replica answered or at the deadline.
  Awaitable<void> WaitAll(Deadline deadline) {
    while (!tally.all_replied() &&
           std::chrono::steady_clock::now() < deadline) {
      wake.expires_at(deadline);
      co_await wake.async_wait(kAsTuple);
    }
  }
};

bool Contains(const std::vector<ring::NodeIndex>& v, ring::NodeIndex x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

Awaitable<Result<VersionVector>> Coordinator::Put(PutArgs args) {
  const auto primaries = ring_.Primaries(args.loc.partition);
  if (Contains(primaries, replicas_.self())) {
    co_return co_await CoordinatePut(std::move(args));
  }
  // 1. Route to the first primary we can reach. Only a primary that could
  // not be reached at all is skipped; any answer from a coordinator, success
  // or failure, is final (retrying elsewhere would write a second dot).
  // Primaries believed up go first; the others are still tried (a peer
  // that is really down fails fast), so a stale "down" never blocks a put.
  std::vector<ring::NodeIndex> order;
  for (ring::NodeIndex p : primaries) {
    if (replicas_.IsUp(p)) order.push_back(p);
  }
  for (ring::NodeIndex p : primaries) {
    if (!replicas_.IsUp(p)) order.push_back(p);
  }
  std::string unreachable;
  for (ring::NodeIndex p : order) {
    auto r = co_await replicas_.ForwardPut(p, args);
    if (r.ok() || r.status().code() != Code::kUnavailable ||
        r.status().quorum()) {
      co_return r;
    }
    unreachable += (unreachable.empty() ? "" : ", ") + ring_.members()[p];
  }
  Status st(Code::kUnavailable, std::string(args.value ? "put" : "delete") +
                                    " failed: no primary of partition " +
                                    std::to_string(args.loc.partition) +
                                    " is reachable to coordinate it (" +
                                    unreachable + ")");
  st.WithQuorum({0, args.w, 0, false});
  co_return st;
}

Awaitable<Result<VersionVector>> Coordinator::CoordinatePut(PutArgs args) {
  auto ex = co_await asio::this_coro::executor;
  const auto primaries = ring_.Primaries(args.loc.partition);
  const Deadline deadline = args.deadline;

  // 2. The new dot, stored on this replica. A failure here (e.g. storage
  // full) means nothing was written anywhere.
  auto local = co_await replicas_.CoordinateLocally(args);
  if (!local) co_return local.status();

  auto fan = std::make_shared<FanOut>(
      ex, static_cast<uint32_t>(primaries.size()), args.w);
  fan->Record(true);

  // 3. Fan out to the other primaries.
  auto object = std::make_shared<const Object>(std::move(local.value()));
  for (ring::NodeIndex p : primaries) {
    if (p == replicas_.self()) continue;
    asio::co_spawn(
        ex,
        [](ReplicaClient& replicas, ring::NodeIndex node, std::string key,
           ring::KeyLocation loc, std::shared_ptr<const Object> obj,
           std::shared_ptr<FanOut> fan, Deadline deadline) -> Awaitable<void> {
          Status st =
              co_await replicas.Replicate(node, key, loc, *obj, deadline);
          // A replica that did not answer by the deadline stays
          // outstanding: the request then ends as a timeout.
          if (st.code() == Code::kTimeout) co_return;
          fan->Record(st.ok());
        }(replicas_, p, args.key, args.loc, object, fan, deadline),
        asio::detached);
  }

  // 4. Wait for w acks, an impossible quorum, or the deadline. A failure
  // waits for the replicas still out (within the deadline) so the error
  // tells exactly how many acknowledged.
  co_await fan->WaitDecided(deadline);
  if (fan->tally.Decision() == QuorumTally::State::kMet) {
    co_return object->vv;
  }
  co_await fan->WaitAll(deadline);
  co_return fan->tally.FailureStatus(args.value ? "put" : "delete",
                                     /*maybe_applied=*/true);
}

Awaitable<Result<Object>> Coordinator::Get(GetArgs args) {
  auto ex = co_await asio::this_coro::executor;
  const auto primaries = ring_.Primaries(args.loc.partition);
  const Deadline deadline = args.deadline;
  auto fan = std::make_shared<FanOut>(
      ex, static_cast<uint32_t>(primaries.size()), args.r);

  // 1. Ask every primary for its own copy.
  for (size_t i = 0; i < primaries.size(); ++i) {
    asio::co_spawn(
        ex,
        [](ReplicaClient& replicas, ring::NodeIndex node, size_t slot,
           std::string key, ring::KeyLocation loc, std::shared_ptr<FanOut> fan,
           Deadline deadline) -> Awaitable<void> {
          auto r = co_await replicas.Read(node, key, loc, deadline);
          if (r.status().code() == Code::kTimeout) co_return;  // outstanding
          if (r.ok()) fan->replies[slot] = std::move(r.value());
          fan->Record(r.ok());
        }(replicas_, primaries[i], i, args.key, args.loc, fan, deadline),
        asio::detached);
  }

  // 2. Answer with the merge of what arrived by the time r replied.
  co_await fan->WaitDecided(deadline);
  Result<Object> answer = Status(Code::kInternal, "unset");
  if (fan->tally.Decision() == QuorumTally::State::kMet) {
    Object merged;
    for (const auto& reply : fan->replies) {
      if (reply) merged = Sync(merged, *reply);
    }
    answer = std::move(merged);
  } else {
    co_await fan->WaitAll(deadline);  // count every reply in the error
    answer = fan->tally.FailureStatus("get", /*maybe_applied=*/false);
  }

  // 3. Read repair, after the answer.
  asio::co_spawn(
      ex,
      [](ReplicaClient& replicas, CoordinatorObserver* observer,
         std::vector<ring::NodeIndex> primaries, std::string key,
         ring::KeyLocation loc, std::shared_ptr<FanOut> fan,
         Deadline deadline) -> Awaitable<void> {
        co_await fan->WaitAll(deadline);
        Object merged;
        for (const auto& reply : fan->replies) {
          if (reply) merged = Sync(merged, *reply);
        }
        if (merged.vv.empty()) co_return;  // nothing anywhere
        // Repairs get their own short deadline: the request's may be spent.
        const Deadline repair_deadline =
            std::chrono::steady_clock::now() + std::chrono::seconds(2);
        for (size_t i = 0; i < primaries.size(); ++i) {
          const auto& reply = fan->replies[i];
          if (!reply) continue;  // unreachable: hinted handoff / AAE's job
          using F = CoordinatorObserver::Freshness;
          F freshness = reply->SameCausalState(merged) ? F::kCurrent
                        : reply->vv.empty()            ? F::kMissing
                                                       : F::kStale;
          if (observer) observer->ReplicaFreshness(freshness);
          if (freshness == F::kCurrent) continue;
          Status st = co_await replicas.Replicate(primaries[i], key, loc,
                                                  merged, repair_deadline);
          if (observer) observer->ReadRepairSent(st.ok());
        }
      }(replicas_, observer_, primaries, args.key, args.loc, fan, deadline),
      asio::detached);

  co_return answer;
}

}  // namespace shoal::quorum
