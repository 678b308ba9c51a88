// Internal to wire/: what the codec's files share (codec.cc holds the
// frames and the dispatch; codec_object.cc, codec_client.cc, codec_peer.cc
// and codec_admin.cc the messages of their schema). Only wire/ includes it:
// it pulls in the generated Cap'n Proto headers, which wire keeps private.
//
// Every capnp reader accessor used here may throw kj::Exception on
// malformed input; the public decoders in codec.cc and codec_object.cc
// catch it.
//
// Thread-safety: free functions over values; Builder uses thread-local
// scratch space.
#pragma once

#include <capnp/message.h>
#include <kj/io.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "quorum/version.h"
#include "wire/frame.capnp.h"
#include "wire/messages.h"

namespace shoal::wire::internal {

namespace sc = ::shoal::wire::schema;

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

}  // namespace shoal::wire::internal
