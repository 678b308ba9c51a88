// Tests for the frame codec, contexts and stored objects (wire/codec.h).
//
// Valid messages must survive a round trip field for field; everything else
// (bad lengths, garbage, truncation, trailing words, pointer amplification,
// unknown union members, objects that break the version invariants) must
// come back as a Status with the right code, never as a crash or an escaping
// exception. Invalid messages are built with the generated Cap'n Proto
// classes, or by patching bytes of a valid encoding.
#include "wire/codec.h"

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize-packed.h>
#include <capnp/serialize.h>
#include <doctest/doctest.h>
#include <kj/io.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "wire/cluster.capnp.h"
#include "wire/frame.capnp.h"
#include "wire/object.capnp.h"

namespace shoal::wire {
namespace {

// The key hash every context in these tests is bound to.
constexpr uint64_t kCtxKeyHash = 0x1234abcd5678ef00ull;

namespace sc = ::shoal::wire::schema;
using quorum::Dot;
using quorum::Object;
using quorum::Sibling;
using quorum::VersionVector;

const uint64_t kCap = FrameCapFor(kDefaultMaxObjectBytes);

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Copies bytes (a multiple of 8) into words, as a connection's read buffer
// would hold them.
std::vector<uint64_t> ToWords(const uint8_t* p, size_t n) {
  REQUIRE(n % 8 == 0);
  std::vector<uint64_t> words(n / 8);
  if (n != 0) std::memcpy(words.data(), p, n);
  return words;
}

std::vector<uint64_t> ToWords(kj::ArrayPtr<const capnp::word> flat) {
  return ToWords(reinterpret_cast<const uint8_t*>(flat.begin()),
                 flat.size() * sizeof(capnp::word));
}

// Encodes one frame and returns its body, after checking the header.
std::vector<uint64_t> EncodeBody(const Message& msg) {
  std::vector<uint8_t> buf;
  AppendFrame(msg, buf);
  REQUIRE(buf.size() > kFrameHeaderBytes);
  const uint32_t len = ReadFrameLength(buf.data());
  REQUIRE(len == buf.size() - kFrameHeaderBytes);
  auto checked = CheckFrameLength(len, kCap);
  REQUIRE_MESSAGE(checked.ok(), checked.status().ToString());
  CHECK(checked.value() == len);
  return ToWords(buf.data() + kFrameHeaderBytes, len);
}

// DecodeFrameBody, failing the test if an exception escapes it.
Result<Message> Decode(std::span<const uint64_t> body, uint64_t cap = kCap) {
  try {
    return DecodeFrameBody(body, cap);
  } catch (...) {
    FAIL("an exception escaped DecodeFrameBody");
  }
  return Status(Code::kInternal, "unreachable");
}

// A decode that must fail with `code`; returns the message.
std::string ExpectRejected(std::span<const uint64_t> body, Code code,
                           uint64_t cap = kCap) {
  auto r = Decode(body, cap);
  REQUIRE_FALSE(r.ok());
  CHECK_MESSAGE(r.status().code() == code, r.status().ToString());
  return r.status().message();
}

// A decode of untrusted bytes: may succeed, but an error must be one of the
// codes the codec documents, and a success must encode again.
void ExpectHandled(std::span<const uint64_t> body) {
  auto r = Decode(body);
  if (r.ok()) {
    std::vector<uint8_t> again;
    CHECK_NOTHROW(AppendFrame(r.value(), again));
    return;
  }
  const Code c = r.status().code();
  CHECK_MESSAGE((c == Code::kCorruption || c == Code::kInvalidArgument),
                r.status().ToString());
}

// ---- field-by-field comparison of decoded messages ----

void ExpectSame(const ErrorReply& a, const ErrorReply& b) {
  CHECK(a.status.code() == b.status.code());
  CHECK(a.status.message() == b.status.message());
  REQUIRE(a.status.quorum().has_value() == b.status.quorum().has_value());
  if (a.status.quorum()) {
    const QuorumInfo& qa = *a.status.quorum();
    const QuorumInfo& qb = *b.status.quorum();
    CHECK(qa.acked == qb.acked);
    CHECK(qa.required == qb.required);
    CHECK(qa.contacted == qb.contacted);
    CHECK(qa.maybe_applied == qb.maybe_applied);
  }
}
void ExpectSame(const GetRequest& a, const GetRequest& b) {
  CHECK(a.key == b.key);
  CHECK(a.r == b.r);
  CHECK(a.timeout_ms == b.timeout_ms);
  CHECK(a.local == b.local);
  CHECK(a.pr == b.pr);
}
void ExpectSame(const Object& a, const Object& b) {
  CHECK(a.vv == b.vv);
  REQUIRE(a.siblings.size() == b.siblings.size());
  for (size_t i = 0; i < a.siblings.size(); ++i) {
    CHECK(a.siblings[i].dot == b.siblings[i].dot);
    CHECK(a.siblings[i].written_at_ms == b.siblings[i].written_at_ms);
    CHECK(a.siblings[i].tombstone == b.siblings[i].tombstone);
    CHECK(a.siblings[i].value == b.siblings[i].value);
  }
  CHECK(a == b);
}
void ExpectSame(const GetReply& a, const GetReply& b) {
  ExpectSame(a.object, b.object);
  CHECK(a.context == b.context);
}
void ExpectSame(const PutRequest& a, const PutRequest& b) {
  CHECK(a.key == b.key);
  CHECK(a.value == b.value);
  CHECK(a.is_delete == b.is_delete);
  CHECK(a.context == b.context);
  CHECK(a.w == b.w);
  CHECK(a.timeout_ms == b.timeout_ms);
  CHECK(a.pw == b.pw);
}
void ExpectSame(const PutReply& a, const PutReply& b) {
  CHECK(a.context == b.context);
  CHECK(a.siblings == b.siblings);
}
void ExpectSame(const Hello& a, const Hello& b) {
  CHECK(a.node == b.node);
  CHECK(a.protocol_version == b.protocol_version);
}
void ExpectSame(const ReadRequest& a, const ReadRequest& b) {
  CHECK(a.key == b.key);
  CHECK(a.epoch == b.epoch);
}
void ExpectSame(const ReadReply& a, const ReadReply& b) {
  ExpectSame(a.object, b.object);
}
void ExpectSame(const ReplicateRequest& a, const ReplicateRequest& b) {
  CHECK(a.key == b.key);
  ExpectSame(a.object, b.object);
  CHECK(a.hint_for == b.hint_for);
  CHECK(a.epoch == b.epoch);
  CHECK(a.also == b.also);
  CHECK(a.timeout_ms == b.timeout_ms);
  CHECK(a.wait_for == b.wait_for);
}
void ExpectSame(const HintsRequest&, const HintsRequest&) {}
void ExpectSame(const HintsReply& a, const HintsReply& b) {
  CHECK(a.node == b.node);
  CHECK(a.stored == b.stored);
  CHECK(a.delivered == b.delivered);
  CHECK(a.dropped_cap == b.dropped_cap);
  CHECK(a.delivered_per_sec == b.delivered_per_sec);
  REQUIRE(a.targets.size() == b.targets.size());
  for (size_t i = 0; i < a.targets.size(); ++i) {
    CHECK(a.targets[i].target == b.targets[i].target);
    CHECK(a.targets[i].count == b.targets[i].count);
    CHECK(a.targets[i].bytes == b.targets[i].bytes);
    CHECK(a.targets[i].oldest_age_ms == b.targets[i].oldest_age_ms);
    CHECK(a.targets[i].target_up == b.targets[i].target_up);
  }
}
void ExpectSame(const ReplicateReply& a, const ReplicateReply& b) {
  REQUIRE(a.results.size() == b.results.size());
  for (size_t i = 0; i < a.results.size(); ++i) {
    CHECK(a.results[i].node == b.results[i].node);
    CHECK(a.results[i].status.code() == b.results[i].status.code());
    CHECK(a.results[i].status.message() == b.results[i].status.message());
  }
}
void ExpectSame(const CoordinatePutRequest& a, const CoordinatePutRequest& b) {
  ExpectSame(a.put, b.put);
  CHECK(a.epoch == b.epoch);
}
void ExpectSame(const StatusRequest&, const StatusRequest&) {}
void ExpectSame(const StatusReply& a, const StatusReply& b) {
  CHECK(a.node == b.node);
  CHECK(a.actor == b.actor);
  CHECK(a.n == b.n);
  CHECK(a.w == b.w);
  CHECK(a.r == b.r);
  CHECK(a.partitions == b.partitions);
  CHECK(a.uptime_ms == b.uptime_ms);
  CHECK(a.keys == b.keys);
  CHECK(a.storage_bytes == b.storage_bytes);
  CHECK(a.data_bytes == b.data_bytes);
  CHECK(a.map_size_bytes == b.map_size_bytes);
  CHECK(a.transfer == b.transfer);
  CHECK(a.tombstones == b.tombstones);
  REQUIRE(a.members.size() == b.members.size());
  for (size_t i = 0; i < a.members.size(); ++i) {
    CHECK(a.members[i].name == b.members[i].name);
    CHECK(a.members[i].address == b.members[i].address);
    CHECK(a.members[i].up == b.members[i].up);
    CHECK(a.members[i].is_self == b.members[i].is_self);
    CHECK(a.members[i].last_heard_ms_ago == b.members[i].last_heard_ms_ago);
    CHECK(a.members[i].partitions_owned == b.members[i].partitions_owned);
    CHECK(a.members[i].state == b.members[i].state);
    CHECK(a.members[i].epoch == b.members[i].epoch);
    CHECK(a.members[i].conflict == b.members[i].conflict);
  }
  CHECK(a.epoch == b.epoch);
  CHECK(a.cluster_digest == b.cluster_digest);
}

// Anti-entropy messages compare whole (their structs define ==); the
// overloads above are preferred for every other type.
template <typename T>
void ExpectSame(const T& a, const T& b) {
  CHECK(a == b);
}

void ExpectSame(const Message& want, const Message& got) {
  CHECK(want.id == got.id);
  REQUIRE(want.body.index() == got.body.index());
  std::visit(
      [&](const auto& w) {
        using T = std::decay_t<decltype(w)>;
        ExpectSame(w, std::get<T>(got.body));
      },
      want.body);
}

Message RoundTrip(const Message& msg) {
  auto body = EncodeBody(msg);
  auto r = Decode(body);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  ExpectSame(msg, r.value());
  return std::move(r).value();
}

// A state with joining and leaving members and a next claim (below).
cluster::ClusterState SampleClusterState();

// ---- sample data ----

// Every byte value, twice, so keys and values hold NULs and invalid UTF-8.
std::string AllBytes() {
  std::string s;
  for (int round = 0; round < 2; ++round) {
    for (int b = 0; b < 256; ++b) s.push_back(static_cast<char>(b));
  }
  return s;
}

const std::string kBinaryKey("\0k\xff\xfe\0\x80", 6);

// Four siblings from three actors, one a tombstone, values binary.
Object SampleObject() {
  Object o;
  o.vv = VersionVector::FromEntries(
      {{1, 5}, {7, 3}, {std::numeric_limits<uint64_t>::max(), 2}});
  o.siblings = {
      {{1, 4}, -12345, false, std::string("\0\xff\x80\xc3(\0", 6)},
      {{1, 5}, 1700000000000, true, ""},
      {{7, 3}, std::numeric_limits<int64_t>::max(), false, "plain"},
      {{std::numeric_limits<uint64_t>::max(), 2}, 0, false, AllBytes()},
  };
  REQUIRE(ValidateObject(o).ok());
  return o;
}

PutRequest SamplePut() {
  PutRequest p;
  p.key = kBinaryKey;
  p.value = std::string("v\0\xff", 3);
  p.context = EncodeContext(SampleObject().vv, kCtxKeyHash);
  p.w = 3;
  p.timeout_ms = 2500;
  p.pw = 2;
  return p;
}

// One small message of every Body alternative (several for some).
std::vector<Message> SampleMessages() {
  std::vector<Message> out;
  out.push_back(
      {1, ErrorReply{Status(Code::kInvalidArgument, "key is empty")}});
  {
    Status st(Code::kTimeout, "only 1 of 2 replicas acked within 2000 ms");
    st.WithQuorum({1, 2, 3, true});
    out.push_back({2, ErrorReply{st}});
  }
  {
    Status st(Code::kUnavailable, "0 of 3 replicas reachable");
    st.WithQuorum({0, 3, 0, false});
    out.push_back({3, ErrorReply{st}});
  }
  out.push_back({0, GetRequest{kBinaryKey, 2, 1500, true, 3}});
  out.push_back({4, GetRequest{"k", 0, 0, false}});
  out.push_back({5, GetReply{SampleObject(),
                             EncodeContext(SampleObject().vv, kCtxKeyHash)}});
  out.push_back({6, GetReply{Object{}}});
  out.push_back({7, SamplePut()});
  {
    PutRequest del;
    del.key = "gone";
    del.is_delete = true;
    del.context =
        EncodeContext(VersionVector::FromEntries({{3, 1}}), kCtxKeyHash);
    out.push_back({8, del});
  }
  out.push_back(
      {9, PutReply{EncodeContext(SampleObject().vv, kCtxKeyHash), 1}});
  out.push_back({19, PutReply{"", 3}});
  out.push_back({10, PutReply{""}});
  out.push_back({11, Hello{"node-a", kProtocolVersion}});
  out.push_back({12, ReadRequest{kBinaryKey}});
  out.push_back({12, ReadRequest{"k", 7}});
  out.push_back({13, ReadReply{SampleObject()}});
  out.push_back({14, ReadReply{Object{}}});
  out.push_back({15, ReplicateRequest{kBinaryKey, SampleObject()}});
  out.push_back({20, ReplicateRequest{"k", SampleObject(), "n3"}});
  out.push_back({20, ReplicateRequest{"k", SampleObject(), "", 1ull << 40}});
  out.push_back({21, Ping{}});
  out.push_back({22, Pong{}});
  out.push_back({25, Ping{7, 0x0123456789abcdefull, 6}});
  out.push_back({26, Pong{~0ull, 1, 3}});
  out.push_back({27, ClusterStateRequest{}});
  out.push_back({28, ClusterStateReply{SampleClusterState()}});
  out.push_back({23, HintsRequest{}});
  out.push_back(
      {24, HintsReply{"n1",
                      {{"n2", 10, 4096, 1500, false}, {"n4", 1, 80, 3, true}},
                      100,
                      90,
                      2,
                      1234.5}});
  out.push_back({16, ReplicateReply{}});
  // A datacenter forwarder's request and its per-replica results.
  {
    ReplicateRequest relay{"k", SampleObject(), "n4", 7};
    relay.also = {{"n5", ""}, {"n6", "n4"}};
    relay.timeout_ms = 1500;
    relay.wait_for = 2;
    out.push_back({21, relay});
    out.push_back({22, ReplicateReply{
                           {{"n5", Status::Ok()},
                            {"n6", Status(Code::kTimeout, "no answer yet")},
                            {"n7", Status(Code::kStorageFull, "disk full")}}}});
  }
  out.push_back({17, CoordinatePutRequest{SamplePut()}});
  out.push_back({17, CoordinatePutRequest{SamplePut(), 3}});
  out.push_back({18, StatusRequest{}});
  {
    StatusReply s;
    s.node = "n2";
    s.actor = 0xdeadbeefcafef00dull;
    s.n = 3;
    s.w = 2;
    s.r = 2;
    s.partitions = 64;
    s.uptime_ms = 123456789;
    s.keys = 42;
    s.storage_bytes = 1 << 20;
    s.data_bytes = 1 << 19;
    s.map_size_bytes = 1ull << 34;
    s.epoch = 9;
    s.cluster_digest = 0xfeedfacecafebeefull;
    s.transfer = {10, 64, 17, 12345, 1ull << 33, 90'000};
    s.tombstones = {1500, 98'000, 12'345, "n3 is down"};
    s.members = {
        {"n1", "127.0.0.1:7001", true, false, 120, 13, "valid", 9},
        {"n2", "127.0.0.1:7002", true, true, 0, 13, "leaving", 9},
        {"n3", "127.0.0.1:7003", false, false, -1, 12, "joining", 0, true}};
    out.push_back({std::numeric_limits<uint64_t>::max(), s});
  }
  out.push_back({30, AaeTreeRequest{7, 4096, AaeLevel::kRoot, {}}});
  out.push_back({31, AaeTreeRequest{65535, 64, AaeLevel::kLeaves, {0, 3, 63}}});
  out.push_back({32, AaeTreeReply{{0, 1, ~0ull, 0x1234567890abcdefull}}});
  out.push_back({33, AaeKeysRequest{9, 4096, {1, 2, 4095}, false}});
  out.push_back({33, AaeKeysRequest{9, 4096, {7}, true}});
  out.push_back(
      {34, AaeKeysReply{{{kBinaryKey, 42}, {"plain", ~0ull}}, 2, {}}});
  out.push_back(
      {34, AaeKeysReply{{}, 1, {{kBinaryKey, SampleObject()}, {"e", {}}}}});
  out.push_back(
      {35, AaeFetchRequest{{kBinaryKey, "b", std::string(500, 'x')}}});
  out.push_back({36, AaeFetchReply{{SampleObject(), Object{}}}});
  out.push_back({37, AaeRepairRequest{
                         {{kBinaryKey, SampleObject()}, {"empty", Object{}}}}});
  out.push_back({38, AaeRepairReply{17}});
  out.push_back({39, AaeStatusRequest{}});
  out.push_back({40, AaeStatusReply{"n1",
                                    true,
                                    5,
                                    6,
                                    7,
                                    {{0, true, 3, 1500, "n2", "ok", 1, 2},
                                     {5, false, 0, -1, "", "", 0, 0}}}});
  out.push_back({41, AaeRunRequest{63}});
  out.push_back(
      {45, ReapCheckRequest{
               9, {{kBinaryKey, 3, 0xdeadbeef, ~0ull}, {"k", 0, 0, 1}}}});
  out.push_back({45, ReapCheckRequest{1, {}}});
  out.push_back({46, ReapCheckReply{{ReapHolding::kAbsent, ReapHolding::kSame,
                                     ReapHolding::kOther},
                                    {false, true, false}}});
  out.push_back({42, AaeRunReply{"n3",
                                 63,
                                 {{"n1", "ok", 3, 2, 4096},
                                  {"n2", "unavailable: down", 0, 0, 0}}}});
  {
    FaultRequest set;
    set.set = true;
    set.rules = {{"n1", "n2", false, FaultKind::kCut, 0, 0, 0},
                 {"n2", "n3", false, FaultKind::kDelay, 50, 20, 0},
                 {"n3", "", true, FaultKind::kDrop, 0, 0, 12.5}};
    set.skews = {{"n4", 5000}, {"n5", -250}};
    out.push_back({43, set});
    out.push_back({44, FaultRequest{}});
    FaultReply reply;
    reply.node = "n2";
    reply.rules = set.rules;
    reply.skews = set.skews;
    reply.frames_dropped = 17;
    reply.frames_delayed = 4;
    out.push_back({45, reply});
  }
  {
    const std::vector<cluster::Change> changes = {
        cluster::Change::Join("n6", "10.0.0.6:7100"),
        cluster::Change::Leave("n2"),
        cluster::Change::Replace("n3", "n7", "10.0.0.7:7100"),
        cluster::Change::ForceRemove("n4")};
    out.push_back({46, ClusterStageRequest{changes, true}});
    out.push_back({47, ClusterStageRequest{}});
    out.push_back({48, ClusterStageReply{3, changes}});
    out.push_back({49, ClusterCommitRequest{3}});
  }
  return out;
}

// ---- capnp-built frames and objects ----

kj::ArrayPtr<const kj::byte> Bytes(std::string_view s) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

void SetDot(sc::Dot::Builder d, uint64_t actor, uint64_t counter) {
  d.setActor(actor);
  d.setCounter(counter);
}

struct RawSibling {
  uint64_t actor, counter;
  bool tombstone;
  std::string value;
};

// Writes an object exactly as given, valid or not.
void FillRaw(sc::Object::Builder b, const std::vector<Dot>& vv,
             const std::vector<RawSibling>& sibs) {
  auto list = b.initVv(vv.size());
  for (size_t i = 0; i < vv.size(); ++i) {
    SetDot(list[i], vv[i].actor, vv[i].counter);
  }
  auto sl = b.initSiblings(sibs.size());
  for (size_t i = 0; i < sibs.size(); ++i) {
    SetDot(sl[i].initDot(), sibs[i].actor, sibs[i].counter);
    sl[i].setWrittenAtMs(1000);
    sl[i].setTombstone(sibs[i].tombstone);
    if (!sibs[i].value.empty()) sl[i].setValue(Bytes(sibs[i].value));
  }
}

std::vector<uint64_t> Flatten(capnp::MessageBuilder& builder) {
  auto flat = capnp::messageToFlatArray(builder);
  return ToWords(flat.asPtr());
}

enum class Carrier { kGetReply, kReadReply, kReplicate };

std::vector<uint64_t> FrameWithObject(Carrier carrier,
                                      const std::vector<Dot>& vv,
                                      const std::vector<RawSibling>& sibs) {
  capnp::MallocMessageBuilder builder;
  auto f = builder.initRoot<sc::Frame>();
  f.setId(77);
  switch (carrier) {
    case Carrier::kGetReply:
      FillRaw(f.initGetReply().initObject(), vv, sibs);
      break;
    case Carrier::kReadReply:
      FillRaw(f.initReadReply().initObject(), vv, sibs);
      break;
    case Carrier::kReplicate: {
      auto r = f.initReplicate();
      r.setKey(Bytes("k"));
      FillRaw(r.initObject(), vv, sibs);
      break;
    }
  }
  return Flatten(builder);
}

std::string StoredObject(const std::vector<Dot>& vv,
                         const std::vector<RawSibling>& sibs) {
  capnp::MallocMessageBuilder builder;
  FillRaw(builder.initRoot<sc::Object>(), vv, sibs);
  auto flat = capnp::messageToFlatArray(builder);
  auto bytes = flat.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()),
                     bytes.size());
}

std::string PackedContext(const std::vector<Dot>& vv,
                          uint64_t key_hash = kCtxKeyHash) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<sc::Context>();
  root.setKeyHash(key_hash);
  auto list = root.initVv(vv.size());
  for (size_t i = 0; i < vv.size(); ++i) {
    SetDot(list[i], vv[i].actor, vv[i].counter);
  }
  kj::VectorOutputStream out;
  capnp::writePackedMessage(out, builder);
  auto bytes = out.getArray();
  return std::string(reinterpret_cast<const char*>(bytes.begin()),
                     bytes.size());
}

std::string Base64(std::string_view in) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = static_cast<uint8_t>(in[i]) << 16 |
                       static_cast<uint8_t>(in[i + 1]) << 8 |
                       static_cast<uint8_t>(in[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) {
      out.push_back(kAlphabet[(v >> shift) & 63]);
    }
  }
  if (i < in.size()) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// ======================= frames: round trips =======================

TEST_CASE("every Body alternative survives a round trip") {
  std::set<size_t> seen;
  for (const Message& m : SampleMessages()) {
    CAPTURE(m.id);
    RoundTrip(m);
    seen.insert(m.body.index());
  }
  CHECK(seen.size() == std::variant_size_v<Body>);
}

TEST_CASE("error replies keep their code, message and quorum details") {
  const Code codes[] = {
      Code::kNotFound,    Code::kInvalidArgument, Code::kTooLarge,
      Code::kUnavailable, Code::kTimeout,         Code::kOverloaded,
      Code::kCorruption,  Code::kStorageFull,     Code::kInternal};
  for (Code c : codes) {
    CAPTURE(CodeName(c));
    RoundTrip({5, ErrorReply{Status(c, std::string("why: ") + CodeName(c))}});
    Status with(c, "with quorum");
    with.WithQuorum({2, 3, 3, c == Code::kTimeout});
    Message got = RoundTrip({6, ErrorReply{with}});
    CHECK(std::get<ErrorReply>(got.body).status.quorum().has_value());
  }
  Message plain = RoundTrip({7, ErrorReply{Status(Code::kTooLarge, "big")}});
  CHECK_FALSE(std::get<ErrorReply>(plain.body).status.quorum().has_value());
  Status max(Code::kUnavailable, "");
  max.WithQuorum({std::numeric_limits<uint32_t>::max(), 0,
                  std::numeric_limits<uint32_t>::max(), true});
  RoundTrip({8, ErrorReply{max}});
}

TEST_CASE("an error that says ok, or a code from a newer peer, is internal") {
  for (uint16_t raw : {uint16_t{0}, uint16_t{42}}) {
    CAPTURE(raw);
    capnp::MallocMessageBuilder builder;
    auto f = builder.initRoot<sc::Frame>();
    f.setId(3);
    auto e = f.initError();
    e.setCode(static_cast<sc::ErrorCode>(raw));
    e.setMessage("odd");
    auto body = Flatten(builder);
    auto r = Decode(body);
    REQUIRE(r.ok());
    const Status& st = std::get<ErrorReply>(r->body).status;
    CHECK(st.code() == Code::kInternal);
    CHECK(st.message() == "odd");
    CHECK_FALSE(st.ok());
  }
}

TEST_CASE("objects with many siblings, tombstones and binary data") {
  Object o;
  std::mt19937_64 rng(7);
  std::vector<Dot> vv;
  for (uint64_t actor = 1; actor <= 20; ++actor) vv.push_back({actor * 3, 50});
  o.vv = VersionVector::FromEntries(vv);
  for (uint64_t actor = 1; actor <= 20; ++actor) {
    for (uint64_t counter = 48; counter <= 50; ++counter) {
      Sibling s;
      s.dot = {actor * 3, counter};
      s.written_at_ms = static_cast<int64_t>(rng());
      s.tombstone = (counter == 49);
      if (!s.tombstone) s.value = RandomBytes(rng, rng() % 300);
      o.siblings.push_back(std::move(s));
    }
  }
  REQUIRE(ValidateObject(o).ok());
  RoundTrip({1, ReplicateRequest{RandomBytes(rng, kMaxKeyBytes), o}});
  RoundTrip({2, GetReply{o}});
  RoundTrip({3, ReadReply{o}});
}

TEST_CASE("a 4 MiB value round-trips in a put and in a replicated object") {
  std::mt19937_64 rng(4);
  PutRequest p = SamplePut();
  p.value = RandomBytes(rng, kDefaultMaxValueBytes);
  RoundTrip({1, p});
  RoundTrip({2, CoordinatePutRequest{p}});

  Object o = SampleObject();
  o.siblings[2].value = p.value;
  RoundTrip({3, ReplicateRequest{"big", o}});

  // The body fits the default frame cap with room to spare.
  std::vector<uint8_t> buf;
  AppendFrame({1, p}, buf);
  CHECK(buf.size() - kFrameHeaderBytes <= kCap);
}

TEST_CASE("the wire narrows r and w to a byte and drops a delete's value") {
  Message got = RoundTrip({1, GetRequest{"k", 255, 0, false}});
  CHECK(std::get<GetRequest>(got.body).r == 255);

  auto body = EncodeBody({1, GetRequest{"k", 300, 0, false}});
  auto r = Decode(body);
  REQUIRE(r.ok());
  CHECK(std::get<GetRequest>(r->body).r == 255);

  PutRequest p = SamplePut();
  p.w = 1000;
  p.is_delete = true;
  body = EncodeBody({2, p});
  r = Decode(body);
  REQUIRE(r.ok());
  const auto& got_put = std::get<PutRequest>(r->body);
  CHECK(got_put.w == 255);
  CHECK(got_put.is_delete);
  CHECK(got_put.value.empty());
  CHECK(got_put.key == p.key);
  CHECK(got_put.context == p.context);
}

TEST_CASE("frames appended to one buffer decode one after another") {
  std::vector<uint8_t> buf;
  const std::vector<Message> sent = SampleMessages();
  for (const Message& m : sent) AppendFrame(m, buf);
  // Twice, so that frames of every kind follow frames of every other kind.
  for (const Message& m : sent) AppendFrame(m, buf);

  size_t at = 0;
  size_t n = 0;
  while (at < buf.size()) {
    REQUIRE(buf.size() - at >= kFrameHeaderBytes);
    const uint32_t len = ReadFrameLength(&buf[at]);
    REQUIRE(CheckFrameLength(len, kCap).ok());
    at += kFrameHeaderBytes;
    REQUIRE(buf.size() - at >= len);
    auto body = ToWords(&buf[at], len);
    at += len;
    auto r = Decode(body);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    ExpectSame(sent[n % sent.size()], r.value());
    ++n;
  }
  CHECK(at == buf.size());
  CHECK(n == 2 * sent.size());
}

TEST_CASE("AppendFrame appends without touching what the buffer holds") {
  std::vector<uint8_t> buf = {0xaa, 0xbb, 0xcc};
  AppendFrame({9, StatusRequest{}}, buf);
  CHECK(buf[0] == 0xaa);
  CHECK(buf[1] == 0xbb);
  CHECK(buf[2] == 0xcc);
  CHECK(ReadFrameLength(&buf[3]) == buf.size() - 3 - kFrameHeaderBytes);
}

TEST_CASE(
    "encoding is the same before and after a frame that filled the "
    "builder's first segment") {
  // Frames, objects and contexts are built in a reused per-thread segment
  // that must be all zeros again after every message, big ones included:
  // leftover bytes would show up in the next message's unset fields.
  std::mt19937_64 rng(5);
  const Message small{7, ReplicateRequest{"k", SampleObject()}};
  std::vector<uint8_t> before;
  AppendFrame(small, before);
  const std::string object_before = EncodeObject(SampleObject());

  PutRequest big = SamplePut();
  big.value = RandomBytes(rng, 64 * 1024);
  std::vector<uint8_t> scratch;
  AppendFrame({1, big}, scratch);
  Object big_object = SampleObject();
  big_object.siblings[0].value = big.value;
  CHECK_FALSE(EncodeObject(big_object).empty());

  std::vector<uint8_t> after;
  AppendFrame(small, after);
  CHECK(after == before);
  CHECK(EncodeObject(SampleObject()) == object_before);
}

// ======================= frames: lengths =======================

TEST_CASE("ReadFrameLength is little-endian") {
  const uint8_t h[4] = {0x08, 0x01, 0x02, 0x80};
  CHECK(ReadFrameLength(h) == 0x80020108u);
}

TEST_CASE("frame cap is the object cap plus 64 KiB of headroom") {
  CHECK(FrameCapFor(kDefaultMaxObjectBytes) == (16u << 20) + (64u << 10));
  CHECK(kDefaultMaxValueBytes == 4u << 20);
  CHECK(kMaxKeyBytes == 500);
  CHECK(kFrameHeaderBytes == 4);
}

TEST_CASE("CheckFrameLength") {
  SUBCASE("accepts positive multiples of 8 up to the cap") {
    for (uint32_t len : {8u, 16u, 4096u, static_cast<uint32_t>(kCap)}) {
      auto r = CheckFrameLength(len, kCap);
      REQUIRE(r.ok());
      CHECK(r.value() == len);
    }
  }
  SUBCASE("zero is corruption") {
    auto r = CheckFrameLength(0, kCap);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruption);
    CHECK(Contains(r.status().message(), "bad frame length 0"));
  }
  SUBCASE("a length that is not a multiple of 8 is corruption") {
    for (uint32_t len : {1u, 7u, 12u, 4097u}) {
      auto r = CheckFrameLength(len, kCap);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == Code::kCorruption);
      CHECK(Contains(r.status().message(), std::to_string(len)));
      CHECK(Contains(r.status().message(), "multiple of 8"));
    }
  }
  SUBCASE("over the cap is too large, naming the length and the cap") {
    const uint32_t lens[] = {static_cast<uint32_t>(kCap + 8),
                             static_cast<uint32_t>(kCap + 3),
                             std::numeric_limits<uint32_t>::max()};
    for (uint32_t len : lens) {
      auto r = CheckFrameLength(len, kCap);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == Code::kTooLarge);
      CHECK(Contains(r.status().message(), std::to_string(len)));
      CHECK(Contains(r.status().message(), std::to_string(kCap)));
    }
    auto small = CheckFrameLength(1024, 1000);
    REQUIRE_FALSE(small.ok());
    CHECK(small.status().code() == Code::kTooLarge);
    CHECK(small.status().message() ==
          "frame of 1024 bytes exceeds the frame cap of 1000 bytes");
  }
}

// ======================= frames: malformed bodies =======================

TEST_CASE("random garbage bodies are rejected cleanly") {
  const size_t sizes[] = {1, 2, 3, 5, 8, 17, 64, 257, 4096};
  for (uint64_t seed = 0; seed < 300; ++seed) {
    std::mt19937_64 rng(seed);
    for (size_t words : sizes) {
      CAPTURE(seed);
      CAPTURE(words);
      std::vector<uint64_t> body(words);
      for (uint64_t& w : body) w = rng();
      ExpectHandled(body);
      // Same garbage behind a plausible one-segment table, so that it gets
      // past the header and into pointer validation.
      if (words >= 2) {
        body[0] = static_cast<uint64_t>(words - 1) << 32;
        ExpectHandled(body);
        // And with a well-formed root struct pointer in front of the noise.
        body[1] = (uint64_t{2} << 32) | (uint64_t{1} << 48);  // 2 data, 1 ptr
        ExpectHandled(body);
      }
    }
  }
}

TEST_CASE("valid frames with random bytes flipped are handled cleanly") {
  const std::vector<Message> samples = SampleMessages();
  std::mt19937_64 rng(99);
  for (const Message& m : samples) {
    const std::vector<uint64_t> good = EncodeBody(m);
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<uint64_t> body = good;
      auto* bytes = reinterpret_cast<uint8_t*>(body.data());
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) {
        bytes[rng() % (body.size() * 8)] ^=
            static_cast<uint8_t>(1 + rng() % 255);
      }
      CAPTURE(m.id);
      CAPTURE(trial);
      ExpectHandled(body);
    }
  }
}

TEST_CASE("an empty body is rejected") {
  std::vector<uint64_t> empty;
  ExpectRejected(empty, Code::kCorruption);
  std::vector<uint64_t> zero(1, 0);
  ExpectRejected(zero, Code::kCorruption);
}

TEST_CASE("truncated bodies are rejected as corruption") {
  PutRequest big = SamplePut();
  std::mt19937_64 rng(11);
  big.value = RandomBytes(rng, 100000);  // several segments
  const std::vector<Message> msgs = {
      {1, ReplicateRequest{kBinaryKey, SampleObject()}},
      {2, StatusRequest{}},
      {3, big},
  };
  for (const Message& m : msgs) {
    const std::vector<uint64_t> good = EncodeBody(m);
    const size_t n = good.size();
    CAPTURE(m.id);
    CAPTURE(n);
    // Cut at whole words.
    std::set<size_t> cuts = {1, 2, 3, n / 4, n / 2, n - 2, n - 1};
    for (size_t cut : cuts) {
      if (cut == 0 || cut >= n) continue;
      CAPTURE(cut);
      std::vector<uint64_t> body(good.begin(), good.begin() + cut);
      ExpectRejected(body, Code::kCorruption);
    }
    // Cut inside a word, the rest of that word zero-padded (as a reader
    // that rounded a short read up would see it).
    const size_t total = n * 8;
    for (size_t cut_bytes :
         {size_t{5}, size_t{13}, total / 2 + 3, total - 8 - 1}) {
      if (cut_bytes >= total - 8) continue;
      CAPTURE(cut_bytes);
      std::vector<uint64_t> body((cut_bytes + 7) / 8, 0);
      std::memcpy(body.data(), good.data(), cut_bytes);
      REQUIRE(body.size() < n);
      ExpectRejected(body, Code::kCorruption);
    }
  }
}

TEST_CASE("trailing words after the message are rejected") {
  std::vector<uint64_t> body =
      EncodeBody({1, ReplicateRequest{kBinaryKey, SampleObject()}});
  body.push_back(0);
  std::string why = ExpectRejected(body, Code::kCorruption);
  CHECK(Contains(why, "trailing"));
  body.push_back(0x0123456789abcdefull);
  ExpectRejected(body, Code::kCorruption);

  // A second whole frame glued on without its header is trailing data too.
  std::vector<uint64_t> two = EncodeBody({2, StatusRequest{}});
  std::vector<uint64_t> other = EncodeBody({3, StatusRequest{}});
  two.insert(two.end(), other.begin(), other.end());
  ExpectRejected(two, Code::kCorruption);
}

TEST_CASE("a big valid message fails against a tiny cap (traversal limit)") {
  std::mt19937_64 rng(5);
  PutRequest p = SamplePut();
  p.value = RandomBytes(rng, kDefaultMaxValueBytes);
  std::vector<uint64_t> body = EncodeBody({1, p});
  CHECK(Decode(body).ok());  // fine with the real cap
  const std::string why = ExpectRejected(body, Code::kCorruption, 64 << 10);
  CHECK(Contains(why, "malformed frame"));
}

// Builds a ReplicateRequest whose `copies` siblings all point their value at
// one shared blob of `blob_bytes`: a small message that reads as
// copies × blob_bytes (Cap'n Proto pointer amplification).
std::vector<uint64_t> SharedValueBomb(uint32_t copies, size_t blob_bytes) {
  capnp::MallocMessageBuilder builder(1 << 17,
                                      capnp::AllocationStrategy::FIXED_SIZE);
  auto f = builder.initRoot<sc::Frame>();
  f.setId(66);
  auto rep = f.initReplicate();
  rep.setKey(Bytes("bomb"));
  auto obj = rep.initObject();
  SetDot(obj.initVv(1)[0], 1, copies);
  auto sibs = obj.initSiblings(copies);
  for (uint32_t i = 0; i < copies; ++i) {
    SetDot(sibs[i].initDot(), 1, i + 1);
    sibs[i].setWrittenAtMs(5);
  }
  const std::string blob(blob_bytes, 'b');
  sibs[0].setValue(Bytes(blob));

  auto segments = builder.getSegmentsForOutput();
  REQUIRE(segments.size() == 1);
  const capnp::word* seg = segments[0].begin();
  auto word_index = [&](const void* p) {
    const auto off = static_cast<const kj::byte*>(p) -
                     reinterpret_cast<const kj::byte*>(seg);
    REQUIRE(off % 8 == 0);
    return static_cast<int64_t>(off / 8);
  };
  // Sibling's pointer section follows its data section; `value` is its
  // second pointer (after `dot`).
  auto value_ptr_index = [&](uint32_t i) {
    capnp::AnyStruct::Builder any(sibs[i]);
    return word_index(any.getDataSection().end()) + 1;
  };
  const int64_t blob_index = word_index(sibs[0].getValue().begin());

  std::vector<uint64_t> body = Flatten(builder);
  REQUIRE(body[0] == (static_cast<uint64_t>(segments[0].size()) << 32));
  // Body word = 1 (segment table) + segment word.
  const uint64_t ptr0 = body[1 + value_ptr_index(0)];
  REQUIRE((ptr0 & 3) == 1);  // a list pointer
  const int64_t off0 = static_cast<int32_t>(static_cast<uint32_t>(ptr0)) >> 2;
  REQUIRE(value_ptr_index(0) + 1 + off0 == blob_index);  // found the right one
  for (uint32_t i = 1; i < copies; ++i) {
    const int64_t at = value_ptr_index(i);
    const int64_t off = blob_index - (at + 1);
    const uint32_t low =
        (static_cast<uint32_t>(static_cast<int32_t>(off)) << 2) | 1u;
    body[1 + at] = (ptr0 & 0xffffffff00000000ull) | low;
  }
  return body;
}

TEST_CASE("a pointer-amplification bomb hits the traversal limit") {
  // Sanity: the patched pointers are valid; a few copies decode.
  {
    std::vector<uint64_t> body = SharedValueBomb(3, 4096);
    auto r = Decode(body);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    const auto& rep = std::get<ReplicateRequest>(r->body);
    REQUIRE(rep.object.siblings.size() == 3);
    for (const Sibling& s : rep.object.siblings) {
      CHECK(s.value == std::string(4096, 'b'));
    }
  }
  // ~180 KB on the wire, far under the frame cap, but it would read as
  // 2000 × 64 KiB = 125 MiB.
  std::vector<uint64_t> body = SharedValueBomb(2000, 64 << 10);
  CHECK(body.size() * 8 < 256 * 1024);
  REQUIRE(CheckFrameLength(static_cast<uint32_t>(body.size() * 8), kCap).ok());
  const std::string why = ExpectRejected(body, Code::kCorruption);
  CHECK(Contains(why, "traversal limit"));
}

TEST_CASE("an unknown union member is rejected as an unknown message type") {
  // Two frames differing only in the union discriminant (both members are
  // empty structs): the bytes that differ are the discriminant.
  // Discriminants count union members from 0: error = 0 ...
  // reapCheckReply = 37.
  std::vector<uint64_t> a = EncodeBody({5, StatusRequest{}});  // 11
  std::vector<uint64_t> b = EncodeBody({5, HintsRequest{}});   // 15
  REQUIRE(a.size() == b.size());
  const auto* pa = reinterpret_cast<const uint8_t*>(a.data());
  const auto* pb = reinterpret_cast<const uint8_t*>(b.data());
  std::vector<size_t> diff;
  for (size_t i = 0; i < a.size() * 8; ++i) {
    if (pa[i] != pb[i]) diff.push_back(i);
  }
  REQUIRE(diff.size() == 1);
  const size_t at = diff[0] & ~size_t{1};  // the u16 holding it
  REQUIRE((pa[at] | pa[at + 1] << 8) == 11);
  REQUIRE((pb[at] | pb[at + 1] << 8) == 15);

  for (uint16_t which : {uint16_t{38}, uint16_t{200}, uint16_t{0xffff}}) {
    CAPTURE(which);
    std::vector<uint64_t> body = a;
    auto* p = reinterpret_cast<uint8_t*>(body.data());
    p[at] = static_cast<uint8_t>(which);
    p[at + 1] = static_cast<uint8_t>(which >> 8);
    const std::string why = ExpectRejected(body, Code::kInvalidArgument);
    CHECK(Contains(why, "unknown message type"));
    CHECK(Contains(why, std::to_string(which)));
  }
}

// ======================= frames: version invariants =======================

struct BadObject {
  const char* name;
  std::vector<Dot> vv;
  std::vector<RawSibling> sibs;
  const char* why;
};

std::vector<BadObject> BadObjects() {
  return {
      {"unsorted siblings",
       {{1, 1}, {2, 1}},
       {{2, 1, false, "b"}, {1, 1, false, "a"}},
       "siblings not sorted"},
      {"duplicate sibling dots",
       {{1, 1}},
       {{1, 1, false, "a"}, {1, 1, false, "a"}},
       "siblings not sorted by unique dot"},
      {"dot beyond the version vector",
       {{1, 2}},
       {{1, 3, false, "a"}},
       "not covered"},
      {"dot of an actor missing from the version vector",
       {{1, 2}},
       {{9, 1, false, "a"}},
       "not covered"},
      {"sibling counter 0", {{1, 2}}, {{1, 0, false, "a"}}, "counter 0"},
      {"version vector counter 0",
       {{1, 2}, {2, 0}},
       {{1, 1, false, "a"}},
       "counter 0"},
      {"version vector actors unsorted",
       {{2, 1}, {1, 1}},
       {{1, 1, false, "a"}},
       "not sorted and unique"},
      {"version vector actors duplicated",
       {{1, 1}, {1, 2}},
       {{1, 1, false, "a"}},
       "not sorted and unique"},
      {"tombstone with a value",
       {{1, 1}},
       {{1, 1, true, "still here"}},
       "tombstone with a value"},
  };
}

TEST_CASE("objects in frames that break the version invariants") {
  for (const BadObject& bad : BadObjects()) {
    for (Carrier c :
         {Carrier::kGetReply, Carrier::kReadReply, Carrier::kReplicate}) {
      CAPTURE(bad.name);
      CAPTURE(static_cast<int>(c));
      std::vector<uint64_t> body = FrameWithObject(c, bad.vv, bad.sibs);
      const std::string why = ExpectRejected(body, Code::kCorruption);
      CHECK_MESSAGE(Contains(why, bad.why), why);
    }
  }
  // The builder itself is sound: the fixed-up object decodes.
  std::vector<uint64_t> good =
      FrameWithObject(Carrier::kReplicate, {{1, 1}, {2, 1}},
                      {{1, 1, false, "a"}, {2, 1, true, ""}});
  CHECK(Decode(good).ok());
}

TEST_CASE("ValidateObject") {
  CHECK(ValidateObject(Object{}).ok());
  CHECK(ValidateObject(SampleObject()).ok());
  Object o = SampleObject();
  std::swap(o.siblings[0], o.siblings[1]);
  CHECK(ValidateObject(o).code() == Code::kCorruption);
  o = SampleObject();
  o.siblings[1].value = "x";  // a tombstone
  CHECK(ValidateObject(o).code() == Code::kCorruption);
  o = SampleObject();
  o.siblings.push_back({{std::numeric_limits<uint64_t>::max(), 3},
                        0,
                        false,
                        "beyond the vector"});
  CHECK(ValidateObject(o).code() == Code::kCorruption);
}

// ======================= contexts =======================

const std::string kContextError = "context is not a valid shoal context";

void ExpectBadContext(std::string_view bytes) {
  Result<VersionVector> r = Status(Code::kInternal, "not run");
  try {
    r = DecodeContext(bytes, kCtxKeyHash);
  } catch (...) {
    FAIL("an exception escaped DecodeContext");
  }
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK_MESSAGE(r.status().message().rfind(kContextError, 0) == 0,
                r.status().message());
}

TEST_CASE("contexts round-trip") {
  const VersionVector vvs[] = {
      VersionVector::FromEntries({{1, 1}}),
      VersionVector::FromEntries({{1, 1}, {5, 99}, {1ull << 40, 7}}),
      VersionVector::FromEntries({{0, 3},
                                  {std::numeric_limits<uint64_t>::max(),
                                   std::numeric_limits<uint64_t>::max()}}),
      SampleObject().vv,
  };
  for (const VersionVector& vv : vvs) {
    const std::string bytes = EncodeContext(vv, kCtxKeyHash);
    CHECK_FALSE(bytes.empty());
    auto r = DecodeContext(bytes, kCtxKeyHash);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r.value() == vv);
  }
  // Packed: a three-actor context stays small.
  CHECK(EncodeContext(VersionVector::FromEntries({{1, 1}, {2, 2}, {3, 3}}),
                      kCtxKeyHash)
            .size() < 64);
}

// ======================= session tokens =======================

TEST_CASE("session tokens round-trip, and a bad token is refused by name") {
  quorum::SessionToken token;
  // A new session is not "no session": its empty token has bytes.
  CHECK_FALSE(EncodeSession(token).empty());
  for (const std::string& bytes : {std::string(), EncodeSession(token)}) {
    auto empty = DecodeSession(bytes);
    REQUIRE(empty.ok());
    CHECK(empty->empty());
  }
  for (uint64_t i = 1; i <= quorum::SessionToken::kMaxKeys + 3; ++i) {
    token.NoteWrite(i * 0x9e3779b97f4a7c15ull,
                    VersionVector::FromEntries({{1, i}, {i + 1, 2}}),
                    i % 3 != 0);
  }
  token.NoteRead(~0ull, SampleObject());
  const std::string bytes = EncodeSession(token);
  auto back = DecodeSession(bytes);
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(*back == token);
  CHECK(back->floors().size() == quorum::SessionToken::kMaxKeys);
  // A floor is a hash and a vector: 64 two-actor floors stay small.
  CHECK(bytes.size() < 64 * 64);
  // A floor is a hash and a vector: 64 two-actor floors stay small.
  CHECK(bytes.size() < 64 * 64);

  for (std::string_view bad :
       {std::string_view("garbage"), std::string_view(bytes).substr(0, 10),
        std::string_view("\x00\x00\x00\x00", 4)}) {
    auto r = DecodeSession(bad);
    if (r.ok()) {
      CHECK(r->empty());  // a message that decodes to no floors at all
      continue;
    }
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK_MESSAGE(
        r.status().message().find("session token") != std::string::npos,
        r.status().message());
  }
  auto huge = DecodeSession(std::string(300 * 1024, 'x'));
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.status().message().find("over the limit") != std::string::npos);
}

TEST_CASE("an empty context is empty bytes, both ways") {
  CHECK(EncodeContext(VersionVector(), kCtxKeyHash).empty());
  auto r = DecodeContext("", kCtxKeyHash);
  REQUIRE(r.ok());
  CHECK(r->empty());
  // A well-formed context message with no entries is empty too.
  auto r2 = DecodeContext(PackedContext({}), kCtxKeyHash);
  REQUIRE(r2.ok());
  CHECK(r2->empty());
}

TEST_CASE("garbage contexts are invalid arguments") {
  for (uint64_t seed = 0; seed < 300; ++seed) {
    std::mt19937_64 rng(seed);
    for (size_t n : {1, 2, 7, 8, 9, 16, 33, 200}) {
      CAPTURE(seed);
      CAPTURE(n);
      ExpectBadContext(RandomBytes(rng, n));
    }
  }
  ExpectBadContext(std::string(64 * 1024 + 1, '\0'));
  ExpectBadContext(std::string(8, '\0'));
}

TEST_CASE("truncated contexts are invalid arguments") {
  const std::string good = EncodeContext(SampleObject().vv, kCtxKeyHash);
  for (size_t cut = 1; cut < good.size(); ++cut) {
    CAPTURE(cut);
    ExpectBadContext(std::string_view(good).substr(0, cut));
  }
}

TEST_CASE("a context with bytes after the message is invalid") {
  const std::string good = EncodeContext(SampleObject().vv, kCtxKeyHash);
  ExpectBadContext(good + '\0');
  ExpectBadContext(good + "x");
  ExpectBadContext(good + good);
}

TEST_CASE("base64 text passed as a context is invalid") {
  const std::string good = EncodeContext(SampleObject().vv, kCtxKeyHash);
  ExpectBadContext(Base64(good));
  ExpectBadContext(
      Base64(EncodeContext(VersionVector::FromEntries({{1, 1}}), kCtxKeyHash)));
  ExpectBadContext("AAAAAAEAAAA=");
  ExpectBadContext("g2wAAAABaAJtAAAACGEAAAAAYQFqag==");
  ExpectBadContext("not a context");
}

TEST_CASE("a context read from another key is refused") {
  const std::string other = EncodeContext(SampleObject().vv, kCtxKeyHash + 1);
  auto r = DecodeContext(other, kCtxKeyHash);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(r.status().message().find("read from another key") !=
        std::string::npos);
  CHECK(DecodeContext(other, kCtxKeyHash + 1).ok());
}

TEST_CASE("contexts that break the version-vector rules are invalid") {
  // The helper builds a valid context when given one.
  auto ok = DecodeContext(PackedContext({{1, 1}, {2, 5}}), kCtxKeyHash);
  REQUIRE(ok.ok());
  CHECK(ok.value() == VersionVector::FromEntries({{1, 1}, {2, 5}}));

  ExpectBadContext(PackedContext({{2, 1}, {1, 1}}));  // unsorted
  ExpectBadContext(PackedContext({{1, 1}, {1, 2}}));  // duplicate actor
  ExpectBadContext(PackedContext({{1, 0}}));          // counter 0
  ExpectBadContext(PackedContext({{1, 3}, {4, 0}}));  // counter 0, later
}

// ======================= stored objects =======================

TEST_CASE("stored objects round-trip from an unaligned buffer") {
  Object big = SampleObject();
  std::mt19937_64 rng(3);
  big.siblings[0].value = RandomBytes(rng, 300000);
  for (const Object& o : {SampleObject(), Object{}, big}) {
    const std::string bytes = EncodeObject(o);
    CHECK(bytes.size() % 8 == 0);
    for (size_t shift : {1, 3, 8}) {
      std::string holder(shift, '#');
      holder += bytes;
      std::string_view view(holder);
      view.remove_prefix(shift);
      CAPTURE(shift);
      auto r = DecodeObject(view);
      REQUIRE_MESSAGE(r.ok(), r.status().ToString());
      ExpectSame(o, r.value());
    }
  }
}

TEST_CASE("stored garbage is corruption") {
  auto expect_corrupt = [](std::string_view bytes) {
    Result<Object> r = Status(Code::kInternal, "not run");
    try {
      r = DecodeObject(bytes);
    } catch (...) {
      FAIL("an exception escaped DecodeObject");
    }
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(r.status().code() == Code::kCorruption,
                  r.status().ToString());
  };
  expect_corrupt("");
  expect_corrupt("abc");
  expect_corrupt(std::string(9, '\0'));

  for (uint64_t seed = 0; seed < 300; ++seed) {
    std::mt19937_64 rng(seed);
    for (size_t words : {1, 2, 5, 32}) {
      CAPTURE(seed);
      CAPTURE(words);
      std::string junk = RandomBytes(rng, words * 8);
      // Random segment tables almost never fit: reject.
      if (words >= 2) {
        expect_corrupt(junk);
      }
    }
  }
  // Truncated stored objects.
  const std::string good = EncodeObject(SampleObject());
  for (size_t cut = 8; cut < good.size(); cut += 8) {
    CAPTURE(cut);
    expect_corrupt(std::string_view(good).substr(0, cut));
  }
  // Invariant violations on disk are corruption too.
  for (const BadObject& bad : BadObjects()) {
    CAPTURE(bad.name);
    expect_corrupt(StoredObject(bad.vv, bad.sibs));
  }
}

cluster::ClusterState SampleClusterState() {
  std::vector<cluster::Member> members;
  for (int i = 1; i <= 4; ++i) {
    members.push_back({"n" + std::to_string(i),
                       "10.0.0." + std::to_string(i) + ":7000",
                       cluster::MemberState::kValid});
  }
  auto state = cluster::ClusterState::Initial(
      members, ring::RingOptions{.partitions = 64, .n = 3});
  REQUIRE(state.ok());
  auto plan = cluster::MakePlan(state.value(),
                                {cluster::Change::Join("n5", "10.0.0.5:7000"),
                                 cluster::Change::Leave("n2")});
  REQUIRE(plan.ok());
  return plan.value().next;  // joining, leaving, a next claim
}

TEST_CASE("the cluster state round-trips, from an unaligned buffer too") {
  const cluster::ClusterState state = SampleClusterState();
  const std::string bytes = EncodeClusterState(state);
  auto back = DecodeClusterState(bytes);
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(back.value() == state);
  CHECK(back.value().Digest() == state.Digest());
  std::string shifted = " " + bytes;
  auto unaligned = DecodeClusterState(std::string_view(shifted).substr(1));
  REQUIRE(unaligned.ok());
  CHECK(unaligned.value() == state);
  // Switched: the flag travels and changes the digest.
  const cluster::ClusterState switched = cluster::Advance(state).value();
  REQUIRE(switched.switched);
  auto back_switched = DecodeClusterState(EncodeClusterState(switched));
  REQUIRE(back_switched.ok());
  CHECK(back_switched.value() == switched);
  cluster::ClusterState same_epoch = switched;
  same_epoch.switched = false;
  CHECK(same_epoch.Digest() != switched.Digest());
}

TEST_CASE("a cluster state with datacenters round-trips") {
  std::vector<cluster::Member> members;
  for (int i = 1; i <= 4; ++i) {
    members.push_back({"n" + std::to_string(i),
                       "10.0.0." + std::to_string(i) + ":7000",
                       cluster::MemberState::kValid, i <= 2 ? "dc1" : "dc2",
                       "r" + std::to_string(i)});
  }
  auto state = cluster::ClusterState::Initial(
      members, ring::RingOptions{
                   .partitions = 64, .n = 3, .dcs = {{"dc1", 2}, {"dc2", 1}}});
  REQUIRE(state.ok());
  auto plan = cluster::MakePlan(
      state.value(),
      {cluster::Change::Join("n5", "10.0.0.5:7000", "dc2", "r5")});
  REQUIRE_MESSAGE(plan.ok(), plan.status().ToString());
  const cluster::ClusterState& next = plan.value().next;
  auto back = DecodeClusterState(EncodeClusterState(next));
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(back.value() == next);
  CHECK(back.value().Find("n5")->dc == "dc2");
  CHECK(back.value().Find("n5")->rack == "r5");
  CHECK(back.value().options.dcs == next.options.dcs);
  // Another rack changes the digest.
  cluster::ClusterState moved = next;
  moved.members[0].rack = "elsewhere";
  CHECK(moved.Digest() != next.Digest());
  // A join that names no datacenter, or one the ring lacks, is refused.
  for (const char* dc : {"", "dc9"}) {
    auto bad = cluster::MakePlan(
        state.value(), {cluster::Change::Join("n6", "10.0.0.6:7000", dc)});
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().message().find(
              "must join one of the ring's datacenters (dc1, dc2)") !=
          std::string::npos);
  }
  // A replacement takes the old member's datacenter and rack.
  auto replaced = cluster::MakePlan(
      state.value(), {cluster::Change::Replace("n3", "n7", "10.0.0.7:7000")});
  REQUIRE(replaced.ok());
  CHECK(replaced.value().next.Find("n7")->dc == "dc2");
  CHECK(replaced.value().next.Find("n7")->rack == "r3");
}

TEST_CASE("a staged change of an unknown kind or without a node is refused") {
  {
    capnp::MallocMessageBuilder builder;
    auto change =
        builder.initRoot<sc::Frame>().initClusterStage().initChanges(1)[0];
    change.setKind(static_cast<sc::ClusterChangeKind>(9));
    change.setNode("n2");
    const std::string why =
        ExpectRejected(Flatten(builder), Code::kInvalidArgument);
    CHECK(Contains(why, "unknown cluster change kind 9"));
  }
  {
    capnp::MallocMessageBuilder builder;
    builder.initRoot<sc::Frame>()
        .initClusterStageReply()
        .initChanges(1)[0]
        .setKind(sc::ClusterChangeKind::LEAVE);
    const std::string why =
        ExpectRejected(Flatten(builder), Code::kInvalidArgument);
    CHECK(Contains(why, "cluster change without a node"));
  }
}

TEST_CASE("a cluster state that breaks its rules is corruption, named") {
  auto expect = [](const std::string& bytes, const std::string& message) {
    auto r = DecodeClusterState(bytes);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruption);
    CHECK(r.status().message() == message);
  };
  auto edit = [](const std::function<void(schema::ClusterState::Builder)>& f) {
    capnp::MallocMessageBuilder builder;
    auto bytes = EncodeClusterState(SampleClusterState());
    std::vector<capnp::word> words(bytes.size() / 8);
    std::memcpy(words.data(), bytes.data(), bytes.size());
    capnp::FlatArrayMessageReader reader(
        kj::arrayPtr(words.data(), words.size()));
    builder.setRoot(reader.getRoot<schema::ClusterState>());
    f(builder.getRoot<schema::ClusterState>());
    auto flat = capnp::messageToFlatArray(builder);
    auto b = flat.asBytes();
    return std::string(reinterpret_cast<const char*>(b.begin()), b.size());
  };
  expect("", "cluster state of 0 bytes is not a whole number of words");
  expect(edit([](auto s) { s.setEpoch(0); }), "cluster state: epoch 0");
  expect(edit([](auto s) { s.setPartitions(48); }),
         "cluster state: partitions=48 is not a power of two in 1..65536");
  expect(edit([](auto s) { s.getClaim().set(3, 9); }),
         "cluster state: claim names member 9 of 5");
  expect(edit([](auto s) { s.getMembers()[2].setName("n1"); }),
         "cluster state: member 'n1' is listed twice");
  expect(edit([](auto s) {
           auto claim = s.getClaim();
           for (uint32_t p = 0; p < claim.size(); ++p) {
             if (claim[p] == 0)
               s.getMembers()[0].setState(schema::MemberState::REMOVED);
           }
         }),
         "cluster state: claim gives a partition to removed 'n1'");
  expect(edit([](auto s) { s.initNextClaim(3); }),
         "cluster state: the next claim has 3 partitions, not 64");
  expect(edit([](auto s) {
           s.initNextClaim(0);
           s.setSwitched(true);
         }),
         "cluster state: switched, but no change is in progress (no next "
         "claim)");
  for (uint64_t seed = 0; seed < 200; ++seed) {
    std::mt19937_64 rng(seed);
    auto r = DecodeClusterState(RandomBytes(rng, 8 * (1 + seed % 16)));
    if (!r.ok()) CHECK(r.status().code() == Code::kCorruption);
  }
}

TEST_CASE("saved trees round-trip, unaligned, and malformed ones are refused") {
  SavedTrees saved{.format = 1, .partitions = 8, .segments = 4, .trees = {}};
  saved.trees.push_back({.partition = 6, .leaves = {1, 0, UINT64_MAX, 42}});
  saved.trees.push_back({.partition = 2, .leaves = {0, 0, 0, 7}});
  const std::string bytes = EncodeSavedTrees(saved);
  std::string shifted = "x" + bytes;  // LMDB values are not aligned
  auto back = DecodeSavedTrees(std::string_view(shifted).substr(1));
  REQUIRE(back.ok());
  CHECK(back->format == 1);
  CHECK(back->partitions == 8);
  CHECK(back->segments == 4);
  REQUIRE(back->trees.size() == 2);
  CHECK(back->trees[0].partition == 6);
  CHECK(back->trees[0].leaves == saved.trees[0].leaves);
  CHECK(back->trees[1].leaves == saved.trees[1].leaves);

  auto refused = [](const SavedTrees& s) {
    auto r = DecodeSavedTrees(EncodeSavedTrees(s));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruption);
    return r.status().message();
  };
  SavedTrees bad = saved;
  bad.trees[1].partition = 8;
  CHECK(refused(bad).find("partition 8 is out of range") != std::string::npos);
  bad = saved;
  bad.trees[1].partition = 6;
  CHECK(refused(bad).find("partition 6 is saved twice") != std::string::npos);
  bad = saved;
  bad.trees[0].leaves.pop_back();
  CHECK(refused(bad).find("has 3 leaves, not 4") != std::string::npos);
  auto garbage = DecodeSavedTrees("not a message at all");
  CHECK(garbage.status().code() == Code::kCorruption);
}

}  // namespace
}  // namespace shoal::wire
