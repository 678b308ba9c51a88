// The cluster state (cluster.capnp).
#include <capnp/serialize.h>

#include <bit>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "wire/cluster.capnp.h"
#include "wire/codec.h"
#include "wire/codec_internal.h"

namespace shoal::wire {
namespace {

namespace sc = ::shoal::wire::schema;

sc::MemberState ToWire(cluster::MemberState state) {
  switch (state) {
    case cluster::MemberState::kJoining:
      return sc::MemberState::JOINING;
    case cluster::MemberState::kValid:
      return sc::MemberState::VALID;
    case cluster::MemberState::kLeaving:
      return sc::MemberState::LEAVING;
    case cluster::MemberState::kRemoved:
      return sc::MemberState::REMOVED;
  }
  return sc::MemberState::VALID;
}

Status Bad(const std::string& what) {
  return Status(Code::kCorruption, "cluster state: " + what);
}

// Owner indices -> names, each checked against the members.
Result<ring::Claim> ReadClaim(capnp::List<uint16_t>::Reader list,
                              const std::vector<cluster::Member>& members,
                              const char* which) {
  ring::Claim claim;
  claim.reserve(list.size());
  for (uint16_t index : list) {
    if (index >= members.size()) {
      return Bad(std::string(which) + " names member " + std::to_string(index) +
                 " of " + std::to_string(members.size()));
    }
    if (members[index].state == cluster::MemberState::kRemoved) {
      return Bad(std::string(which) + " gives a partition to removed '" +
                 members[index].name + "'");
    }
    claim.push_back(members[index].name);
  }
  return claim;
}

}  // namespace

namespace internal {

Result<cluster::ClusterState> ReadClusterState(sc::ClusterState::Reader root) {
  cluster::ClusterState state;
  state.epoch = root.getEpoch();
  if (state.epoch == 0) return Bad("epoch 0");
  state.options.partitions = root.getPartitions();
  state.options.n = root.getN();
  const uint32_t q = state.options.partitions;
  if (q == 0 || !std::has_single_bit(q) || q > 65536) {
    return Bad("partitions=" + std::to_string(q) +
               " is not a power of two in 1..65536");
  }
  if (state.options.n == 0) return Bad("n=0");
  for (auto d : root.getDcs()) {
    state.options.dcs.push_back({d.getDc().cStr(), d.getN()});
  }
  if (Status st = ring::CheckDcs(state.options.dcs, state.options.n);
      !st.ok()) {
    return Bad(st.message());
  }
  // Members in the order they joined (their ring indices), names unique.
  std::set<std::string> names;
  for (auto m : root.getMembers()) {
    cluster::Member member;
    member.name = m.getName().cStr();
    member.address = m.getAddress().cStr();
    member.dc = m.getDc().cStr();
    member.rack = m.getRack().cStr();
    switch (m.getState()) {
      case sc::MemberState::JOINING:
        member.state = cluster::MemberState::kJoining;
        break;
      case sc::MemberState::VALID:
        member.state = cluster::MemberState::kValid;
        break;
      case sc::MemberState::LEAVING:
        member.state = cluster::MemberState::kLeaving;
        break;
      case sc::MemberState::REMOVED:
        member.state = cluster::MemberState::kRemoved;
        break;
      default:
        return Bad("member '" + member.name + "' has an unknown state");
    }
    if (member.name.empty()) return Bad("a member name is empty");
    if (!names.insert(member.name).second) {
      return Bad("member '" + member.name + "' is listed twice");
    }
    state.members.push_back(std::move(member));
  }
  auto claim = ReadClaim(root.getClaim(), state.members, "claim");
  if (!claim.ok()) return claim.status();
  state.claim = std::move(claim).value();
  if (state.claim.size() != q) {
    return Bad("the claim has " + std::to_string(state.claim.size()) +
               " partitions, not " + std::to_string(q));
  }
  auto next = ReadClaim(root.getNextClaim(), state.members, "next claim");
  if (!next.ok()) return next.status();
  state.next_claim = std::move(next).value();
  if (!state.next_claim.empty() && state.next_claim.size() != q) {
    return Bad("the next claim has " + std::to_string(state.next_claim.size()) +
               " partitions, not " + std::to_string(q));
  }
  state.switched = root.getSwitched();
  if (state.switched && state.next_claim.empty()) {
    return Bad("switched, but no change is in progress (no next claim)");
  }
  return state;
}

void FillClusterState(sc::ClusterState::Builder root,
                      const cluster::ClusterState& state) {
  root.setEpoch(state.epoch);
  root.setPartitions(state.options.partitions);
  root.setN(state.options.n);
  auto members = root.initMembers(state.members.size());
  std::map<std::string_view, uint16_t> index;
  for (size_t i = 0; i < state.members.size(); ++i) {
    const cluster::Member& m = state.members[i];
    members[i].setName(m.name);
    members[i].setAddress(m.address);
    members[i].setState(ToWire(m.state));
    members[i].setDc(m.dc);
    members[i].setRack(m.rack);
    index[m.name] = static_cast<uint16_t>(i);
  }
  auto fill = [&](capnp::List<uint16_t>::Builder list,
                  const ring::Claim& claim) {
    for (size_t p = 0; p < claim.size(); ++p) list.set(p, index.at(claim[p]));
  };
  fill(root.initClaim(state.claim.size()), state.claim);
  fill(root.initNextClaim(state.next_claim.size()), state.next_claim);
  root.setSwitched(state.switched);
  auto dcs = root.initDcs(state.options.dcs.size());
  for (size_t i = 0; i < state.options.dcs.size(); ++i) {
    dcs[i].setDc(state.options.dcs[i].dc);
    dcs[i].setN(state.options.dcs[i].n);
  }
}

}  // namespace internal

std::string EncodeClusterState(const cluster::ClusterState& state) {
  capnp::MallocMessageBuilder builder;
  internal::FillClusterState(builder.initRoot<sc::ClusterState>(), state);
  const kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
  const auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()),
                     bytes.size());
}

Result<cluster::ClusterState> DecodeClusterState(std::string_view bytes) {
  return internal::DecodeFlat<sc::ClusterState>(bytes, "cluster state",
                                                internal::ReadClusterState);
}

}  // namespace shoal::wire
