// The peer schema's messages (peer.capnp): hello, ping, replica reads and
// writes, forwarded puts, and anti-entropy exchanges.
#include <cstdint>
#include <utility>
#include <vector>

#include "wire/codec_internal.h"

namespace shoal::wire::internal {
namespace {

void FillKeyObjects(capnp::List<sc::KeyObject>::Builder list,
                    const std::vector<KeyObject>& items) {
  for (size_t i = 0; i < items.size(); ++i) {
    list[i].setKey(Bytes(items[i].key));
    FillObject(list[i].initObject(), items[i].object);
  }
}

Result<std::vector<KeyObject>> ReadKeyObjects(
    capnp::List<sc::KeyObject>::Reader list) {
  std::vector<KeyObject> out;
  out.reserve(list.size());
  for (auto item : list) {
    auto obj = ReadObject(item.getObject());
    if (!obj) return obj.status();
    out.push_back({ToString(item.getKey()), std::move(obj).value()});
  }
  return out;
}

}  // namespace

void EncodeBody(const Hello& m, sc::Frame::Builder f) {
  auto b = f.initHello();
  b.setNode(m.node);
  b.setProtocolVersion(m.protocol_version);
}

Hello DecodeBody(sc::Hello::Reader h) {
  return Hello{h.getNode().cStr(), h.getProtocolVersion()};
}

void EncodeBody(const ReadRequest& m, sc::Frame::Builder f) {
  auto b = f.initRead();
  b.setKey(Bytes(m.key));
  b.setEpoch(m.epoch);
}

ReadRequest DecodeBody(sc::ReadRequest::Reader r) {
  return ReadRequest{ToString(r.getKey()), r.getEpoch()};
}

void EncodeBody(const ReadReply& m, sc::Frame::Builder f) {
  FillObject(f.initReadReply().initObject(), m.object);
}

Result<ReadReply> DecodeBody(sc::ReadReply::Reader r) {
  auto o = ReadObject(r.getObject());
  if (!o) return o.status();
  return ReadReply{std::move(o.value())};
}

void EncodeBody(const ReplicateRequest& m, sc::Frame::Builder f) {
  auto b = f.initReplicate();
  b.setKey(Bytes(m.key));
  FillObject(b.initObject(), m.object);
  if (!m.hint_for.empty()) b.setHintFor(m.hint_for);
  b.setEpoch(m.epoch);
  if (!m.also.empty()) {
    auto also = b.initAlso(m.also.size());
    for (size_t i = 0; i < m.also.size(); ++i) {
      also[i].setNode(m.also[i].node);
      if (!m.also[i].hint_for.empty()) also[i].setHintFor(m.also[i].hint_for);
    }
    b.setTimeoutMs(m.timeout_ms);
    b.setWaitFor(m.wait_for);
  }
}

Result<ReplicateRequest> DecodeBody(sc::ReplicateRequest::Reader r) {
  auto o = ReadObject(r.getObject());
  if (!o) return o.status();
  ReplicateRequest m{ToString(r.getKey()), std::move(o.value()),
                     r.getHintFor().cStr(), r.getEpoch()};
  for (auto t : r.getAlso()) {
    if (t.getNode().size() == 0) {
      return Status(Code::kInvalidArgument, "a relay target without a node");
    }
    m.also.push_back({t.getNode().cStr(), t.getHintFor().cStr()});
  }
  m.timeout_ms = r.getTimeoutMs();
  m.wait_for = r.getWaitFor();
  return m;
}

void EncodeBody(const ReplicateReply& m, sc::Frame::Builder f) {
  auto b = f.initReplicateReply();
  if (m.results.empty()) return;
  auto results = b.initResults(m.results.size());
  for (size_t i = 0; i < m.results.size(); ++i) {
    results[i].setNode(m.results[i].node);
    // (CodeToWire maps ok to internal: an error reply is never ok.)
    const Status& st = m.results[i].status;
    results[i].setCode(static_cast<uint16_t>(st.ok() ? sc::ErrorCode::OK
                                                     : CodeToWire(st.code())));
    if (!m.results[i].status.ok()) {
      results[i].setMessage(m.results[i].status.message());
    }
  }
}

ReplicateReply DecodeBody(sc::ReplicateReply::Reader r) {
  ReplicateReply m;
  for (auto res : r.getResults()) {
    const auto code = static_cast<sc::ErrorCode>(res.getCode());
    m.results.push_back(
        {res.getNode().cStr(),
         code == sc::ErrorCode::OK
             ? Status::Ok()
             : Status(CodeFromWire(code), res.getMessage().cStr())});
  }
  return m;
}

void EncodeBody(const CoordinatePutRequest& m, sc::Frame::Builder f) {
  auto b = f.initCoordinatePut();
  FillPut(b.initPut(), m.put);
  b.setEpoch(m.epoch);
}

CoordinatePutRequest DecodeBody(sc::CoordinatePutRequest::Reader r) {
  return CoordinatePutRequest{ReadPut(r.getPut()), r.getEpoch()};
}

void EncodeBody(const Ping& m, sc::Frame::Builder f) {
  auto b = f.initPing();
  b.setEpoch(m.epoch);
  b.setDigest(m.digest);
  b.setTransferred(m.transferred);
}

Ping DecodeBody(sc::Ping::Reader r) {
  return Ping{r.getEpoch(), r.getDigest(), r.getTransferred()};
}

void EncodeBody(const Pong& m, sc::Frame::Builder f) {
  auto b = f.initPong();
  b.setEpoch(m.epoch);
  b.setDigest(m.digest);
  b.setTransferred(m.transferred);
}

Pong DecodeBody(sc::Pong::Reader r) {
  return Pong{r.getEpoch(), r.getDigest(), r.getTransferred()};
}

void EncodeBody(const ClusterStateRequest&, sc::Frame::Builder f) {
  f.initClusterState();
}

ClusterStateRequest DecodeBody(sc::ClusterStateRequest::Reader) { return {}; }

void EncodeBody(const ClusterStateReply& m, sc::Frame::Builder f) {
  FillClusterState(f.initClusterStateReply().initState(), m.state);
}

Result<ClusterStateReply> DecodeBody(sc::ClusterStateReply::Reader r) {
  auto state = ReadClusterState(r.getState());
  if (!state.ok()) return state.status();
  return ClusterStateReply{std::move(state).value()};
}

void EncodeBody(const AaeTreeRequest& m, sc::Frame::Builder f) {
  auto b = f.initAaeTree();
  b.setPartition(m.partition);
  b.setSegments(m.segments);
  b.setLevel(static_cast<sc::AaeLevel>(m.level));
  FillU32(b.initBranches(m.branches.size()), m.branches);
}

Result<AaeTreeRequest> DecodeBody(sc::AaeTreeRequest::Reader r) {
  const auto level = r.getLevel();
  if (static_cast<uint16_t>(level) > 2) {
    return Status(Code::kInvalidArgument, "unknown anti-entropy tree level");
  }
  return AaeTreeRequest{r.getPartition(), r.getSegments(),
                        static_cast<AaeLevel>(level), ReadU32(r.getBranches())};
}

void EncodeBody(const AaeTreeReply& m, sc::Frame::Builder f) {
  auto list = f.initAaeTreeReply().initHashes(m.hashes.size());
  for (size_t i = 0; i < m.hashes.size(); ++i) list.set(i, m.hashes[i]);
}

AaeTreeReply DecodeBody(sc::AaeTreeReply::Reader r) {
  AaeTreeReply t;
  for (uint64_t h : r.getHashes()) t.hashes.push_back(h);
  return t;
}

void EncodeBody(const AaeKeysRequest& m, sc::Frame::Builder f) {
  auto b = f.initAaeKeys();
  b.setPartition(m.partition);
  b.setSegments(m.segments);
  FillU32(b.initLeaves(m.leaves.size()), m.leaves);
  b.setWithObjects(m.with_objects);
}

AaeKeysRequest DecodeBody(sc::AaeKeysRequest::Reader r) {
  return AaeKeysRequest{r.getPartition(), r.getSegments(),
                        ReadU32(r.getLeaves()), r.getWithObjects()};
}

void EncodeBody(const AaeKeysReply& m, sc::Frame::Builder f) {
  auto b = f.initAaeKeysReply();
  b.setLeavesListed(m.leaves_listed);
  auto keys = b.initKeys(m.keys.size());
  for (size_t i = 0; i < m.keys.size(); ++i) {
    keys[i].setKey(Bytes(m.keys[i].key));
    keys[i].setFingerprint(m.keys[i].fingerprint);
  }
  if (!m.objects.empty())
    FillKeyObjects(b.initObjects(m.objects.size()), m.objects);
}

Result<AaeKeysReply> DecodeBody(sc::AaeKeysReply::Reader r) {
  AaeKeysReply k;
  k.leaves_listed = r.getLeavesListed();
  for (auto kf : r.getKeys()) {
    k.keys.push_back({ToString(kf.getKey()), kf.getFingerprint()});
  }
  auto objects = ReadKeyObjects(r.getObjects());
  if (!objects) return objects.status();
  k.objects = std::move(objects).value();
  return k;
}

void EncodeBody(const AaeFetchRequest& m, sc::Frame::Builder f) {
  auto keys = f.initAaeFetch().initKeys(m.keys.size());
  for (size_t i = 0; i < m.keys.size(); ++i) keys.set(i, Bytes(m.keys[i]));
}

AaeFetchRequest DecodeBody(sc::AaeFetchRequest::Reader r) {
  AaeFetchRequest q;
  for (auto k : r.getKeys()) q.keys.push_back(ToString(k));
  return q;
}

void EncodeBody(const AaeFetchReply& m, sc::Frame::Builder f) {
  auto objects = f.initAaeFetchReply().initObjects(m.objects.size());
  for (size_t i = 0; i < m.objects.size(); ++i) {
    FillObject(objects[i], m.objects[i]);
  }
}

Result<AaeFetchReply> DecodeBody(sc::AaeFetchReply::Reader r) {
  AaeFetchReply a;
  for (auto o : r.getObjects()) {
    auto obj = ReadObject(o);
    if (!obj) return obj.status();
    a.objects.push_back(std::move(obj.value()));
  }
  return a;
}

void EncodeBody(const AaeRepairRequest& m, sc::Frame::Builder f) {
  FillKeyObjects(f.initAaeRepair().initItems(m.items.size()), m.items);
}

Result<AaeRepairRequest> DecodeBody(sc::AaeRepairRequest::Reader r) {
  auto items = ReadKeyObjects(r.getItems());
  if (!items) return items.status();
  return AaeRepairRequest{std::move(items).value()};
}

void EncodeBody(const AaeRepairReply& m, sc::Frame::Builder f) {
  f.initAaeRepairReply().setChanged(m.changed);
}

AaeRepairReply DecodeBody(sc::AaeRepairReply::Reader r) {
  return AaeRepairReply{r.getChanged()};
}

void EncodeBody(const ReapCheckRequest& m, sc::Frame::Builder f) {
  auto b = f.initReapCheck();
  b.setEpoch(m.epoch);
  auto keys = b.initKeys(m.keys.size());
  for (size_t i = 0; i < m.keys.size(); ++i) {
    keys[i].setKey(Bytes(m.keys[i].key));
    keys[i].setPartition(m.keys[i].partition);
    keys[i].setSegment(m.keys[i].segment);
    keys[i].setFingerprint(m.keys[i].fingerprint);
  }
}

ReapCheckRequest DecodeBody(sc::ReapCheckRequest::Reader r) {
  ReapCheckRequest m;
  m.epoch = r.getEpoch();
  m.keys.reserve(r.getKeys().size());
  for (auto k : r.getKeys()) {
    m.keys.push_back({ToString(k.getKey()), k.getPartition(), k.getSegment(),
                      k.getFingerprint()});
  }
  return m;
}

void EncodeBody(const ReapCheckReply& m, sc::Frame::Builder f) {
  auto b = f.initReapCheckReply();
  auto holding = b.initHolding(m.holding.size());
  for (size_t i = 0; i < m.holding.size(); ++i) {
    switch (m.holding[i]) {
      case ReapHolding::kAbsent:
        holding.set(i, sc::ReapHolding::ABSENT);
        break;
      case ReapHolding::kSame:
        holding.set(i, sc::ReapHolding::SAME);
        break;
      case ReapHolding::kOther:
        holding.set(i, sc::ReapHolding::OTHER);
        break;
    }
  }
  auto hinted = b.initHinted(m.hinted.size());
  for (size_t i = 0; i < m.hinted.size(); ++i) hinted.set(i, m.hinted[i]);
}

Result<ReapCheckReply> DecodeBody(sc::ReapCheckReply::Reader r) {
  ReapCheckReply m;
  for (sc::ReapHolding h : r.getHolding()) {
    switch (h) {
      case sc::ReapHolding::ABSENT:
        m.holding.push_back(ReapHolding::kAbsent);
        break;
      case sc::ReapHolding::SAME:
        m.holding.push_back(ReapHolding::kSame);
        break;
      default:  // OTHER, or a value from a newer build: not the same
        m.holding.push_back(ReapHolding::kOther);
        break;
    }
  }
  for (bool h : r.getHinted()) m.hinted.push_back(h);
  if (m.hinted.size() != m.holding.size()) {
    return Status(Code::kInvalidArgument,
                  "reap check reply: " + std::to_string(m.holding.size()) +
                      " holdings but " + std::to_string(m.hinted.size()) +
                      " hint flags");
  }
  return m;
}

}  // namespace shoal::wire::internal
