#include "node/dump.h"

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>

#include "base/base64.h"
#include "base/utf8.h"

namespace shoal::node {
namespace {

using Json = nlohmann::ordered_json;

// Values longer than this are shortened in the text form.
constexpr size_t kTextValueBytes = 64;

// 16 lower-case hex digits, as the CLI prints actors (tools/cli/output.h's
// Hex64; node/ does not link tools/).
std::string Hex64(quorum::ActorId actor) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, actor);
  return buf;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (const char c : bytes) {
    const auto b = static_cast<uint8_t>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

// Adds `bytes` to `doc` under `field`: as text when it is valid UTF-8, else
// as base64 with `encoding_field` = "base64".
void AddBytes(Json& doc, const char* field, const char* encoding_field,
              std::string_view bytes) {
  if (IsValidUtf8(bytes)) {
    doc[field] = std::string(bytes);
  } else {
    doc[field] = Base64Encode(bytes);
    doc[encoding_field] = "base64";
  }
}

// Valid UTF-8 in double quotes, with \" \\ \n \r \t and \xNN for the other
// control characters, so a record stays on one line.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto b = static_cast<uint8_t>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (b < 0x20 || b == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", b);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

// Bytes for the text form: quoted when valid UTF-8, else "base64:...";
// with a `limit`, longer input is cut (at a character boundary) and
// followed by "...(N bytes)".
std::string TextOf(std::string_view bytes, size_t limit = 0) {
  const bool cut = limit > 0 && bytes.size() > limit;
  const bool utf8 = IsValidUtf8(bytes);
  std::string_view shown = cut ? bytes.substr(0, limit) : bytes;
  if (cut && utf8) {
    // bytes[n] is the first byte left out: never cut inside a character.
    size_t n = shown.size();
    while (n > 0 && (static_cast<uint8_t>(bytes[n]) & 0xC0) == 0x80) --n;
    shown = bytes.substr(0, n);
  }
  std::string out = utf8 ? Quote(shown) : "base64:" + Base64Encode(shown);
  if (cut) out += "...(" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

}  // namespace

std::string DumpRecordToJson(const storage::DumpRecord& record,
                             storage::DumpDb db) {
  Json doc;
  doc["partition"] = record.partition;
  doc["segment"] = record.segment;
  AddBytes(doc, "key", "key_encoding", record.key);
  if (db == storage::DumpDb::kHints) {
    AddBytes(doc, "target", "target_encoding", record.target);
    doc["stored_at_ms"] = record.stored_at_ms;
  }
  Json vv = Json::array();
  for (const quorum::Dot& dot : record.object->vv.entries()) {
    vv.push_back(Json::array({Hex64(dot.actor), dot.counter}));
  }
  doc["vv"] = std::move(vv);
  Json siblings = Json::array();
  for (const quorum::Sibling& s : record.object->siblings) {
    Json sibling{{"actor", Hex64(s.dot.actor)},
                 {"counter", s.dot.counter},
                 {"written_at_ms", s.written_at_ms},
                 {"tombstone", s.tombstone}};
    AddBytes(sibling, "value", "encoding", s.value);
    siblings.push_back(std::move(sibling));
  }
  doc["siblings"] = std::move(siblings);
  doc["raw"] = Hex(record.value);
  return doc.dump();
}

std::string DumpRecordToText(const storage::DumpRecord& record,
                             storage::DumpDb db) {
  std::string out;
  if (db == storage::DumpDb::kHints) {
    out += "target=" + TextOf(record.target) +
           " stored_at_ms=" + std::to_string(record.stored_at_ms) + " ";
  }
  out += "partition=" + std::to_string(record.partition) +
         " segment=" + std::to_string(record.segment) +
         " key=" + TextOf(record.key) + " vv=[";
  const auto& entries = record.object->vv.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += " ";
    out += Hex64(entries[i].actor) + ":" + std::to_string(entries[i].counter);
  }
  out += "] siblings=[";
  const auto& siblings = record.object->siblings;
  for (size_t i = 0; i < siblings.size(); ++i) {
    const quorum::Sibling& s = siblings[i];
    if (i > 0) out += " | ";
    out += Hex64(s.dot.actor) + ":" + std::to_string(s.dot.counter) +
           " written_at_ms=" + std::to_string(s.written_at_ms) +
           (s.tombstone ? std::string(" tombstone")
                        : " value=" + TextOf(s.value, kTextValueBytes));
  }
  out += "] bytes=" + std::to_string(record.value.size());
  return out;
}

Status RunDump(const DumpArgs& args, std::FILE* out) {
  Result<uint64_t> dumped = storage::DumpDirectory(
      args.data_dir, args.db,
      [&args, out](const storage::DumpRecord& record) -> Status {
        std::string line = args.json ? DumpRecordToJson(record, args.db)
                                     : DumpRecordToText(record, args.db);
        line.push_back('\n');
        if (std::fwrite(line.data(), 1, line.size(), out) != line.size()) {
          return Status(Code::kInternal, std::string("writing the dump: ") +
                                             std::strerror(errno));
        }
        return Status::Ok();
      });
  if (!dumped.ok()) return dumped.status();
  if (std::fflush(out) != 0) {
    return Status(Code::kInternal,
                  std::string("writing the dump: ") + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace shoal::node
