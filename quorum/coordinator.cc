#include "quorum/coordinator.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "quorum/tally.h"

namespace shoal::quorum {

namespace asio = boost::asio;

namespace {
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
}  // namespace

// The state one request shares with its replica tasks: the tallies, each
// replica's reply (gets), and a timer on the coordinator's clock used as its
// wake-up (it waits for the deadline unless a reply cancels it first).
// Held by shared_ptr because replica tasks outlive the answer (the slower
// n-w replicas are allowed to finish).
struct FanOut {
  FanOut(asio::any_io_executor ex, Clock& clock, uint32_t contacted,
         uint32_t required, uint32_t primaries_required)
      : clock(clock),
        tally(contacted, required),
        wake(clock, std::move(ex)),
        replies(contacted) {
    if (primaries_required > 0)
      primaries.emplace(contacted, primaries_required);
  }

  Clock& clock;
  QuorumTally tally;                     // w (or r): every ack counts
  uint32_t overloaded_replicas = 0;      // failures that were `overloaded`
  std::optional<QuorumTally> primaries;  // pw: only primaries' acks count
  Timer wake;
  std::vector<std::optional<Object>> replies;  // gets: by preference index
  // Wake the waiter on every reply, not only once decided (a session get
  // that looks for a replica reflecting its floor).
  bool wake_each = false;
  // Datacenters whose replies are counted apart (local_quorum,
  // each_quorum), by index into Ring::dcs(); nullopt for the others.
  std::vector<std::optional<QuorumTally>> dcs;
  std::vector<std::string> dc_names;

  // Counts datacenter d's replies apart when required[d] > 0: contacted[d]
  // of its replicas were asked.
  void CountDcs(const std::vector<uint32_t>& contacted,
                const std::vector<uint32_t>& required, const ring::Ring& ring) {
    dcs.resize(required.size());
    for (size_t d = 0; d < required.size(); ++d) {
      dc_names.push_back(ring.dcs()[d].dc);
      if (required[d] > 0) dcs[d].emplace(contacted[d], required[d]);
    }
  }

  // A replica answered (ok) or failed; `primary` when it is one of the key's
  // primaries rather than a fallback holding a hint; `overloaded` when it
  // refused for load; `dc` the replica's datacenter (Ring::DcOf).
  void Record(bool ok, bool primary = true, bool overloaded = false,
              uint32_t dc = ring::Ring::kNoDc) {
    if (overloaded) ++overloaded_replicas;
    if (ok) {
      tally.RecordSuccess();
    } else {
      tally.RecordFailure();
    }
    if (dc < dcs.size() && dcs[dc]) {
      if (ok) {
        dcs[dc]->RecordSuccess();
      } else {
        dcs[dc]->RecordFailure();
      }
    }
    if (primaries) {
      if (ok && primary) {
        primaries->RecordSuccess();
      } else {
        primaries->RecordFailure();
      }
    }
    if (wake_each || Decision() != QuorumTally::State::kPending ||
        tally.all_replied()) {
      wake.cancel();
    }
  }

  uint32_t replied() const { return tally.successes() + tally.failures(); }

  // The DVV merge of every reply in so far.
  Object Merged() const {
    Object merged;
    for (const auto& reply : replies) {
      if (reply) merged = Sync(merged, *reply);
    }
    return merged;
  }

  // Met when every requirement is met; failed as soon as one cannot be.
  QuorumTally::State Decision() const {
    using S = QuorumTally::State;
    const S a = tally.Decision();
    const S b = primaries ? primaries->Decision() : S::kMet;
    if (a == S::kFailed || b == S::kFailed) return S::kFailed;
    bool dcs_met = true;
    for (const auto& d : dcs) {
      if (!d) continue;
      if (d->Decision() == S::kFailed) return S::kFailed;
      dcs_met = dcs_met && d->Decision() == S::kMet;
    }
    if (a == S::kMet && b == S::kMet && dcs_met) return S::kMet;
    return S::kPending;
  }

  // The error for an unmet quorum, naming the requirement that failed. When
  // replicas refused for load, it is `overloaded` (back off) rather than
  // `unavailable`.
  Status FailureStatus(std::string_view op, bool maybe_applied) const {
    Status st = QuorumFailure(op, maybe_applied);
    if (overloaded_replicas == 0 || st.code() != Code::kUnavailable) return st;
    Status out(Code::kOverloaded,
               st.message() + " (" + std::to_string(overloaded_replicas) +
                   (overloaded_replicas == 1 ? " replica" : " replicas") +
                   " overloaded; back off and retry)");
    if (st.quorum()) out.WithQuorum(*st.quorum());
    return out;
  }

  Status QuorumFailure(std::string_view op, bool maybe_applied) const {
    using S = QuorumTally::State;
    // A datacenter's requirement, when one is unmet: the first that
    // failed, else the first still pending at the deadline (it names what
    // the level asked better than the total does).
    std::optional<size_t> unmet;
    for (size_t d = 0; d < dcs.size(); ++d) {
      if (!dcs[d] || dcs[d]->Decision() == S::kMet) continue;
      if (dcs[d]->Decision() == S::kFailed) {
        unmet = d;
        break;
      }
      if (!unmet) unmet = d;
    }
    if (unmet) {
      const size_t d = *unmet;
      const QuorumTally& t = *dcs[d];
      const bool failed = t.Decision() == S::kFailed;
      const bool read = op == "get";
      std::string msg =
          std::string(op) + (failed ? " failed: " : " timed out: ") +
          std::to_string(t.successes()) + " of " +
          std::to_string(t.contacted()) + " replicas in datacenter " +
          dc_names[d] + (read ? " replied, " : " acknowledged, ") +
          std::to_string(t.required()) + " required there";
      if (maybe_applied) msg += "; the write may have been applied";
      Status out(failed ? Code::kUnavailable : Code::kTimeout, msg);
      out.WithQuorum(
          {t.successes(), t.required(), t.contacted(), maybe_applied});
      return out;
    }
    // The primaries' requirement is the one to name when it failed, or when
    // it is still pending at the deadline although w (or r) was met.
    if (primaries && (primaries->Decision() == S::kFailed ||
                      (primaries->Decision() == S::kPending &&
                       tally.Decision() == S::kMet))) {
      const bool failed = primaries->Decision() == S::kFailed;
      const bool read = op == "get";
      std::string msg =
          std::string(op) + (failed ? " failed: " : " timed out: ") +
          std::to_string(primaries->successes()) + " of " +
          std::to_string(primaries->contacted()) +
          (read ? " primaries replied, pr=" : " primaries acknowledged, pw=") +
          std::to_string(primaries->required()) + " required";
      if (maybe_applied) msg += "; the write may have been applied";
      Status out(failed ? Code::kUnavailable : Code::kTimeout, msg);
      out.WithQuorum({primaries->successes(), primaries->required(),
                      primaries->contacted(), maybe_applied});
      return out;
    }
    return tally.FailureStatus(op, maybe_applied);
  }

  // Returns when the quorum is decided or at the deadline.
  Awaitable<void> WaitDecided(Deadline deadline) {
    while (Decision() == QuorumTally::State::kPending &&
           clock.Now() < deadline) {
      wake.expires_at(deadline);
      co_await wake.async_wait(kAsTuple);
    }
  }

  // Returns when a reply arrives after the first `seen` (wake_each must be
  // set), when every replica answered, or at the deadline.
  Awaitable<void> WaitMore(uint32_t seen, Deadline deadline) {
    while (replied() == seen && !tally.all_replied() &&
           clock.Now() < deadline) {
      wake.expires_at(deadline);
      co_await wake.async_wait(kAsTuple);
    }
  }

  // Returns when every replica answered or at the deadline.
  Awaitable<void> WaitAll(Deadline deadline) {
    while (!tally.all_replied() && clock.Now() < deadline) {
      wake.expires_at(deadline);
      co_await wake.async_wait(kAsTuple);
    }
  }
};

namespace {

bool Contains(const std::vector<ring::NodeIndex>& v, ring::NodeIndex x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// How long ago the newest write `merged` holds and `replica` lacks was
// made, or nullopt when the replica lacks no sibling (it is stale only in
// what it knows was superseded).
std::optional<std::chrono::milliseconds> StaleAge(const Object& replica,
                                                  const Object& merged,
                                                  int64_t now_ms) {
  std::optional<int64_t> newest;
  for (const Sibling& s : merged.siblings) {
    if (replica.HasDot(s.dot)) continue;
    if (!newest || s.written_at_ms > *newest) newest = s.written_at_ms;
  }
  if (!newest) return std::nullopt;
  return std::chrono::milliseconds(std::max<int64_t>(0, now_ms - *newest));
}

// A session get that found no replica reflecting its floor.
Status SessionRefusal(const SessionFloor& floor, uint32_t replied,
                      uint32_t primaries) {
  return Status(
      Code::kUnavailable,
      "get refused: " + std::string(GuaranteeName(floor)) +
          " cannot be guaranteed: " + std::to_string(replied) + " of " +
          std::to_string(primaries) +
          " primaries replied and none holds the version this session " +
          (floor.wrote ? "wrote" : "read") +
          " (the replicas that hold it are unreachable or still behind); "
          "retry later or through another node");
}

// One replica a put's object goes to, and how its ack counts.
struct Send {
  ring::ReplicaTarget target;
  bool primary = true;  // a primary's own replica (not a hint, not pending)
  uint32_t dc = ring::Ring::kNoDc;
  std::string dc_name;
};

// Counts one replica's answer to a put: every ack is observed (late ones
// too); one that did not answer by the deadline stays outstanding, so the
// request ends as a timeout.
void Count(Clock& clock, CoordinatorObserver* observer, const Send& send,
           const Status& st, FanOut& fan, Clock::TimePoint started) {
  if (st.ok() && observer) {
    observer->ReplicaAcked(clock.Now() - started, send.dc_name);
  }
  if (st.code() == Code::kTimeout) return;
  fan.Record(st.ok(), send.primary, st.code() == Code::kOverloaded, send.dc);
}

// Sends a put's object to one replica.
Awaitable<void> SendOne(Clock& clock, ReplicaClient& replicas,
                        CoordinatorObserver* observer, Send send,
                        std::string key, ring::KeyLocation loc,
                        std::shared_ptr<const Object> obj,
                        std::shared_ptr<FanOut> fan, Deadline deadline,
                        uint64_t epoch, Clock::TimePoint started) {
  Status st;
  try {
    st = co_await replicas.Replicate(send.target.node, key, loc, *obj, deadline,
                                     epoch, send.target.hint_for);
  } catch (...) {
    // Cancelled (Shutdown) before the replica answered: a failed reply, so
    // the request waiting on the tally wakes now rather than at its
    // deadline.
    fan->Record(false, send.primary, false, send.dc);
    throw;
  }
  Count(clock, observer, send, st, *fan, started);
}

// Sends a put's object to a remote datacenter's replicas through the first
// of them (ReplicaClient::ReplicateVia), which answers once `wait_for` of
// them acknowledged (0 = all). If the forwarder cannot be used, each
// replica is sent to directly.
Awaitable<void> RelayVia(Clock& clock, ReplicaClient& replicas,
                         TaskGroup& tasks, CoordinatorObserver* observer,
                         std::vector<Send> sends, uint32_t wait_for,
                         std::string key, ring::KeyLocation loc,
                         std::shared_ptr<const Object> obj,
                         std::shared_ptr<FanOut> fan, Deadline deadline,
                         uint64_t epoch, Clock::TimePoint started) {
  std::vector<ring::ReplicaTarget> targets;
  for (const Send& s : sends) targets.push_back(s.target);
  Result<std::vector<Status>> results = Status(Code::kInternal, "unset");
  try {
    results = co_await replicas.ReplicateVia(targets, key, loc, *obj, deadline,
                                             epoch, wait_for);
  } catch (...) {
    for (const Send& s : sends) fan->Record(false, s.primary, false, s.dc);
    throw;
  }
  if (results.ok() && results->size() == sends.size()) {
    for (size_t i = 0; i < sends.size(); ++i) {
      Count(clock, observer, sends[i], (*results)[i], *fan, started);
    }
    co_return;
  }
  if (results.ok() || results.status().code() == Code::kTimeout) {
    // A forwarder that answered out of shape, or not at all: its replicas'
    // fate is unknown; they stay outstanding.
    co_return;
  }
  for (Send& s : sends) {
    tasks.Spawn(SendOne(clock, replicas, observer, std::move(s), key, loc, obj,
                        fan, deadline, epoch, started));
  }
}

}  // namespace

Awaitable<std::vector<Status>> Coordinator::Relay(
    std::vector<ring::ReplicaTarget> targets, std::string key,
    ring::KeyLocation loc, Object object, uint32_t wait_for, Deadline deadline,
    uint64_t epoch) {
  auto ex = co_await asio::this_coro::executor;
  const auto n = static_cast<uint32_t>(targets.size());
  std::vector<Status> out(n, Status(Code::kTimeout, "no answer yet"));
  if (tasks_.cancelled() || n == 0) co_return out;
  auto obj = std::make_shared<const Object>(std::move(object));
  auto fan = std::make_shared<FanOut>(ex, clock_, n, n, 0);
  fan->wake_each = true;
  auto statuses = std::make_shared<std::vector<Status>>(out);
  for (uint32_t i = 0; i < n; ++i) {
    tasks_.Spawn([](ReplicaClient& replicas, ring::ReplicaTarget t, size_t slot,
                    std::string key, ring::KeyLocation loc,
                    std::shared_ptr<const Object> obj,
                    std::shared_ptr<FanOut> fan,
                    std::shared_ptr<std::vector<Status>> statuses,
                    Deadline deadline, uint64_t epoch) -> Awaitable<void> {
      Status st;
      try {
        st = co_await replicas.Replicate(t.node, key, loc, *obj, deadline,
                                         epoch, t.hint_for);
      } catch (...) {
        fan->Record(false);
        throw;
      }
      (*statuses)[slot] = st;
      if (st.code() != Code::kTimeout) fan->Record(st.ok());
    }(replicas_, targets[i], i, key, loc, obj, fan, statuses, deadline, epoch));
  }
  // Answer once `wait_for` acknowledged, or every target answered, or at
  // the deadline; never early on failures (the others may still ack).
  while ((wait_for == 0 || fan->tally.successes() < wait_for) &&
         !fan->tally.all_replied() && clock_.Now() < deadline) {
    co_await fan->WaitMore(fan->replied(), deadline);
  }
  co_return *statuses;
}

Status Coordinator::ShuttingDown(std::string_view op) const {
  return Status(Code::kUnavailable, std::string(op) + " refused: node " +
                                        ring_.members()[replicas_.self()] +
                                        " is shutting down; try another node");
}

Awaitable<void> Coordinator::Shutdown() {
  tasks_.Cancel();
  co_await tasks_.Wait();
}

Awaitable<bool> Coordinator::LeaveToFirstPrimary(
    const PutArgs& args, const std::vector<ring::NodeIndex>& primaries) {
  if (options_.serialize_above_siblings == 0) co_return false;
  std::optional<ring::NodeIndex> first;
  for (ring::NodeIndex p : primaries) {
    if (replicas_.IsUp(p)) {
      first = p;
      break;
    }
  }
  if (!first || *first == replicas_.self()) co_return false;
  auto local = co_await replicas_.Read(replicas_.self(), args.key, args.loc,
                                       args.deadline, ring_.epoch());
  co_return local.ok() &&
      local->siblings.size() > options_.serialize_above_siblings;
}

Awaitable<Result<PutOutcome>> Coordinator::Put(PutArgs args) {
  // A primary at a newer epoch refuses the forward (nothing written) and
  // this node adopts its state: the put is routed again under that ring.
  for (int routed = 0;; ++routed) {
    const uint64_t epoch = ring_.epoch();
    const auto primaries = ring_.Primaries(args.loc.partition);
    const bool is_primary = Contains(primaries, replicas_.self());
    bool leave = false;
    if (is_primary) leave = co_await LeaveToFirstPrimary(args, primaries);
    if (is_primary && !leave) co_return co_await CoordinatePut(std::move(args));
    // 1. Route to the first primary we can reach. Only a primary that could
    // not be reached at all is skipped; any answer from a coordinator,
    // success or failure, is final (retrying elsewhere would write a second
    // dot). Primaries believed up go first; the others are still tried (a
    // peer that is really down fails fast), so a stale "down" never blocks
    // a put. (A primary handing its put on coordinates it itself when no
    // other primary can be reached.)
    // With datacenters, this node's own datacenter's primaries go first:
    // a put is not sent across the WAN to be coordinated when a local
    // primary can do it.
    std::vector<ring::NodeIndex> order;
    for (ring::NodeIndex p : primaries) {
      if (replicas_.IsUp(p) && p != replicas_.self()) order.push_back(p);
    }
    for (ring::NodeIndex p : primaries) {
      if (!replicas_.IsUp(p) && p != replicas_.self()) order.push_back(p);
    }
    const uint32_t here = ring_.DcOf(replicas_.self());
    std::stable_partition(order.begin(), order.end(), [&](ring::NodeIndex p) {
      return ring_.DcOf(p) == here;
    });
    std::string unreachable;
    bool reroute = false;
    for (ring::NodeIndex p : order) {
      auto r = co_await replicas_.ForwardPut(p, args, epoch);
      if (r.ok() || r.status().code() != Code::kUnavailable ||
          r.status().quorum()) {
        co_return r;
      }
      if (ring_.epoch() != epoch && routed < kMaxReroutes) {
        reroute = true;
        break;
      }
      unreachable += (unreachable.empty() ? "" : ", ") + ring_.members()[p];
    }
    if (reroute) continue;
    if (is_primary) co_return co_await CoordinatePut(std::move(args));
    Status st(Code::kUnavailable, std::string(args.value ? "put" : "delete") +
                                      " failed: no primary of partition " +
                                      std::to_string(args.loc.partition) +
                                      " is reachable to coordinate it (" +
                                      unreachable + ")");
    st.WithQuorum({0, args.w, 0, false});
    co_return st;
  }
}

Awaitable<Result<PutOutcome>> Coordinator::CoordinatePut(PutArgs args) {
  const auto started = clock_.Now();
  auto ex = co_await asio::this_coro::executor;
  const auto preference = ring_.PreferenceList(args.loc.partition);
  const uint32_t n = ring_.replicas();
  const Deadline deadline = args.deadline;
  const char* op = args.value ? "put" : "delete";
  // After Shutdown() no replica task could be started: write nothing.
  if (tasks_.cancelled()) co_return ShuttingDown(op);
  // A put forwarded under another ring (a peer that has not applied the
  // cluster state this node has, or the other way round) may reach a node
  // that is no primary here: it writes nothing, and the sender, which
  // reads this as an unreachable primary, tries its next one.
  if (!Contains(std::vector<ring::NodeIndex>(preference.begin(),
                                             preference.begin() + n),
                replicas_.self())) {
    co_return Status(Code::kUnavailable,
                     std::string(op) + " refused: node " +
                         ring_.members()[replicas_.self()] +
                         " is not a primary of partition " +
                         std::to_string(args.loc.partition) +
                         " in its cluster state; nothing was written");
  }

  // pw cannot be met with fewer live primaries: refuse before writing.
  if (args.pw > 0) {
    uint32_t live = 0;
    for (uint32_t i = 0; i < n; ++i) {
      live += replicas_.IsUp(preference[i]) ? 1 : 0;
    }
    if (live < args.pw) {
      Status st(Code::kUnavailable,
                std::string(op) + " failed: only " + std::to_string(live) +
                    " of " + std::to_string(n) + " primaries are up, pw=" +
                    std::to_string(args.pw) + " required; nothing was written");
      st.WithQuorum({live, args.pw, n, false});
      co_return st;
    }
  }

  // 2. The new dot, stored on this replica. A failure here (e.g. storage
  // full) means nothing was written anywhere.
  auto local = co_await replicas_.CoordinateLocally(args);
  if (!local) co_return local.status();
  if (observer_) {
    observer_->ReplicaAcked(clock_.Now() - started,
                            ring_.site(replicas_.self()).dc);
  }
  // Shut down while the local write committed: the fan-out below would
  // start nothing, and waiting for its acks would only run out the clock.
  if (tasks_.cancelled()) {
    Status st = ShuttingDown(op);
    st.WithQuorum({1, args.w, n, /*maybe_applied=*/true});
    co_return st;
  }

  // 3-4. Fan out and wait for w (and pw) acks, an impossible quorum, or the
  // deadline.
  auto object = std::make_shared<const Object>(std::move(local.value()));
  uint64_t epoch = ring_.epoch();
  auto fan = FanOutPut(ex, args, object, started, /*local_acked=*/true);
  co_await fan->WaitDecided(deadline);
  // A replica at a newer epoch refused (this node then adopted its state),
  // or the node moved to a newer epoch meanwhile: the targets were chosen
  // by a ring that no longer routes this partition. The same object goes to
  // the targets of the ring now, counted afresh (where it already landed,
  // merging it again changes nothing), so an answer is never given on the
  // acks of a superseded placement (doc/membership.md, "Requests across
  // epochs").
  for (int again = 0; ring_.epoch() != epoch && again < kMaxReroutes &&
                      clock_.Now() < deadline && !tasks_.cancelled();
       ++again) {
    epoch = ring_.epoch();
    fan = FanOutPut(ex, args, object, started, /*local_acked=*/false);
    co_await fan->WaitDecided(deadline);
  }
  if (fan->Decision() == QuorumTally::State::kMet) {
    PutOutcome out;
    out.coordinated_here = true;
    out.siblings = static_cast<uint32_t>(object->siblings.size());
    if (out.siblings == 1) out.context = object->vv;
    out.seen = object->vv;
    co_return out;
  }
  // A failure waits for the replicas still out (within the deadline) so the
  // error tells exactly how many acknowledged.
  co_await fan->WaitAll(deadline);
  co_return fan->FailureStatus(op, /*maybe_applied=*/true);
}

std::shared_ptr<FanOut> Coordinator::FanOutPut(
    asio::any_io_executor ex, const PutArgs& args,
    std::shared_ptr<const Object> object, Clock::TimePoint started,
    bool local_acked) {
  const auto preference = ring_.PreferenceList(args.loc.partition);
  const uint32_t n = ring_.replicas();
  // While a change moves this partition, its pending replicas (the other
  // claim's primaries that are not primaries of this one) get every write
  // too, and each adds one to the acks required: w + P acks among n + P
  // replicas leave at least w on the primaries of either claim
  // (doc/membership.md, "Pending ranges").
  const std::vector<ring::NodeIndex>& pending =
      ring_.Pending(args.loc.partition);
  const auto extra = static_cast<uint32_t>(pending.size());
  auto fan =
      std::make_shared<FanOut>(ex, clock_, n + extra, args.w + extra, args.pw);

  // Live primaries get the object, a dead primary's replica goes to the
  // next live fallback as a hint. A replica with no live node fails. A
  // pending replica is no fallback: it gets the object as a replica below,
  // and one node must not count twice toward w + P.
  auto is_up = [this, &pending](ring::NodeIndex x) {
    return replicas_.IsUp(x) && !Contains(pending, x);
  };
  // With datacenters a dead primary's hint goes to a fallback in its own
  // datacenter when one is up.
  std::function<bool(ring::NodeIndex, ring::NodeIndex)> same_dc;
  if (!ring_.dcs().empty()) {
    same_dc = [this](ring::NodeIndex a, ring::NodeIndex b) {
      return ring_.DcOf(a) == ring_.DcOf(b);
    };
  }
  auto targets = ring::SloppyTargets(preference, n, is_up, same_dc);
  // Primaries no target stands for: they fail at once.
  std::vector<ring::NodeIndex> missing;
  for (uint32_t i = 0; i < n; ++i) {
    const ring::NodeIndex p = preference[i];
    if (std::none_of(targets.begin(), targets.end(),
                     [p](const ring::ReplicaTarget& t) {
                       return t.node == p || t.hint_for == p;
                     })) {
      missing.push_back(p);
    }
  }
  // Pending replicas take the object as replicas, not hints; they count
  // toward w + P, never toward pw (they are not primaries of this claim).
  const size_t sloppy = targets.size();
  for (ring::NodeIndex p : pending) targets.push_back({p, std::nullopt});
  // local_quorum, each_quorum: a datacenter's acks are those of its
  // members (a hint counts where its holder is), and its pending replicas
  // add to what it requires, as they do to w.
  if (!args.dc_w.empty()) {
    std::vector<uint32_t> contacted(args.dc_w.size(), 0);
    std::vector<uint32_t> required = args.dc_w;
    auto count = [&](ring::NodeIndex x) {
      const uint32_t d = ring_.DcOf(x);
      if (d < contacted.size()) ++contacted[d];
    };
    for (const ring::ReplicaTarget& t : targets) count(t.node);
    for (ring::NodeIndex p : missing) count(p);
    for (ring::NodeIndex p : pending) {
      const uint32_t d = ring_.DcOf(p);
      if (d < required.size() && required[d] > 0) ++required[d];
    }
    fan->CountDcs(contacted, required, ring_);
  }
  for (ring::NodeIndex p : missing) {
    fan->Record(false, true, false, ring_.DcOf(p));
  }
  // With datacenters, the targets in another datacenter get the object
  // through one forwarder there (the first of them): one message crosses
  // to each remote DC, not one per replica.
  std::vector<bool> relayed(targets.size(), false);
  const uint32_t here = ring_.DcOf(replicas_.self());
  for (uint32_t d = 0; d < ring_.dcs().size(); ++d) {
    if (d == here) continue;
    std::vector<size_t> group;
    for (size_t i = 0; i < targets.size(); ++i) {
      if (ring_.DcOf(targets[i].node) == d) group.push_back(i);
    }
    if (group.size() < 2) continue;
    std::vector<Send> sends;
    for (size_t i : group) {
      relayed[i] = true;
      sends.push_back({targets[i], i < sloppy && !targets[i].hint_for, d,
                       ring_.site(targets[i].node).dc});
    }
    const uint32_t wait_for = d < args.dc_w.size() ? args.dc_w[d] : 0;
    tasks_.Spawn(RelayVia(clock_, replicas_, tasks_, observer_,
                          std::move(sends), wait_for, args.key, args.loc,
                          object, fan, args.deadline, ring_.epoch(), started));
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    if (relayed[i]) continue;
    const ring::ReplicaTarget& t = targets[i];
    const bool primary = i < sloppy && !t.hint_for.has_value();
    // The coordinator's own write is this replica's (step 2).
    if (local_acked && t.node == replicas_.self() && primary) {
      fan->Record(true, primary, false, ring_.DcOf(t.node));
      continue;
    }
    tasks_.Spawn(SendOne(
        clock_, replicas_, observer_,
        {t, primary, ring_.DcOf(t.node), ring_.site(t.node).dc}, args.key,
        args.loc, object, fan, args.deadline, ring_.epoch(), started));
  }
  return fan;
}

Awaitable<Result<Object>> Coordinator::Get(GetArgs args) {
  uint64_t epoch = ring_.epoch();
  Result<Object> answer = co_await GetOnce(args);
  // As for puts: a read whose replicas were chosen by a ring this node has
  // since left behind (a replica at a newer epoch refused) is asked again
  // of the primaries of the ring now.
  for (int again = 0; ring_.epoch() != epoch && again < kMaxReroutes &&
                      clock_.Now() < args.deadline && !tasks_.cancelled();
       ++again) {
    epoch = ring_.epoch();
    answer = co_await GetOnce(args);
  }
  co_return answer;
}

Awaitable<Result<Object>> Coordinator::GetOnce(GetArgs args) {
  auto ex = co_await asio::this_coro::executor;
  const uint64_t epoch = ring_.epoch();
  const auto primaries = ring_.Primaries(args.loc.partition);
  const Deadline deadline = args.deadline;
  // After Shutdown() no replica read could be started.
  if (tasks_.cancelled()) co_return ShuttingDown("get");
  // Reads go to the primaries only (hints are not read), so every reply is
  // a primary's: r and pr count the same replies.
  if (args.pr > 0) {
    uint32_t live = 0;
    for (ring::NodeIndex p : primaries) live += replicas_.IsUp(p) ? 1 : 0;
    if (live < args.pr) {
      Status st(Code::kUnavailable,
                "get failed: only " + std::to_string(live) + " of " +
                    std::to_string(primaries.size()) +
                    " primaries are up, pr=" + std::to_string(args.pr) +
                    " required");
      st.WithQuorum(
          {live, args.pr, static_cast<uint32_t>(primaries.size()), false});
      co_return st;
    }
  }
  auto fan = std::make_shared<FanOut>(
      ex, clock_, static_cast<uint32_t>(primaries.size()), args.r, args.pr);
  if (!args.dc_r.empty()) {
    std::vector<uint32_t> contacted(args.dc_r.size(), 0);
    for (ring::NodeIndex p : primaries) {
      if (ring_.DcOf(p) < contacted.size()) ++contacted[ring_.DcOf(p)];
    }
    fan->CountDcs(contacted, args.dc_r, ring_);
  }

  // 1. Ask every primary for its own copy. At local_quorum or each_quorum
  // one believed down counts as failed at once (as a put counts it): a
  // datacenter cut off makes each_quorum fail now rather than at the
  // deadline. (Other levels still ask it: a node just back may be marked
  // down a moment longer, and a read at r = n needs it.)
  for (size_t i = 0; i < primaries.size(); ++i) {
    if (!args.dc_r.empty() && !replicas_.IsUp(primaries[i])) {
      fan->Record(false, true, false, ring_.DcOf(primaries[i]));
      continue;
    }
    tasks_.Spawn([](ReplicaClient& replicas, ring::NodeIndex node, size_t slot,
                    uint32_t dc, std::string key, ring::KeyLocation loc,
                    std::shared_ptr<FanOut> fan, Deadline deadline,
                    uint64_t epoch) -> Awaitable<void> {
      Result<Object> r = Status(Code::kInternal, "unset");
      try {
        r = co_await replicas.Read(node, key, loc, deadline, epoch);
      } catch (...) {
        fan->Record(false, true, false, dc);  // cancelled: as in CoordinatePut
        throw;
      }
      if (r.status().code() == Code::kTimeout) co_return;  // outstanding
      if (r.ok()) fan->replies[slot] = std::move(r.value());
      fan->Record(r.ok(), /*primary=*/true,
                  r.status().code() == Code::kOverloaded, dc);
    }(replicas_, primaries[i], i, ring_.DcOf(primaries[i]), args.key, args.loc,
                                    fan, deadline, epoch));
  }

  // 2. Answer with the merge of what arrived by the time r replied.
  fan->wake_each = args.floor.has_value();
  co_await fan->WaitDecided(deadline);
  Result<Object> answer = Status(Code::kInternal, "unset");
  if (fan->Decision() == QuorumTally::State::kMet) {
    Object merged = fan->Merged();
    // A session read answers only once some replica reflects the session's
    // floor: it waits for the other primaries, one reply at a time, up to
    // the deadline (quorum/session.h).
    while (args.floor && !Satisfies(merged, *args.floor) &&
           !fan->tally.all_replied() && clock_.Now() < deadline) {
      co_await fan->WaitMore(fan->replied(), deadline);
      merged = fan->Merged();
    }
    if (!args.floor || Satisfies(merged, *args.floor)) {
      answer = std::move(merged);
    } else {
      answer = SessionRefusal(*args.floor, fan->tally.successes(),
                              fan->tally.contacted());
    }
  } else {
    co_await fan->WaitAll(deadline);  // count every reply in the error
    answer = fan->FailureStatus("get", /*maybe_applied=*/false);
  }

  // 3. Read repair, after the answer (nothing after Shutdown()).
  tasks_.Spawn([](Clock& clock, ReplicaClient& replicas, const ring::Ring& ring,
                  CoordinatorObserver* observer, CoordinatorOptions options,
                  std::vector<ring::NodeIndex> primaries, std::string key,
                  ring::KeyLocation loc, std::shared_ptr<FanOut> fan,
                  Deadline deadline, uint64_t epoch) -> Awaitable<void> {
    co_await fan->WaitAll(deadline);
    // The ring moved on: these were not (all) the primaries any more, and
    // the request was asked again of those that are.
    if (ring.epoch() != epoch) co_return;
    Object merged = fan->Merged();
    if (merged.vv.empty()) co_return;  // nothing anywhere
    // Repairs get their own short deadline: the request's may be spent.
    const Deadline repair_deadline = clock.Now() + options.read_repair_timeout;
    for (size_t i = 0; i < primaries.size(); ++i) {
      const auto& reply = fan->replies[i];
      if (!reply) continue;  // unreachable: hinted handoff / AAE's job
      using F = CoordinatorObserver::Freshness;
      F freshness = reply->SameCausalState(merged) ? F::kCurrent
                    : reply->vv.empty()            ? F::kMissing
                                                   : F::kStale;
      if (observer) {
        observer->ReplicaFreshness(freshness);
        if (freshness == F::kStale) {
          if (auto age = StaleAge(*reply, merged, clock.WallMs())) {
            observer->StaleReplicaAge(*age, ring.site(primaries[i]).dc);
          }
        }
      }
      if (freshness == F::kCurrent) continue;
      // The planted bug (CoordinatorOptions::TEST_repair_skips_stale).
      if (options.TEST_repair_skips_stale && freshness == F::kStale) {
        continue;
      }
      Status st = co_await replicas.Replicate(primaries[i], key, loc, merged,
                                              repair_deadline, epoch);
      if (observer) observer->ReadRepairSent(st.ok());
    }
  }(clock_, replicas_, ring_, observer_, options_, primaries, args.key,
                                                     args.loc, fan, deadline,
                                                     epoch));

  co_return answer;
}

}  // namespace shoal::quorum
