// Consistency levels (doc/impl.md, "Datacenters and racks"): how many
// replica replies a request waits for, as a count or as a rule over the
// ring's datacenters.
//
//   explicit      w (or r) replies, anywhere (the cluster default, or the
//                 request's count)
//   quorum        n/2 + 1 replies, anywhere (n: every DC's replicas)
//   local_quorum  n_dc/2 + 1 replies from the coordinator's datacenter
//   each_quorum   n_dc/2 + 1 replies from every datacenter
//
// Without datacenters the whole ring is one: local_quorum and each_quorum
// are quorum.
//
// Pure: no I/O. Part of quorum_core (no ring/ dependency).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace shoal::quorum {

enum class Level : uint8_t {
  kExplicit = 0,
  kQuorum = 1,
  kLocalQuorum = 2,
  kEachQuorum = 3,
};
std::string_view LevelName(Level level);
// "quorum", "local_quorum", "each_quorum" (and "explicit"); an error names
// the accepted values.
Result<Level> ParseLevel(std::string_view text);

// What a request waits for: `total` replies in all, and per_dc[d] of them
// from datacenter d (an index into Ring::dcs(); empty, or 0 for a DC, when
// its replies are not counted apart).
struct Requirement {
  uint32_t total = 0;
  std::vector<uint32_t> per_dc;
  bool operator==(const Requirement&) const = default;
};

// The requirement of `level` on a ring of `replicas` primaries per key,
// `per_dc[d]` of them in datacenter d (Ring::ReplicasIn; empty without
// datacenters), for a coordinator in datacenter `local_dc` (an index into
// per_dc, or anything else outside them). `count` is the explicit w or r
// (already resolved against the default).
Requirement Resolve(Level level, uint32_t count, uint32_t replicas,
                    const std::vector<uint32_t>& per_dc, uint32_t local_dc);

}  // namespace shoal::quorum
