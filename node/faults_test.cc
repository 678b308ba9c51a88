#include "node/faults.h"

#include <doctest/doctest.h>

namespace shoal::node {
namespace {

using wire::FaultKind;
using wire::FaultRule;

FaultRule Rule(std::string from, std::string to, FaultKind kind) {
  FaultRule r;
  r.from = std::move(from);
  r.to = std::move(to);
  r.kind = kind;
  return r;
}

TEST_CASE("an empty table sends every frame at once") {
  FaultTable t("n1", 1);
  CHECK(t.empty());
  for (const char* peer : {"n2", "n3", ""}) {
    const wire::FrameFate f = t.Decide(peer);
    CHECK_FALSE(f.drop);
    CHECK(f.delay.count() == 0);
  }
  CHECK(t.clock_skew_ms() == 0);
}

TEST_CASE("a cut drops only the frames from this node to that peer") {
  FaultTable n1("n1", 1);
  FaultTable n2("n2", 1);
  std::vector<FaultRule> rules{Rule("n1", "n2", FaultKind::kCut)};
  REQUIRE(n1.Set(rules, {}).ok());
  REQUIRE(n2.Set(rules, {}).ok());
  CHECK(n1.Decide("n2").drop);
  CHECK_FALSE(n1.Decide("n3").drop);
  CHECK_FALSE(n1.Decide("").drop);    // clients stay reachable
  CHECK_FALSE(n2.Decide("n1").drop);  // one direction only
  CHECK(n1.Report().frames_dropped == 1);
}

TEST_CASE("client rules apply to client connections only") {
  FaultTable t("n1", 1);
  FaultRule r = Rule("n1", "", FaultKind::kCut);
  r.clients = true;
  REQUIRE(t.Set({r}, {}).ok());
  CHECK(t.Decide("").drop);
  CHECK_FALSE(t.Decide("n2").drop);
}

TEST_CASE("delays add up and jitter stays within its bounds") {
  FaultTable t("n1", 7);
  FaultRule d = Rule("n1", "n2", FaultKind::kDelay);
  d.delay_ms = 50;
  d.jitter_ms = 20;
  REQUIRE(t.Set({d}, {}).ok());
  for (int i = 0; i < 200; ++i) {
    const auto f = t.Decide("n2");
    CHECK_FALSE(f.drop);
    CHECK(f.delay.count() >= 30);
    CHECK(f.delay.count() <= 70);
  }
  CHECK(t.Report().frames_delayed == 200);
}

TEST_CASE("a drop rule loses about its percentage of frames") {
  FaultTable t("n1", 42);
  FaultRule d = Rule("n1", "n2", FaultKind::kDrop);
  d.drop_percent = 25;
  REQUIRE(t.Set({d}, {}).ok());
  int dropped = 0;
  for (int i = 0; i < 4000; ++i) dropped += t.Decide("n2").drop ? 1 : 0;
  CHECK(dropped > 800);
  CHECK(dropped < 1200);
}

TEST_CASE("clock skews apply to the named node only") {
  FaultTable t("n3", 1);
  REQUIRE(t.Set({}, {{"n3", 5000}, {"n1", -100}}).ok());
  CHECK(t.clock_skew_ms() == 5000);
  CHECK_FALSE(t.empty());
  REQUIRE(t.Set({}, {}).ok());
  CHECK(t.clock_skew_ms() == 0);
  CHECK(t.empty());
}

TEST_CASE("bad rules are refused and leave the table unchanged") {
  FaultTable t("n1", 1);
  REQUIRE(t.Set({Rule("n1", "n2", FaultKind::kCut)}, {}).ok());
  FaultRule bad = Rule("n1", "n2", FaultKind::kDrop);
  bad.drop_percent = 150;
  Status st = t.Set({bad}, {});
  CHECK(st.code() == Code::kInvalidArgument);
  CHECK(st.message().find("150") != std::string::npos);
  CHECK(t.Set({Rule("n1", "n1", FaultKind::kCut)}, {}).code() ==
        Code::kInvalidArgument);
  CHECK(t.Set({Rule("n1", "", FaultKind::kCut)}, {}).code() ==
        Code::kInvalidArgument);
  CHECK(t.Decide("n2").drop);  // still the first table
}

}  // namespace
}  // namespace shoal::node
