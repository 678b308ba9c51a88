// The node's fault table (doc/faults.md): network faults it applies to its
// own outgoing frames, and the skew it adds to the wall clock it stamps on
// writes. Set as a whole by an operator's `fault` request (`shoal fault`);
// empty by default.
//
// Each node receives the whole cluster's rules and applies those whose
// `from` is itself: a frame this node sends to peer P (a request on its
// link to P, or a reply to a request P sent) is dropped when a `cut` rule
// (self -> P) exists, dropped with the given probability by a `drop` rule,
// and held back by the sum of the `delay` rules (each delay ± uniform
// jitter). Rules with `clients` set apply in the same way to replies to
// client connections. Enforcing at the sender is enough: a two-way
// partition is two rules, one at each side.
//
// Pure but for its random source (seeded by the caller). Threads: the
// node's io_context thread.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "wire/connection.h"
#include "wire/messages.h"

namespace shoal::node {

class FaultTable {
 public:
  FaultTable(std::string self, uint64_t seed);

  // Replaces every rule and skew. Errors (kInvalidArgument, the table is
  // unchanged): a rule without `from`, one without `to` and without
  // `clients`, a drop percentage outside 0..100, a rule from a node to
  // itself.
  Status Set(std::vector<wire::FaultRule> rules,
             std::vector<wire::ClockSkew> skews);

  // The fate of one frame this node sends to member `peer`, or to a client
  // when `peer` is empty. Counts what it drops and delays.
  wire::FrameFate Decide(const std::string& peer);
  // Milliseconds to add to the wall clock stamped on this node's writes.
  int64_t clock_skew_ms() const { return skew_ms_; }

  bool empty() const { return rules_.empty() && skews_.empty(); }
  wire::FaultReply Report() const;

 private:
  std::string self_;
  std::vector<wire::FaultRule> rules_;
  std::vector<wire::ClockSkew> skews_;
  int64_t skew_ms_ = 0;
  std::mt19937_64 rng_;
  uint64_t dropped_ = 0;
  uint64_t delayed_ = 0;
};

}  // namespace shoal::node
