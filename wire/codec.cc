// Cap'n Proto <-> C++ conversion of frames. Every capnp accessor may throw
// kj::Exception on malformed input; the public decoders catch it here, at
// the single edge where outside bytes enter, and turn it into a Status.
#include "wire/codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <algorithm>

#include "wire/codec_internal.h"
#include "wire/frame.capnp.h"

namespace shoal::wire {
namespace internal {

thread_local bool Builder::busy_ = false;
thread_local capnp::word Builder::scratch_[Builder::kScratchWords] = {};

}  // namespace internal

namespace {

using internal::Builder;
using internal::Bytes;
using internal::FillFaults;
using internal::FillObject;
using internal::FillPut;
using internal::FillU32;
using internal::ReadFaults;
using internal::ReadObject;
using internal::ReadPut;
using internal::ReadU32;
using internal::ToString;
using internal::VectorOutput;
namespace sc = ::shoal::wire::schema;

Code CodeFromWire(sc::ErrorCode c) {
  switch (c) {
    case sc::ErrorCode::OK:
      return Code::kInternal;  // an error must not be ok
    case sc::ErrorCode::NOT_FOUND:
      return Code::kNotFound;
    case sc::ErrorCode::INVALID_ARGUMENT:
      return Code::kInvalidArgument;
    case sc::ErrorCode::TOO_LARGE:
      return Code::kTooLarge;
    case sc::ErrorCode::UNAVAILABLE:
      return Code::kUnavailable;
    case sc::ErrorCode::TIMEOUT:
      return Code::kTimeout;
    case sc::ErrorCode::OVERLOADED:
      return Code::kOverloaded;
    case sc::ErrorCode::CORRUPTION:
      return Code::kCorruption;
    case sc::ErrorCode::STORAGE_FULL:
      return Code::kStorageFull;
    case sc::ErrorCode::INTERNAL:
      return Code::kInternal;
  }
  return Code::kInternal;  // a code from a newer peer
}

sc::ErrorCode CodeToWire(Code c) {
  switch (c) {
    case Code::kOk:
      return sc::ErrorCode::INTERNAL;
    case Code::kNotFound:
      return sc::ErrorCode::NOT_FOUND;
    case Code::kInvalidArgument:
      return sc::ErrorCode::INVALID_ARGUMENT;
    case Code::kTooLarge:
      return sc::ErrorCode::TOO_LARGE;
    case Code::kUnavailable:
      return sc::ErrorCode::UNAVAILABLE;
    case Code::kTimeout:
      return sc::ErrorCode::TIMEOUT;
    case Code::kOverloaded:
      return sc::ErrorCode::OVERLOADED;
    case Code::kCorruption:
      return sc::ErrorCode::CORRUPTION;
    case Code::kStorageFull:
      return sc::ErrorCode::STORAGE_FULL;
    case Code::kInternal:
      return sc::ErrorCode::INTERNAL;
  }
  return sc::ErrorCode::INTERNAL;
}

struct BodyWriter {
  sc::Frame::Builder f;
  void operator()(const ErrorReply& m) {
    auto e = f.initError();
    e.setCode(CodeToWire(m.status.code()));
    e.setMessage(m.status.message());
    if (m.status.quorum()) {
      const QuorumInfo& q = *m.status.quorum();
      e.setHasQuorum(true);
      e.setAcked(q.acked);
      e.setRequired(q.required);
      e.setContacted(q.contacted);
      e.setMaybeApplied(q.maybe_applied);
    }
  }
  void operator()(const GetRequest& m) {
    auto b = f.initGet();
    b.setKey(Bytes(m.key));
    b.setR(static_cast<uint8_t>(std::min<uint32_t>(m.r, 255)));
    b.setTimeoutMs(m.timeout_ms);
    b.setLocal(m.local);
    b.setPr(static_cast<uint8_t>(std::min<uint32_t>(m.pr, 255)));
  }
  void operator()(const GetReply& m) {
    auto b = f.initGetReply();
    FillObject(b.initObject(), m.object);
    if (!m.context.empty()) b.setContext(Bytes(m.context));
  }
  void operator()(const PutRequest& m) { FillPut(f.initPut(), m); }
  void operator()(const PutReply& m) {
    auto b = f.initPutReply();
    if (!m.context.empty()) b.setContext(Bytes(m.context));
    b.setSiblings(m.siblings);
  }
  void operator()(const Hello& m) {
    auto b = f.initHello();
    b.setNode(m.node);
    b.setProtocolVersion(m.protocol_version);
  }
  void operator()(const ReadRequest& m) { f.initRead().setKey(Bytes(m.key)); }
  void operator()(const ReadReply& m) {
    FillObject(f.initReadReply().initObject(), m.object);
  }
  void operator()(const ReplicateRequest& m) {
    auto b = f.initReplicate();
    b.setKey(Bytes(m.key));
    FillObject(b.initObject(), m.object);
    if (!m.hint_for.empty()) b.setHintFor(m.hint_for);
  }
  void operator()(const Ping&) { f.initPing(); }
  void operator()(const Pong&) { f.initPong(); }
  void operator()(const HintsRequest&) { f.initHints(); }
  void operator()(const HintsReply& m) {
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
  void operator()(const ReplicateReply&) { f.initReplicateReply(); }
  void operator()(const AaeTreeRequest& m) {
    auto b = f.initAaeTree();
    b.setPartition(m.partition);
    b.setSegments(m.segments);
    b.setLevel(static_cast<sc::AaeLevel>(m.level));
    FillU32(b.initBranches(m.branches.size()), m.branches);
  }
  void operator()(const AaeTreeReply& m) {
    auto list = f.initAaeTreeReply().initHashes(m.hashes.size());
    for (size_t i = 0; i < m.hashes.size(); ++i) list.set(i, m.hashes[i]);
  }
  void operator()(const AaeKeysRequest& m) {
    auto b = f.initAaeKeys();
    b.setPartition(m.partition);
    b.setSegments(m.segments);
    FillU32(b.initLeaves(m.leaves.size()), m.leaves);
  }
  void operator()(const AaeKeysReply& m) {
    auto b = f.initAaeKeysReply();
    b.setLeavesListed(m.leaves_listed);
    auto keys = b.initKeys(m.keys.size());
    for (size_t i = 0; i < m.keys.size(); ++i) {
      keys[i].setKey(Bytes(m.keys[i].key));
      keys[i].setFingerprint(m.keys[i].fingerprint);
    }
  }
  void operator()(const AaeFetchRequest& m) {
    auto keys = f.initAaeFetch().initKeys(m.keys.size());
    for (size_t i = 0; i < m.keys.size(); ++i) keys.set(i, Bytes(m.keys[i]));
  }
  void operator()(const AaeFetchReply& m) {
    auto objects = f.initAaeFetchReply().initObjects(m.objects.size());
    for (size_t i = 0; i < m.objects.size(); ++i) {
      FillObject(objects[i], m.objects[i]);
    }
  }
  void operator()(const AaeRepairRequest& m) {
    auto items = f.initAaeRepair().initItems(m.items.size());
    for (size_t i = 0; i < m.items.size(); ++i) {
      items[i].setKey(Bytes(m.items[i].key));
      FillObject(items[i].initObject(), m.items[i].object);
    }
  }
  void operator()(const AaeRepairReply& m) {
    f.initAaeRepairReply().setChanged(m.changed);
  }
  void operator()(const AaeStatusRequest&) { f.initAaeStatus(); }
  void operator()(const AaeStatusReply& m) {
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
  void operator()(const AaeRunRequest& m) {
    f.initAaeRun().setPartition(m.partition);
  }
  void operator()(const AaeRunReply& m) {
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
    }
  }
  void operator()(const FaultRequest& m) {
    auto b = f.initFault();
    b.setSet(m.set);
    FillFaults(b.initRules(m.rules.size()), b.initSkews(m.skews.size()),
               m.rules, m.skews);
  }
  void operator()(const FaultReply& m) {
    auto b = f.initFaultReply();
    b.setNode(m.node);
    b.setFramesDropped(m.frames_dropped);
    b.setFramesDelayed(m.frames_delayed);
    FillFaults(b.initRules(m.rules.size()), b.initSkews(m.skews.size()),
               m.rules, m.skews);
  }
  void operator()(const CoordinatePutRequest& m) {
    FillPut(f.initCoordinatePut().initPut(), m.put);
  }
  void operator()(const StatusRequest&) { f.initStatus(); }
  void operator()(const StatusReply& m) {
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
    b.setMapSizeBytes(m.map_size_bytes);
    auto members = b.initMembers(m.members.size());
    for (size_t i = 0; i < m.members.size(); ++i) {
      const MemberStatus& s = m.members[i];
      members[i].setName(s.name);
      members[i].setAddress(s.address);
      members[i].setUp(s.up);
      members[i].setIsSelf(s.is_self);
      members[i].setLastHeardMsAgo(s.last_heard_ms_ago);
      members[i].setPartitionsOwned(s.partitions_owned);
    }
  }
};

// ---- capnp -> C++ (may throw kj::Exception; caught by the caller) ----

Result<Message> ReadFrame(sc::Frame::Reader f) {
  Message msg;
  msg.id = f.getId();
  switch (f.which()) {
    case sc::Frame::ERROR: {
      auto e = f.getError();
      Status st(CodeFromWire(e.getCode()), e.getMessage().cStr());
      if (e.getHasQuorum()) {
        st.WithQuorum({e.getAcked(), e.getRequired(), e.getContacted(),
                       e.getMaybeApplied()});
      }
      msg.body = ErrorReply{std::move(st)};
      break;
    }
    case sc::Frame::GET: {
      auto r = f.getGet();
      msg.body = GetRequest{ToString(r.getKey()), r.getR(), r.getTimeoutMs(),
                            r.getLocal(), r.getPr()};
      break;
    }
    case sc::Frame::GET_REPLY: {
      auto r = f.getGetReply();
      auto o = ReadObject(r.getObject());
      if (!o) return o.status();
      msg.body = GetReply{std::move(o.value()), ToString(r.getContext())};
      break;
    }
    case sc::Frame::PUT:
      msg.body = ReadPut(f.getPut());
      break;
    case sc::Frame::PUT_REPLY: {
      auto r = f.getPutReply();
      msg.body = PutReply{ToString(r.getContext()), r.getSiblings()};
      break;
    }
    case sc::Frame::HELLO: {
      auto h = f.getHello();
      msg.body = Hello{h.getNode().cStr(), h.getProtocolVersion()};
      break;
    }
    case sc::Frame::READ:
      msg.body = ReadRequest{ToString(f.getRead().getKey())};
      break;
    case sc::Frame::READ_REPLY: {
      auto o = ReadObject(f.getReadReply().getObject());
      if (!o) return o.status();
      msg.body = ReadReply{std::move(o.value())};
      break;
    }
    case sc::Frame::REPLICATE: {
      auto r = f.getReplicate();
      auto o = ReadObject(r.getObject());
      if (!o) return o.status();
      msg.body = ReplicateRequest{ToString(r.getKey()), std::move(o.value()),
                                  r.getHintFor().cStr()};
      break;
    }
    case sc::Frame::REPLICATE_REPLY:
      msg.body = ReplicateReply{};
      break;
    case sc::Frame::COORDINATE_PUT:
      msg.body = CoordinatePutRequest{ReadPut(f.getCoordinatePut().getPut())};
      break;
    case sc::Frame::STATUS:
      msg.body = StatusRequest{};
      break;
    case sc::Frame::PING:
      msg.body = Ping{};
      break;
    case sc::Frame::PONG:
      msg.body = Pong{};
      break;
    case sc::Frame::HINTS:
      msg.body = HintsRequest{};
      break;
    case sc::Frame::HINTS_REPLY: {
      auto r = f.getHintsReply();
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
      msg.body = std::move(h);
      break;
    }
    case sc::Frame::STATUS_REPLY: {
      auto r = f.getStatusReply();
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
      s.map_size_bytes = r.getMapSizeBytes();
      for (auto m : r.getMembers()) {
        s.members.push_back({m.getName().cStr(), m.getAddress().cStr(),
                             m.getUp(), m.getIsSelf(), m.getLastHeardMsAgo(),
                             m.getPartitionsOwned()});
      }
      msg.body = std::move(s);
      break;
    }
    case sc::Frame::AAE_TREE: {
      auto r = f.getAaeTree();
      const auto level = r.getLevel();
      if (static_cast<uint16_t>(level) > 2) {
        return Status(Code::kInvalidArgument,
                      "unknown anti-entropy tree level");
      }
      msg.body = AaeTreeRequest{r.getPartition(), r.getSegments(),
                                static_cast<AaeLevel>(level),
                                ReadU32(r.getBranches())};
      break;
    }
    case sc::Frame::AAE_TREE_REPLY: {
      AaeTreeReply t;
      for (uint64_t h : f.getAaeTreeReply().getHashes()) t.hashes.push_back(h);
      msg.body = std::move(t);
      break;
    }
    case sc::Frame::AAE_KEYS: {
      auto r = f.getAaeKeys();
      msg.body = AaeKeysRequest{r.getPartition(), r.getSegments(),
                                ReadU32(r.getLeaves())};
      break;
    }
    case sc::Frame::AAE_KEYS_REPLY: {
      auto r = f.getAaeKeysReply();
      AaeKeysReply k;
      k.leaves_listed = r.getLeavesListed();
      for (auto kf : r.getKeys()) {
        k.keys.push_back({ToString(kf.getKey()), kf.getFingerprint()});
      }
      msg.body = std::move(k);
      break;
    }
    case sc::Frame::AAE_FETCH: {
      AaeFetchRequest q;
      for (auto k : f.getAaeFetch().getKeys()) q.keys.push_back(ToString(k));
      msg.body = std::move(q);
      break;
    }
    case sc::Frame::AAE_FETCH_REPLY: {
      AaeFetchReply a;
      for (auto o : f.getAaeFetchReply().getObjects()) {
        auto obj = ReadObject(o);
        if (!obj) return obj.status();
        a.objects.push_back(std::move(obj.value()));
      }
      msg.body = std::move(a);
      break;
    }
    case sc::Frame::AAE_REPAIR: {
      AaeRepairRequest q;
      for (auto item : f.getAaeRepair().getItems()) {
        auto obj = ReadObject(item.getObject());
        if (!obj) return obj.status();
        q.items.push_back({ToString(item.getKey()), std::move(obj.value())});
      }
      msg.body = std::move(q);
      break;
    }
    case sc::Frame::AAE_REPAIR_REPLY:
      msg.body = AaeRepairReply{f.getAaeRepairReply().getChanged()};
      break;
    case sc::Frame::AAE_STATUS:
      msg.body = AaeStatusRequest{};
      break;
    case sc::Frame::AAE_STATUS_REPLY: {
      auto r = f.getAaeStatusReply();
      AaeStatusReply a;
      a.node = r.getNode().cStr();
      a.enabled = r.getEnabled();
      a.exchanges = r.getExchanges();
      a.keys_repaired = r.getKeysRepaired();
      a.bytes = r.getBytes();
      for (auto p : r.getPartitions()) {
        a.partitions.push_back(
            {p.getPartition(), p.getTreeReady(), p.getExchanges(),
             p.getLastExchangeMsAgo(), p.getLastPeer().cStr(),
             p.getLastResult().cStr(), p.getKeysRepairedLast(),
             p.getKeysRepairedTotal()});
      }
      msg.body = std::move(a);
      break;
    }
    case sc::Frame::AAE_RUN:
      msg.body = AaeRunRequest{f.getAaeRun().getPartition()};
      break;
    case sc::Frame::AAE_RUN_REPLY: {
      auto r = f.getAaeRunReply();
      AaeRunReply a;
      a.node = r.getNode().cStr();
      a.partition = r.getPartition();
      for (auto e : r.getExchanges()) {
        a.exchanges.push_back({e.getPeer().cStr(), e.getResult().cStr(),
                               e.getKeysRepaired(), e.getSegmentsDiffering()});
      }
      msg.body = std::move(a);
      break;
    }
    case sc::Frame::FAULT: {
      auto r = f.getFault();
      FaultRequest q;
      q.set = r.getSet();
      Status st = ReadFaults(r.getRules(), r.getSkews(), &q.rules, &q.skews);
      if (!st.ok()) return st;
      msg.body = std::move(q);
      break;
    }
    case sc::Frame::FAULT_REPLY: {
      auto r = f.getFaultReply();
      FaultReply a;
      a.node = r.getNode().cStr();
      a.frames_dropped = r.getFramesDropped();
      a.frames_delayed = r.getFramesDelayed();
      Status st = ReadFaults(r.getRules(), r.getSkews(), &a.rules, &a.skews);
      if (!st.ok()) return st;
      msg.body = std::move(a);
      break;
    }
    default:
      return Status(Code::kInvalidArgument,
                    "unknown message type " +
                        std::to_string(static_cast<int>(f.which())) +
                        " (newer protocol?)");
  }
  return msg;
}

capnp::ReaderOptions OptionsFor(uint64_t frame_cap) {
  capnp::ReaderOptions opts;
  // Every word of a valid frame is visited about once; twice the cap leaves
  // room for legitimate re-reads and stops pointer-amplification bombs.
  opts.traversalLimitInWords = std::max<uint64_t>(2 * frame_cap / 8, 1024);
  opts.nestingLimit = 16;
  return opts;
}

}  // namespace

void AppendFrame(const Message& msg, std::vector<uint8_t>& out) {
  Builder scratch;
  capnp::MallocMessageBuilder& builder = scratch.get();
  auto f = builder.initRoot<sc::Frame>();
  f.setId(msg.id);
  std::visit(BodyWriter{f}, msg.body);

  const size_t header_at = out.size();
  out.resize(header_at + kFrameHeaderBytes);
  VectorOutput stream(out);
  capnp::writeMessage(stream, builder);
  const uint32_t len =
      static_cast<uint32_t>(out.size() - header_at - kFrameHeaderBytes);
  out[header_at + 0] = static_cast<uint8_t>(len);
  out[header_at + 1] = static_cast<uint8_t>(len >> 8);
  out[header_at + 2] = static_cast<uint8_t>(len >> 16);
  out[header_at + 3] = static_cast<uint8_t>(len >> 24);
}

uint32_t ReadFrameLength(const uint8_t header[kFrameHeaderBytes]) {
  return static_cast<uint32_t>(header[0]) |
         static_cast<uint32_t>(header[1]) << 8 |
         static_cast<uint32_t>(header[2]) << 16 |
         static_cast<uint32_t>(header[3]) << 24;
}

Result<uint32_t> CheckFrameLength(uint32_t length, uint64_t frame_cap) {
  if (length > frame_cap) {
    return Status(Code::kTooLarge, "frame of " + std::to_string(length) +
                                       " bytes exceeds the frame cap of " +
                                       std::to_string(frame_cap) + " bytes");
  }
  if (length == 0 || length % 8 != 0) {
    return Status(Code::kCorruption, "bad frame length " +
                                         std::to_string(length) +
                                         " (must be a positive multiple of 8)");
  }
  return length;
}

Result<Message> DecodeFrameBody(std::span<const uint64_t> body,
                                uint64_t frame_cap) {
  try {
    kj::ArrayPtr<const capnp::word> words(
        reinterpret_cast<const capnp::word*>(body.data()), body.size());
    capnp::FlatArrayMessageReader reader(words, OptionsFor(frame_cap));
    if (reader.getEnd() != words.end()) {
      return Status(Code::kCorruption,
                    "malformed frame: trailing bytes after the message");
    }
    return ReadFrame(reader.getRoot<sc::Frame>());
  } catch (const kj::Exception& e) {
    return Status(Code::kCorruption,
                  std::string("malformed frame: ") + e.getDescription().cStr());
  }
}

}  // namespace shoal::wire
