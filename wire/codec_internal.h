// Internal to wire/: what the codec's files share (codec.cc holds the
// frames and the dispatch; codec_object.cc, codec_client.cc, codec_peer.cc,
// codec_admin.cc and codec_cluster.cc the messages of their schema). Only wire/
// includes it: it pulls in the generated Cap'n Proto headers, which wire keeps
// private.
//
// Every capnp reader accessor used here may throw kj::Exception on
// malformed input; the public decoders in codec.cc and codec_object.cc
// catch it (DecodeFlat for messages outside frames).
//
// Thread-safety: free functions over values; Builder uses thread-local
// scratch space.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "quorum/version.h"
#include "wire/cluster.capnp.h"
#include "wire/frame.capnp.h"
#include "wire/messages.h"

namespace shoal::wire::internal {

namespace sc = ::shoal::wire::schema;

// A status code and its wire value (frame.capnp ErrorCode); an unknown
// value reads as kInternal.
Code CodeFromWire(sc::ErrorCode c);
sc::ErrorCode CodeToWire(Code c);

// Appends everything written to it to a byte vector.
class VectorOutput : public kj::OutputStream {
 public:
  explicit VectorOutput(std::vector<uint8_t>& out) : out_(out) {}
  void write(const void* buffer, size_t size) override {
    const auto* p = static_cast<const uint8_t*>(buffer);
    out_.insert(out_.end(), p, p + size);
  }

 private:
  std::vector<uint8_t>& out_;
};

// A message builder whose first segment is this thread's zeroed scratch
// space. capnp::MallocMessageBuilder's default callocs an 8 KiB first
// segment for every message (and frees it); a frame, a stored object and a
// context are built several times per request, so that was a calloc, a
// memset and a free of 8 KiB each time. The builder zeroes the words it used
// when it is destroyed, which keeps the scratch ready for the next one. A
// builder made while another is alive on the same thread (nesting) gets its
// own heap segment as before.
class Builder {
 public:
  Builder() {
    if (!busy_) {
      busy_ = true;
      owns_scratch_ = true;
      builder_.emplace(kj::arrayPtr(scratch_, kScratchWords));
    } else {
      builder_.emplace();
    }
  }
  ~Builder() {
    builder_.reset();  // zeroes the used part of the scratch
    if (owns_scratch_) busy_ = false;
  }
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

  capnp::MallocMessageBuilder& get() { return *builder_; }

 private:
  static constexpr size_t kScratchWords = 1024;
  static thread_local bool busy_;
  static thread_local capnp::word scratch_[kScratchWords];  // zeroed (TLS)

  bool owns_scratch_ = false;
  std::optional<capnp::MallocMessageBuilder> builder_;
};

inline kj::ArrayPtr<const kj::byte> Bytes(const std::string& s) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

inline std::string ToString(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

inline void FillU32(capnp::List<uint32_t>::Builder list,
                    const std::vector<uint32_t>& values) {
  for (size_t i = 0; i < values.size(); ++i) list.set(i, values[i]);
}

inline std::vector<uint32_t> ReadU32(capnp::List<uint32_t>::Reader list) {
  std::vector<uint32_t> out;
  out.reserve(list.size());
  for (uint32_t v : list) out.push_back(v);
  return out;
}

// ---- flat messages outside frames (codec_object.cc, codec_cluster.cc) ----

// Decodes a flat message that is not a frame body (a stored object, the
// cluster state) with `read(root)`: the bytes are copied into words first
// (LMDB values are not 8-byte aligned), the reader limits follow the size,
// and a kj::Exception becomes kCorruption "<what> does not decode: ...".
template <typename Root, typename Read>
auto DecodeFlat(std::string_view bytes, const std::string& what, Read&& read)
    -> decltype(read(std::declval<typename Root::Reader>())) {
  if (bytes.empty() || bytes.size() % 8 != 0) {
    return Status(Code::kCorruption,
                  what + " of " + std::to_string(bytes.size()) +
                      " bytes is not a whole number of words");
  }
  std::vector<capnp::word> words(bytes.size() / 8);
  std::memcpy(words.data(), bytes.data(), bytes.size());
  try {
    capnp::ReaderOptions opts;
    opts.traversalLimitInWords = 2 * words.size() + 1024;
    opts.nestingLimit = 8;
    capnp::FlatArrayMessageReader reader(
        kj::arrayPtr(words.data(), words.size()), opts);
    return read(reader.getRoot<Root>());
  } catch (const kj::Exception& e) {
    return Status(Code::kCorruption,
                  what + " does not decode: " + e.getDescription().cStr());
  }
}

// ---- version data (codec_object.cc) ----

void FillDots(capnp::List<sc::Dot>::Builder list,
              const std::vector<quorum::Dot>& dots);
void FillObject(sc::Object::Builder b, const quorum::Object& o);
// Reads a version vector, rejecting anything our encoder never writes.
Result<quorum::VersionVector> ReadVv(capnp::List<sc::Dot>::Reader list,
                                     const char* what);
Result<quorum::Object> ReadObject(sc::Object::Reader r);

// ---- fault tables (codec_admin.cc) ----

void FillFaults(capnp::List<sc::FaultRule>::Builder rules,
                capnp::List<sc::ClockSkew>::Builder skews,
                const std::vector<FaultRule>& rule_values,
                const std::vector<ClockSkew>& skew_values);
Status ReadFaults(capnp::List<sc::FaultRule>::Reader rules,
                  capnp::List<sc::ClockSkew>::Reader skews,
                  std::vector<FaultRule>* rule_values,
                  std::vector<ClockSkew>* skew_values);

// ---- puts (codec_client.cc; a forwarded put carries one too) ----

void FillPut(sc::PutRequest::Builder b, const PutRequest& m);
PutRequest ReadPut(sc::PutRequest::Reader r);

// ---- the cluster state (codec_cluster.cc; a frame carries one too) ----

void FillClusterState(sc::ClusterState::Builder b,
                      const cluster::ClusterState& state);
// Checks every rule (codec.h, DecodeClusterState); kCorruption naming the
// broken one.
Result<cluster::ClusterState> ReadClusterState(sc::ClusterState::Reader r);

// ---- one encoder and one decoder per message of the Frame union ----
//
// EncodeBody(m, f) sets frame f's union member to m; DecodeBody(r) reads
// one member back (a Result when the data can break an invariant: objects,
// tree levels, fault kinds). The dispatch over the 33 members is in
// codec.cc: a std::visit for encoding, a switch on the union tag for
// decoding.

// frame.capnp (codec.cc)
void EncodeBody(const ErrorReply&, sc::Frame::Builder);
ErrorReply DecodeBody(sc::Error::Reader);

// client.capnp (codec_client.cc)
void EncodeBody(const GetRequest&, sc::Frame::Builder);
GetRequest DecodeBody(sc::GetRequest::Reader);
void EncodeBody(const GetReply&, sc::Frame::Builder);
Result<GetReply> DecodeBody(sc::GetReply::Reader);
void EncodeBody(const PutRequest&, sc::Frame::Builder);
PutRequest DecodeBody(sc::PutRequest::Reader);
void EncodeBody(const PutReply&, sc::Frame::Builder);
Result<PutReply> DecodeBody(sc::PutReply::Reader);

// peer.capnp (codec_peer.cc)
void EncodeBody(const Hello&, sc::Frame::Builder);
Hello DecodeBody(sc::Hello::Reader);
void EncodeBody(const ReadRequest&, sc::Frame::Builder);
ReadRequest DecodeBody(sc::ReadRequest::Reader);
void EncodeBody(const ReadReply&, sc::Frame::Builder);
Result<ReadReply> DecodeBody(sc::ReadReply::Reader);
void EncodeBody(const ReplicateRequest&, sc::Frame::Builder);
Result<ReplicateRequest> DecodeBody(sc::ReplicateRequest::Reader);
void EncodeBody(const ReplicateReply&, sc::Frame::Builder);
ReplicateReply DecodeBody(sc::ReplicateReply::Reader);
void EncodeBody(const CoordinatePutRequest&, sc::Frame::Builder);
CoordinatePutRequest DecodeBody(sc::CoordinatePutRequest::Reader);
void EncodeBody(const Ping&, sc::Frame::Builder);
Ping DecodeBody(sc::Ping::Reader);
void EncodeBody(const Pong&, sc::Frame::Builder);
Pong DecodeBody(sc::Pong::Reader);
void EncodeBody(const ClusterStateRequest&, sc::Frame::Builder);
ClusterStateRequest DecodeBody(sc::ClusterStateRequest::Reader);
void EncodeBody(const ClusterStateReply&, sc::Frame::Builder);
Result<ClusterStateReply> DecodeBody(sc::ClusterStateReply::Reader);
void EncodeBody(const AaeTreeRequest&, sc::Frame::Builder);
Result<AaeTreeRequest> DecodeBody(sc::AaeTreeRequest::Reader);
void EncodeBody(const AaeTreeReply&, sc::Frame::Builder);
AaeTreeReply DecodeBody(sc::AaeTreeReply::Reader);
void EncodeBody(const AaeKeysRequest&, sc::Frame::Builder);
AaeKeysRequest DecodeBody(sc::AaeKeysRequest::Reader);
void EncodeBody(const AaeKeysReply&, sc::Frame::Builder);
Result<AaeKeysReply> DecodeBody(sc::AaeKeysReply::Reader);
void EncodeBody(const AaeFetchRequest&, sc::Frame::Builder);
AaeFetchRequest DecodeBody(sc::AaeFetchRequest::Reader);
void EncodeBody(const AaeFetchReply&, sc::Frame::Builder);
Result<AaeFetchReply> DecodeBody(sc::AaeFetchReply::Reader);
void EncodeBody(const AaeRepairRequest&, sc::Frame::Builder);
Result<AaeRepairRequest> DecodeBody(sc::AaeRepairRequest::Reader);
void EncodeBody(const AaeRepairReply&, sc::Frame::Builder);
AaeRepairReply DecodeBody(sc::AaeRepairReply::Reader);

// admin.capnp (codec_admin.cc)
void EncodeBody(const StatusRequest&, sc::Frame::Builder);
StatusRequest DecodeBody(sc::StatusRequest::Reader);
void EncodeBody(const StatusReply&, sc::Frame::Builder);
StatusReply DecodeBody(sc::StatusReply::Reader);
void EncodeBody(const HintsRequest&, sc::Frame::Builder);
HintsRequest DecodeBody(sc::HintsRequest::Reader);
void EncodeBody(const HintsReply&, sc::Frame::Builder);
HintsReply DecodeBody(sc::HintsReply::Reader);
void EncodeBody(const AaeStatusRequest&, sc::Frame::Builder);
AaeStatusRequest DecodeBody(sc::AaeStatusRequest::Reader);
void EncodeBody(const AaeStatusReply&, sc::Frame::Builder);
AaeStatusReply DecodeBody(sc::AaeStatusReply::Reader);
void EncodeBody(const AaeRunRequest&, sc::Frame::Builder);
AaeRunRequest DecodeBody(sc::AaeRunRequest::Reader);
void EncodeBody(const AaeRunReply&, sc::Frame::Builder);
AaeRunReply DecodeBody(sc::AaeRunReply::Reader);
void EncodeBody(const FaultRequest&, sc::Frame::Builder);
Result<FaultRequest> DecodeBody(sc::FaultRequest::Reader);
void EncodeBody(const FaultReply&, sc::Frame::Builder);
Result<FaultReply> DecodeBody(sc::FaultReply::Reader);
void EncodeBody(const ClusterStageRequest&, sc::Frame::Builder);
Result<ClusterStageRequest> DecodeBody(sc::ClusterStageRequest::Reader);
void EncodeBody(const ClusterStageReply&, sc::Frame::Builder);
Result<ClusterStageReply> DecodeBody(sc::ClusterStageReply::Reader);
void EncodeBody(const ClusterCommitRequest&, sc::Frame::Builder);
ClusterCommitRequest DecodeBody(sc::ClusterCommitRequest::Reader);
void EncodeBody(const ReapCheckRequest&, sc::Frame::Builder);
ReapCheckRequest DecodeBody(sc::ReapCheckRequest::Reader);
void EncodeBody(const ReapCheckReply&, sc::Frame::Builder);
Result<ReapCheckReply> DecodeBody(sc::ReapCheckReply::Reader);

}  // namespace shoal::wire::internal
