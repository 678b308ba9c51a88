#include "cluster/keeper.h"

#include <doctest/doctest.h>

#include <algorithm>

namespace shoal::cluster {
namespace {

ClusterState Three() {
  auto s = ClusterState::Initial({{"n1", "10.0.0.1:7000"},
                                  {"n2", "10.0.0.2:7000"},
                                  {"n3", "10.0.0.3:7000"}},
                                 {.partitions = 16, .n = 3});
  REQUIRE(s.ok());
  return s.value();
}

TEST_CASE("peer reports: same, older, newer and conflicting states") {
  const ClusterState s = Three();
  Keeper keeper(s, "n1");
  CHECK(keeper.epoch() == 1);
  CHECK(keeper.digest() == s.Digest());
  CHECK_FALSE(keeper.Converged());  // nobody reported yet

  CHECK(keeper.Report("n2", 1, s.Digest()) == Reaction::kNone);
  CHECK_FALSE(keeper.Converged());
  CHECK(keeper.Report("n3", 1, s.Digest()) == Reaction::kNone);
  CHECK(keeper.Converged());
  CHECK(keeper.ReportOf("n3").epoch == 1);
  CHECK(keeper.ReportOf("n9").epoch == 0);

  CHECK(keeper.Report("n3", 1, s.Digest() + 1) == Reaction::kConflict);
  CHECK(keeper.ReportOf("n3").conflict);
  CHECK_FALSE(keeper.Converged());
  CHECK(keeper.Report("n3", 2, 77) == Reaction::kFetch);
  CHECK_FALSE(keeper.ReportOf("n3").conflict);
  CHECK(keeper.Report("n2", 0, 0) == Reaction::kNone);  // older: it fetches
}

TEST_CASE("a newer state that keeps the claim is adopted") {
  const ClusterState s = Three();
  Keeper keeper(s, "n1");
  ClusterState newer = s;
  newer.epoch = 2;
  newer.members[2].address = "10.0.0.33:7000";
  auto r = keeper.Offer(newer);
  REQUIRE(r.ok());
  CHECK(r.value());
  CHECK(keeper.state() == newer);
  CHECK(keeper.digest() == newer.Digest());
  // Offering it again, or the old one, changes nothing.
  CHECK_FALSE(keeper.Offer(newer).value());
  CHECK_FALSE(keeper.Offer(s).value());
  CHECK(keeper.epoch() == 2);
}

TEST_CASE("a conflict is an error and nothing is merged") {
  const ClusterState s = Three();
  Keeper keeper(s, "n1");
  ClusterState other = s;
  other.members[1].address = "10.9.9.9:7000";
  auto r = keeper.Offer(other);
  CHECK(r.status().code() == Code::kCorruption);
  CHECK(r.status().message().find("epoch 1") != std::string::npos);
  CHECK(keeper.state() == s);
}

TEST_CASE("a newer state with another claim is refused and not refetched") {
  const ClusterState s = Three();
  Keeper keeper(s, "n1");
  auto plan = MakePlan(s, {Change::Join("n4", "10.0.0.4:7000")});
  REQUIRE(plan.ok());
  const ClusterState& next = plan.value().next;
  CHECK(keeper.Report("n2", next.epoch, next.Digest()) == Reaction::kFetch);
  auto r = keeper.Offer(next);
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(r.status().message().find("claim") != std::string::npos);
  CHECK(keeper.state() == s);
  CHECK(keeper.Report("n2", next.epoch, next.Digest()) == Reaction::kNone);
  // A still newer one is worth a look.
  CHECK(keeper.Report("n2", next.epoch + 1, 5) == Reaction::kFetch);
}

TEST_CASE("removed members need not report for convergence") {
  ClusterState s = Three();
  s.members.push_back({"n0", "10.0.0.9:7000", MemberState::kRemoved});
  std::sort(s.members.begin(), s.members.end(),
            [](const Member& a, const Member& b) { return a.name < b.name; });
  Keeper keeper(s, "n2");
  keeper.Report("n1", 1, s.Digest());
  CHECK_FALSE(keeper.Converged());
  keeper.Report("n3", 1, s.Digest());
  CHECK(keeper.Converged());
}

}  // namespace
}  // namespace shoal::cluster
