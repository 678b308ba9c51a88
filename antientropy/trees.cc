#include "antientropy/trees.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "quorum/version.h"

namespace shoal::antientropy {

Trees::Trees(const ring::Ring& ring, ring::NodeIndex self)
    : segments_(merkle::SegmentsFor(ring.partitions())),
      slots_(ring.partitions()) {
  for (uint32_t p = 0; p < ring.partitions(); ++p) {
    const std::vector<ring::NodeIndex> primaries = ring.Primaries(p);
    if (std::find(primaries.begin(), primaries.end(), self) ==
        primaries.end()) {
      continue;
    }
    partitions_.push_back(p);
    slots_[p] = std::make_unique<Slot>(segments_);
  }
}

Trees::~Trees() {
  stopping_ = true;
  if (rebuild_.joinable()) rebuild_.join();
}

Trees::Slot* Trees::Find(uint32_t partition) {
  return partition < slots_.size() ? slots_[partition].get() : nullptr;
}

const Trees::Slot* Trees::Find(uint32_t partition) const {
  return partition < slots_.size() ? slots_[partition].get() : nullptr;
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

Status Trees::Rebuild(const storage::Store& store, uint32_t partition) {
  Slot* slot = Find(partition);
  if (slot == nullptr) return Status::Ok();
  {
    std::lock_guard<std::mutex> lock(slot->mu);
    slot->state = State::kBuilding;
    slot->pending.clear();
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
  rebuild_ = std::thread([this, &store] {
    const auto start = std::chrono::steady_clock::now();
    Status st = RebuildAll(store);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    if (!stopping_) {
      spdlog::info("anti-entropy: {} of {} trees built in {} ms{}",
                   ReadyCount(), partitions_.size(), ms,
                   st.ok() ? "" : " (" + st.message() + ")");
    }
  });
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
