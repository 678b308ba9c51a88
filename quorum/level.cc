#include "quorum/level.h"

namespace shoal::quorum {

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kExplicit:
      return "explicit";
    case Level::kQuorum:
      return "quorum";
    case Level::kLocalQuorum:
      return "local_quorum";
    case Level::kEachQuorum:
      return "each_quorum";
  }
  return "unknown";
}

Result<Level> ParseLevel(std::string_view text) {
  for (Level l : {Level::kExplicit, Level::kQuorum, Level::kLocalQuorum,
                  Level::kEachQuorum}) {
    if (text == LevelName(l)) return l;
  }
  return Status(Code::kInvalidArgument,
                "consistency level '" + std::string(text) +
                    "' is not one of quorum, local_quorum, each_quorum");
}

Requirement Resolve(Level level, uint32_t count, uint32_t replicas,
                    const std::vector<uint32_t>& per_dc, uint32_t local_dc) {
  Requirement req;
  const bool dcs = !per_dc.empty();
  if (level == Level::kExplicit) {
    req.total = count;
    return req;
  }
  if (level == Level::kQuorum || !dcs) {
    req.total = replicas / 2 + 1;
    return req;
  }
  req.per_dc.assign(per_dc.size(), 0);
  for (uint32_t d = 0; d < per_dc.size(); ++d) {
    if (level == Level::kEachQuorum || d == local_dc) {
      req.per_dc[d] = per_dc[d] / 2 + 1;
      req.total += req.per_dc[d];
    }
  }
  // A coordinator outside every datacenter (a retired member still
  // answering) counts local_quorum in none: it needs a quorum anywhere.
  if (req.total == 0) {
    req.per_dc.clear();
    req.total = replicas / 2 + 1;
  }
  return req;
}

}  // namespace shoal::quorum
