#include "quorum/session.h"

#include <algorithm>
#include <utility>

namespace shoal::quorum {

const SessionFloor* SessionToken::Find(uint64_t key_hash) const {
  for (const SessionFloor& f : floors_) {
    if (f.key_hash == key_hash) return &f;
  }
  return nullptr;
}

void SessionToken::NoteWrite(uint64_t key_hash, const VersionVector& seen,
                             bool live) {
  Note(key_hash, seen, live, /*wrote=*/true);
}

void SessionToken::NoteRead(uint64_t key_hash, const Object& answer) {
  Note(key_hash, answer.vv, answer.Found(), /*wrote=*/false);
}

void SessionToken::Note(uint64_t key_hash, const VersionVector& vv, bool live,
                        bool wrote) {
  auto it = std::find_if(
      floors_.begin(), floors_.end(),
      [key_hash](const SessionFloor& f) { return f.key_hash == key_hash; });
  SessionFloor floor;
  if (it != floors_.end()) {
    floor = std::move(*it);
    floors_.erase(it);
  } else {
    floor.key_hash = key_hash;
  }
  const bool had = !floor.vv.empty();
  if (!had || vv.Descends(floor.vv)) {
    // What was observed holds everything the floor asked for.
    if (had && vv == floor.vv && !wrote) {
      wrote = floor.wrote;  // read back the same version: still the write
    }
    floor.absent = !live;
  } else {
    // Concurrent with the floor (a blind write whose coordinator lacked an
    // earlier version): the answer must now hold both. It reflects them
    // with no live sibling only if neither had one.
    floor.absent = floor.absent && !live;
    wrote = wrote || floor.wrote;
  }
  floor.vv.Merge(vv);
  floor.wrote = wrote;
  if (floor.vv.empty()) return;  // nothing to guarantee (never written)
  floors_.insert(floors_.begin(), std::move(floor));
  if (floors_.size() > kMaxKeys) floors_.resize(kMaxKeys);
}

void SessionToken::Adopt(SessionFloor floor) {
  const uint64_t key_hash = floor.key_hash;
  auto it = std::find_if(
      floors_.begin(), floors_.end(),
      [key_hash](const SessionFloor& f) { return f.key_hash == key_hash; });
  if (it != floors_.end()) floors_.erase(it);
  if (floor.vv.empty()) return;
  floors_.insert(floors_.begin(), std::move(floor));
  if (floors_.size() > kMaxKeys) floors_.resize(kMaxKeys);
}

SessionToken SessionToken::Only(uint64_t key_hash) const {
  SessionToken t;
  if (const SessionFloor* f = Find(key_hash)) t.floors_.push_back(*f);
  return t;
}

SessionToken SessionToken::FromFloors(std::vector<SessionFloor> floors) {
  SessionToken t;
  for (SessionFloor& f : floors) {
    if (t.floors_.size() == kMaxKeys) break;
    if (f.vv.empty() || t.Find(f.key_hash) != nullptr) continue;
    t.floors_.push_back(std::move(f));
  }
  return t;
}

bool Satisfies(const Object& answer, const SessionFloor& floor) {
  if (answer.vv.Descends(floor.vv)) return true;
  return floor.absent && !answer.Found();
}

std::string_view GuaranteeName(const SessionFloor& floor) {
  return floor.wrote ? "read-your-writes" : "monotonic reads";
}

}  // namespace shoal::quorum
