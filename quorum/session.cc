#include "quorum/session.h"

#include <algorithm>
#include <utility>

namespace shoal::quorum {

const SessionFloor* SessionToken::Find(std::string_view key) const {
  for (const SessionFloor& f : floors_) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

void SessionToken::NoteWrite(std::string_view key, const VersionVector& seen,
                             bool live) {
  Note(key, seen, live, /*wrote=*/true);
}

void SessionToken::NoteRead(std::string_view key, const Object& answer) {
  Note(key, answer.vv, answer.Found(), /*wrote=*/false);
}

void SessionToken::Note(std::string_view key, const VersionVector& vv,
                        bool live, bool wrote) {
  auto it = std::find_if(floors_.begin(), floors_.end(),
                         [key](const SessionFloor& f) { return f.key == key; });
  SessionFloor floor;
  if (it != floors_.end()) {
    floor = std::move(*it);
    floors_.erase(it);
  } else {
    floor.key = std::string(key);
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

SessionToken SessionToken::FromFloors(std::vector<SessionFloor> floors) {
  SessionToken t;
  for (SessionFloor& f : floors) {
    if (t.floors_.size() == kMaxKeys) break;
    if (f.vv.empty() || t.Find(f.key) != nullptr) continue;
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
