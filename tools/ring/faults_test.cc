#include "tools/ring/faults.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>

namespace shoal::tools {
namespace {

const std::vector<std::string> kMembers{"n1", "n2", "n3", "n4", "n5"};

TEST_CASE("a partition cuts both directions between its groups") {
  auto groups = ParseGroups("n1,n2 | n3,n4,n5", kMembers);
  REQUIRE(groups.ok());
  CHECK(groups->size() == 2);
  FaultSet set;
  AddRules(set, PartitionRules(*groups));
  CHECK(set.rules.size() == 12);  // 2 x 3 pairs, both ways
  AddRules(set, PartitionRules(*groups));
  CHECK(set.rules.size() == 12);  // added once
  const auto lines = DescribeFaults(set);
  CHECK(lines.size() == 6);
  CHECK(lines[0] == "cut n1<->n3");
}

TEST_CASE("bad fault specifications name the problem") {
  auto unknown = ParseGroups("n1 | n9", kMembers);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message().find("unknown node 'n9'") !=
        std::string::npos);
  CHECK_FALSE(ParseGroups("n1,n2", kMembers).ok());
  CHECK_FALSE(ParseGroups("n1 | n1", kMembers).ok());
  CHECK_FALSE(ParseLink("n1-n2", kMembers).ok());
  CHECK_FALSE(ParseLink("n1->n1", kMembers).ok());
  auto pct = ParsePercent("120%");
  REQUIRE_FALSE(pct.ok());
  CHECK(pct.status().message().find("120%") != std::string::npos);
  CHECK_FALSE(ParsePercent("ten").ok());
}

TEST_CASE("percentages and links parse") {
  CHECK(*ParsePercent("10%") == 10);
  CHECK(*ParsePercent("0.5") == 0.5);
  auto link = ParseLink("n1->n2", kMembers);
  REQUIRE(link.ok());
  CHECK(link->first == "n1");
  CHECK(link->second == "n2");
}

TEST_CASE("group links name nodes or datacenters, and cover both ways") {
  FaultNames names;
  names.members = {"n1", "n2", "n3", "n4", "n5", "n6"};
  names.dcs = {{"dc1", {"n1", "n2", "n3"}}, {"dc2", {"n4", "n5", "n6"}}};
  CHECK(IsGroupLink("dc1<->dc2"));
  CHECK_FALSE(IsGroupLink("n1->n2"));

  auto by_dc = ParseGroupLink("dc1<->dc2", names);
  REQUIRE(by_dc.ok());
  CHECK(by_dc->first == std::vector<std::string>{"n1", "n2", "n3"});
  CHECK(by_dc->second == std::vector<std::string>{"n4", "n5", "n6"});
  auto by_node = ParseGroupLink(" n1, n2,n3 <-> n4,n5,n6 ", names);
  REQUIRE(by_node.ok());
  CHECK(*by_node == *by_dc);
  // Mixed, with a repeat: dc1 already holds n2.
  auto mixed = ParseGroupLink("dc1,n2<->n4", names);
  REQUIRE(mixed.ok());
  CHECK(mixed->first.size() == 3);
  CHECK(mixed->second == std::vector<std::string>{"n4"});

  FaultSet set;
  AddRules(set, GroupLinkRules(
                    by_dc->first, by_dc->second,
                    [](const std::string& from, const std::string& to) {
                      return DelayRule(from, to, std::chrono::milliseconds(50),
                                       std::chrono::milliseconds(0));
                    }));
  REQUIRE(set.rules.size() == 18);  // 3 x 3 links, both ways
  CHECK(set.rules[0] == DelayRule("n1", "n4", std::chrono::milliseconds(50),
                                  std::chrono::milliseconds(0)));
  CHECK(set.rules[9] == DelayRule("n4", "n1", std::chrono::milliseconds(50),
                                  std::chrono::milliseconds(0)));
  for (const std::string& a : by_dc->first) {
    for (const std::string& b : by_dc->second) {
      for (const auto& [from, to] : {std::pair{a, b}, std::pair{b, a}}) {
        CHECK(std::count_if(set.rules.begin(), set.rules.end(),
                            [&](const wire::FaultRule& r) {
                              return r.from == from && r.to == to &&
                                     r.kind == wire::FaultKind::kDelay &&
                                     r.delay_ms == 50;
                            }) == 1);
      }
    }
  }
  // Readable: one line per pair of nodes.
  const auto lines = DescribeFaults(set);
  CHECK(lines.size() == 9);
  CHECK(lines[0] == "delay n1<->n4 50ms");
  // A second group delay over the same links adds nothing.
  AddRules(set, GroupLinkRules(by_node->first, by_node->second,
                               [](const std::string& f, const std::string& t) {
                                 return DelayRule(f, t,
                                                  std::chrono::milliseconds(50),
                                                  std::chrono::milliseconds(0));
                               }));
  CHECK(set.rules.size() == 18);
  // Cuts between groups: a partition of the two datacenters.
  FaultSet cut;
  AddRules(cut, GroupLinkRules(by_dc->first, by_dc->second, CutRule));
  CHECK(cut.rules.size() == 18);
  CHECK(DescribeFaults(cut)[0] == "cut n1<->n4");
}

TEST_CASE("bad group links name the problem and the known names") {
  FaultNames names;
  names.members = {"n1", "n2", "n3", "n4"};
  names.dcs = {{"dc1", {"n1", "n2"}}, {"dc2", {"n3", "n4"}}};
  auto unknown = ParseGroupLink("dc1<->dc3", names);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message() ==
        "unknown node or datacenter 'dc3' (the ring has nodes n1, n2, n3, n4 "
        "and datacenters dc1, dc2)");
  CHECK(ParseGroupLink("n9<->n1", names).status().message().find("'n9'") !=
        std::string::npos);
  auto both = ParseGroupLink("dc1<->n1,n3", names);
  REQUIRE_FALSE(both.ok());
  CHECK(both.status().message().find("n1 is on both sides") !=
        std::string::npos);
  CHECK_FALSE(ParseGroupLink("<->dc2", names).ok());
  CHECK_FALSE(ParseGroupLink("dc1<->", names).ok());
  CHECK_FALSE(ParseGroupLink("dc1,<->dc2", names).ok());
  CHECK_FALSE(ParseGroupLink("dc1<->dc2<->n1", names).ok());
  CHECK_FALSE(ParseGroupLink("dc1->dc2", names).ok());

  // No datacenters: with --nodes, the error says why.
  FaultNames plain;
  plain.members = names.members;
  plain.no_dcs = "datacenter names need a ring directory";
  auto no_dcs = ParseGroupLink("dc1<->dc2", plain);
  REQUIRE_FALSE(no_dcs.ok());
  CHECK(no_dcs.status().message().find("'dc1'") != std::string::npos);
  CHECK(no_dcs.status().message().find("need a ring directory") !=
        std::string::npos);
  plain.no_dcs.clear();
  CHECK(ParseGroupLink("dc1<->dc2", plain)
            .status()
            .message()
            .find("no datacenters") != std::string::npos);
  // Nodes still work without datacenters.
  CHECK(ParseGroupLink("n1,n2<->n3,n4", plain).ok());
}

TEST_CASE("a delay both ways with the same figures reads as one line") {
  FaultSet set;
  const auto ms = [](int v) { return std::chrono::milliseconds(v); };
  AddRules(set, {DelayRule("n1", "n2", ms(50), ms(0)),
                 DelayRule("n2", "n1", ms(50), ms(0)),
                 DelayRule("n1", "n3", ms(50), ms(0)),
                 DelayRule("n3", "n1", ms(60), ms(0)), DropRule("n2", "n3", 5),
                 DropRule("n3", "n2", 5)});
  CHECK(DescribeFaults(set) ==
        std::vector<std::string>{"delay n1<->n2 50ms", "delay n1->n3 50ms",
                                 "delay n3->n1 60ms", "drop n2<->n3 5%"});
}

TEST_CASE("fault sets describe themselves and survive JSON") {
  FaultSet set;
  AddRules(set, IsolateRules("n3", kMembers, true));
  AddRules(set, {DelayRule("n1", "n2", std::chrono::milliseconds(50),
                           std::chrono::milliseconds(20)),
                 DropRule("n2", "n1", 12.5), CutRule("n4", "n5")});
  SetSkew(set, "n4", 5000);
  const auto lines = DescribeFaults(set);
  CHECK(std::find(lines.begin(), lines.end(), "cut n3->clients") !=
        lines.end());
  CHECK(std::find(lines.begin(), lines.end(),
                  "delay n1->n2 50ms jitter 20ms") != lines.end());
  CHECK(std::find(lines.begin(), lines.end(), "drop n2->n1 12.5%") !=
        lines.end());
  CHECK(std::find(lines.begin(), lines.end(), "cut n4->n5") != lines.end());
  CHECK(std::find(lines.begin(), lines.end(), "clock n4 +5000ms") !=
        lines.end());
  auto back = FaultSetFromJson(FaultSetToJson(set));
  REQUIRE(back.ok());
  CHECK(*back == set);
  SetSkew(set, "n4", 0);
  CHECK(set.skews.empty());
}

}  // namespace
}  // namespace shoal::tools
