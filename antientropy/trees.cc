#include "antientropy/trees.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "quorum/version.h"
#include "wire/codec.h"

namespace shoal::antientropy {

Trees::Trees(const ring::Ring& ring, ring::NodeIndex self)
    : segments_(merkle::SegmentsFor(ring.partitions())) {
  slots_.reserve(ring.partitions());
  for (uint32_t p = 0; p < ring.partitions(); ++p) {
    slots_.push_back(std::make_unique<Slot>(segments_));
  }
  partitions_ = ring.HeldBy(self);  // pending ones too (a change restarted)
  for (uint32_t p : partitions_) slots_[p]->held = true;
}

Trees::~Trees() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (rebuild_.joinable()) rebuild_.join();
}

Trees::Slot* Trees::Find(uint32_t partition) {
  return const_cast<Slot*>(std::as_const(*this).Find(partition));
}

const Trees::Slot* Trees::Find(uint32_t partition) const {
  if (partition >= slots_.size()) return nullptr;
  const Slot* slot = slots_[partition].get();
  std::lock_guard<std::mutex> lock(slot->mu);
  return slot->held ? slot : nullptr;
}

std::vector<uint32_t> Trees::Track(std::vector<uint32_t> partitions) {
  std::sort(partitions.begin(), partitions.end());
  partitions.erase(std::unique(partitions.begin(), partitions.end()),
                   partitions.end());
  std::vector<uint32_t> added;
  for (uint32_t p = 0; p < slots_.size(); ++p) {
    const bool hold =
        std::binary_search(partitions.begin(), partitions.end(), p);
    Slot& slot = *slots_[p];
    std::lock_guard<std::mutex> lock(slot.mu);
    if (slot.held == hold) continue;
    slot.held = hold;
    ++slot.generation;
    slot.state = State::kEmpty;
    slot.pending.clear();
    slot.tree = merkle::Tree(segments_);
    if (hold) added.push_back(p);
  }
  SHOAL_REQUIRE(partitions.empty() || partitions.back() < slots_.size(),
                "Track: no such partition");
  partitions_ = std::move(partitions);
  if (!added.empty()) {
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      queue_.insert(queue_.end(), added.begin(), added.end());
    }
    queue_cv_.notify_all();
  }
  return added;
}

bool Trees::Holds(uint32_t partition) const {
  return Find(partition) != nullptr;
}

bool Trees::Ready(uint32_t partition) const {
  const Slot* slot = Find(partition);
  if (slot == nullptr) return false;
  std::lock_guard<std::mutex> lock(slot->mu);
  return slot->state == State::kReady;
}

size_t Trees::ReadyCount() const {
  size_t n = 0;
  for (uint32_t p : partitions_) n += Ready(p) ? 1 : 0;
  return n;
}

void Trees::ObjectChanged(const storage::ObjectChange& change) {
  Slot* slot = Find(change.loc.partition);
  if (slot == nullptr) return;  // not a partition this node replicates
  const uint32_t segment = merkle::SegmentOf(change.loc.segment, segments_);
  const uint64_t delta =
      merkle::LeafHash(change.key, quorum::CausalFingerprint(change.before)) ^
      merkle::LeafHash(change.key, quorum::CausalFingerprint(change.after));
  if (delta == 0) return;
  std::lock_guard<std::mutex> lock(slot->mu);
  switch (slot->state) {
    case State::kEmpty:
      break;  // the rebuild's snapshot, taken later, includes it
    case State::kBuilding:
      slot->pending.push_back({change.txn_id, segment, delta});
      break;
    case State::kReady:
      slot->tree.Apply(segment, delta);
      break;
  }
}

size_t Trees::Load(storage::Store& store) {
  const auto started = std::chrono::steady_clock::now();
  auto record = store.ReadMeta(kSavedTreesRecord);
  if (!record.ok()) {
    spdlog::warn("anti-entropy: saved trees not read ({}); rebuilding",
                 record.status().message());
    return 0;
  }
  if (!record->has_value() || (*record)->empty()) {
    spdlog::info(
        "anti-entropy: no trees saved (first start, or the last shutdown "
        "was not clean); rebuilding them");
    return 0;
  }
  // Deleted before anything is written: from here on only the next clean
  // shutdown writes the record again.
  if (Status st = store.WriteMeta(kSavedTreesRecord, ""); !st.ok()) {
    spdlog::warn("anti-entropy: saved trees not used ({}); rebuilding",
                 st.message());
    return 0;
  }
  auto saved = wire::DecodeSavedTrees(**record);
  if (!saved.ok()) {
    spdlog::warn("anti-entropy: saved trees not used ({}); rebuilding",
                 saved.status().message());
    return 0;
  }
  if (saved->format != kSavedTreesFormat ||
      saved->partitions != slots_.size() || saved->segments != segments_) {
    spdlog::info(
        "anti-entropy: saved trees not used (saved as format {} for {} "
        "partitions of {} segments; this node needs format {}, {} and {}); "
        "rebuilding",
        saved->format, saved->partitions, saved->segments, kSavedTreesFormat,
        slots_.size(), segments_);
    return 0;
  }
  size_t loaded = 0;
  for (const wire::SavedTree& t : saved->trees) {
    Slot* slot = Find(t.partition);
    if (slot == nullptr) continue;  // no longer held
    std::lock_guard<std::mutex> lock(slot->mu);
    if (!slot->tree.SetLeaves(t.leaves).ok()) continue;  // sizes checked
    slot->state = State::kReady;
    ++loaded;
  }
  spdlog::info(
      "anti-entropy: loaded {} of {} trees saved at the last shutdown in {} "
      "ms",
      loaded, partitions_.size(),
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - started)
          .count());
  return loaded;
}

Status Trees::Save(storage::Store& store) {
  wire::SavedTrees saved{.format = kSavedTreesFormat,
                         .partitions = static_cast<uint32_t>(slots_.size()),
                         .segments = segments_,
                         .trees = {}};
  for (uint32_t p : partitions_) {
    Slot& slot = *slots_[p];
    std::lock_guard<std::mutex> lock(slot.mu);
    if (!slot.held || slot.state != State::kReady) continue;
    saved.trees.push_back({.partition = p, .leaves = slot.tree.leaves()});
  }
  Status st = store.WriteMeta(kSavedTreesRecord, wire::EncodeSavedTrees(saved));
  if (st.ok()) {
    spdlog::info("anti-entropy: saved {} of {} trees", saved.trees.size(),
                 partitions_.size());
  }
  return st;
}

Status Trees::Rebuild(const storage::Store& store, uint32_t partition) {
  Slot* slot = slots_[partition].get();
  uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(slot->mu);
    if (!slot->held || slot->state == State::kReady) return Status::Ok();
    slot->state = State::kBuilding;
    slot->pending.clear();
    generation = slot->generation;
  }
  // Built outside the lock (writes to this partition keep flowing), then
  // swapped in with the deltas the snapshot did not see.
  merkle::Tree built(segments_);
  auto snapshot = store.ScanObjects(
      partition, 0, UINT32_MAX,
      [&](std::string_view key, uint32_t key_segment,
          const quorum::Object& object) {
        built.Apply(merkle::SegmentOf(key_segment, segments_),
                    merkle::LeafHash(key, quorum::CausalFingerprint(object)));
        return !stopping_.load(std::memory_order_relaxed);
      });
  std::lock_guard<std::mutex> lock(slot->mu);
  if (slot->generation != generation) return Status::Ok();  // dropped since
  if (!snapshot.ok() || stopping_) {
    slot->state = State::kEmpty;
    slot->pending.clear();
    return snapshot.status();
  }
  for (const Delta& d : slot->pending) {
    if (d.txn_id > *snapshot) built.Apply(d.segment, d.value);
  }
  slot->pending.clear();
  slot->pending.shrink_to_fit();
  slot->tree = std::move(built);
  slot->state = State::kReady;
  return Status::Ok();
}

Status Trees::RebuildAll(const storage::Store& store) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    queue_.clear();  // built here instead
  }
  Status first;
  for (uint32_t p : partitions_) {
    if (stopping_) break;
    Status st = Rebuild(store, p);
    if (!st.ok()) {
      spdlog::error("anti-entropy tree of partition {} not built: {}", p,
                    st.message());
      if (first.ok()) first = st;
    }
  }
  return first;
}

void Trees::StartRebuild(const storage::Store& store) {
  SHOAL_REQUIRE(!rebuild_.joinable(), "StartRebuild called twice");
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    queue_.clear();
    for (uint32_t p : partitions_) {
      if (!Ready(p)) queue_.push_back(p);  // not loaded (Load)
    }
  }
  rebuild_ = std::thread([this, &store] { RebuildLoop(store); });
}

void Trees::RebuildLoop(const storage::Store& store) {
  // Logs once per batch: the start-up rebuild, then each Track's additions.
  auto start = std::chrono::steady_clock::now();
  auto progress_at = start;
  size_t built = 0;
  Status batch;
  while (true) {
    uint32_t p = 0;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      if (queue_.empty() && built > 0 && !stopping_) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count();
        spdlog::info("anti-entropy: {} trees built in {} ms{}", built, ms,
                     batch.ok() ? "" : " (" + batch.message() + ")");
        built = 0;
        batch = Status();
      }
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      if (built == 0) start = progress_at = std::chrono::steady_clock::now();
      p = queue_.front();
      queue_.pop_front();
    }
    Status st = Rebuild(store, p);
    ++built;
    // Progress of a long batch (a large node after a crash), every 5 s.
    const auto now = std::chrono::steady_clock::now();
    if (now - progress_at >= std::chrono::seconds(5)) {
      progress_at = now;
      size_t left = 0;
      {
        std::lock_guard<std::mutex> lock(queue_mu_);
        left = queue_.size();
      }
      spdlog::info("anti-entropy: building trees, {} built, {} to go", built,
                   left);
    }
    if (!st.ok()) {
      spdlog::error("anti-entropy tree of partition {} not built: {}", p,
                    st.message());
      if (batch.ok()) batch = st;
    }
  }
}

Result<Trees::Slot*> Trees::ReadySlot(uint32_t partition,
                                      std::unique_lock<std::mutex>* lock) {
  Slot* slot = Find(partition);
  if (slot == nullptr) {
    return Status(Code::kNotFound, "this node holds no replica of partition " +
                                       std::to_string(partition));
  }
  *lock = std::unique_lock<std::mutex>(slot->mu);
  if (slot->state != State::kReady) {
    return Status(Code::kUnavailable, "the anti-entropy tree of partition " +
                                          std::to_string(partition) +
                                          " is still being built");
  }
  return slot;
}

Result<uint64_t> Trees::Root(uint32_t partition) {
  std::unique_lock<std::mutex> lock;
  auto slot = ReadySlot(partition, &lock);
  if (!slot) return slot.status();
  return (*slot)->tree.Root();
}

Result<std::vector<uint64_t>> Trees::Branches(uint32_t partition) {
  std::unique_lock<std::mutex> lock;
  auto slot = ReadySlot(partition, &lock);
  if (!slot) return slot.status();
  return (*slot)->tree.Branches();
}

Result<std::vector<uint64_t>> Trees::Leaves(
    uint32_t partition, const std::vector<uint32_t>& branches) {
  std::unique_lock<std::mutex> lock;
  auto slot = ReadySlot(partition, &lock);
  if (!slot) return slot.status();
  return (*slot)->tree.LeavesOf(branches);
}

}  // namespace shoal::antientropy
