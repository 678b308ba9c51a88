#include "tools/ring/faults.h"

#include <algorithm>
#include <set>

namespace shoal::tools {
namespace {

Status Bad(std::string message) {
  return Status(Code::kInvalidArgument, std::move(message));
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t at = s.find(sep, start);
    out.push_back(Trim(s.substr(start, at - start)));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return out;
}

const char* KindName(wire::FaultKind kind) {
  switch (kind) {
    case wire::FaultKind::kCut:
      return "cut";
    case wire::FaultKind::kDelay:
      return "delay";
    case wire::FaultKind::kDrop:
      return "drop";
  }
  return "?";
}

std::string FormatPercent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", p);
  return buf;
}

}  // namespace

Status CheckMember(std::string_view name,
                   const std::vector<std::string>& members) {
  if (std::find(members.begin(), members.end(), name) != members.end()) {
    return Status::Ok();
  }
  std::string known;
  for (const std::string& m : members) known += (known.empty() ? "" : ", ") + m;
  return Bad("unknown node '" + std::string(name) + "' (the ring has " + known +
             ")");
}

Result<std::vector<std::vector<std::string>>> ParseGroups(
    std::string_view text, const std::vector<std::string>& members) {
  std::vector<std::vector<std::string>> groups;
  std::set<std::string> seen;
  for (const std::string& g : Split(text, '|')) {
    std::vector<std::string> group;
    for (const std::string& name : Split(g, ',')) {
      if (name.empty()) {
        return Bad("bad partition '" + std::string(text) +
                   "': an empty node name (expected e.g. 'n1,n2 | n3,n4,n5')");
      }
      if (Status st = CheckMember(name, members); !st.ok()) return st;
      if (!seen.insert(name).second) {
        return Bad("bad partition '" + std::string(text) + "': " + name +
                   " is in more than one group");
      }
      group.push_back(name);
    }
    groups.push_back(std::move(group));
  }
  if (groups.size() < 2) {
    return Bad("bad partition '" + std::string(text) +
               "': needs at least two groups separated by '|' (e.g. 'n1,n2 "
               "| n3,n4,n5')");
  }
  return groups;
}

Result<std::pair<std::string, std::string>> ParseLink(
    std::string_view text, const std::vector<std::string>& members) {
  const size_t arrow = text.find("->");
  if (arrow == std::string_view::npos) {
    return Bad("bad link '" + std::string(text) +
               "' (expected A->B, e.g. n1->n2)");
  }
  std::string from = Trim(text.substr(0, arrow));
  std::string to = Trim(text.substr(arrow + 2));
  if (Status st = CheckMember(from, members); !st.ok()) return st;
  if (Status st = CheckMember(to, members); !st.ok()) return st;
  if (from == to)
    return Bad("bad link '" + std::string(text) + "': a node to itself");
  return std::pair{std::move(from), std::move(to)};
}

bool IsGroupLink(std::string_view text) {
  return text.find("<->") != std::string_view::npos;
}

Result<std::pair<std::vector<std::string>, std::vector<std::string>>>
ParseGroupLink(std::string_view text, const FaultNames& names) {
  const std::string example =
      " (expected A<->B, each side nodes or datacenters, e.g. dc1<->dc2 or "
      "n1,n2<->n3,n4)";
  const size_t arrow = text.find("<->");
  if (arrow == std::string_view::npos ||
      text.find("<->", arrow + 3) != std::string_view::npos) {
    return Bad("bad link '" + std::string(text) + "'" + example);
  }
  auto unknown = [&](const std::string& name) {
    std::string known;
    for (const std::string& m : names.members) {
      known += (known.empty() ? "" : ", ") + m;
    }
    std::string message = "unknown node or datacenter '" + name +
                          "' (the ring has nodes " + known;
    if (names.dcs.empty()) {
      message += names.no_dcs.empty() ? " and no datacenters)"
                                      : "; " + names.no_dcs + ")";
    } else {
      std::string dcs;
      for (const auto& [dc, members] : names.dcs) {
        dcs += (dcs.empty() ? "" : ", ") + dc;
      }
      message += " and datacenters " + dcs + ")";
    }
    return Bad(message);
  };
  std::vector<std::string> sides[2];
  const std::string_view halves[2] = {text.substr(0, arrow),
                                      text.substr(arrow + 3)};
  for (int side = 0; side < 2; ++side) {
    if (Trim(halves[side]).empty()) {
      return Bad("bad link '" + std::string(text) + "': the " +
                 (side == 0 ? "left" : "right") + " side is empty" + example);
    }
    for (const std::string& name : Split(halves[side], ',')) {
      if (name.empty()) {
        return Bad("bad link '" + std::string(text) + "': an empty name" +
                   example);
      }
      std::vector<std::string> resolved;
      if (std::find(names.members.begin(), names.members.end(), name) !=
          names.members.end()) {
        resolved = {name};
      } else if (auto dc = names.dcs.find(name); dc != names.dcs.end()) {
        resolved = dc->second;
      } else {
        return unknown(name);
      }
      for (std::string& node : resolved) {
        std::vector<std::string>& mine = sides[side];
        if (std::find(mine.begin(), mine.end(), node) == mine.end()) {
          mine.push_back(std::move(node));
        }
      }
    }
    if (sides[side].empty()) {
      return Bad("bad link '" + std::string(text) + "': the " +
                 (side == 0 ? "left" : "right") + " side has no node");
    }
  }
  for (const std::string& node : sides[0]) {
    if (std::find(sides[1].begin(), sides[1].end(), node) != sides[1].end()) {
      return Bad("bad link '" + std::string(text) + "': " + node +
                 " is on both sides");
    }
  }
  return std::pair{std::move(sides[0]), std::move(sides[1])};
}

std::vector<wire::FaultRule> GroupLinkRules(
    const std::vector<std::string>& left, const std::vector<std::string>& right,
    const std::function<wire::FaultRule(const std::string&,
                                        const std::string&)>& make) {
  std::vector<wire::FaultRule> out;
  for (const std::string& a : left) {
    for (const std::string& b : right) out.push_back(make(a, b));
  }
  for (const std::string& b : right) {
    for (const std::string& a : left) out.push_back(make(b, a));
  }
  return out;
}

Result<double> ParsePercent(std::string_view text) {
  std::string t = Trim(text);
  if (!t.empty() && t.back() == '%') t.pop_back();
  size_t used = 0;
  double value = -1;
  try {
    value = std::stod(t, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != t.size() || !(value >= 0 && value <= 100)) {
    return Bad("bad percentage '" + std::string(text) +
               "' (expected 0..100, e.g. 10%)");
  }
  return value;
}

wire::FaultRule CutRule(const std::string& from, const std::string& to) {
  wire::FaultRule r;
  r.from = from;
  r.to = to;
  r.kind = wire::FaultKind::kCut;
  return r;
}

wire::FaultRule DelayRule(const std::string& from, const std::string& to,
                          std::chrono::milliseconds delay,
                          std::chrono::milliseconds jitter) {
  wire::FaultRule r = CutRule(from, to);
  r.kind = wire::FaultKind::kDelay;
  r.delay_ms = static_cast<uint32_t>(delay.count());
  r.jitter_ms = static_cast<uint32_t>(jitter.count());
  return r;
}

wire::FaultRule DropRule(const std::string& from, const std::string& to,
                         double percent) {
  wire::FaultRule r = CutRule(from, to);
  r.kind = wire::FaultKind::kDrop;
  r.drop_percent = percent;
  return r;
}

std::vector<wire::FaultRule> PartitionRules(
    const std::vector<std::vector<std::string>>& groups) {
  std::vector<wire::FaultRule> out;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (size_t h = 0; h < groups.size(); ++h) {
      if (g == h) continue;
      for (const std::string& a : groups[g]) {
        for (const std::string& b : groups[h]) out.push_back(CutRule(a, b));
      }
    }
  }
  return out;
}

std::vector<wire::FaultRule> IsolateRules(
    const std::string& node, const std::vector<std::string>& members,
    bool clients) {
  std::vector<wire::FaultRule> out;
  for (const std::string& m : members) {
    if (m == node) continue;
    out.push_back(CutRule(node, m));
    out.push_back(CutRule(m, node));
  }
  if (clients) {
    wire::FaultRule r = CutRule(node, "");
    r.clients = true;
    out.push_back(r);
  }
  return out;
}

FaultSet FaultSetOf(const wire::FaultReply& reply) {
  return FaultSet{reply.rules, reply.skews};
}

void AddRules(FaultSet& set, const std::vector<wire::FaultRule>& rules) {
  for (const wire::FaultRule& r : rules) {
    if (std::find(set.rules.begin(), set.rules.end(), r) == set.rules.end()) {
      set.rules.push_back(r);
    }
  }
}

void SetSkew(FaultSet& set, const std::string& node, int64_t skew_ms) {
  std::erase_if(set.skews,
                [&](const wire::ClockSkew& s) { return s.node == node; });
  if (skew_ms != 0) set.skews.push_back({node, skew_ms});
}

std::vector<std::string> DescribeFaults(const FaultSet& set) {
  std::vector<std::string> out;
  std::vector<bool> done(set.rules.size(), false);
  for (size_t i = 0; i < set.rules.size(); ++i) {
    if (done[i]) continue;
    const wire::FaultRule& r = set.rules[i];
    done[i] = true;
    if (r.clients) {
      out.push_back(std::string(KindName(r.kind)) + " " + r.from + "->clients");
      continue;
    }
    std::string arrow = "->";
    // The same rule in both directions (a cut, or a delay or drop with the
    // same figures) reads as one line.
    for (size_t j = i + 1; j < set.rules.size(); ++j) {
      const wire::FaultRule& o = set.rules[j];
      if (!done[j] && !o.clients && o.kind == r.kind && o.from == r.to &&
          o.to == r.from &&
          (r.kind == wire::FaultKind::kCut ||
           (o.delay_ms == r.delay_ms && o.jitter_ms == r.jitter_ms &&
            o.drop_percent == r.drop_percent))) {
        done[j] = true;
        arrow = "<->";
        break;
      }
    }
    std::string line =
        std::string(KindName(r.kind)) + " " + r.from + arrow + r.to;
    if (r.kind == wire::FaultKind::kDelay) {
      line += " " + std::to_string(r.delay_ms) + "ms";
      if (r.jitter_ms > 0) {
        line += " jitter " + std::to_string(r.jitter_ms) + "ms";
      }
    }
    if (r.kind == wire::FaultKind::kDrop) {
      line += " " + FormatPercent(r.drop_percent);
    }
    out.push_back(std::move(line));
  }
  for (const wire::ClockSkew& s : set.skews) {
    out.push_back("clock " + s.node + " " + (s.skew_ms >= 0 ? "+" : "") +
                  std::to_string(s.skew_ms) + "ms");
  }
  return out;
}

FaultJson FaultSetToJson(const FaultSet& set) {
  FaultJson rules = FaultJson::array();
  for (const wire::FaultRule& r : set.rules) {
    rules.push_back({{"from", r.from},
                     {"to", r.to},
                     {"clients", r.clients},
                     {"kind", KindName(r.kind)},
                     {"delay_ms", r.delay_ms},
                     {"jitter_ms", r.jitter_ms},
                     {"drop_percent", r.drop_percent}});
  }
  FaultJson skews = FaultJson::array();
  for (const wire::ClockSkew& s : set.skews) {
    skews.push_back({{"node", s.node}, {"skew_ms", s.skew_ms}});
  }
  return FaultJson{{"rules", std::move(rules)},
                   {"skews", std::move(skews)},
                   {"active", DescribeFaults(set)}};
}

Result<FaultSet> FaultSetFromJson(const FaultJson& json) {
  const Status corrupt(Code::kCorruption, "fault table: bad JSON shape");
  FaultSet set;
  try {
    for (const FaultJson& r : json.at("rules")) {
      wire::FaultRule rule;
      rule.from = r.at("from").get<std::string>();
      rule.to = r.at("to").get<std::string>();
      rule.clients = r.at("clients").get<bool>();
      const std::string kind = r.at("kind").get<std::string>();
      if (kind == "cut") {
        rule.kind = wire::FaultKind::kCut;
      } else if (kind == "delay") {
        rule.kind = wire::FaultKind::kDelay;
      } else if (kind == "drop") {
        rule.kind = wire::FaultKind::kDrop;
      } else {
        return Status(Code::kCorruption,
                      "fault table: unknown kind '" + kind + "'");
      }
      rule.delay_ms = r.at("delay_ms").get<uint32_t>();
      rule.jitter_ms = r.at("jitter_ms").get<uint32_t>();
      rule.drop_percent = r.at("drop_percent").get<double>();
      set.rules.push_back(std::move(rule));
    }
    for (const FaultJson& s : json.at("skews")) {
      set.skews.push_back(
          {s.at("node").get<std::string>(), s.at("skew_ms").get<int64_t>()});
    }
  } catch (const std::exception& e) {
    return Status(Code::kCorruption, std::string("fault table: ") + e.what());
  }
  return set;
}

}  // namespace shoal::tools
