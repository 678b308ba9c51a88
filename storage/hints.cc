// The hints database (doc/storage.md, "Hints"): the writes this node keeps
// as a fallback for down primaries, applied inside a batch's write
// transaction, with their tallies, lifetime counters, scans and backlogs.
// Contracts in hints.h and store.h.

#include "storage/hints.h"

#include <lmdb.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "storage/format.h"
#include "wire/codec.h"

namespace shoal::storage::internal {

// Hints: key = target_len:u8 | target | storage key;
//        value = stored_at_ms:i64le | EncodeObject(object).

namespace {

constexpr char kHintCountersKey[] = "hint_counters";

std::string HintPrefix(std::string_view target) {
  std::string out(1, static_cast<char>(target.size()));
  out.append(target);
  return out;
}

uint64_t HashBytes(std::string_view bytes) {
  return ring::HashKey(bytes);  // XXH3-64; not a security boundary
}

}  // namespace

HintsDb::HintsDb(const Env& env) : env_(env), options_(env.options()) {}

Status HintsDb::Load(MDB_txn* txn) {
  MDB_val key = ValOf(kHintCountersKey);
  MDB_val val;
  int rc = mdb_get(txn, env_.meta_dbi(), &key, &val);
  if (rc == 0) {
    const std::string_view v = ViewOf(val);
    if (v.size() == 24) {
      counters_.stored = *DecodeLittleEndian<uint64_t>(v.substr(0, 8));
      counters_.delivered = *DecodeLittleEndian<uint64_t>(v.substr(8, 8));
      counters_.dropped_cap = *DecodeLittleEndian<uint64_t>(v.substr(16, 8));
    }
  } else if (rc != MDB_NOTFOUND) {
    return env_.WriteError("reading the hint counters", rc);
  }
  published_counters_ = counters_;
  MDB_cursor* cur = nullptr;
  if ((rc = mdb_cursor_open(txn, env_.hints_dbi(), &cur)) != 0) {
    return env_.WriteError("opening a hints cursor", rc);
  }
  MDB_val k, v;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    std::string_view target, skey;
    if (SplitHintKey(ViewOf(k), &target, &skey)) {
      ++hint_counts_[std::string(target)];
      HintTally& t = hint_tallies_[std::string(target)];
      t.bytes += v.mv_size;
      auto at = DecodeLittleEndian<int64_t>(ViewOf(v).substr(0, 8));
      if (at && (t.oldest_ms == 0 || *at < t.oldest_ms)) t.oldest_ms = *at;
    }
  }
  mdb_cursor_close(cur);
  published_hint_counts_ = hint_counts_;
  published_hint_tallies_ = hint_tallies_;
  return Status::Ok();
}

Status HintsDb::PutCounters(MDB_txn* txn) {
  const std::string bytes = EncodeLittleEndian<uint64_t>(counters_.stored) +
                            EncodeLittleEndian<uint64_t>(counters_.delivered) +
                            EncodeLittleEndian<uint64_t>(counters_.dropped_cap);
  MDB_val key = ValOf(kHintCountersKey);
  MDB_val val = ValOf(bytes);
  const int rc = mdb_put(txn, env_.meta_dbi(), &key, &val, 0);
  if (rc != 0) return env_.WriteError("storing the hint counters", rc);
  return Status::Ok();
}

Result<WriteResult> HintsDb::ApplyHint(MDB_txn* txn, WriteOp& op,
                                       Status* batch_error) {
  if (op.hint_target.empty() || op.hint_target.size() > 255) {
    return Status(Code::kInvalidArgument,
                  "hint target name must be 1..255 bytes");
  }
  const std::string skey = EncodeStorageKey(op.key, op.loc);
  const std::string hkey = HintPrefix(op.hint_target) + skey;
  if (hkey.size() > env_.max_key_bytes()) {
    return KeyTooLarge(op.key.size(),
                       env_.max_key_bytes() - (hkey.size() - op.key.size()));
  }
  MDB_val k = ValOf(hkey);
  MDB_val v;
  WriteResult out;
  int64_t stored_at = 0;
  uint64_t existing_hash = 0;
  uint64_t existing_bytes = 0;
  bool exists = false;
  int rc = mdb_get(txn, env_.hints_dbi(), &k, &v);
  if (rc == 0) {
    const std::string_view bytes = ViewOf(v);
    exists = true;
    existing_bytes = bytes.size();
    existing_hash = HashBytes(bytes);
    auto decoded = DecodeHintValue(bytes, &stored_at);
    if (!decoded.ok()) return CorruptObject(op.key, op.loc, decoded.status());
    out.before = std::move(decoded).value();
  } else if (rc != MDB_NOTFOUND) {
    *batch_error = env_.WriteError("mdb_get (hints)", rc);
    return *batch_error;
  }

  if (op.kind == WriteOp::Kind::kDeleteHint) {
    if (!exists || existing_hash != op.expected_hint_hash) return out;  // newer
    if ((rc = mdb_del(txn, env_.hints_dbi(), &k, nullptr)) != 0) {
      *batch_error = env_.WriteError("mdb_del (hints)", rc);
      return *batch_error;
    }
    if (--hint_counts_[op.hint_target] == 0) {
      hint_counts_.erase(op.hint_target);
      hint_tallies_.erase(op.hint_target);
    } else {
      HintTally& t = hint_tallies_[op.hint_target];
      t.bytes -= std::min(t.bytes, existing_bytes);
      if (t.oldest_ms == 0 || stored_at <= t.oldest_ms) {
        t.oldest_ms = 0;  // it may have been the oldest: rescan when asked
        ++t.generation;
      }
    }
    ++counters_.delivered;
    if (Status st = PutCounters(txn); !st.ok()) {
      *batch_error = st;
      return st;
    }
    out.changed = true;
    return out;
  }

  // kHint
  if (!exists && options_.max_hints_per_target != 0 &&
      hint_counts_[op.hint_target] >= options_.max_hints_per_target) {
    ++counters_.dropped_cap;
    if (Status st = PutCounters(txn); !st.ok()) {
      *batch_error = st;
      return st;
    }
    return Status(
        Code::kOverloaded,
        "hint dropped: " + std::to_string(hint_counts_[op.hint_target]) +
            " hints already wait for " + op.hint_target +
            " (handoff.max_hints_per_target)");
  }
  out.after = quorum::Sync(out.before, op.incoming);
  out.changed = !exists || !(out.after == out.before);
  if (!out.changed) return out;
  if (!exists) {
    stored_at = options_.clock != nullptr
                    ? options_.clock->WallMs()
                    : std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  }
  const std::string bytes =
      EncodeLittleEndian<int64_t>(stored_at) + wire::EncodeObject(out.after);
  MDB_val val = ValOf(bytes);
  if ((rc = mdb_put(txn, env_.hints_dbi(), &k, &val, 0)) != 0) {
    *batch_error = env_.WriteError("mdb_put (hints)", rc);
    return *batch_error;
  }
  HintTally& tally = hint_tallies_[op.hint_target];
  tally.bytes += bytes.size();
  tally.bytes -= std::min(tally.bytes, existing_bytes);
  if (!exists) {
    // A new hint is the newest; it is the oldest only of an empty backlog.
    if (hint_counts_[op.hint_target]++ == 0) tally.oldest_ms = stored_at;
  }
  ++counters_.stored;
  if (Status st = PutCounters(txn); !st.ok()) {
    *batch_error = st;
    return st;
  }
  return out;
}

Result<std::vector<Hint>> HintsDb::ScanHints(std::string_view target,
                                             std::string_view after,
                                             size_t limit) const {
  std::vector<Hint> out;
  ReadCursor hc;
  if (Status st = hc.Open(env_.env(), env_.hints_dbi()); !st.ok()) return st;
  MDB_cursor* cur = hc.cursor;
  int rc = 0;
  const std::string prefix = HintPrefix(target);
  const std::string start = prefix + std::string(after);
  MDB_val k = ValOf(start);
  MDB_val v;
  rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  Status error;
  while (rc == 0 && out.size() < limit) {
    const std::string_view hkey = ViewOf(k);
    if (hkey.substr(0, prefix.size()) != prefix) break;
    std::string_view t, skey;
    if (!SplitHintKey(hkey, &t, &skey)) break;
    if (!after.empty() && skey == after) {  // resume strictly after
      rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
      continue;
    }
    const std::string_view bytes = ViewOf(v);
    Hint h;
    h.storage_key = std::string(skey);
    h.key = std::string(skey.substr(kStorageKeyPrefixBytes));
    h.bytes = bytes.size();
    h.bytes_hash = HashBytes(bytes);
    auto decoded = DecodeHintValue(bytes, &h.stored_at_ms);
    if (!decoded.ok()) {
      error = Status(Code::kCorruption,
                     "hint for " + std::string(target) +
                         " does not decode: " + decoded.status().message());
      break;
    }
    h.object = std::move(decoded).value();
    out.push_back(std::move(h));
    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  }
  if (!error.ok()) return error;
  return out;
}

Result<std::vector<HintBacklog>> HintsDb::HintBacklogs() const {
  std::vector<HintBacklog> out;
  ReadCursor hc;
  if (Status st = hc.Open(env_.env(), env_.hints_dbi()); !st.ok()) return st;
  MDB_cursor* cur = hc.cursor;
  int rc = 0;
  MDB_val k, v;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    std::string_view target, skey;
    if (!SplitHintKey(ViewOf(k), &target, &skey)) continue;
    if (out.empty() || out.back().target != target) {
      out.push_back(HintBacklog{std::string(target), 0, 0, 0});
    }
    HintBacklog& b = out.back();
    const std::string_view bytes = ViewOf(v);
    ++b.count;
    b.bytes += bytes.size();
    if (auto at = DecodeLittleEndian<int64_t>(bytes.substr(0, 8))) {
      if (b.oldest_stored_at_ms == 0 || *at < b.oldest_stored_at_ms) {
        b.oldest_stored_at_ms = *at;
      }
    }
  }
  return out;
}

Result<std::vector<HintBacklog>> HintsDb::HintBacklogsCached() const {
  std::map<std::string, uint64_t> counts;
  std::map<std::string, HintTally> tallies;
  {
    std::lock_guard<std::mutex> lock(counters_mu_);
    counts = published_hint_counts_;
    tallies = published_hint_tallies_;
  }
  std::vector<HintBacklog> out;
  std::lock_guard<std::mutex> lock(oldest_mu_);
  for (auto it = oldest_cache_.begin(); it != oldest_cache_.end();) {
    it = counts.count(it->first) ? std::next(it) : oldest_cache_.erase(it);
  }
  for (const auto& [target, count] : counts) {
    const HintTally& t = tallies[target];
    HintBacklog b{target, count, t.bytes, t.oldest_ms};
    if (b.oldest_stored_at_ms == 0) {
      auto cached = oldest_cache_.find(target);
      if (cached != oldest_cache_.end() &&
          cached->second.first == t.generation) {
        b.oldest_stored_at_ms = cached->second.second;
      } else {
        // One target's hints, reading only each value's 8-byte header.
        ReadCursor hc;
        if (Status st = hc.Open(env_.env(), env_.hints_dbi()); !st.ok())
          return st;
        const std::string prefix = HintPrefix(target);
        MDB_val k = ValOf(prefix);
        MDB_val v;
        for (int rc = mdb_cursor_get(hc.cursor, &k, &v, MDB_SET_RANGE);
             rc == 0 && ViewOf(k).substr(0, prefix.size()) == prefix;
             rc = mdb_cursor_get(hc.cursor, &k, &v, MDB_NEXT)) {
          auto at = DecodeLittleEndian<int64_t>(ViewOf(v).substr(0, 8));
          if (at && (b.oldest_stored_at_ms == 0 || *at < b.oldest_stored_at_ms))
            b.oldest_stored_at_ms = *at;
        }
        oldest_cache_[target] = {t.generation, b.oldest_stored_at_ms};
      }
    }
    out.push_back(std::move(b));
  }
  return out;
}

std::map<std::string, uint64_t> HintsDb::HintTargets() const {
  std::lock_guard<std::mutex> lock(counters_mu_);
  return published_hint_counts_;
}

Result<std::vector<std::string>> HintsDb::HintTargetsOf(
    std::string_view key, const ring::KeyLocation& loc) const {
  std::vector<std::string> out;
  const std::map<std::string, uint64_t> targets = HintTargets();
  if (targets.empty()) return out;
  ReadCursor read;
  if (Status st = read.Open(env_.env(), env_.hints_dbi()); !st.ok()) return st;
  const std::string skey = EncodeStorageKey(key, loc);
  for (const auto& [target, count] : targets) {
    const std::string hkey = HintPrefix(target) + skey;
    MDB_val k = ValOf(hkey);
    MDB_val v;
    const int rc = mdb_get(read.txn, env_.hints_dbi(), &k, &v);
    if (rc == 0) {
      out.push_back(target);
    } else if (rc != MDB_NOTFOUND) {
      return Status(Code::kInternal,
                    std::string("hint lookup: ") + mdb_strerror(rc));
    }
  }
  return out;
}

HintCounters HintsDb::hint_counters() const {
  std::lock_guard<std::mutex> lock(counters_mu_);
  return published_counters_;
}

void HintsDb::BeginBatch() {
  saved_hint_counts_ = hint_counts_;
  saved_hint_tallies_ = hint_tallies_;
  saved_counters_ = counters_;
}

void HintsDb::AbortBatch() {
  hint_counts_ = saved_hint_counts_;
  hint_tallies_ = saved_hint_tallies_;
  counters_ = saved_counters_;
}

void HintsDb::PublishBatch() {
  std::lock_guard<std::mutex> lock(counters_mu_);
  published_counters_ = counters_;
  published_hint_counts_ = hint_counts_;
  published_hint_tallies_ = hint_tallies_;
}

}  // namespace shoal::storage::internal
