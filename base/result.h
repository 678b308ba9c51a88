// Errors as values: every fallible call in shoal returns Status or Result<T>.
//
// Codes are classified by what the caller should do next (retry elsewhere,
// back off, fix the request), not by where the error came from. A write that
// did not reach its quorum may still have landed on some replicas:
// `maybe_applied` says so, so that clients never read "failed" as "absent".
//
// Thread-safety: plain values; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "base/assert.h"

namespace shoal {

enum class Code : uint8_t {
  kOk = 0,
  kNotFound = 1,         // no such key / item; not a failure for `get`
  kInvalidArgument = 2,  // the request is wrong: fix it, do not retry
  kTooLarge = 3,         // a key, value or frame over its limit
  kUnavailable = 4,      // not enough replicas reachable; retry later
  kTimeout = 5,          // the deadline passed before the quorum answered
  kOverloaded = 6,       // shed load; back off and retry
  kCorruption = 7,       // stored or received bytes do not decode
  kStorageFull = 8,      // the LMDB map is full; reads still work
  kInternal = 9,         // our bug or an unexpected system error
};

// Stable lower-case name of a code, used in CLI output and JSON.
const char* CodeName(Code code);

// Details of a quorum outcome, attached to kUnavailable/kTimeout errors.
struct QuorumInfo {
  uint32_t acked = 0;          // replicas that answered successfully
  uint32_t required = 0;       // w or r (or pw/pr) asked for
  uint32_t contacted = 0;      // replicas the request was sent to
  bool maybe_applied = false;  // a write that may have landed somewhere
};

class Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::optional<QuorumInfo>& quorum() const { return quorum_; }

  Status& WithQuorum(QuorumInfo q) {
    quorum_ = q;
    return *this;
  }

  // "code: message", for logs and CLI output.
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::optional<QuorumInfo> quorum_;
};

// A value or an error Status. Accessing value() of an error is our bug.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    SHOAL_ASSERT(!std::get<Status>(v_).ok(), "Result built from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  T& value() & {
    SHOAL_ASSERT(ok(), "value() of an error Result");
    return std::get<T>(v_);
  }
  const T& value() const& {
    SHOAL_ASSERT(ok(), "value() of an error Result");
    return std::get<T>(v_);
  }
  T&& value() && {
    SHOAL_ASSERT(ok(), "value() of an error Result");
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }

 private:
  std::variant<T, Status> v_;
};

}  // namespace shoal
