// The client schema's messages (client.capnp): gets and puts and their
// replies.
#include <algorithm>

#include "wire/codec_internal.h"

namespace shoal::wire::internal {

namespace {
// A level this build does not know (a newer peer's) reads as explicit.
quorum::Level ReadLevel(sc::Level level) {
  const auto v = static_cast<uint16_t>(level);
  if (v > static_cast<uint16_t>(quorum::Level::kEachQuorum)) {
    return quorum::Level::kExplicit;
  }
  return static_cast<quorum::Level>(v);
}
}  // namespace

void FillPut(sc::PutRequest::Builder b, const PutRequest& m) {
  b.setKey(Bytes(m.key));
  if (!m.is_delete) b.setValue(Bytes(m.value));
  b.setDelete(m.is_delete);
  if (!m.context.empty()) b.setContext(Bytes(m.context));
  b.setW(static_cast<uint8_t>(std::min<uint32_t>(m.w, 255)));
  b.setTimeoutMs(m.timeout_ms);
  b.setPw(static_cast<uint8_t>(std::min<uint32_t>(m.pw, 255)));
  if (!m.session.empty()) b.setSession(Bytes(m.session));
  b.setLevel(static_cast<sc::Level>(m.level));
  if (!m.local_dc.empty()) b.setLocalDc(m.local_dc);
}

PutRequest ReadPut(sc::PutRequest::Reader r) {
  PutRequest m;
  m.key = ToString(r.getKey());
  m.is_delete = r.getDelete();
  if (!m.is_delete) m.value = ToString(r.getValue());
  m.context = ToString(r.getContext());
  m.w = r.getW();
  m.timeout_ms = r.getTimeoutMs();
  m.pw = r.getPw();
  m.session = ToString(r.getSession());
  m.level = ReadLevel(r.getLevel());
  m.local_dc = r.getLocalDc().cStr();
  return m;
}

void EncodeBody(const GetRequest& m, sc::Frame::Builder f) {
  auto b = f.initGet();
  b.setKey(Bytes(m.key));
  b.setR(static_cast<uint8_t>(std::min<uint32_t>(m.r, 255)));
  b.setTimeoutMs(m.timeout_ms);
  b.setLocal(m.local);
  b.setPr(static_cast<uint8_t>(std::min<uint32_t>(m.pr, 255)));
  if (!m.session.empty()) b.setSession(Bytes(m.session));
  b.setLevel(static_cast<sc::Level>(m.level));
}

GetRequest DecodeBody(sc::GetRequest::Reader r) {
  return GetRequest{ToString(r.getKey()),   r.getR(),  r.getTimeoutMs(),
                    r.getLocal(),           r.getPr(), ToString(r.getSession()),
                    ReadLevel(r.getLevel())};
}

void EncodeBody(const GetReply& m, sc::Frame::Builder f) {
  auto b = f.initGetReply();
  FillObject(b.initObject(), m.object);
  if (!m.context.empty()) b.setContext(Bytes(m.context));
  if (!m.session.empty()) b.setSession(Bytes(m.session));
}

Result<GetReply> DecodeBody(sc::GetReply::Reader r) {
  auto o = ReadObject(r.getObject());
  if (!o) return o.status();
  return GetReply{std::move(o.value()), ToString(r.getContext()),
                  ToString(r.getSession())};
}

void EncodeBody(const PutRequest& m, sc::Frame::Builder f) {
  FillPut(f.initPut(), m);
}

PutRequest DecodeBody(sc::PutRequest::Reader r) { return ReadPut(r); }

void EncodeBody(const PutReply& m, sc::Frame::Builder f) {
  auto b = f.initPutReply();
  if (!m.context.empty()) b.setContext(Bytes(m.context));
  b.setSiblings(m.siblings);
  if (!m.seen.empty()) FillDots(b.initSeen(m.seen.size()), m.seen.entries());
  if (!m.session.empty()) b.setSession(Bytes(m.session));
}

Result<PutReply> DecodeBody(sc::PutReply::Reader r) {
  auto seen = ReadVv(r.getSeen(), "put reply");
  if (!seen) return seen.status();
  return PutReply{ToString(r.getContext()), r.getSiblings(),
                  std::move(seen.value()), ToString(r.getSession())};
}

}  // namespace shoal::wire::internal
