#include "tools/check/check.h"

#include <algorithm>
#include <functional>
#include <random>

namespace shoal::tools::check {
namespace {

constexpr size_t kMaxExamples = 10;

void Example(Verdict& v, const std::string& line) {
  if (v.examples.size() < kMaxExamples) v.examples.push_back(line);
}

// The outcome of every invoked op, by (process, invoke index): the event
// that completed it.
struct Op {
  Event invoke;
  EventType outcome = EventType::kInfo;  // never completed = unknown
};

std::vector<Op> Ops(const std::vector<Event>& history) {
  std::vector<Op> ops;
  std::map<int, size_t> open;  // process -> index in ops
  for (const Event& e : history) {
    if (e.process < 0) continue;  // the nemesis
    if (e.type == EventType::kInvoke) {
      open[e.process] = ops.size();
      ops.push_back({e, EventType::kInfo});
      continue;
    }
    auto it = open.find(e.process);
    if (it == open.end()) continue;
    ops[it->second].outcome = e.type;
    // A completion may carry what the op's read saw (known only after the
    // read ran).
    if (!e.seen.empty()) ops[it->second].invoke.seen = e.seen;
    open.erase(it);
  }
  return ops;
}

void Count(Verdict& v, const Op& op) {
  switch (op.outcome) {
    case EventType::kOk:
      ++v.acknowledged;
      break;
    case EventType::kFail:
      ++v.failed;
      break;
    default:
      ++v.unknown;
      break;
  }
}

bool Contains(const std::vector<std::string>& values, const std::string& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// Register and delete: what later writes superseded, per key. A write that
// may have landed (ok or info) replaced what its read saw.
std::map<std::string, std::set<std::string>> Superseded(
    const std::vector<Op>& ops) {
  std::map<std::string, std::set<std::string>> out;
  for (const Op& op : ops) {
    if (op.outcome == EventType::kFail || op.invoke.f == "read") continue;
    for (const std::string& s : op.invoke.seen) out[op.invoke.key].insert(s);
  }
  return out;
}

void CheckWritesKept(Verdict& v, const std::vector<Op>& ops,
                     const FinalState& final) {
  const auto superseded = Superseded(ops);
  for (const Op& op : ops) {
    if (op.outcome != EventType::kOk || op.invoke.f != "write") continue;
    const std::string& key = op.invoke.key;
    auto fin = final.find(key);
    if (fin != final.end() && Contains(fin->second, op.invoke.value)) continue;
    auto sup = superseded.find(key);
    if (sup != superseded.end() && sup->second.count(op.invoke.value)) continue;
    ++v.lost;
    Example(v, key + ": acknowledged value " + op.invoke.value +
                   " vanished (not in the final siblings, superseded by no "
                   "later write)");
  }
}

}  // namespace

Result<Workload> ParseWorkload(std::string_view name) {
  if (name == "set") return Workload::kSet;
  if (name == "register") return Workload::kRegister;
  if (name == "delete") return Workload::kDelete;
  if (name == "session") return Workload::kSession;
  return Status(Code::kInvalidArgument,
                "unknown workload '" + std::string(name) +
                    "' (set, register, delete or session)");
}

Result<Nemesis> ParseNemesis(std::string_view name) {
  if (name == "none") return Nemesis::kNone;
  if (name == "partition-random") return Nemesis::kPartitionRandom;
  if (name == "isolate") return Nemesis::kIsolate;
  if (name == "kill") return Nemesis::kKill;
  if (name == "pause") return Nemesis::kPause;
  if (name == "mix") return Nemesis::kMix;
  if (name == "membership") return Nemesis::kMembership;
  if (name == "delay") return Nemesis::kDelay;
  return Status(Code::kInvalidArgument,
                "unknown nemesis '" + std::string(name) +
                    "' (none, partition-random, isolate, kill, pause, delay, "
                    "mix or membership)");
}

const char* WorkloadName(Workload w) {
  switch (w) {
    case Workload::kSet:
      return "set";
    case Workload::kRegister:
      return "register";
    case Workload::kDelete:
      return "delete";
    case Workload::kSession:
      return "session";
  }
  return "?";
}

const char* NemesisName(Nemesis n) {
  switch (n) {
    case Nemesis::kNone:
      return "none";
    case Nemesis::kPartitionRandom:
      return "partition-random";
    case Nemesis::kIsolate:
      return "isolate";
    case Nemesis::kKill:
      return "kill";
    case Nemesis::kPause:
      return "pause";
    case Nemesis::kMix:
      return "mix";
    case Nemesis::kMembership:
      return "membership";
    case Nemesis::kDelay:
      return "delay";
  }
  return "?";
}

const char* EventTypeName(EventType t) {
  switch (t) {
    case EventType::kInvoke:
      return "invoke";
    case EventType::kOk:
      return "ok";
    case EventType::kFail:
      return "fail";
    case EventType::kInfo:
      return "info";
  }
  return "?";
}

Event MakeEvent(EventType type, int process, std::string f, std::string key,
                std::string value, std::vector<std::string> seen) {
  Event e;
  e.type = type;
  e.process = process;
  e.f = std::move(f);
  e.key = std::move(key);
  e.value = std::move(value);
  e.seen = std::move(seen);
  return e;
}

CheckJson EventToJson(const Event& e) {
  CheckJson j{{"type", EventTypeName(e.type)},
              {"process", e.process},
              {"f", e.f},
              {"key", e.key},
              {"value", e.value},
              {"seen", e.seen},
              {"time_ms", e.time_ms}};
  if (!e.error.empty()) j["error"] = e.error;
  return j;
}

std::string FormatSet(const std::set<std::string>& elements) {
  std::string out;
  for (const std::string& e : elements) {
    if (!out.empty()) out += ',';
    out += e;
  }
  return out;
}

std::set<std::string> ParseSet(std::string_view value) {
  std::set<std::string> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t at = value.find(',', start);
    if (at == std::string_view::npos) at = value.size();
    if (at > start) out.emplace(value.substr(start, at - start));
    start = at + 1;
  }
  return out;
}

Verdict CheckSet(const std::vector<Event>& history, const FinalState& final) {
  Verdict v;
  std::map<std::string, std::set<std::string>> present;
  for (const auto& [key, values] : final) {
    for (const std::string& value : values) {
      for (const std::string& e : ParseSet(value)) present[key].insert(e);
    }
  }
  for (const Op& op : Ops(history)) {
    Count(v, op);
    const auto it = present.find(op.invoke.key);
    const bool there =
        it != present.end() && it->second.count(op.invoke.value) > 0;
    if (op.outcome == EventType::kOk && !there) {
      ++v.lost;
      Example(v, op.invoke.key + ": acknowledged element " + op.invoke.value +
                     " is not in the final set");
    }
    if (op.outcome == EventType::kFail && there) {
      ++v.unexpected;
      Example(v, op.invoke.key + ": element " + op.invoke.value +
                     " whose add failed is in the final set");
    }
  }
  return v;
}

Verdict CheckRegister(const std::vector<Event>& history,
                      const FinalState& final) {
  Verdict v;
  const std::vector<Op> ops = Ops(history);
  for (const Op& op : ops) Count(v, op);
  CheckWritesKept(v, ops, final);
  return v;
}

Verdict CheckDelete(const std::vector<Event>& history,
                    const FinalState& final) {
  Verdict v;
  const std::vector<Op> ops = Ops(history);
  for (const Op& op : ops) Count(v, op);
  CheckWritesKept(v, ops, final);
  for (const Op& op : ops) {
    if (op.outcome != EventType::kOk || op.invoke.f != "delete") continue;
    auto fin = final.find(op.invoke.key);
    if (fin == final.end()) continue;
    for (const std::string& gone : op.invoke.seen) {
      if (Contains(fin->second, gone)) {
        ++v.resurrected;
        Example(v, op.invoke.key + ": deleted value " + gone + " came back");
      }
    }
  }
  return v;
}

namespace {

// The session checker's view of causality: a value written with a read's
// context superseded what that read saw, and what those values superseded.
class Ancestry {
 public:
  explicit Ancestry(const std::vector<Op>& ops) {
    for (const Op& op : ops) {
      if (op.invoke.f != "write") continue;
      parents_[{op.invoke.key, op.invoke.value}] = op.invoke.seen;
    }
  }
  // True when `value` is in `seen` or an ancestor of a value in it.
  bool Reflects(const std::string& key, const std::vector<std::string>& seen,
                const std::string& value) {
    for (const std::string& s : seen) {
      if (s == value || Of(key, s).count(value) > 0) return true;
    }
    return false;
  }

 private:
  using KeyValue = std::pair<std::string, std::string>;
  const std::set<std::string>& Of(const std::string& key,
                                  const std::string& value) {
    const KeyValue kv{key, value};
    if (auto it = memo_.find(kv); it != memo_.end()) return it->second;
    // Iterative, parents first: a chain of thousands of writes must not
    // recurse that deep.
    std::vector<KeyValue> stack{kv};
    while (!stack.empty()) {
      const KeyValue top = stack.back();
      auto p = parents_.find(top);
      bool ready = true;
      if (p != parents_.end()) {
        for (const std::string& parent : p->second) {
          if (!memo_.count({key, parent}) && parent != top.second) {
            stack.push_back({key, parent});
            ready = false;
          }
        }
      }
      if (!ready) continue;
      std::set<std::string> all;
      if (p != parents_.end()) {
        for (const std::string& parent : p->second) {
          all.insert(parent);
          if (parent == top.second) continue;
          const auto& up = memo_[{key, parent}];
          all.insert(up.begin(), up.end());
        }
      }
      memo_[top] = std::move(all);
      stack.pop_back();
    }
    return memo_[kv];
  }

  std::map<KeyValue, std::vector<std::string>> parents_;
  std::map<KeyValue, std::set<std::string>> memo_;
};

bool NamesGuarantee(const std::string& error) {
  return error.find("read-your-writes") != std::string::npos ||
         error.find("monotonic reads") != std::string::npos;
}

}  // namespace

Verdict CheckSession(const std::vector<Event>& history,
                     const FinalState& final) {
  Verdict v;
  const std::vector<Op> ops = Ops(history);
  std::vector<Op> writes;
  for (const Op& op : ops) {
    if (op.invoke.f == "read") continue;
    Count(v, op);
    writes.push_back(op);
  }
  CheckWritesKept(v, writes, final);

  // Errors are on the completion events; Ops keeps only the outcome.
  std::map<int, std::vector<std::string>> errors;  // process -> in order
  for (const Event& e : history) {
    if (e.process >= 0 && e.f == "read" && e.type == EventType::kFail) {
      errors[e.process].push_back(e.error);
    }
  }
  std::map<int, size_t> next_error;

  Ancestry ancestry(ops);
  // (process, key) -> values the process must still see, and whether it
  // wrote each (read-your-writes) or read it (monotonic reads).
  std::map<std::pair<int, std::string>, std::map<std::string, bool>> floor;
  for (const Op& op : ops) {
    const int p = op.invoke.process;
    const std::string& key = op.invoke.key;
    auto& must = floor[{p, key}];
    if (op.invoke.f == "write") {
      if (op.outcome == EventType::kOk) must[op.invoke.value] = true;
      continue;
    }
    if (op.outcome == EventType::kFail) {
      const auto& errs = errors[p];
      size_t& at = next_error[p];
      if (at < errs.size() && NamesGuarantee(errs[at])) ++v.session_refusals;
      ++at;
      continue;
    }
    if (op.outcome != EventType::kOk) continue;
    ++v.reads;
    const std::vector<std::string>& seen = op.invoke.seen;
    bool ryw = false, monotonic = false;
    std::string missed;
    for (const auto& [value, wrote] : must) {
      if (ancestry.Reflects(key, seen, value)) continue;
      (wrote ? ryw : monotonic) = true;
      if (missed.empty()) missed = value;
    }
    if (ryw || monotonic) {
      v.ryw_violations += ryw;
      v.monotonic_violations += monotonic;
      std::string got;
      for (const std::string& s : seen) got += (got.empty() ? "" : ",") + s;
      Example(v, key + ": process " + std::to_string(p) + " read [" + got +
                     "] after " + (must[missed] ? "writing " : "reading ") +
                     missed +
                     (ryw ? " (read-your-writes)" : " (monotonic reads)"));
    }
    for (const std::string& s : seen) must.emplace(s, false);
  }
  return v;
}

Verdict CheckHistory(Workload workload, const std::vector<Event>& history,
                     const FinalState& final) {
  switch (workload) {
    case Workload::kSet:
      return CheckSet(history, final);
    case Workload::kRegister:
      return CheckRegister(history, final);
    case Workload::kDelete:
      return CheckDelete(history, final);
    case Workload::kSession:
      return CheckSession(history, final);
  }
  return Verdict{};
}

std::string NemesisStep::Describe() const {
  if (action == "partition") {
    std::string out = "partition ";
    for (size_t g = 0; g < groups.size(); ++g) {
      if (g > 0) out += " | ";
      for (size_t i = 0; i < groups[g].size(); ++i) {
        out += (i > 0 ? "," : "") + groups[g][i];
      }
    }
    return out;
  }
  if (action == "heal") return "heal";
  if (action == "delay") {
    return "delay " + node + " " + std::to_string(delay_ms) + "ms";
  }
  if (action == "replace") return "replace " + node + " by " + replacement;
  return action + " " + node;
}

namespace {

using Uniform = std::function<int64_t(int64_t, int64_t)>;

// A fault of `kind` (partition .. pause) on `members` at `t`, and its undo
// `on` ms later.
void AddFault(std::vector<NemesisStep>& plan, Nemesis kind,
              const std::vector<std::string>& members, int64_t t, int64_t on,
              const Uniform& uniform, std::mt19937_64& rng) {
  NemesisStep fault;
  fault.at_ms = t;
  NemesisStep undo;
  undo.at_ms = t + on;
  const std::string node = members[uniform(0, members.size() - 1)];
  switch (kind) {
    case Nemesis::kPartitionRandom: {
      std::vector<std::string> shuffled = members;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      const size_t cut = uniform(1, shuffled.size() - 1);
      fault.action = "partition";
      fault.groups = {{shuffled.begin(), shuffled.begin() + cut},
                      {shuffled.begin() + cut, shuffled.end()}};
      for (auto& g : fault.groups) std::sort(g.begin(), g.end());
      undo.action = "heal";
      break;
    }
    case Nemesis::kIsolate:
      fault.action = "isolate";
      fault.node = node;
      undo.action = "heal";
      break;
    case Nemesis::kDelay:
      fault.action = "delay";
      fault.node = node;
      fault.delay_ms = uniform(100, 400);
      undo.action = "heal";
      break;
    case Nemesis::kKill:
      fault.action = "kill";
      fault.node = node;
      undo.action = "start";
      undo.node = node;
      break;
    default:
      fault.action = "pause";
      fault.node = node;
      undo.action = "resume";
      undo.node = node;
      break;
  }
  plan.push_back(std::move(fault));
  plan.push_back(std::move(undo));
}

}  // namespace

std::vector<NemesisStep> PlanNemesis(Nemesis nemesis,
                                     const std::vector<std::string>& members,
                                     std::chrono::milliseconds duration,
                                     uint64_t seed, uint32_t n,
                                     uint32_t next_index) {
  std::vector<NemesisStep> plan;
  if (nemesis == Nemesis::kNone || members.size() < 2) return plan;
  std::mt19937_64 rng(seed);
  const Uniform uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const int64_t end = duration.count();
  int64_t t = 2000;
  if (nemesis != Nemesis::kMembership) {
    while (true) {
      const int64_t on = uniform(2000, 6000);
      const int64_t off = uniform(2000, 6000);
      if (t + on > end) break;
      Nemesis kind = nemesis;
      if (kind == Nemesis::kMix) {
        kind = static_cast<Nemesis>(uniform(1, 4));  // partition .. pause
      }
      AddFault(plan, kind, members, t, on, uniform, rng);
      t += on + off;
    }
    return plan;
  }

  // kMembership: change, time for it, fault, undo, calm; again.
  std::vector<std::string> now = members;
  if (next_index == 0) next_index = NextNodeIndex(members);
  const size_t most = members.size() + 2;
  const size_t least = std::max<size_t>(n, 2);
  while (true) {
    const int64_t settle = uniform(4000, 8000);
    const int64_t on = uniform(2000, 6000);
    const int64_t off = uniform(2000, 6000);
    if (t + settle + on > end) break;
    // 0 join, 1 leave, 2 replace; what the member count allows.
    std::vector<int> kinds{2};
    if (now.size() < most) kinds.push_back(0);
    if (now.size() > least) kinds.push_back(1);
    const int kind = kinds[uniform(0, kinds.size() - 1)];
    NemesisStep change;
    change.at_ms = t;
    if (kind == 0) {
      change.action = "join";
      change.node = "n" + std::to_string(next_index++);
      now.push_back(change.node);
    } else {
      const size_t at = uniform(0, now.size() - 1);
      change.node = now[at];
      if (kind == 1) {
        change.action = "leave";
        now.erase(now.begin() + at);
      } else {
        change.action = "replace";
        change.replacement = "n" + std::to_string(next_index++);
        now[at] = change.replacement;
      }
    }
    plan.push_back(std::move(change));
    AddFault(plan, static_cast<Nemesis>(uniform(1, 4)), now, t + settle, on,
             uniform, rng);
    t += settle + on + off;
  }
  return plan;
}

}  // namespace shoal::tools::check
