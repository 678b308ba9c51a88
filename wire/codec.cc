// Frames: Cap'n Proto <-> C++ for the one root type, Frame. The messages
// themselves are encoded and decoded beside their schema (codec_client.cc,
// codec_peer.cc, codec_admin.cc; objects and contexts in codec_object.cc);
// this file holds the frame, its error member and the dispatch. Every capnp
// accessor may throw kj::Exception on malformed input; DecodeFrameBody
// catches it here, at the single edge where outside bytes enter, and turns
// it into a Status.
#include "wire/codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <algorithm>
#include <utility>
#include <variant>

#include "wire/codec_internal.h"
#include "wire/frame.capnp.h"

namespace shoal::wire {
namespace internal {

thread_local bool Builder::busy_ = false;
thread_local capnp::word Builder::scratch_[Builder::kScratchWords] = {};

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

// ---- frame.capnp: the error reply ----

void EncodeBody(const ErrorReply& m, sc::Frame::Builder f) {
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

ErrorReply DecodeBody(sc::Error::Reader e) {
  Status st(CodeFromWire(e.getCode()), e.getMessage().cStr());
  if (e.getHasQuorum()) {
    st.WithQuorum(
        {e.getAcked(), e.getRequired(), e.getContacted(), e.getMaybeApplied()});
  }
  return ErrorReply{std::move(st)};
}

}  // namespace internal

namespace {

using internal::Builder;
using internal::DecodeBody;
using internal::VectorOutput;
namespace sc = ::shoal::wire::schema;

// A decoder's result as a Body: decoders that cannot fail return their
// message, the others a Result of it.
template <typename T>
Result<Body> AsBody(T message) {
  return Body(std::move(message));
}
template <typename T>
Result<Body> AsBody(Result<T> message) {
  if (!message.ok()) return message.status();
  return Body(std::move(message).value());
}

// The union member of `f`, decoded by its schema's decoder.
Result<Body> ReadBody(sc::Frame::Reader f) {
  switch (f.which()) {
    case sc::Frame::ERROR:
      return AsBody(DecodeBody(f.getError()));
    case sc::Frame::GET:
      return AsBody(DecodeBody(f.getGet()));
    case sc::Frame::GET_REPLY:
      return AsBody(DecodeBody(f.getGetReply()));
    case sc::Frame::PUT:
      return AsBody(DecodeBody(f.getPut()));
    case sc::Frame::PUT_REPLY:
      return AsBody(DecodeBody(f.getPutReply()));
    case sc::Frame::HELLO:
      return AsBody(DecodeBody(f.getHello()));
    case sc::Frame::READ:
      return AsBody(DecodeBody(f.getRead()));
    case sc::Frame::READ_REPLY:
      return AsBody(DecodeBody(f.getReadReply()));
    case sc::Frame::REPLICATE:
      return AsBody(DecodeBody(f.getReplicate()));
    case sc::Frame::REPLICATE_REPLY:
      return AsBody(DecodeBody(f.getReplicateReply()));
    case sc::Frame::COORDINATE_PUT:
      return AsBody(DecodeBody(f.getCoordinatePut()));
    case sc::Frame::PING:
      return AsBody(DecodeBody(f.getPing()));
    case sc::Frame::PONG:
      return AsBody(DecodeBody(f.getPong()));
    case sc::Frame::AAE_TREE:
      return AsBody(DecodeBody(f.getAaeTree()));
    case sc::Frame::AAE_TREE_REPLY:
      return AsBody(DecodeBody(f.getAaeTreeReply()));
    case sc::Frame::AAE_KEYS:
      return AsBody(DecodeBody(f.getAaeKeys()));
    case sc::Frame::AAE_KEYS_REPLY:
      return AsBody(DecodeBody(f.getAaeKeysReply()));
    case sc::Frame::AAE_FETCH:
      return AsBody(DecodeBody(f.getAaeFetch()));
    case sc::Frame::AAE_FETCH_REPLY:
      return AsBody(DecodeBody(f.getAaeFetchReply()));
    case sc::Frame::AAE_REPAIR:
      return AsBody(DecodeBody(f.getAaeRepair()));
    case sc::Frame::AAE_REPAIR_REPLY:
      return AsBody(DecodeBody(f.getAaeRepairReply()));
    case sc::Frame::STATUS:
      return AsBody(DecodeBody(f.getStatus()));
    case sc::Frame::STATUS_REPLY:
      return AsBody(DecodeBody(f.getStatusReply()));
    case sc::Frame::HINTS:
      return AsBody(DecodeBody(f.getHints()));
    case sc::Frame::HINTS_REPLY:
      return AsBody(DecodeBody(f.getHintsReply()));
    case sc::Frame::AAE_STATUS:
      return AsBody(DecodeBody(f.getAaeStatus()));
    case sc::Frame::AAE_STATUS_REPLY:
      return AsBody(DecodeBody(f.getAaeStatusReply()));
    case sc::Frame::AAE_RUN:
      return AsBody(DecodeBody(f.getAaeRun()));
    case sc::Frame::AAE_RUN_REPLY:
      return AsBody(DecodeBody(f.getAaeRunReply()));
    case sc::Frame::FAULT:
      return AsBody(DecodeBody(f.getFault()));
    case sc::Frame::FAULT_REPLY:
      return AsBody(DecodeBody(f.getFaultReply()));
    case sc::Frame::CLUSTER_STATE:
      return AsBody(DecodeBody(f.getClusterState()));
    case sc::Frame::CLUSTER_STATE_REPLY:
      return AsBody(DecodeBody(f.getClusterStateReply()));
    case sc::Frame::CLUSTER_STAGE:
      return AsBody(DecodeBody(f.getClusterStage()));
    case sc::Frame::CLUSTER_STAGE_REPLY:
      return AsBody(DecodeBody(f.getClusterStageReply()));
    case sc::Frame::CLUSTER_COMMIT:
      return AsBody(DecodeBody(f.getClusterCommit()));
    case sc::Frame::REAP_CHECK:
      return AsBody(DecodeBody(f.getReapCheck()));
    case sc::Frame::REAP_CHECK_REPLY:
      return AsBody(DecodeBody(f.getReapCheckReply()));
    default:
      return Status(Code::kInvalidArgument,
                    "unknown message type " +
                        std::to_string(static_cast<int>(f.which())) +
                        " (newer protocol?)");
  }
}

Result<Message> ReadFrame(sc::Frame::Reader f) {
  Message msg;
  msg.id = f.getId();
  Result<Body> body = ReadBody(f);
  if (!body.ok()) return body.status();
  msg.body = std::move(body).value();
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
  // One encoder per message, beside its schema (codec_internal.h).
  std::visit([f](const auto& m) { internal::EncodeBody(m, f); }, msg.body);

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
