// Session guarantees: read-your-writes and monotonic reads for one client
// session, across coordinators and client processes (doc/impl.md,
// "Sessions").
//
// A session token is the causal floor of the keys the session touched
// last: for each key (named by its 64-bit hash, ring::HashKey, so a token
// stays small whatever the keys' length and does not carry them), the
// version vector of what the session wrote there or read there. A get that
// carries the token must answer with an object whose version vector covers the
// key's floor (it then holds the session's write, or what the session read, or
// something that superseded them); the coordinator waits for more replicas to
// find one, and refuses rather than answer older data. Every reply carries the
// token updated with what the request wrote or returned.
//
// The token keeps the kMaxKeys keys touched last (least recently touched
// first out): a key that fell out has no guarantee any more.
//
// Pure: no I/O, no clocks. Thread-safety: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "quorum/version.h"

namespace shoal::quorum {

// One key's floor.
struct SessionFloor {
  uint64_t key_hash = 0;
  VersionVector vv;  // what the session wrote or read at this key
  // The version at `vv` had no live sibling, as the session saw it (it
  // deleted the key, or read it as not found): an answer without a live
  // sibling reflects it as well (once every replica reaped the tombstone
  // the key is stored nowhere, and "not found" is the same answer).
  bool absent = false;
  // The session wrote this version (a refusal names read-your-writes);
  // otherwise it read it (monotonic reads).
  bool wrote = false;
  friend bool operator==(const SessionFloor&, const SessionFloor&) = default;
};

class SessionToken {
 public:
  static constexpr size_t kMaxKeys = 64;

  // The key's floor, or nullptr when the session has none for it.
  const SessionFloor* Find(uint64_t key_hash) const;

  // The session wrote (a put or a delete) an object whose coordinator then
  // held `seen`; `live` is false for a delete.
  void NoteWrite(uint64_t key_hash, const VersionVector& seen, bool live);
  // The session read `answer` (which satisfied the key's floor, if any).
  void NoteRead(uint64_t key_hash, const Object& answer);

  // Replaces the key's floor by `floor` (moving it to the front): a
  // client keeps its session here and takes each reply's floor, which the
  // node built from the floor the request carried.
  void Adopt(SessionFloor floor);
  // A token holding only the key's floor (none when the session has none):
  // what a request for that key carries.
  SessionToken Only(uint64_t key_hash) const;

  // Most recently touched first.
  const std::vector<SessionFloor>& floors() const { return floors_; }
  // Builds a token from decoded floors (most recently touched first); keeps
  // the first kMaxKeys, and the first floor of a key that appears twice.
  static SessionToken FromFloors(std::vector<SessionFloor> floors);

  bool empty() const { return floors_.empty(); }
  friend bool operator==(const SessionToken&, const SessionToken&) = default;

 private:
  void Note(uint64_t key_hash, const VersionVector& vv, bool live, bool wrote);
  std::vector<SessionFloor> floors_;  // most recently touched first
};

// True when `answer` (a get's merged object) reflects at least `floor`.
bool Satisfies(const Object& answer, const SessionFloor& floor);

// The guarantee a refusal names: "read-your-writes" or "monotonic reads".
std::string_view GuaranteeName(const SessionFloor& floor);

}  // namespace shoal::quorum
