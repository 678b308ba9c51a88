#include "handoff/accept.h"

#include <utility>

namespace shoal::handoff {

storage::WriteOp HintOp(std::string target, std::string key,
                        const ring::KeyLocation& loc, quorum::Object object) {
  storage::WriteOp op;
  op.kind = storage::WriteOp::Kind::kHint;
  op.hint_target = std::move(target);
  op.key = std::move(key);
  op.loc = loc;
  op.incoming = std::move(object);
  return op;
}

Result<storage::WriteOp> AcceptHint(const ring::Ring& ring,
                                    ring::NodeIndex self,
                                    wire::ReplicateRequest request) {
  auto target = ring.IndexOf(request.hint_for);
  if (!target.ok()) {
    return Status(Code::kInvalidArgument,
                  "hint for unknown node '" + request.hint_for + "'");
  }
  if (*target == self) {
    return Status(Code::kInvalidArgument,
                  "a hint for this node itself (send a plain "
                  "replicate instead)");
  }
  const ring::KeyLocation loc = ring.Locate(request.key);
  return HintOp(std::move(request.hint_for), std::move(request.key), loc,
                std::move(request.object));
}

}  // namespace shoal::handoff
