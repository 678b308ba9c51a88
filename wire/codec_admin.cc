// The admin schema's messages (admin.capnp): status, hints, anti-entropy
// status and runs, fault tables.
#include "wire/codec_internal.h"

namespace shoal::wire::internal {

void FillFaults(capnp::List<sc::FaultRule>::Builder rules,
                capnp::List<sc::ClockSkew>::Builder skews,
                const std::vector<FaultRule>& rule_values,
                const std::vector<ClockSkew>& skew_values) {
  for (size_t i = 0; i < rule_values.size(); ++i) {
    const FaultRule& r = rule_values[i];
    rules[i].setFrom(r.from);
    rules[i].setTo(r.to);
    rules[i].setClients(r.clients);
    rules[i].setKind(static_cast<sc::FaultKind>(r.kind));
    rules[i].setDelayMs(r.delay_ms);
    rules[i].setJitterMs(r.jitter_ms);
    rules[i].setDropPercent(r.drop_percent);
  }
  for (size_t i = 0; i < skew_values.size(); ++i) {
    skews[i].setNode(skew_values[i].node);
    skews[i].setSkewMs(skew_values[i].skew_ms);
  }
}

Status ReadFaults(capnp::List<sc::FaultRule>::Reader rules,
                  capnp::List<sc::ClockSkew>::Reader skews,
                  std::vector<FaultRule>* rule_values,
                  std::vector<ClockSkew>* skew_values) {
  for (auto r : rules) {
    const auto kind = static_cast<uint16_t>(r.getKind());
    if (kind > 2) return Status(Code::kInvalidArgument, "unknown fault kind");
    rule_values->push_back({r.getFrom().cStr(), r.getTo().cStr(),
                            r.getClients(), static_cast<FaultKind>(kind),
                            r.getDelayMs(), r.getJitterMs(),
                            r.getDropPercent()});
  }
  for (auto k : skews) {
    skew_values->push_back({k.getNode().cStr(), k.getSkewMs()});
  }
  return Status::Ok();
}

void EncodeBody(const StatusRequest&, sc::Frame::Builder f) { f.initStatus(); }

StatusRequest DecodeBody(sc::StatusRequest::Reader) { return StatusRequest{}; }

void EncodeBody(const StatusReply& m, sc::Frame::Builder f) {
  auto b = f.initStatusReply();
  b.setNode(m.node);
  b.setActor(m.actor);
  b.setN(m.n);
  b.setW(m.w);
  b.setR(m.r);
  b.setPartitions(m.partitions);
  b.setUptimeMs(m.uptime_ms);
  b.setKeys(m.keys);
  b.setStorageBytes(m.storage_bytes);
  b.setDataBytes(m.data_bytes);
  b.setMapSizeBytes(m.map_size_bytes);
  b.setEpoch(m.epoch);
  b.setClusterDigest(m.cluster_digest);
  auto t = b.initTransfer();
  t.setEpoch(m.transfer.epoch);
  t.setPartitions(m.transfer.partitions);
  t.setReceived(m.transfer.received);
  t.setKeys(m.transfer.keys);
  t.setBytes(m.transfer.bytes);
  t.setElapsedMs(m.transfer.elapsed_ms);
  auto tomb = b.initTombstones();
  tomb.setCount(m.tombstones.count);
  tomb.setReaped(m.tombstones.reaped);
  tomb.setOldestAgeMs(m.tombstones.oldest_age_ms);
  tomb.setWaitingFor(m.tombstones.waiting_for);
  auto members = b.initMembers(m.members.size());
  for (size_t i = 0; i < m.members.size(); ++i) {
    const MemberStatus& s = m.members[i];
    members[i].setName(s.name);
    members[i].setAddress(s.address);
    members[i].setUp(s.up);
    members[i].setIsSelf(s.is_self);
    members[i].setLastHeardMsAgo(s.last_heard_ms_ago);
    members[i].setPartitionsOwned(s.partitions_owned);
    members[i].setState(s.state);
    members[i].setEpoch(s.epoch);
    members[i].setConflict(s.conflict);
    members[i].setDc(s.dc);
    members[i].setRack(s.rack);
  }
}

StatusReply DecodeBody(sc::StatusReply::Reader r) {
  StatusReply s;
  s.node = r.getNode().cStr();
  s.actor = r.getActor();
  s.n = r.getN();
  s.w = r.getW();
  s.r = r.getR();
  s.partitions = r.getPartitions();
  s.uptime_ms = r.getUptimeMs();
  s.keys = r.getKeys();
  s.storage_bytes = r.getStorageBytes();
  s.data_bytes = r.getDataBytes();
  s.map_size_bytes = r.getMapSizeBytes();
  s.epoch = r.getEpoch();
  s.cluster_digest = r.getClusterDigest();
  const auto t = r.getTransfer();
  s.transfer =
      TransferStatus{t.getEpoch(), t.getPartitions(), t.getReceived(),
                     t.getKeys(),  t.getBytes(),      t.getElapsedMs()};
  if (r.hasTombstones()) {
    const auto tomb = r.getTombstones();
    s.tombstones =
        TombstoneStatus{tomb.getCount(), tomb.getReaped(),
                        tomb.getOldestAgeMs(), tomb.getWaitingFor().cStr()};
  }
  for (auto m : r.getMembers()) {
    s.members.push_back(
        {m.getName().cStr(), m.getAddress().cStr(), m.getUp(), m.getIsSelf(),
         m.getLastHeardMsAgo(), m.getPartitionsOwned(), m.getState().cStr(),
         m.getEpoch(), m.getConflict(), m.getDc().cStr(), m.getRack().cStr()});
  }
  return s;
}

void EncodeBody(const HintsRequest&, sc::Frame::Builder f) { f.initHints(); }

HintsRequest DecodeBody(sc::HintsRequest::Reader) { return HintsRequest{}; }

void EncodeBody(const HintsReply& m, sc::Frame::Builder f) {
  auto b = f.initHintsReply();
  b.setNode(m.node);
  b.setStored(m.stored);
  b.setDelivered(m.delivered);
  b.setDroppedCap(m.dropped_cap);
  b.setDeliveredPerSec(m.delivered_per_sec);
  auto targets = b.initTargets(m.targets.size());
  for (size_t i = 0; i < m.targets.size(); ++i) {
    const HintTarget& t = m.targets[i];
    targets[i].setTarget(t.target);
    targets[i].setCount(t.count);
    targets[i].setBytes(t.bytes);
    targets[i].setOldestAgeMs(t.oldest_age_ms);
    targets[i].setTargetUp(t.target_up);
  }
}

HintsReply DecodeBody(sc::HintsReply::Reader r) {
  HintsReply h;
  h.node = r.getNode().cStr();
  h.stored = r.getStored();
  h.delivered = r.getDelivered();
  h.dropped_cap = r.getDroppedCap();
  h.delivered_per_sec = r.getDeliveredPerSec();
  for (auto t : r.getTargets()) {
    h.targets.push_back({t.getTarget().cStr(), t.getCount(), t.getBytes(),
                         t.getOldestAgeMs(), t.getTargetUp()});
  }
  return h;
}

void EncodeBody(const AaeStatusRequest&, sc::Frame::Builder f) {
  f.initAaeStatus();
}

AaeStatusRequest DecodeBody(sc::AaeStatusRequest::Reader) {
  return AaeStatusRequest{};
}

void EncodeBody(const AaeStatusReply& m, sc::Frame::Builder f) {
  auto b = f.initAaeStatusReply();
  b.setNode(m.node);
  b.setEnabled(m.enabled);
  b.setExchanges(m.exchanges);
  b.setKeysRepaired(m.keys_repaired);
  b.setBytes(m.bytes);
  auto parts = b.initPartitions(m.partitions.size());
  for (size_t i = 0; i < m.partitions.size(); ++i) {
    const AaePartitionStatus& p = m.partitions[i];
    parts[i].setPartition(p.partition);
    parts[i].setTreeReady(p.tree_ready);
    parts[i].setExchanges(p.exchanges);
    parts[i].setLastExchangeMsAgo(p.last_exchange_ms_ago);
    parts[i].setLastPeer(p.last_peer);
    parts[i].setLastResult(p.last_result);
    parts[i].setKeysRepairedLast(p.keys_repaired_last);
    parts[i].setKeysRepairedTotal(p.keys_repaired_total);
  }
}

AaeStatusReply DecodeBody(sc::AaeStatusReply::Reader r) {
  AaeStatusReply a;
  a.node = r.getNode().cStr();
  a.enabled = r.getEnabled();
  a.exchanges = r.getExchanges();
  a.keys_repaired = r.getKeysRepaired();
  a.bytes = r.getBytes();
  for (auto p : r.getPartitions()) {
    a.partitions.push_back({p.getPartition(), p.getTreeReady(),
                            p.getExchanges(), p.getLastExchangeMsAgo(),
                            p.getLastPeer().cStr(), p.getLastResult().cStr(),
                            p.getKeysRepairedLast(), p.getKeysRepairedTotal()});
  }
  return a;
}

void EncodeBody(const AaeRunRequest& m, sc::Frame::Builder f) {
  f.initAaeRun().setPartition(m.partition);
}

AaeRunRequest DecodeBody(sc::AaeRunRequest::Reader r) {
  return AaeRunRequest{r.getPartition()};
}

void EncodeBody(const AaeRunReply& m, sc::Frame::Builder f) {
  auto b = f.initAaeRunReply();
  b.setNode(m.node);
  b.setPartition(m.partition);
  auto ex = b.initExchanges(m.exchanges.size());
  for (size_t i = 0; i < m.exchanges.size(); ++i) {
    const AaeExchangeResult& e = m.exchanges[i];
    ex[i].setPeer(e.peer);
    ex[i].setResult(e.result);
    ex[i].setKeysRepaired(e.keys_repaired);
    ex[i].setSegmentsDiffering(e.segments_differing);
    ex[i].setBytes(e.bytes);
  }
}

AaeRunReply DecodeBody(sc::AaeRunReply::Reader r) {
  AaeRunReply a;
  a.node = r.getNode().cStr();
  a.partition = r.getPartition();
  for (auto e : r.getExchanges()) {
    a.exchanges.push_back({e.getPeer().cStr(), e.getResult().cStr(),
                           e.getKeysRepaired(), e.getSegmentsDiffering(),
                           e.getBytes()});
  }
  return a;
}

void EncodeBody(const FaultRequest& m, sc::Frame::Builder f) {
  auto b = f.initFault();
  b.setSet(m.set);
  FillFaults(b.initRules(m.rules.size()), b.initSkews(m.skews.size()), m.rules,
             m.skews);
}

Result<FaultRequest> DecodeBody(sc::FaultRequest::Reader r) {
  FaultRequest q;
  q.set = r.getSet();
  Status st = ReadFaults(r.getRules(), r.getSkews(), &q.rules, &q.skews);
  if (!st.ok()) return st;
  return q;
}

void EncodeBody(const FaultReply& m, sc::Frame::Builder f) {
  auto b = f.initFaultReply();
  b.setNode(m.node);
  b.setFramesDropped(m.frames_dropped);
  b.setFramesDelayed(m.frames_delayed);
  FillFaults(b.initRules(m.rules.size()), b.initSkews(m.skews.size()), m.rules,
             m.skews);
}

Result<FaultReply> DecodeBody(sc::FaultReply::Reader r) {
  FaultReply a;
  a.node = r.getNode().cStr();
  a.frames_dropped = r.getFramesDropped();
  a.frames_delayed = r.getFramesDelayed();
  Status st = ReadFaults(r.getRules(), r.getSkews(), &a.rules, &a.skews);
  if (!st.ok()) return st;
  return a;
}

namespace {

void FillChanges(capnp::List<sc::ClusterChange>::Builder out,
                 const std::vector<cluster::Change>& changes) {
  for (size_t i = 0; i < changes.size(); ++i) {
    const cluster::Change& c = changes[i];
    out[i].setKind(static_cast<sc::ClusterChangeKind>(c.kind));
    out[i].setNode(c.node);
    out[i].setAddress(c.address);
    out[i].setReplacement(c.replacement);
    out[i].setDc(c.dc);
    out[i].setRack(c.rack);
  }
}

Result<std::vector<cluster::Change>> ReadChanges(
    capnp::List<sc::ClusterChange>::Reader in) {
  std::vector<cluster::Change> changes;
  for (auto c : in) {
    const auto kind = static_cast<uint16_t>(c.getKind());
    if (kind > static_cast<uint16_t>(cluster::Change::Kind::kForceRemove)) {
      return Status(Code::kInvalidArgument,
                    "unknown cluster change kind " + std::to_string(kind));
    }
    if (c.getNode().size() == 0) {
      return Status(Code::kInvalidArgument, "cluster change without a node");
    }
    changes.push_back({static_cast<cluster::Change::Kind>(kind),
                       c.getNode().cStr(), c.getAddress().cStr(),
                       c.getReplacement().cStr(), c.getDc().cStr(),
                       c.getRack().cStr()});
  }
  return changes;
}

}  // namespace

void EncodeBody(const ClusterStageRequest& m, sc::Frame::Builder f) {
  auto b = f.initClusterStage();
  b.setClear(m.clear);
  FillChanges(b.initChanges(m.changes.size()), m.changes);
}

Result<ClusterStageRequest> DecodeBody(sc::ClusterStageRequest::Reader r) {
  auto changes = ReadChanges(r.getChanges());
  if (!changes.ok()) return changes.status();
  return ClusterStageRequest{std::move(changes).value(), r.getClear()};
}

void EncodeBody(const ClusterStageReply& m, sc::Frame::Builder f) {
  auto b = f.initClusterStageReply();
  b.setEpoch(m.epoch);
  FillChanges(b.initChanges(m.changes.size()), m.changes);
}

Result<ClusterStageReply> DecodeBody(sc::ClusterStageReply::Reader r) {
  auto changes = ReadChanges(r.getChanges());
  if (!changes.ok()) return changes.status();
  return ClusterStageReply{r.getEpoch(), std::move(changes).value()};
}

void EncodeBody(const ClusterCommitRequest& m, sc::Frame::Builder f) {
  f.initClusterCommit().setEpoch(m.epoch);
}

ClusterCommitRequest DecodeBody(sc::ClusterCommitRequest::Reader r) {
  return ClusterCommitRequest{r.getEpoch()};
}

}  // namespace shoal::wire::internal
