#include "tools/check/check.h"

#include <doctest/doctest.h>

namespace shoal::tools::check {
namespace {

// invoke + outcome of one op.
void Op(std::vector<Event>& h, EventType outcome, int process, std::string f,
        std::string key, std::string value,
        std::vector<std::string> seen = {}) {
  h.push_back(MakeEvent(EventType::kInvoke, process, f, key, value, seen));
  h.push_back(MakeEvent(outcome, process, f, key, value));
}

TEST_CASE("set checker: every acknowledged element present is valid") {
  std::vector<Event> h;
  Op(h, EventType::kOk, 0, "add", "k", "a");
  Op(h, EventType::kOk, 1, "add", "k", "b");
  Op(h, EventType::kInfo, 1, "add", "k", "c");  // unknown: absent is fine
  // Two siblings whose union holds both elements.
  const Verdict v = CheckSet(h, {{"k", {"a", "b"}}});
  CHECK(v.acknowledged == 2);
  CHECK(v.unknown == 1);
  CHECK(v.lost == 0);
  CHECK(v.unexpected == 0);
}

TEST_CASE("set checker: a lost acknowledged element is counted") {
  std::vector<Event> h;
  Op(h, EventType::kOk, 0, "add", "k", "a");
  Op(h, EventType::kOk, 1, "add", "k", "b");
  const Verdict v = CheckSet(h, {{"k", {FormatSet({"b"})}}});
  CHECK(v.lost == 1);
  REQUIRE(v.examples.size() == 1);
  CHECK(v.examples[0].find("element a") != std::string::npos);
}

TEST_CASE("set checker: a failed element that shows up is unexpected") {
  std::vector<Event> h;
  Op(h, EventType::kFail, 0, "add", "k", "a");
  Op(h, EventType::kOk, 1, "add", "k", "b");
  const Verdict v = CheckSet(h, {{"k", {"a,b"}}});
  CHECK(v.lost == 0);
  CHECK(v.unexpected == 1);
  CHECK(v.failed == 1);
}

TEST_CASE("set checker: an op that never completed counts as unknown") {
  std::vector<Event> h;
  h.push_back(MakeEvent(EventType::kInvoke, 0, "add", "k", "a"));
  const Verdict v = CheckSet(h, {});
  CHECK(v.unknown == 1);
  CHECK(v.lost == 0);
}

TEST_CASE("set values format and parse") {
  CHECK(FormatSet({"b", "a"}) == "a,b");
  CHECK(ParseSet("a,,b,") == std::set<std::string>{"a", "b"});
  CHECK(ParseSet("").empty());
}

TEST_CASE("register checker: superseded values may vanish") {
  std::vector<Event> h;
  Op(h, EventType::kOk, 0, "write", "k", "v1");
  Op(h, EventType::kOk, 1, "write", "k", "v2", {"v1"});  // read v1, replaced
  const Verdict v = CheckRegister(h, {{"k", {"v2"}}});
  CHECK(v.lost == 0);
  CHECK(v.acknowledged == 2);
}

TEST_CASE("register checker: a value no later write read is lost") {
  std::vector<Event> h;
  Op(h, EventType::kOk, 0, "write", "k", "v1");
  Op(h, EventType::kOk, 1, "write", "k", "v2");  // blind of v1
  const Verdict v = CheckRegister(h, {{"k", {"v2"}}});
  CHECK(v.lost == 1);
}

TEST_CASE("register checker: an unknown write may supersede and may vanish") {
  std::vector<Event> h;
  Op(h, EventType::kOk, 0, "write", "k", "v1");
  Op(h, EventType::kInfo, 1, "write", "k", "v2", {"v1"});
  CHECK(CheckRegister(h, {{"k", {"v2"}}}).lost == 0);
  CHECK(CheckRegister(h, {{"k", {}}}).lost == 0);
  // A failed write superseded nothing.
  std::vector<Event> f;
  Op(f, EventType::kOk, 0, "write", "k", "v1");
  Op(f, EventType::kFail, 1, "write", "k", "v2", {"v1"});
  CHECK(CheckRegister(f, {{"k", {}}}).lost == 1);
}

TEST_CASE("delete checker: a deleted value that comes back is resurrected") {
  std::vector<Event> h;
  Op(h, EventType::kOk, 0, "write", "k", "v1");
  Op(h, EventType::kOk, 0, "delete", "k", "", {"v1"});
  CHECK(CheckDelete(h, {{"k", {}}}).resurrected == 0);
  const Verdict v = CheckDelete(h, {{"k", {"v1"}}});
  CHECK(v.resurrected == 1);
  CHECK(v.lost == 0);
}

TEST_CASE("delete checker: recreated values must survive") {
  std::vector<Event> h;
  Op(h, EventType::kOk, 0, "write", "k", "v1");
  Op(h, EventType::kOk, 0, "delete", "k", "", {"v1"});
  Op(h, EventType::kOk, 1, "write", "k", "v2");
  CHECK(CheckDelete(h, {{"k", {"v2"}}}).lost == 0);
  CHECK(CheckDelete(h, {{"k", {}}}).lost == 1);
}

// A read of the session workload: invoke, then ok with what it returned.
void Read(std::vector<Event>& h, int process, std::string key,
          std::vector<std::string> seen) {
  h.push_back(MakeEvent(EventType::kInvoke, process, "read", key, ""));
  h.push_back(MakeEvent(EventType::kOk, process, "read", key, "", seen));
}

TEST_CASE("session checker: a read missing the client's own write") {
  std::vector<Event> h;
  Read(h, 0, "k", {});
  Op(h, EventType::kOk, 0, "write", "k", "a");
  Read(h, 0, "k", {"a"});  // fine
  Read(h, 0, "k", {});     // lost sight of its own write
  Read(h, 1, "k", {});     // another client: no guarantee
  const Verdict v = CheckSession(h, {{"k", {"a"}}});
  CHECK(v.ryw_violations == 1);
  CHECK(v.monotonic_violations == 0);
  CHECK(v.reads == 4);
  CHECK(v.acknowledged == 1);  // reads are not counted as ops
  CHECK(v.lost == 0);
  REQUIRE(v.examples.size() == 1);
  CHECK(v.examples[0].find("read-your-writes") != std::string::npos);
}

TEST_CASE(
    "session checker: going back to an older value breaks monotonic "
    "reads, a superseding value does not") {
  std::vector<Event> h;
  Op(h, EventType::kOk, 1, "write", "k", "a");
  Op(h, EventType::kOk, 1, "write", "k", "b", {"a"});
  Op(h, EventType::kInfo, 1, "write", "k", "c", {"b"});
  Read(h, 0, "k", {"b"});
  Read(h, 0, "k", {"c"});       // c superseded b: fine
  Read(h, 0, "k", {"c", "x"});  // still holds c
  Read(h, 0, "k", {"a"});       // a is older than b and c
  const Verdict v = CheckSession(h, {{"k", {"c"}}});
  CHECK(v.monotonic_violations == 1);
  CHECK(v.ryw_violations == 0);
  // An info write is not the client's to see again, and a blind sibling
  // written beside its value does not hide it.
  std::vector<Event> g;
  Op(g, EventType::kInfo, 0, "write", "k", "maybe");
  Op(g, EventType::kOk, 0, "write", "k", "mine");
  Op(g, EventType::kOk, 1, "write", "k", "other");
  Read(g, 0, "k", {"mine", "other"});
  CHECK(CheckSession(g, {{"k", {"mine", "other"}}}).ryw_violations == 0);
  Read(g, 0, "k", {"other"});
  CHECK(CheckSession(g, {{"k", {"mine", "other"}}}).ryw_violations == 1);
}

TEST_CASE("session checker: refusals that name the guarantee are counted") {
  std::vector<Event> h;
  h.push_back(MakeEvent(EventType::kInvoke, 0, "read", "k", ""));
  Event refused = MakeEvent(EventType::kFail, 0, "read", "k", "");
  refused.error =
      "unavailable: get refused: read-your-writes cannot be guaranteed";
  h.push_back(refused);
  h.push_back(MakeEvent(EventType::kInvoke, 0, "read", "k", ""));
  Event down = MakeEvent(EventType::kFail, 0, "read", "k", "");
  down.error = "unavailable: cannot connect";
  h.push_back(down);
  const Verdict v = CheckSession(h, {});
  CHECK(v.session_refusals == 1);
  CHECK(v.reads == 0);
  CHECK(v.failed == 0);  // reads are not counted as ops
}

TEST_CASE("a delay nemesis slows one node's links and heals") {
  const std::vector<std::string> members{"n1", "n2", "n3"};
  const auto plan =
      PlanNemesis(Nemesis::kDelay, members, std::chrono::seconds(30), 4);
  REQUIRE(plan.size() >= 2);
  for (size_t i = 0; i < plan.size(); i += 2) {
    CHECK(plan[i].action == "delay");
    CHECK(plan[i].delay_ms >= 100);
    CHECK(plan[i].delay_ms <= 400);
    CHECK(plan[i].Describe().find("ms") != std::string::npos);
    CHECK(plan[i + 1].action == "heal");
  }
  CHECK(ParseNemesis("delay").value() == Nemesis::kDelay);
  CHECK(ParseWorkload("session").value() == Workload::kSession);
}

TEST_CASE("nemesis plans are repeatable and undo every fault") {
  const std::vector<std::string> members{"n1", "n2", "n3", "n4", "n5"};
  const auto a =
      PlanNemesis(Nemesis::kMix, members, std::chrono::seconds(60), 7);
  const auto b =
      PlanNemesis(Nemesis::kMix, members, std::chrono::seconds(60), 7);
  REQUIRE(a.size() == b.size());
  REQUIRE(a.size() >= 4);
  CHECK(a.size() % 2 == 0);
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].Describe() == b[i].Describe());
    CHECK(a[i].at_ms <= 60000);
    if (i % 2 == 1) {
      const std::string& undo = a[i].action;
      CHECK((undo == "heal" || undo == "start" || undo == "resume"));
    }
  }
  CHECK(PlanNemesis(Nemesis::kNone, members, std::chrono::seconds(60), 7)
            .empty());
  const auto parts = PlanNemesis(Nemesis::kPartitionRandom, members,
                                 std::chrono::seconds(30), 3);
  REQUIRE_FALSE(parts.empty());
  CHECK(parts[0].groups.size() == 2);
  CHECK(parts[0].groups[0].size() + parts[0].groups[1].size() == 5);
}

TEST_CASE("membership plans track the members, keep n and end in time") {
  const std::vector<std::string> members{"n1", "n2", "n3", "n4", "n5"};
  const auto duration = std::chrono::seconds(60);
  size_t joins = 0, leaves = 0, replaces = 0;
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    const auto a =
        PlanNemesis(Nemesis::kMembership, members, duration, seed, 3, 6);
    const auto b =
        PlanNemesis(Nemesis::kMembership, members, duration, seed, 3, 6);
    REQUIRE(a.size() == b.size());
    REQUIRE(a.size() >= 3);
    std::set<std::string> now(members.begin(), members.end());
    std::set<std::string> ever = now;
    int64_t last = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      const NemesisStep& step = a[i];
      CHECK(step.Describe() == b[i].Describe());
      CHECK(step.at_ms >= last);
      CHECK(step.at_ms <= 60000);
      last = step.at_ms;
      // Every third step is a change, then a fault and its undo.
      CHECK(step.Membership() == (i % 3 == 0));
      if (step.action == "join") {
        ++joins;
        CHECK_FALSE(ever.count(step.node));  // a fresh name
        now.insert(step.node);
        ever.insert(step.node);
      } else if (step.action == "leave") {
        ++leaves;
        CHECK(now.count(step.node));
        now.erase(step.node);
      } else if (step.action == "replace") {
        ++replaces;
        CHECK(now.count(step.node));
        CHECK_FALSE(ever.count(step.replacement));
        now.erase(step.node);
        now.insert(step.replacement);
        ever.insert(step.replacement);
      } else if (step.action == "partition") {
        size_t listed = 0;
        for (const auto& group : step.groups) {
          for (const std::string& m : group) CHECK(now.count(m));
          listed += group.size();
        }
        CHECK(listed == now.size());
      } else if (step.action != "heal") {
        CHECK(now.count(step.node));  // kill, start, pause, resume, isolate
      }
      CHECK(now.size() >= 3);
      CHECK(now.size() <= members.size() + 2);
    }
  }
  // Over 50 seeds every kind of change shows up.
  CHECK(joins > 0);
  CHECK(leaves > 0);
  CHECK(replaces > 0);
  // New names continue after the highest index ever used.
  const auto later = PlanNemesis(Nemesis::kMembership, members, duration, 3, 3,
                                 NextNodeIndex({"n1", "n9", "x"}));
  for (const NemesisStep& step : later) {
    if (step.action == "join") CHECK(NextNodeIndex({step.node}) > 10);
    if (step.action == "replace") {
      CHECK(NextNodeIndex({step.replacement}) > 10);
    }
  }
  CHECK(NextNodeIndex({"n1", "n12", "n3"}) == 13);
  CHECK(NextNodeIndex({}) == 1);
  // With exactly n members nothing leaves.
  const std::vector<std::string> three{"n1", "n2", "n3"};
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::set<std::string> now(three.begin(), three.end());
    for (const NemesisStep& step :
         PlanNemesis(Nemesis::kMembership, three, duration, seed, 3)) {
      if (step.action == "join") now.insert(step.node);
      if (step.action == "leave") now.erase(step.node);
      CHECK(now.size() >= 3);
    }
  }
  // A short run ends its schedule within the duration too.
  for (const NemesisStep& step : PlanNemesis(Nemesis::kMembership, members,
                                             std::chrono::seconds(15), 4, 3)) {
    CHECK(step.at_ms <= 15000);
  }
}

TEST_CASE("unknown workload and nemesis names are refused") {
  CHECK(ParseNemesis("membership").ok());
  CHECK(std::string(NemesisName(Nemesis::kMembership)) == "membership");
  CHECK(ParseWorkload("set").ok());
  CHECK_FALSE(ParseWorkload("bank").ok());
  CHECK(ParseNemesis("mix").ok());
  auto bad = ParseNemesis("chaos");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("chaos") != std::string::npos);
}

}  // namespace
}  // namespace shoal::tools::check
