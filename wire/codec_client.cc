// The client schema's messages (client.capnp).
#include <algorithm>

#include "wire/codec_internal.h"

namespace shoal::wire::internal {

void FillPut(sc::PutRequest::Builder b, const PutRequest& m) {
  b.setKey(Bytes(m.key));
  if (!m.is_delete) b.setValue(Bytes(m.value));
  b.setDelete(m.is_delete);
  if (!m.context.empty()) b.setContext(Bytes(m.context));
  b.setW(static_cast<uint8_t>(std::min<uint32_t>(m.w, 255)));
  b.setTimeoutMs(m.timeout_ms);
  b.setPw(static_cast<uint8_t>(std::min<uint32_t>(m.pw, 255)));
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
  return m;
}

}  // namespace shoal::wire::internal
