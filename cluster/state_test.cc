// Tests for cluster/state.h: the epoch order, plans of staged changes and
// their transfers, completion.
#include "cluster/state.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace shoal::cluster {
namespace {

const ring::RingOptions kOptions{.partitions = 64, .n = 3};

std::vector<Member> Members(int count) {
  std::vector<Member> out;
  for (int i = 1; i <= count; ++i) {
    out.push_back({"n" + std::to_string(i),
                   "10.0.0." + std::to_string(i) + ":7000",
                   MemberState::kValid});
  }
  return out;
}

ClusterState Start(int count) {
  auto state = ClusterState::Initial(Members(count), kOptions);
  REQUIRE_MESSAGE(state.ok(), state.status().ToString());
  return std::move(state).value();
}

std::set<std::string> PrimariesOf(const ring::Claim& claim, uint32_t p) {
  auto ring = ring::Ring::FromClaim(claim, kOptions);
  REQUIRE(ring.ok());
  std::set<std::string> out;
  for (ring::NodeIndex i : ring.value().Primaries(p)) {
    out.insert(ring.value().members()[i]);
  }
  return out;
}

uint32_t Share(const ring::Claim& claim, const std::string& name) {
  uint32_t count = 0;
  for (const std::string& owner : claim) count += owner == name;
  return count;
}

// Every transfer goes from a primary of the current claim to a primary of
// the next that is not one now, and together they make every next
// primary set whole.
void CheckTransfers(const Plan& plan, const ClusterState& current) {
  std::map<uint32_t, std::set<std::string>> arriving;
  for (const Transfer& t : plan.transfers) {
    const auto had = PrimariesOf(current.claim, t.partition);
    const auto will = PrimariesOf(plan.next.next_claim, t.partition);
    CHECK(had.count(t.from) == 1);
    CHECK(had.count(t.to) == 0);
    CHECK(will.count(t.to) == 1);
    arriving[t.partition].insert(t.to);
  }
  for (uint32_t p = 0; p < kOptions.partitions; ++p) {
    const auto had = PrimariesOf(current.claim, p);
    for (const std::string& node : PrimariesOf(plan.next.next_claim, p)) {
      CHECK((had.count(node) == 1 || arriving[p].count(node) == 1));
    }
  }
}

TEST_CASE("a new cluster is valid members at epoch 1 with Create's claim") {
  const ClusterState state = Start(4);
  CHECK(state.epoch == 1);
  CHECK_FALSE(state.changing());
  for (const Member& m : state.members) CHECK(m.state == MemberState::kValid);
  CHECK(state.claim ==
        ring::InitialClaim({"n1", "n2", "n3", "n4"}, kOptions).value());
  auto no_address =
      ClusterState::Initial({{"a", "", MemberState::kValid}}, kOptions);
  REQUIRE_FALSE(no_address.ok());
  CHECK(no_address.status().message() == "member 'a' has no address");
  auto twice = ClusterState::Initial(
      {{"a", "h:1", MemberState::kValid}, {"a", "h:2", MemberState::kValid}},
      kOptions);
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.status().message() == "duplicate member 'a'");
}

TEST_CASE("the higher epoch wins; one epoch with two values is a conflict") {
  const ClusterState mine = Start(3);
  ClusterState theirs = mine;
  CHECK(Compare(mine, theirs) == Order::kSame);
  CHECK(mine.Digest() == theirs.Digest());
  theirs.members[1].address = "10.9.9.9:7000";
  CHECK(Compare(mine, theirs) == Order::kConflict);
  CHECK(mine.Digest() != theirs.Digest());
  theirs.epoch = 2;
  CHECK(Compare(mine, theirs) == Order::kNewer);
  CHECK(Compare(theirs, mine) == Order::kOlder);
}

TEST_CASE("a join moves the newcomer's share, n replicas each, all to it") {
  const ClusterState current = Start(4);
  auto plan = MakePlan(current, {Change::Join("n5", "10.0.0.5:7000")});
  REQUIRE_MESSAGE(plan.ok(), plan.status().ToString());
  const Plan& p = plan.value();
  CHECK(p.next.epoch == 2);
  CHECK(p.next.changing());
  CHECK(p.next.claim == current.claim);  // reads stay on the old owners
  REQUIRE(p.next.Find("n5") != nullptr);
  CHECK(p.next.Find("n5")->state == MemberState::kJoining);
  CHECK(p.partitions_changing_owner == 64 / 5);
  CHECK(p.transfers.size() == 3 * (64 / 5));
  for (const Transfer& t : p.transfers) CHECK(t.to == "n5");
  CheckTransfers(p, current);
  // The copies are spread over the sources.
  std::map<std::string, int> sends;
  for (const Transfer& t : p.transfers) ++sends[t.from];
  CHECK(sends.size() == 4);
  for (const auto& [node, count] : sends) CHECK(count <= 12);
  CHECK(p.shape.balanced());
  CHECK(p.shape.bad_windows == 0);

  auto done = Complete(p.next);
  REQUIRE(done.ok());
  CHECK(done.value().epoch == 3);
  CHECK_FALSE(done.value().changing());
  CHECK(done.value().claim == p.next.next_claim);
  CHECK(done.value().Find("n5")->state == MemberState::kValid);
}

TEST_CASE("a leave copies the leaver's replicas to others, never to it") {
  const ClusterState current = Start(5);
  auto plan = MakePlan(current, {Change::Leave("n2")});
  REQUIRE(plan.ok());
  const Plan& p = plan.value();
  CHECK(p.next.Find("n2")->state == MemberState::kLeaving);
  CHECK(p.transfers.size() == 3 * Share(current.claim, "n2"));
  for (const Transfer& t : p.transfers) CHECK(t.to != "n2");
  CheckTransfers(p, current);
  auto done = Complete(p.next);
  REQUIRE(done.ok());
  CHECK(done.value().Find("n2")->state == MemberState::kRemoved);
  CHECK(Share(done.value().claim, "n2") == 0);
}

TEST_CASE("a replacement takes the old node's replicas from the others") {
  const ClusterState current = Start(4);
  auto plan = MakePlan(current, {Change::Replace("n3", "n9", "10.0.0.9:7000")});
  REQUIRE(plan.ok());
  const Plan& p = plan.value();
  CHECK(p.next.Find("n3")->state == MemberState::kLeaving);
  CHECK(p.next.Find("n9")->state == MemberState::kJoining);
  CHECK(p.transfers.size() == 3 * Share(current.claim, "n3"));
  for (const Transfer& t : p.transfers) {
    CHECK(t.to == "n9");
    CHECK(t.from != "n3");  // the replaced node's data is gone
  }
  CheckTransfers(p, current);
}

TEST_CASE("a force-removed node is no source and is removed at once") {
  const ClusterState current = Start(5);
  auto plan = MakePlan(current, {Change::ForceRemove("n4")});
  REQUIRE(plan.ok());
  CHECK(plan.value().next.Find("n4")->state == MemberState::kRemoved);
  for (const Transfer& t : plan.value().transfers) CHECK(t.from != "n4");
  CheckTransfers(plan.value(), current);
}

TEST_CASE("a committed force-removal completes at once, one epoch on") {
  const ClusterState current = Start(5);
  const std::set<std::string> in_step = {"n1", "n2", "n3", "n5"};
  auto next = CommitPlan(current, {Change::ForceRemove("n4")}, in_step);
  REQUIRE(next.ok());
  CHECK(next.value().epoch == current.epoch + 1);
  CHECK_FALSE(next.value().changing());
  CHECK(next.value().Find("n4")->state == MemberState::kRemoved);
  CHECK(next.value().members.size() == current.members.size());
  CHECK(Share(next.value().claim, "n4") == 0);
  auto ring = RingOf(next.value());
  REQUIRE(ring.ok());
  for (uint32_t p = 0; p < kOptions.partitions; ++p) {
    CHECK(PrimariesOf(next.value().claim, p).size() == kOptions.n);
    CHECK_FALSE(PrimariesOf(next.value().claim, p).contains("n4"));
  }
}

TEST_CASE("a committed join is in progress: its receivers get the transfers") {
  const ClusterState current = Start(5);
  CHECK(Receivers(current).empty());
  const std::set<std::string> all = {"n1", "n2", "n3", "n4", "n5"};
  auto next = CommitPlan(current, {Change::Join("n6", "127.0.0.6:7000")}, all);
  REQUIRE(next.ok());
  CHECK(next.value().epoch == current.epoch + 1);
  CHECK(next.value().changing());
  CHECK(next.value().Find("n6")->state == MemberState::kJoining);
  // Only the newcomer gains partitions in a join.
  CHECK(Receivers(next.value()) == std::vector<std::string>{"n6"});
  // The ring serves the current claim; n6 is a pending replica of exactly
  // the partitions it will replicate.
  auto ring = RingOf(next.value());
  REQUIRE(ring.ok());
  CHECK(ring.value().changing());
  const ring::NodeIndex n6 = *ring.value().IndexOf("n6");
  CHECK(ring.value().ReplicatedBy(n6).empty());
  auto done = Complete(next.value());
  REQUIRE(done.ok());
  auto after = RingOf(done.value());
  REQUIRE(after.ok());
  CHECK_FALSE(after.value().changing());
  CHECK(ring.value().HeldBy(n6) == after.value().ReplicatedBy(n6));
  for (uint32_t p = 0; p < kOptions.partitions; ++p) {
    const auto& pending = ring.value().Pending(p);
    for (ring::NodeIndex i : pending) CHECK(i == n6);
  }
  // A replacement waits for nobody but the members that stay: the replaced
  // one may be dead.
  auto replace =
      CommitPlan(current, {Change::Replace("n2", "n7", "127.0.0.7:7000")},
                 {"n1", "n3", "n4", "n5"});
  REQUIRE(replace.ok());
  CHECK(Receivers(replace.value()) == std::vector<std::string>{"n7"});
}

TEST_CASE("a commit needs every member that stays in step") {
  const ClusterState current = Start(5);
  // n3 stays but missed the epoch (or is down): refused, naming it.
  auto lagging =
      CommitPlan(current, {Change::ForceRemove("n4")}, {"n1", "n2", "n5"});
  REQUIRE_FALSE(lagging.ok());
  CHECK(lagging.status().code() == Code::kUnavailable);
  CHECK(lagging.status().message().find("member n3 (") != std::string::npos);
  // Removing it too is the way out.
  auto both = CommitPlan(current,
                         {Change::ForceRemove("n4"), Change::ForceRemove("n3")},
                         {"n1", "n2", "n5"});
  REQUIRE(both.ok());
  CHECK(both.value().Find("n3")->state == MemberState::kRemoved);

  const std::set<std::string> all = {"n1", "n2", "n3", "n4", "n5"};
  auto nothing = CommitPlan(current, {}, all);
  REQUIRE_FALSE(nothing.ok());
  CHECK(nothing.status().message().find("nothing is staged") !=
        std::string::npos);
  auto mixed = CommitPlan(
      current,
      {Change::Join("n6", "127.0.0.6:7000"), Change::ForceRemove("n2")}, all);
  REQUIRE_FALSE(mixed.ok());
  CHECK(mixed.status().message().find("on their own") != std::string::npos);
  // MakePlan's own refusals come through.
  auto unknown = CommitPlan(current, {Change::ForceRemove("n9")}, all);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message().find("n9") != std::string::npos);
}

TEST_CASE("two staged joins make one plan") {
  const ClusterState current = Start(3);
  auto plan = MakePlan(current, {Change::Join("n4", "10.0.0.4:7000"),
                                 Change::Join("n5", "10.0.0.5:7000")});
  REQUIRE(plan.ok());
  CHECK(plan.value().next.epoch == 2);
  CHECK(ring::ClaimMembers(plan.value().next.next_claim).size() == 5);
  CHECK(plan.value().shape.balanced());
  CheckTransfers(plan.value(), current);
}

TEST_CASE("plans refuse what cannot be done, naming it") {
  const ClusterState current = Start(3);
  auto check_error = [&](const std::vector<Change>& changes,
                         const std::string& message) {
    auto plan = MakePlan(current, changes);
    REQUIRE_FALSE(plan.ok());
    CHECK(plan.status().message() == message);
  };
  check_error({}, "no change is staged");
  check_error({Change::Leave("n9")}, "no member named 'n9'");
  check_error({Change::Join("n2", "10.0.0.7:7000")},
              "'n2' is already a member");
  check_error({Change::Join("n7", "10.0.0.2:7000")},
              "address 10.0.0.2:7000 is already 'n2''s");
  check_error({Change::Join("n7", "")}, "'n7' needs an address");
  check_error({Change::Leave("n1")},
              "the change leaves 2 members, fewer than n=3");
  check_error({Change::Join("n4", "10.0.0.4:7000"), Change::Leave("n4")},
              "'n4' is joining, not a valid member");

  auto changing = MakePlan(current, {Change::Join("n4", "10.0.0.4:7000")});
  REQUIRE(changing.ok());
  auto again = MakePlan(changing.value().next, {Change::Leave("n1")});
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().message() ==
        "epoch 2 is still moving partitions: let its transfers finish before "
        "planning another change");
  auto not_changing = Complete(current);
  REQUIRE_FALSE(not_changing.ok());
  CHECK(not_changing.status().message() == "epoch 1 has no change in progress");
}

TEST_CASE("a removed name can join again") {
  ClusterState state = Start(4);
  state = Complete(MakePlan(state, {Change::Leave("n4")}).value().next).value();
  CHECK(state.Find("n4")->state == MemberState::kRemoved);
  auto plan = MakePlan(state, {Change::Join("n4", "10.0.0.4:7000")});
  REQUIRE_MESSAGE(plan.ok(), plan.status().ToString());
  CHECK(plan.value().next.Find("n4")->state == MemberState::kJoining);
  CHECK(plan.value().next.members.size() == 4);
}

TEST_CASE("indices never move: a join goes last, a removal keeps its place") {
  ClusterState state = Start(4);  // n1..n4
  // "a0" sorts before everyone: it still goes last.
  state =
      Complete(
          MakePlan(state, {Change::Join("a0", "10.0.0.9:7000")}).value().next)
          .value();
  state = Complete(MakePlan(state, {Change::Leave("n2")}).value().next).value();
  std::vector<std::string> names;
  for (const Member& m : state.members) names.push_back(m.name);
  CHECK(names == std::vector<std::string>{"n1", "n2", "n3", "n4", "a0"});
  CHECK(state.Find("n2")->state == MemberState::kRemoved);

  auto ring = RingOf(state);
  REQUIRE_MESSAGE(ring.ok(), ring.status().ToString());
  CHECK(ring->members() == names);
  CHECK(ring->IndexOf("a0").value() == 4);
  CHECK(ring->retired(1));
  CHECK(ring->PartitionsOf(1).empty());
  for (uint32_t p = 0; p < ring->partitions(); ++p) {
    const auto list = ring->PreferenceList(p);
    CHECK(list.size() == 4);  // every member but the removed n2
    CHECK(std::find(list.begin(), list.end(), 1) == list.end());
  }
}

TEST_CASE("a change switches reads before it completes; writes reach both") {
  // n4 of 4 leaves. Transferring: reads on the current claim's primaries,
  // writes to the next claim's too. Switched: reads on the next claim's,
  // writes still to both. Done: the next claim alone. Any two neighbouring
  // epochs write to a superset of what the other reads.
  auto plan = MakePlan(Start(4), {Change::Leave("n4")});
  REQUIRE(plan.ok());
  const ClusterState transferring = plan.value().next;
  auto t = RingOf(transferring);
  REQUIRE(t.ok());
  CHECK(t->epoch() == transferring.epoch);
  CHECK(t->pending_kind() == ring::PendingKind::kIncoming);

  auto switched = Advance(transferring);
  REQUIRE(switched.ok());
  CHECK(switched->epoch == transferring.epoch + 1);
  CHECK(switched->switched);
  CHECK(switched->changing());
  CHECK(switched->claim == transferring.claim);
  CHECK(switched->Find("n4")->state == MemberState::kLeaving);
  CHECK(Receivers(*switched).empty());  // nothing left to receive
  CHECK(switched->Digest() != transferring.Digest());
  auto s = RingOf(*switched);
  REQUIRE(s.ok());
  CHECK(s->epoch() == switched->epoch);
  CHECK(s->pending_kind() == ring::PendingKind::kOutgoing);
  const ring::NodeIndex n4 = *s->IndexOf("n4");
  // n4 reads nothing, but still holds (and is written) what it held.
  CHECK(s->ReplicatedBy(n4).empty());
  CHECK(s->HeldBy(n4) == t->ReplicatedBy(n4));

  auto done = Advance(*switched);
  REQUIRE(done.ok());
  CHECK(done->epoch == switched->epoch + 1);
  CHECK_FALSE(done->changing());
  CHECK_FALSE(done->switched);
  CHECK(done->claim == transferring.next_claim);
  CHECK(done->Find("n4")->state == MemberState::kRemoved);
  auto d = RingOf(*done);
  REQUIRE(d.ok());
  CHECK(d->HeldBy(n4).empty());

  auto set = [](std::vector<ring::NodeIndex> v,
                const std::vector<ring::NodeIndex>& more) {
    v.insert(v.end(), more.begin(), more.end());
    return std::set<ring::NodeIndex>(v.begin(), v.end());
  };
  for (uint32_t p = 0; p < kOptions.partitions; ++p) {
    CAPTURE(p);
    const auto before = t->Primaries(p);
    const auto after = d->Primaries(p);
    CHECK(s->Primaries(p) == after);
    CHECK(set(t->Primaries(p), t->Pending(p)) ==
          set(s->Primaries(p), s->Pending(p)));
    // Incoming while transferring: the new primaries; outgoing once
    // switched: the old ones.
    for (ring::NodeIndex i : t->Pending(p)) {
      CHECK(std::find(after.begin(), after.end(), i) != after.end());
    }
    for (ring::NodeIndex i : s->Pending(p)) {
      CHECK(std::find(before.begin(), before.end(), i) != before.end());
      CHECK(std::find(after.begin(), after.end(), i) == after.end());
    }
  }
  CHECK_FALSE(Advance(*done).ok());
}

TEST_CASE("the ring of a changing state has the joining member as a fallback") {
  auto plan = MakePlan(Start(3), {Change::Join("n4", "10.0.0.4:7000")});
  REQUIRE(plan.ok());
  auto ring = RingOf(plan.value().next);
  REQUIRE(ring.ok());
  const ring::NodeIndex n4 = ring->IndexOf("n4").value();
  CHECK(n4 == 3);
  CHECK(ring->PartitionsOf(n4).empty());  // the current claim is unchanged
  for (uint32_t p = 0; p < ring->partitions(); ++p) {
    CHECK(ring->PreferenceList(p).back() == n4);
  }
}

}  // namespace
}  // namespace shoal::cluster
