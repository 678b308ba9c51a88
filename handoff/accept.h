// Accepting a hint: how a write for a primary that is down becomes a
// storage op on the fallback that stands in for it (sloppy quorum, Dynamo
// §4.6; ring::SloppyTargets picks the fallback). The store keeps it in its
// hints database (storage/hints.h): merged with any hint already held for
// (target, key), fsynced before the ack, refused beyond
// handoff.max_hints_per_target.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "base/result.h"
#include "quorum/version.h"
#include "ring/ring.h"
#include "storage/types.h"
#include "wire/messages.h"

namespace shoal::handoff {

// The op that keeps `object` for `target` (a member name) as a hint.
storage::WriteOp HintOp(std::string target, std::string key,
                        const ring::KeyLocation& loc, quorum::Object object);

// A peer's replicate that carries hint_for (non-empty): the hint op for
// it, once hint_for is known to name a member other than `self`. The key
// is not checked here (the caller did). Errors (kInvalidArgument): "hint
// for unknown node 'x'", or a hint for this node itself.
Result<storage::WriteOp> AcceptHint(const ring::Ring& ring,
                                    ring::NodeIndex self,
                                    wire::ReplicateRequest request);

}  // namespace shoal::handoff
