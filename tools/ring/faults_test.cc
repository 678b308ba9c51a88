#include "tools/ring/faults.h"

#include <doctest/doctest.h>

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
