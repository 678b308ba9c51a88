// Version data, contexts and stored objects (object.capnp): the Object
// message is both a replica's state on the wire and the LMDB value format.
#include <capnp/serialize-packed.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <cstring>

#include "wire/codec.h"
#include "wire/codec_internal.h"

namespace shoal::wire {
namespace internal {

void FillDots(capnp::List<sc::Dot>::Builder list,
              const std::vector<quorum::Dot>& dots) {
  for (size_t i = 0; i < dots.size(); ++i) {
    list[i].setActor(dots[i].actor);
    list[i].setCounter(dots[i].counter);
  }
}

void FillObject(sc::Object::Builder b, const quorum::Object& o) {
  FillDots(b.initVv(o.vv.entries().size()), o.vv.entries());
  auto sibs = b.initSiblings(o.siblings.size());
  for (size_t i = 0; i < o.siblings.size(); ++i) {
    const quorum::Sibling& s = o.siblings[i];
    auto sb = sibs[i];
    auto dot = sb.initDot();
    dot.setActor(s.dot.actor);
    dot.setCounter(s.dot.counter);
    sb.setWrittenAtMs(s.written_at_ms);
    sb.setTombstone(s.tombstone);
    if (!s.value.empty()) sb.setValue(Bytes(s.value));
  }
}

// Reads a version vector, rejecting anything our encoder never writes.
Result<quorum::VersionVector> ReadVv(capnp::List<sc::Dot>::Reader list,
                                     const char* what) {
  std::vector<quorum::Dot> dots;
  dots.reserve(list.size());
  for (auto d : list) {
    quorum::Dot dot{d.getActor(), d.getCounter()};
    if (dot.counter == 0) {
      return Status(
          Code::kCorruption,
          std::string(what) + ": version vector entry with counter 0");
    }
    if (!dots.empty() && !(dots.back().actor < dot.actor)) {
      return Status(
          Code::kCorruption,
          std::string(what) + ": version vector actors not sorted and unique");
    }
    dots.push_back(dot);
  }
  return quorum::VersionVector::FromEntries(std::move(dots));
}

Result<quorum::Object> ReadObject(sc::Object::Reader r) {
  auto vv = ReadVv(r.getVv(), "object");
  if (!vv) return vv.status();
  quorum::Object o;
  o.vv = std::move(vv.value());
  auto sibs = r.getSiblings();
  o.siblings.reserve(sibs.size());
  for (auto s : sibs) {
    quorum::Sibling sib;
    sib.dot = {s.getDot().getActor(), s.getDot().getCounter()};
    sib.written_at_ms = s.getWrittenAtMs();
    sib.tombstone = s.getTombstone();
    sib.value = ToString(s.getValue());
    o.siblings.push_back(std::move(sib));
  }
  Status st = ValidateObject(o);
  if (!st.ok()) return st;
  return o;
}

}  // namespace internal

using internal::Builder;
using internal::FillDots;
using internal::FillObject;
using internal::ReadObject;
using internal::ReadVv;
using internal::VectorOutput;
namespace sc = ::shoal::wire::schema;

namespace {
// The packed encoding of `builder`'s message (contexts, session tokens).
std::string PackedBytes(capnp::MessageBuilder& builder) {
  std::vector<uint8_t> out;
  VectorOutput stream(out);
  capnp::writePackedMessage(stream, builder);
  return std::string(out.begin(), out.end());
}
}  // namespace

std::string EncodeContext(const quorum::VersionVector& vv, uint64_t key_hash) {
  if (vv.empty()) return {};
  Builder scratch;
  capnp::MallocMessageBuilder& builder = scratch.get();
  auto root = builder.initRoot<sc::Context>();
  FillDots(root.initVv(vv.entries().size()), vv.entries());
  root.setKeyHash(key_hash);
  return PackedBytes(builder);
}

Result<quorum::VersionVector> DecodeContext(std::string_view bytes,
                                            uint64_t key_hash) {
  if (bytes.empty()) return quorum::VersionVector();
  const Status bad(Code::kInvalidArgument,
                   "context is not a valid shoal context (pass the context a "
                   "get returned, unchanged)");
  if (bytes.size() > 64 * 1024) return bad;
  try {
    kj::ArrayInputStream in(kj::arrayPtr(
        reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size()));
    capnp::ReaderOptions opts;
    opts.traversalLimitInWords = 64 * 1024;
    opts.nestingLimit = 8;
    capnp::PackedMessageReader reader(in, opts);
    if (in.tryGetReadBuffer().size() != 0) return bad;
    auto root = reader.getRoot<sc::Context>();
    auto vv = ReadVv(root.getVv(), "context");
    if (!vv) return bad;
    if (!vv->empty() && root.getKeyHash() != key_hash) {
      return Status(Code::kInvalidArgument,
                    "the context was read from another key (pass the context "
                    "a get of this key returned)");
    }
    return vv;
  } catch (const kj::Exception&) {
    return bad;
  }
}

std::string EncodeSession(const quorum::SessionToken& token) {
  Builder scratch;
  capnp::MallocMessageBuilder& builder = scratch.get();
  auto floors =
      builder.initRoot<sc::SessionToken>().initFloors(token.floors().size());
  for (size_t i = 0; i < token.floors().size(); ++i) {
    const quorum::SessionFloor& f = token.floors()[i];
    auto b = floors[i];
    b.setKeyHash(f.key_hash);
    FillDots(b.initVv(f.vv.size()), f.vv.entries());
    b.setAbsent(f.absent);
    b.setWrote(f.wrote);
  }
  return PackedBytes(builder);
}

Result<quorum::SessionToken> DecodeSession(std::string_view bytes) {
  if (bytes.empty()) return quorum::SessionToken();
  auto bad = [](std::string_view why) {
    return Status(Code::kInvalidArgument,
                  "session token is not a valid shoal session token (" +
                      std::string(why) +
                      "; pass the token a reply returned, unchanged)");
  };
  // 64 floors of a few dozen actors each stay far below.
  constexpr size_t kMaxTokenBytes = 256 * 1024;
  if (bytes.size() > kMaxTokenBytes) {
    return bad(std::to_string(bytes.size()) + " bytes, over the limit of " +
               std::to_string(kMaxTokenBytes));
  }
  try {
    kj::ArrayInputStream in(kj::arrayPtr(
        reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size()));
    capnp::ReaderOptions opts;
    opts.traversalLimitInWords = 128 * 1024;
    opts.nestingLimit = 8;
    capnp::PackedMessageReader reader(in, opts);
    auto list = reader.getRoot<sc::SessionToken>().getFloors();
    if (list.size() > quorum::SessionToken::kMaxKeys) {
      return bad(std::to_string(list.size()) + " keys, over the limit of " +
                 std::to_string(quorum::SessionToken::kMaxKeys));
    }
    std::vector<quorum::SessionFloor> floors;
    floors.reserve(list.size());
    for (auto f : list) {
      auto vv = ReadVv(f.getVv(), "session token");
      if (!vv) return bad(vv.status().message());
      floors.push_back(
          {f.getKeyHash(), std::move(vv.value()), f.getAbsent(), f.getWrote()});
    }
    // Segments after the first are read as they are reached: every floor
    // was, so whatever is left is not part of the token.
    if (in.tryGetReadBuffer().size() != 0) return bad("trailing bytes");
    return quorum::SessionToken::FromFloors(std::move(floors));
  } catch (const kj::Exception&) {
    return bad("malformed");
  }
}

std::string EncodeObject(const quorum::Object& object) {
  Builder scratch;
  capnp::MallocMessageBuilder& builder = scratch.get();
  FillObject(builder.initRoot<sc::Object>(), object);
  std::vector<uint8_t> out;
  out.reserve(capnp::computeSerializedSizeInWords(builder) * 8);
  VectorOutput stream(out);
  capnp::writeMessage(stream, builder);
  return std::string(out.begin(), out.end());
}

Result<quorum::Object> DecodeObject(std::string_view bytes) {
  return internal::DecodeFlat<sc::Object>(bytes, "stored object",
                                          internal::ReadObject);
}

Status ValidateObject(const quorum::Object& object) {
  for (size_t i = 0; i < object.siblings.size(); ++i) {
    const quorum::Sibling& s = object.siblings[i];
    if (s.dot.counter == 0) {
      return Status(Code::kCorruption, "object: sibling dot with counter 0");
    }
    if (i > 0 && !(object.siblings[i - 1].dot < s.dot)) {
      return Status(Code::kCorruption,
                    "object: siblings not sorted by unique dot");
    }
    if (!object.vv.Covers(s.dot)) {
      return Status(Code::kCorruption,
                    "object: sibling dot not covered by its version vector");
    }
    if (s.tombstone && !s.value.empty()) {
      return Status(Code::kCorruption, "object: tombstone with a value");
    }
  }
  return Status::Ok();
}

}  // namespace shoal::wire
