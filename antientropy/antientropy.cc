#include "antientropy/antientropy.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "quorum/version.h"
#include "storage/async.h"
#include "wire/codec.h"

namespace shoal::antientropy {

namespace asio = boost::asio;

namespace {

// Branches asked for per leaves request, leaves per key-list request, keys
// per fetch/repair batch.
constexpr size_t kBranchesPerCall = 64;
constexpr size_t kLeavesPerCall = 64;
constexpr size_t kKeysPerBatch = 64;

// now - written_at of the oldest sibling of `merged` that `side` lacks, in
// seconds; nullopt when it lacks none (e.g. only its vector was behind).
std::optional<double> LackedFor(const quorum::Object& merged,
                                const quorum::Object& side, int64_t now_ms) {
  std::optional<int64_t> oldest;
  for (const quorum::Sibling& s : merged.siblings) {
    if (side.HasDot(s.dot)) continue;
    if (!oldest || s.written_at_ms < *oldest) oldest = s.written_at_ms;
  }
  if (!oldest) return std::nullopt;
  return std::max<int64_t>(0, now_ms - *oldest) / 1000.0;
}

template <typename T>
Result<T> Expect(Result<wire::Body> reply, const char* what) {
  if (!reply) return reply.status();
  if (auto* t = std::get_if<T>(&reply.value())) return std::move(*t);
  return Status(Code::kInternal,
                std::string("unexpected reply to an anti-entropy ") + what);
}

wire::Body Error(Status st) { return wire::ErrorReply{std::move(st)}; }

std::string ResultText(const Status& st) {
  return st.ok() ? std::string("ok") : st.ToString();
}

}  // namespace

AntiEntropy::AntiEntropy(asio::any_io_executor executor, Clock& clock,
                         const ring::Ring& ring, ring::NodeIndex self,
                         storage::Store& store, Trees& trees,
                         Transport& transport, Options options,
                         Observer* observer)
    : executor_(executor),
      clock_(clock),
      ring_(ring),
      self_(self),
      store_(store),
      trees_(trees),
      transport_(transport),
      options_(options),
      observer_(observer),
      timer_(clock, executor),
      tasks_(executor),
      stats_(ring.partitions()) {
  repair_bucket_.rate = std::max<uint32_t>(1, options_.repair_rate);
  transfer_bucket_.rate =
      std::max<uint32_t>(1, options_.transfer_rate != 0 ? options_.transfer_rate
                                                        : options_.repair_rate);
}

void AntiEntropy::Start() {
  if (options_.enabled) tasks_.Spawn(Run());
}

wire::Awaitable<void> AntiEntropy::Shutdown() {
  tasks_.Cancel();
  timer_.cancel();
  co_await tasks_.Wait();
}

// ---------------------------------------------------------------------------
// The scheduler.

wire::Awaitable<void> AntiEntropy::Run() {
  const std::vector<uint32_t>& partitions = trees_.partitions();
  // Each node starts at its own random place in the round, so the replicas
  // of a partition do not all exchange it at the same moment.
  size_t next =
      options_.start_seed != 0 ? options_.start_seed : std::random_device{}();
  // Ends when Shutdown() cancels the group: the wait (or the exchange's
  // next call) completes with operation_aborted and, as a cancelled
  // coroutine, the next co_await throws.
  while (!tasks_.cancelled()) {
    timer_.expires_after(options_.interval);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (tasks_.cancelled()) co_return;
    if (partitions.empty()) continue;
    if (options_.busy && options_.busy()) continue;  // foreground first
    const uint32_t p = partitions[next++ % partitions.size()];
    if (!trees_.Ready(p)) continue;  // exchanges wait for the tree
    const auto primaries = ring_.Primaries(p);
    // A partition this node is receiving (a pending replica) is exchanged
    // by its transfer (node/transfers.h), not twice at once.
    if (std::find(primaries.begin(), primaries.end(), self_) ==
        primaries.end()) {
      continue;
    }
    for (ring::NodeIndex peer : primaries) {
      if (peer == self_ || !transport_.IsUp(peer)) continue;
      co_await Exchange(p, peer, repair_bucket_);
      if (tasks_.cancelled()) co_return;
    }
  }
}

wire::Awaitable<wire::AaeExchangeResult> AntiEntropy::Exchange(
    uint32_t partition, ring::NodeIndex peer, Bucket& bucket) {
  uint64_t bytes = 0;
  auto outcome = co_await Compare(partition, peer, bytes, bucket);
  wire::AaeExchangeResult result;
  result.peer = ring_.members()[peer];
  result.bytes = bytes;
  result.result = ResultText(outcome.status());
  if (outcome.ok()) {
    result.keys_repaired = outcome->keys_repaired;
    result.segments_differing = outcome->segments_differing;
  } else {
    spdlog::debug("anti-entropy exchange of partition {} with {}: {}",
                  partition, result.peer, result.result);
  }
  PartitionStats& s = stats_[partition];
  ++s.exchanges;
  s.last = clock_.Now();
  s.last_peer = result.peer;
  s.last_result = result.result;
  s.keys_repaired_last = result.keys_repaired;
  s.keys_repaired_total += result.keys_repaired;
  if (observer_ != nullptr) {
    observer_->Exchanged(outcome.ok());
    if (result.keys_repaired > 0) observer_->KeysRepaired(result.keys_repaired);
  }
  co_return result;
}

wire::Awaitable<Result<AntiEntropy::Outcome>> AntiEntropy::Compare(
    uint32_t partition, ring::NodeIndex peer, uint64_t& bytes, Bucket& bucket) {
  auto local_root = trees_.Root(partition);
  if (!local_root) co_return local_root.status();
  auto segments =
      co_await DifferingSegments(partition, peer, *local_root, bytes);
  if (!segments) co_return segments.status();
  Outcome out;
  out.segments_differing =
      static_cast<uint32_t>(segments->compare.size() + segments->pull.size());
  // Leaves empty here come whole with their objects (no key list to
  // compare); the others by the keys whose fingerprints differ.
  if (!segments->pull.empty()) {
    auto pulled = co_await Pull(partition, peer, segments->pull, bytes, bucket);
    if (!pulled) co_return pulled.status();
    out.keys_repaired += *pulled;
  }
  if (segments->compare.empty()) co_return out;
  auto keys = co_await DifferingKeys(partition, peer, segments->compare, bytes);
  if (!keys) co_return keys.status();
  for (size_t i = 0; i < keys->size(); i += kKeysPerBatch) {
    const size_t end = std::min(keys->size(), i + kKeysPerBatch);
    std::vector<std::string> batch(keys->begin() + i, keys->begin() + end);
    co_await Throttle(batch.size(), bucket);
    if (tasks_.cancelled()) {
      co_return Status(Code::kUnavailable, "node stopping");
    }
    auto repaired = co_await Repair(peer, batch, bytes);
    if (!repaired) co_return repaired.status();
    out.keys_repaired += *repaired;
  }
  co_return out;
}

wire::Awaitable<Result<AntiEntropy::Leaves>> AntiEntropy::DifferingSegments(
    uint32_t partition, ring::NodeIndex peer, uint64_t local_root,
    uint64_t& bytes) {
  const uint32_t segments = trees_.segments();
  wire::Body root_req =
      wire::AaeTreeRequest{partition, segments, wire::AaeLevel::kRoot, {}};
  auto root_reply = co_await Call(peer, std::move(root_req), bytes);
  auto root = Expect<wire::AaeTreeReply>(std::move(root_reply), "tree request");
  if (!root) co_return root.status();
  if (root->hashes.size() != 1) {
    co_return Status(Code::kInternal, "a root reply without one hash");
  }
  if (root->hashes[0] == local_root) co_return Leaves{};

  wire::Body branches_req =
      wire::AaeTreeRequest{partition, segments, wire::AaeLevel::kBranches, {}};
  auto remote_branches_reply =
      co_await Call(peer, std::move(branches_req), bytes);
  auto remote_branches = Expect<wire::AaeTreeReply>(
      std::move(remote_branches_reply), "tree request");
  if (!remote_branches) co_return remote_branches.status();
  auto local_branches = trees_.Branches(partition);
  if (!local_branches) co_return local_branches.status();
  auto branches = merkle::Differing(*local_branches, remote_branches->hashes);
  if (!branches) co_return branches.status();

  Leaves out;
  for (size_t i = 0; i < branches->size(); i += kBranchesPerCall) {
    const size_t end = std::min(branches->size(), i + kBranchesPerCall);
    std::vector<uint32_t> chunk(branches->begin() + i, branches->begin() + end);
    wire::Body leaves_req = wire::AaeTreeRequest{
        partition, segments, wire::AaeLevel::kLeaves, chunk};
    auto remote_reply = co_await Call(peer, std::move(leaves_req), bytes);
    auto remote =
        Expect<wire::AaeTreeReply>(std::move(remote_reply), "tree request");
    if (!remote) co_return remote.status();
    auto local = trees_.Leaves(partition, chunk);
    if (!local) co_return local.status();
    auto leaves = merkle::Differing(*local, remote->hashes);
    if (!leaves) co_return leaves.status();
    for (uint32_t l : *leaves) {
      const uint32_t segment =
          chunk[l / merkle::kFanout] * merkle::kFanout + l % merkle::kFanout;
      // A leaf of 0 holds no key here (an absent key adds nothing to it).
      ((*local)[l] == 0 ? out.pull : out.compare).push_back(segment);
    }
  }
  co_return out;
}

wire::Awaitable<Result<std::vector<std::string>>> AntiEntropy::DifferingKeys(
    uint32_t partition, ring::NodeIndex peer,
    const std::vector<uint32_t>& segments, uint64_t& bytes) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < segments.size()) {
    const size_t end = std::min(segments.size(), at + kLeavesPerCall);
    std::vector<uint32_t> chunk(segments.begin() + at, segments.begin() + end);
    wire::Body keys_req =
        wire::AaeKeysRequest{partition, trees_.segments(), chunk};
    auto remote_reply = co_await Call(peer, std::move(keys_req), bytes);
    auto remote =
        Expect<wire::AaeKeysReply>(std::move(remote_reply), "key list request");
    if (!remote) co_return remote.status();
    if (remote->leaves_listed == 0 || remote->leaves_listed > chunk.size()) {
      co_return Status(Code::kInternal, "a key list that lists no leaf");
    }
    chunk.resize(remote->leaves_listed);
    uint32_t listed = 0;
    auto local = ListKeys(partition, chunk, SIZE_MAX, &listed);
    if (!local) co_return local.status();
    std::vector<std::string> keys = merkle::DifferingKeys(
        std::move(local).value(), std::move(remote->keys));
    out.insert(out.end(), std::make_move_iterator(keys.begin()),
               std::make_move_iterator(keys.end()));
    at += chunk.size();
  }
  co_return out;
}

wire::Awaitable<Result<uint64_t>> AntiEntropy::Repair(
    ring::NodeIndex peer, const std::vector<std::string>& keys,
    uint64_t& bytes) {
  // P's copies, asked again from where a budget-bounded reply stopped.
  std::vector<wire::KeyObject> remote;
  while (remote.size() < keys.size()) {
    wire::AaeFetchRequest fetch;
    fetch.keys.assign(keys.begin() + remote.size(), keys.end());
    wire::Body fetch_req = std::move(fetch);
    auto got_reply = co_await Call(peer, std::move(fetch_req), bytes);
    auto got = Expect<wire::AaeFetchReply>(std::move(got_reply), "fetch");
    if (!got) co_return got.status();
    if (got->objects.empty()) {
      co_return Status(Code::kInternal, "a fetch reply with no object");
    }
    for (quorum::Object& o : got->objects) {
      if (remote.size() == keys.size()) break;
      remote.push_back({keys[remote.size()], std::move(o)});
    }
  }
  co_return co_await Merge(peer, std::move(remote), bytes);
}

wire::Awaitable<Result<uint64_t>> AntiEntropy::Pull(
    uint32_t partition, ring::NodeIndex peer,
    const std::vector<uint32_t>& segments, uint64_t& bytes, Bucket& bucket) {
  uint64_t changed = 0;
  size_t at = 0;
  while (at < segments.size()) {
    const size_t end = std::min(segments.size(), at + kLeavesPerCall);
    wire::Body req = wire::AaeKeysRequest{
        partition, trees_.segments(),
        std::vector<uint32_t>(segments.begin() + at, segments.begin() + end),
        /*with_objects=*/true};
    auto reply = co_await Call(peer, std::move(req), bytes);
    auto got = Expect<wire::AaeKeysReply>(std::move(reply), "leaf pull");
    if (!got) co_return got.status();
    if (got->leaves_listed == 0 || got->leaves_listed > end - at) {
      co_return Status(Code::kInternal, "a leaf pull that lists no leaf");
    }
    at += got->leaves_listed;
    if (!got->objects.empty()) {
      co_await Throttle(got->objects.size(), bucket);
      if (tasks_.cancelled()) {
        co_return Status(Code::kUnavailable, "node stopping");
      }
      auto merged = co_await Merge(peer, std::move(got->objects), bytes);
      if (!merged) co_return merged.status();
      changed += *merged;
    }
    // A leaf too large for one reply came as a key list: fetched in batches.
    for (size_t i = 0; i < got->keys.size(); i += kKeysPerBatch) {
      std::vector<std::string> batch;
      for (size_t j = i; j < std::min(got->keys.size(), i + kKeysPerBatch);
           ++j) {
        batch.push_back(std::move(got->keys[j].key));
      }
      co_await Throttle(batch.size(), bucket);
      if (tasks_.cancelled()) {
        co_return Status(Code::kUnavailable, "node stopping");
      }
      auto repaired = co_await Repair(peer, batch, bytes);
      if (!repaired) co_return repaired.status();
      changed += *repaired;
    }
  }
  co_return changed;
}

wire::Awaitable<Result<uint64_t>> AntiEntropy::Merge(
    ring::NodeIndex peer, std::vector<wire::KeyObject> remote,
    uint64_t& bytes) {
  const int64_t now_ms = clock_.WallMs();
  std::vector<storage::WriteOp> local_ops;
  std::vector<wire::KeyObject> push;
  for (wire::KeyObject& theirs : remote) {
    const ring::KeyLocation loc = ring_.Locate(theirs.key);
    auto stored = store_.Get(theirs.key, loc);
    if (!stored) co_return stored.status();
    const quorum::Object local =
        std::move(stored).value().value_or(quorum::Object{});
    quorum::Object merged = quorum::Sync(local, theirs.object);
    if (!merged.SameCausalState(local)) {
      if (auto age = LackedFor(merged, local, now_ms); age && observer_) {
        observer_->DivergenceAge(*age);
      }
      storage::WriteOp op;
      op.kind = storage::WriteOp::Kind::kMerge;
      op.key = theirs.key;
      op.loc = loc;
      op.incoming = theirs.object;
      local_ops.push_back(std::move(op));
    }
    if (!merged.SameCausalState(theirs.object)) {
      if (auto age = LackedFor(merged, theirs.object, now_ms);
          age && observer_) {
        observer_->DivergenceAge(*age);
      }
      push.push_back({std::move(theirs.key), std::move(merged)});
    }
  }

  uint64_t changed = 0;
  if (!local_ops.empty()) {
    auto results =
        co_await storage::AsyncWriteAll(store_, std::move(local_ops));
    for (const auto& r : results) {
      if (!r.ok()) co_return r.status();
      changed += r->changed ? 1 : 0;
    }
  }
  // Pushed in budget-sized requests.
  size_t i = 0;
  while (i < push.size()) {
    wire::AaeRepairRequest req;
    size_t bytes = 0;
    while (
        i < push.size() &&
        (req.items.empty() ||
         bytes + push[i].object.ValueBytes() + push[i].key.size() < Budget())) {
      bytes += push[i].object.ValueBytes() + push[i].key.size();
      req.items.push_back(std::move(push[i]));
      ++i;
    }
    wire::Body repair_req = std::move(req);
    auto acked_reply = co_await Call(peer, std::move(repair_req), bytes);
    auto acked = Expect<wire::AaeRepairReply>(std::move(acked_reply), "repair");
    if (!acked) co_return acked.status();
    changed += acked->changed;
  }
  co_return changed;
}

wire::Awaitable<Result<wire::Body>> AntiEntropy::Call(
    ring::NodeIndex peer, wire::Body request, uint64_t& exchange_bytes) {
  scratch_.clear();
  wire::AppendFrame(wire::Message{0, request}, scratch_);
  uint64_t bytes = scratch_.size();
  const wire::Deadline deadline = clock_.Now() + options_.call_timeout;
  auto reply = co_await transport_.Call(peer, std::move(request), deadline);
  if (reply) {
    scratch_.clear();
    wire::AppendFrame(wire::Message{0, *reply}, scratch_);
    bytes += scratch_.size();
  }
  bytes_ += bytes;
  exchange_bytes += bytes;
  if (observer_ != nullptr) observer_->BytesExchanged(bytes);
  co_return reply;
}

wire::Awaitable<void> AntiEntropy::Throttle(size_t keys, Bucket& bucket) {
  const double rate = bucket.rate;
  const auto now = clock_.Now();
  if (bucket.at == Clock::TimePoint{}) bucket.tokens = rate;  // first use
  const double elapsed = std::chrono::duration<double>(now - bucket.at).count();
  bucket.tokens = std::min(rate, bucket.tokens + elapsed * rate);
  bucket.at = now;
  bucket.tokens -= static_cast<double>(keys);
  if (bucket.tokens >= 0) co_return;
  // In debt: wait until the bucket is back at zero.
  const auto wait = std::chrono::duration_cast<Clock::Duration>(
      std::chrono::duration<double>(-bucket.tokens / rate));
  Timer t(clock_, executor_);
  t.expires_after(wait);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  bucket.tokens = 0;
  bucket.at = clock_.Now();
}

// ---------------------------------------------------------------------------
// Requests from peers.

size_t AntiEntropy::Budget() const {
  return std::max<uint64_t>(options_.frame_cap / 2, 64 << 10);
}

Status AntiEntropy::CheckPartition(uint32_t partition,
                                   uint32_t segments) const {
  if (partition >= ring_.partitions()) {
    return Status(Code::kInvalidArgument,
                  "partition " + std::to_string(partition) +
                      " out of range: the ring has " +
                      std::to_string(ring_.partitions()) + " partitions");
  }
  if (!trees_.Holds(partition)) {
    return Status(Code::kInvalidArgument,
                  "node " + ring_.members()[self_] +
                      " holds no replica of partition " +
                      std::to_string(partition));
  }
  if (segments != trees_.segments()) {
    return Status(Code::kInvalidArgument,
                  "tree shape mismatch: " + std::to_string(segments) +
                      " segments asked, this node has " +
                      std::to_string(trees_.segments()) +
                      " (different partition counts?)");
  }
  return Status::Ok();
}

wire::Body AntiEntropy::OnTree(const wire::AaeTreeRequest& req) {
  if (Status st = CheckPartition(req.partition, req.segments); !st.ok()) {
    return Error(st);
  }
  switch (req.level) {
    case wire::AaeLevel::kRoot: {
      auto root = trees_.Root(req.partition);
      if (!root) return Error(root.status());
      return wire::AaeTreeReply{{*root}};
    }
    case wire::AaeLevel::kBranches: {
      auto b = trees_.Branches(req.partition);
      if (!b) return Error(b.status());
      return wire::AaeTreeReply{std::move(b).value()};
    }
    case wire::AaeLevel::kLeaves: {
      if (req.branches.size() > kBranchesPerCall * 16) {
        return Error(Status(Code::kInvalidArgument,
                            "too many branches in one request (" +
                                std::to_string(req.branches.size()) + ")"));
      }
      auto l = trees_.Leaves(req.partition, req.branches);
      if (!l) return Error(l.status());
      return wire::AaeTreeReply{std::move(l).value()};
    }
  }
  return Error(Status(Code::kInvalidArgument, "unknown tree level"));
}

Result<std::vector<merkle::KeyFingerprint>> AntiEntropy::ListKeys(
    uint32_t partition, const std::vector<uint32_t>& leaves, size_t budget,
    uint32_t* listed) const {
  return ScanLeaves<merkle::KeyFingerprint>(
      partition, leaves, budget, listed,
      [](std::string_view key, const quorum::Object& o) {
        return std::pair{merkle::KeyFingerprint{std::string(key),
                                                quorum::CausalFingerprint(o)},
                         key.size() + 16};
      });
}

template <typename Item, typename Make>
Result<std::vector<Item>> AntiEntropy::ScanLeaves(
    uint32_t partition, const std::vector<uint32_t>& leaves, size_t budget,
    uint32_t* listed, Make make) const {
  const uint32_t segments = trees_.segments();
  std::vector<Item> out;
  size_t bytes = 0;
  *listed = 0;
  for (uint32_t leaf : leaves) {
    if (leaf >= segments) {
      return Status(Code::kInvalidArgument,
                    "segment " + std::to_string(leaf) + " out of range (" +
                        std::to_string(segments) + " segments)");
    }
    std::vector<Item> these;
    size_t these_bytes = 0;
    auto scanned = store_.ScanObjects(
        partition, merkle::FirstKeySegment(leaf, segments),
        merkle::LastKeySegment(leaf, segments),
        [&](std::string_view key, uint32_t, const quorum::Object& o) {
          auto [item, size] = make(key, o);
          these.push_back(std::move(item));
          these_bytes += size;
          return true;
        });
    if (!scanned) return scanned.status();
    if (*listed > 0 && bytes + these_bytes > budget) break;
    bytes += these_bytes;
    out.insert(out.end(), std::make_move_iterator(these.begin()),
               std::make_move_iterator(these.end()));
    ++*listed;
  }
  return out;
}

wire::Body AntiEntropy::OnKeys(const wire::AaeKeysRequest& req) {
  if (Status st = CheckPartition(req.partition, req.segments); !st.ok()) {
    return Error(st);
  }
  if (req.leaves.empty()) {
    return Error(Status(Code::kInvalidArgument, "a key list of no leaves"));
  }
  uint32_t listed = 0;
  if (req.with_objects) {
    auto objects = ScanLeaves<wire::KeyObject>(
        req.partition, req.leaves, Budget(), &listed,
        [](std::string_view key, const quorum::Object& o) {
          return std::pair{wire::KeyObject{std::string(key), o},
                           key.size() + o.ValueBytes()};
        });
    if (!objects) return Error(objects.status());
    size_t bytes = 0;
    for (const wire::KeyObject& o : *objects) {
      bytes += o.key.size() + o.object.ValueBytes();
    }
    // One leaf over the budget (large values) is listed by fingerprint
    // instead, and the asker fetches its keys in budget-sized batches.
    if (bytes <= Budget()) {
      return wire::AaeKeysReply{{}, listed, std::move(objects).value()};
    }
    listed = 1;
    auto keys = ListKeys(req.partition, {req.leaves[0]}, SIZE_MAX, &listed);
    if (!keys) return Error(keys.status());
    return wire::AaeKeysReply{std::move(keys).value(), listed, {}};
  }
  auto keys = ListKeys(req.partition, req.leaves, Budget(), &listed);
  if (!keys) return Error(keys.status());
  return wire::AaeKeysReply{std::move(keys).value(), listed, {}};
}

wire::Body AntiEntropy::OnFetch(const wire::AaeFetchRequest& req) {
  wire::AaeFetchReply reply;
  size_t bytes = 0;
  for (const std::string& key : req.keys) {
    if (key.empty() || key.size() > wire::kMaxKeyBytes) {
      return Error(Status(Code::kInvalidArgument,
                          "a fetch for a key of " + std::to_string(key.size()) +
                              " bytes (keys are 1.." +
                              std::to_string(wire::kMaxKeyBytes) + " bytes)"));
    }
    auto got = store_.Get(key, ring_.Locate(key));
    if (!got) return Error(got.status());
    quorum::Object o = std::move(got).value().value_or(quorum::Object{});
    const size_t size = o.ValueBytes() + key.size();
    if (!reply.objects.empty() && bytes + size > Budget()) break;
    bytes += size;
    reply.objects.push_back(std::move(o));
  }
  return reply;
}

wire::Awaitable<wire::Body> AntiEntropy::OnRepair(wire::AaeRepairRequest req) {
  std::vector<storage::WriteOp> ops;
  ops.reserve(req.items.size());
  for (wire::KeyObject& item : req.items) {
    if (item.key.empty() || item.key.size() > wire::kMaxKeyBytes) {
      co_return Error(Status(Code::kInvalidArgument,
                             "a repair for a key of " +
                                 std::to_string(item.key.size()) + " bytes"));
    }
    storage::WriteOp op;
    op.kind = storage::WriteOp::Kind::kMerge;
    op.loc = ring_.Locate(item.key);
    op.key = std::move(item.key);
    op.incoming = std::move(item.object);
    ops.push_back(std::move(op));
  }
  auto results = co_await storage::AsyncWriteAll(store_, std::move(ops));
  uint32_t changed = 0;
  for (const auto& r : results) {
    if (!r.ok()) co_return Error(r.status());
    changed += r->changed ? 1 : 0;
  }
  co_return wire::AaeRepairReply{changed};
}

// ---------------------------------------------------------------------------
// Operator requests.

wire::AaeStatusReply AntiEntropy::OnStatus() const {
  wire::AaeStatusReply reply;
  reply.node = ring_.members()[self_];
  reply.enabled = options_.enabled;
  reply.bytes = bytes_;
  for (const PartitionStats& s : stats_) {
    reply.exchanges += s.exchanges;
    reply.keys_repaired += s.keys_repaired_total;
  }
  const auto now = clock_.Now();
  for (uint32_t p : trees_.partitions()) {
    const PartitionStats& s = stats_[p];
    wire::AaePartitionStatus ps;
    ps.partition = p;
    ps.tree_ready = trees_.Ready(p);
    ps.exchanges = s.exchanges;
    if (s.last) {
      ps.last_exchange_ms_ago =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - *s.last)
              .count();
    }
    ps.last_peer = s.last_peer;
    ps.last_result = s.last_result;
    ps.keys_repaired_last = s.keys_repaired_last;
    ps.keys_repaired_total = s.keys_repaired_total;
    reply.partitions.push_back(std::move(ps));
  }
  return reply;
}

wire::Awaitable<wire::Body> AntiEntropy::OnRun(wire::AaeRunRequest req) {
  if (Status st = CheckPartition(req.partition, trees_.segments()); !st.ok()) {
    co_return Error(st);
  }
  wire::AaeRunReply reply;
  reply.node = ring_.members()[self_];
  reply.partition = req.partition;
  for (ring::NodeIndex peer : ring_.Primaries(req.partition)) {
    if (peer == self_) continue;
    wire::AaeExchangeResult r =
        co_await Exchange(req.partition, peer, repair_bucket_);
    reply.exchanges.push_back(std::move(r));
  }
  co_return reply;
}

}  // namespace shoal::antientropy
