// Tests for `shoald dump`'s formats (node/dump.h): the JSON line and the
// text line of a record. Reading a directory is tested in
// storage/dump_test.cc.
#include "node/dump.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace shoal::node {
namespace {

using json = nlohmann::json;

quorum::Sibling MakeSibling(uint64_t actor, uint64_t counter, std::string value,
                            bool tombstone = false) {
  quorum::Sibling s;
  s.dot = {actor, counter};
  s.written_at_ms = 1700000000000 + static_cast<int64_t>(counter);
  s.tombstone = tombstone;
  s.value = std::move(value);
  return s;
}

TEST_CASE("a record's JSON line carries every field, text or base64") {
  quorum::Object object;
  object.siblings = {MakeSibling(1, 1, "red"),
                     MakeSibling(0xabcdef, 2, std::string("\xff\x00", 2)),
                     MakeSibling(0xabcdef, 3, "", /*tombstone=*/true)};
  object.vv = quorum::VersionVector::FromEntries({{1, 1}, {0xabcdef, 3}});
  const std::string raw("\x00\x01\xfe", 3);
  storage::DumpRecord record;
  record.partition = 7;
  record.segment = 0xdeadbeef;
  record.key = "colour";
  record.value = raw;
  record.object = &object;

  const std::string line = DumpRecordToJson(record, storage::DumpDb::kObjects);
  CHECK(line.find('\n') == std::string::npos);
  const json doc = json::parse(line);
  CHECK(doc["partition"] == 7);
  CHECK(doc["segment"] == 0xdeadbeefu);
  CHECK(doc["key"] == "colour");
  CHECK_FALSE(doc.contains("key_encoding"));
  CHECK_FALSE(doc.contains("target"));
  CHECK(doc["vv"] == json::array({json::array({"0000000000000001", 1}),
                                  json::array({"0000000000abcdef", 3})}));
  REQUIRE(doc["siblings"].size() == 3);
  CHECK(doc["siblings"][0] == json{{"actor", "0000000000000001"},
                                   {"counter", 1},
                                   {"written_at_ms", 1700000000001},
                                   {"tombstone", false},
                                   {"value", "red"}});
  CHECK(doc["siblings"][1]["value"] == "/wA=");
  CHECK(doc["siblings"][1]["encoding"] == "base64");
  CHECK(doc["siblings"][2]["tombstone"] == true);
  CHECK(doc["siblings"][2]["value"] == "");
  CHECK_FALSE(doc["siblings"][2].contains("encoding"));
  CHECK(doc["raw"] == "0001fe");
  // Keys in the documented order.
  CHECK(line.find("\"partition\"") < line.find("\"segment\""));
  CHECK(line.find("\"key\"") < line.find("\"vv\""));
  CHECK(line.find("\"siblings\"") < line.find("\"raw\""));
}

TEST_CASE("a key that is not UTF-8 is base64 in JSON, and hints add target") {
  quorum::Object object;
  object.siblings = {MakeSibling(5, 1, "v")};
  object.vv = quorum::VersionVector::FromEntries({{5, 1}});
  const std::string key("\xc3\x28", 2);
  storage::DumpRecord record;
  record.key = key;
  record.target = "n2";
  record.stored_at_ms = 1234;
  record.value = "x";
  record.object = &object;
  const json doc =
      json::parse(DumpRecordToJson(record, storage::DumpDb::kHints));
  CHECK(doc["key"] == "wyg=");
  CHECK(doc["key_encoding"] == "base64");
  CHECK(doc["target"] == "n2");
  CHECK(doc["stored_at_ms"] == 1234);
  CHECK(doc["raw"] == "78");
}

TEST_CASE("a record's text line is one line, escaped and shortened") {
  quorum::Object object;
  object.siblings = {MakeSibling(1, 1, "two\nlines \"quoted\""),
                     MakeSibling(1, 2, std::string(100, 'a')),
                     MakeSibling(2, 1, std::string("\xff\xfe", 2)),
                     MakeSibling(2, 2, "", /*tombstone=*/true)};
  object.vv = quorum::VersionVector::FromEntries({{1, 2}, {2, 2}});
  storage::DumpRecord record;
  record.partition = 3;
  record.segment = 9;
  record.key = "k";
  record.value = std::string(48, '\0');
  record.object = &object;
  const std::string text = DumpRecordToText(record, storage::DumpDb::kObjects);
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.rfind("partition=3 segment=9 key=\"k\" vv=[0000000000000001:2 "
                   "0000000000000002:2] siblings=[",
                   0) == 0);
  CHECK(text.find("value=\"two\\nlines \\\"quoted\\\"\"") != std::string::npos);
  CHECK(text.find("value=\"" + std::string(64, 'a') + "\"...(100 bytes)") !=
        std::string::npos);
  CHECK(text.find("value=base64://4=") != std::string::npos);
  CHECK(
      text.find("0000000000000002:2 written_at_ms=1700000000002 tombstone]") !=
      std::string::npos);
  CHECK(text.substr(text.size() - 9) == " bytes=48");

  record.target = "n4";
  record.stored_at_ms = 99;
  CHECK(DumpRecordToText(record, storage::DumpDb::kHints)
            .rfind("target=\"n4\" stored_at_ms=99 partition=3 ", 0) == 0);
}

TEST_CASE("a long UTF-8 value is never cut inside a character") {
  quorum::Object object;
  // 63 ASCII bytes, then a 2-byte character across the 64-byte limit.
  object.siblings = {MakeSibling(1, 1, std::string(63, 'a') + "\xc3\xa9tc")};
  object.vv = quorum::VersionVector::FromEntries({{1, 1}});
  storage::DumpRecord record;
  record.key = "k";
  record.object = &object;
  const std::string text = DumpRecordToText(record, storage::DumpDb::kObjects);
  CHECK(text.find("value=\"" + std::string(63, 'a') + "\"...(67 bytes)") !=
        std::string::npos);
}

}  // namespace
}  // namespace shoal::node
