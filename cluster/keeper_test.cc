#include "cluster/keeper.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>

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
  Keeper keeper(s);
  CHECK(keeper.epoch() == 1);
  CHECK(keeper.digest() == s.Digest());
  CHECK(keeper.Report("n2", 1, s.Digest()) == Reaction::kNone);
  CHECK(keeper.Report("n3", 1, s.Digest()) == Reaction::kNone);
  CHECK(keeper.ReportOf("n3").epoch == 1);
  CHECK(keeper.ReportOf("n9").epoch == 0);

  CHECK(keeper.Report("n3", 1, s.Digest() + 1) == Reaction::kConflict);
  CHECK(keeper.ReportOf("n3").conflict);
  CHECK(keeper.Report("n3", 2, 77) == Reaction::kFetch);
  CHECK_FALSE(keeper.ReportOf("n3").conflict);
  CHECK(keeper.Report("n2", 0, 0) == Reaction::kNone);  // older: it fetches
}

TEST_CASE("a newer state that keeps the claim is adopted") {
  const ClusterState s = Three();
  Keeper keeper(s);
  ClusterState newer = s;
  newer.epoch = 2;
  // The record of a member removed long ago: nothing the node serves with.
  newer.members.push_back({"n9", "10.0.0.9:7000", MemberState::kRemoved});
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
  Keeper keeper(s);
  ClusterState other = s;
  other.members[1].address = "10.9.9.9:7000";
  auto r = keeper.Offer(other);
  CHECK(r.status().code() == Code::kCorruption);
  CHECK(r.status().message().find("epoch 1") != std::string::npos);
  CHECK(keeper.state() == s);
}

TEST_CASE("a newer state that moves a member is refused") {
  const ClusterState s = Three();
  Keeper keeper(s);
  ClusterState moved = s;
  moved.epoch = 2;
  moved.members[2].address = "10.0.0.33:7000";  // peers still dial the old
  auto r = keeper.Offer(moved);
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(r.status().message() ==
        "cluster state epoch 2 cannot replace epoch 1: it moves 'n3' from "
        "10.0.0.3:7000 to 10.0.0.33:7000");
  CHECK(keeper.state() == s);
}

TEST_CASE("a newer state with a completed change is adopted") {
  const ClusterState s = Three();
  Keeper keeper(s);
  auto plan = MakePlan(s, {Change::Join("n4", "10.0.0.4:7000")});
  REQUIRE(plan.ok());
  auto done = Complete(plan.value().next);
  REQUIRE(done.ok());
  auto r = keeper.Offer(done.value());
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r.value());
  CHECK(keeper.state() == done.value());
  CHECK(keeper.epoch() == 3);
}

TEST_CASE("states a running node cannot apply are refused, naming why") {
  const ClusterState s = Three();
  auto refused = [&](ClusterState offered) {
    offered.epoch = 2;
    Keeper keeper(s);
    auto r = keeper.Offer(offered);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK(keeper.state() == s);
    return r.status().message();
  };
  ClusterState other_n = s;
  other_n.options.n = 2;
  CHECK(refused(other_n) ==
        "cluster state epoch 2 cannot replace epoch 1: it has n=2 and "
        "partitions=16, this cluster n=3 and partitions=16");
  ClusterState fewer = s;
  fewer.members.pop_back();
  CHECK(refused(fewer).find("fewer members") != std::string::npos);
  ClusterState swapped = s;
  std::swap(swapped.members[0], swapped.members[1]);
  CHECK(refused(swapped).find("indices never move") != std::string::npos);
}

TEST_CASE("a change in progress is adopted; a refused state not refetched") {
  const ClusterState s = Three();
  {
    Keeper keeper(s);
    auto plan = MakePlan(s, {Change::Join("n4", "10.0.0.4:7000")});
    REQUIRE(plan.ok());
    const ClusterState& next = plan.value().next;
    CHECK(keeper.Report("n2", next.epoch, next.Digest()) == Reaction::kFetch);
    auto r = keeper.Offer(next);
    REQUIRE(r.ok());
    CHECK(r.value());
    CHECK(keeper.state().changing());
  }
  Keeper keeper(s);
  ClusterState next = s;
  next.epoch = 2;
  next.members[1].address = "10.9.9.9:7000";
  CHECK(keeper.Report("n2", next.epoch, next.Digest()) == Reaction::kFetch);
  auto r = keeper.Offer(next);
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(keeper.state() == s);
  CHECK(keeper.Report("n2", next.epoch, next.Digest()) == Reaction::kNone);
  // A still newer one is worth a look.
  CHECK(keeper.Report("n2", next.epoch + 1, 5) == Reaction::kFetch);
}

TEST_CASE("the starting state: stored, learned, configured") {
  const ClusterState s = Three();
  ClusterState newer = s;
  newer.epoch = 5;
  // A new ring starts from its config.
  CHECK(StartingState("n1", {}, {}, s).value() == s);
  // A restart keeps what it stored; the same config is fine.
  CHECK(StartingState("n1", newer, {}, s).status().code() ==
        Code::kOk);  // same members, same options
  CHECK(StartingState("n1", newer, {}, s).value().epoch == 5);
  // The higher epoch of stored and learned wins.
  CHECK(StartingState("n2", s, newer, {}).value().epoch == 5);
  CHECK(StartingState("n2", newer, s, {}).value().epoch == 5);
  // A learned state alone (a wiped node started from seeds).
  CHECK(StartingState("n3", {}, newer, {}).value() == newer);

  ClusterState other = s;
  other.members[0].address = "10.9.9.9:7000";
  auto conflict = StartingState("n1", s, other, {});
  CHECK(conflict.status().code() == Code::kCorruption);

  // A config that no longer lists the members.
  auto stale = StartingState("n1", s, {}, other);
  CHECK(stale.status().code() == Code::kInvalidArgument);
  CHECK(stale.status().message().find("n1@10.9.9.9:7000") != std::string::npos);
  CHECK(stale.status().message().find("n1@10.0.0.1:7000") != std::string::npos);
  // Once the cluster changed (epoch > 1), its state wins over the list.
  ClusterState changed = s;
  changed.epoch = 4;
  auto wins = StartingState("n1", changed, {}, other);
  REQUIRE_MESSAGE(wins.ok(), wins.status().ToString());
  CHECK(wins.value() == changed);
  ClusterState more_replicas = s;
  more_replicas.options.n = 2;
  CHECK(StartingState("n1", s, {}, more_replicas).status().code() ==
        Code::kInvalidArgument);
  CHECK(StartingState("n1", changed, {}, more_replicas).status().code() ==
        Code::kInvalidArgument);  // n and Q never change

  // Not a member, or a removed one.
  auto stranger = StartingState("n7", {}, s, {});
  CHECK(stranger.status().code() == Code::kInvalidArgument);
  CHECK(stranger.status().message().find("not a member") != std::string::npos);
  ClusterState removed = s;
  removed.members[2].state = MemberState::kRemoved;
  CHECK_FALSE(StartingState("n3", removed, {}, {}).ok());
  CHECK_FALSE(StartingState("n1", {}, {}, {}).ok());
}

}  // namespace
}  // namespace shoal::cluster
