// Unit tests for the CLI's JSON and text formats (tools/cli/output.h).
#include "tools/cli/output.h"

#include <doctest/doctest.h>

#include "base/base64.h"
#include "wire/codec.h"

namespace shoal::tools {
namespace {

using client::GetResult;
using client::PutResult;
using client::ToGetResult;
using client::ToPutResult;

constexpr uint64_t kKeyHash = 0x9555e8555c62dcfdull;  // any key's hash

// What a node answers for a get of a key with hash kKeyHash.
wire::GetReply ReplyFor(quorum::Object object) {
  std::string context = wire::EncodeContext(object.vv, kKeyHash);
  return wire::GetReply{std::move(object), std::move(context)};
}

using json = nlohmann::ordered_json;

quorum::Sibling MakeSibling(uint64_t actor, uint64_t counter, std::string value,
                            bool tombstone = false) {
  quorum::Sibling s;
  s.dot = {actor, counter};
  s.written_at_ms = 1700000000000 + static_cast<int64_t>(counter);
  s.tombstone = tombstone;
  s.value = std::move(value);
  return s;
}

TEST_CASE("actors print as 16 hex digits") {
  CHECK(Hex64(0) == "0000000000000000");
  CHECK(Hex64(0xdeadbeef) == "00000000deadbeef");
  CHECK(Hex64(~0ull) == "ffffffffffffffff");
}

TEST_CASE("a get result renders as JSON") {
  quorum::Object object;
  object.siblings = {MakeSibling(1, 1, "red"),
                     MakeSibling(2, 1, std::string("\xff\x00", 2)),
                     MakeSibling(3, 2, "", /*tombstone=*/true)};
  object.vv = quorum::VersionVector::FromEntries({{1, 1}, {2, 1}, {3, 2}});
  GetResult result = ToGetResult(ReplyFor(object));
  CHECK(result.found);
  REQUIRE(result.values.size() == 2);
  CHECK(result.context == wire::EncodeContext(object.vv, kKeyHash));

  json j = GetResultToJson(result, /*local=*/false);
  CHECK(j["found"] == true);
  CHECK(j["values"] == json::array({"red", "/wA="}));
  REQUIRE(j["siblings"].size() == 2);
  CHECK(j["siblings"][0]["value"] == "red");
  CHECK(j["siblings"][0]["encoding"] == "utf8");
  CHECK(j["siblings"][0]["dot"]["actor"] == "0000000000000001");
  CHECK(j["siblings"][0]["dot"]["counter"] == 1);
  CHECK(j["siblings"][0]["written_at_ms"] == 1700000000001);
  CHECK(j["siblings"][0]["tombstone"] == false);
  CHECK(j["siblings"][1]["encoding"] == "base64");
  CHECK(j["siblings"][1]["value"] == "/wA=");
  CHECK(j["context"] == Base64Encode(result.context));
  CHECK_FALSE(j.contains("vv"));
  CHECK_NOTHROW((void)j.dump());

  json local = GetResultToJson(result, /*local=*/true);
  CHECK(local["siblings"].size() == 3);
  CHECK(local["siblings"][2]["tombstone"] == true);
  REQUIRE(local["vv"].size() == 3);
  CHECK(local["vv"][2] == json{{"actor", "0000000000000003"}, {"counter", 2}});

  // The context printed decodes back to the object's version vector.
  Result<std::string> bytes = Base64Decode(j["context"].get<std::string>());
  REQUIRE(bytes.ok());
  Result<quorum::VersionVector> vv = wire::DecodeContext(*bytes, kKeyHash);
  REQUIRE(vv.ok());
  CHECK(*vv == object.vv);
}

TEST_CASE("a get result renders as text") {
  quorum::Object one;
  one.siblings = {MakeSibling(1, 1, "red")};
  one.vv = quorum::VersionVector::FromEntries({{1, 1}});
  GetResult r1 = ToGetResult(ReplyFor(one));
  CHECK(GetResultToText(r1, false) ==
        "red\ncontext: " + Base64Encode(r1.context) + "\n");

  quorum::Object two = one;
  two.siblings.push_back(MakeSibling(2, 1, "blue"));
  two.vv = quorum::VersionVector::FromEntries({{1, 1}, {2, 1}});
  GetResult r2 = ToGetResult(ReplyFor(two));
  CHECK(GetResultToText(r2, false) ==
        "sibling 1/2: red\nsibling 2/2: blue\ncontext: " +
            Base64Encode(r2.context) + "\n");

  // A deleted key: not found, but the context is still worth printing.
  quorum::Object deleted;
  deleted.siblings = {MakeSibling(1, 2, "", true)};
  deleted.vv = quorum::VersionVector::FromEntries({{1, 2}});
  GetResult r3 = ToGetResult(ReplyFor(deleted));
  CHECK_FALSE(r3.found);
  CHECK(r3.values.empty());
  CHECK(GetResultToText(r3, false) ==
        "not found\ncontext: " + Base64Encode(r3.context) + "\n");
  json j3 = GetResultToJson(r3, false);
  CHECK(j3["found"] == false);
  CHECK(j3["siblings"].empty());

  GetResult missing = ToGetResult(ReplyFor(quorum::Object{}));
  CHECK(missing.context.empty());
  CHECK(GetResultToText(missing, false) == "not found\n");
  CHECK(GetResultToJson(missing, false)["context"] == "");

  const std::string local = GetResultToText(r3, true);
  CHECK(local.find("vv: 0000000000000001:2") != std::string::npos);
  CHECK(local.find("tombstone") != std::string::npos);
}

TEST_CASE("errors render with their quorum details") {
  Status plain(Code::kInvalidArgument, "key is empty");
  CHECK(ErrorToText(plain) == "error: invalid_argument: key is empty");
  json j = ErrorToJson(plain);
  CHECK(j["ok"] == false);
  CHECK(j["error"]["code"] == "invalid_argument");
  CHECK(j["error"]["message"] == "key is empty");
  CHECK_FALSE(j["error"].contains("acked"));

  Status quorum(Code::kTimeout, "1 of 2 acks");
  quorum.WithQuorum(
      {.acked = 1, .required = 2, .contacted = 3, .maybe_applied = true});
  json q = ErrorToJson(quorum);
  CHECK(q["error"]["code"] == "timeout");
  CHECK(q["error"]["acked"] == 1);
  CHECK(q["error"]["required"] == 2);
  CHECK(q["error"]["contacted"] == 3);
  CHECK(q["error"]["maybe_applied"] == true);
  CHECK(ErrorToText(quorum) == "error: timeout: 1 of 2 acks");
}

TEST_CASE(
    "cluster status: converged only when every member reports the state") {
  auto state = cluster::ClusterState::Initial({{"n1", "127.0.0.1:7101"},
                                               {"n2", "127.0.0.1:7102"},
                                               {"n3", "127.0.0.1:7103"}},
                                              {.partitions = 16, .n = 3});
  REQUIRE(state.ok());
  state.value().epoch = 4;
  wire::StatusReply status;
  status.node = "n1";
  status.members = {
      {"n1", "127.0.0.1:7101", true, true, -1, 6, "valid", 4},
      {"n2", "127.0.0.1:7102", true, false, 100, 5, "valid", 4},
      {"n3", "127.0.0.1:7103", false, false, 9000, 5, "valid", 3}};
  ClusterStatus cs = SummarizeCluster(status, state.value());
  CHECK_FALSE(cs.converged);
  CHECK(cs.lagging == std::vector<std::string>{"n3"});
  CHECK(cs.members[0].partitions_owned == 6);
  CHECK(cs.members[2].up == false);
  json j = ClusterStatusToJson(cs);
  CHECK(j["epoch"] == 4);
  CHECK(j["digest"] == Hex64(state.value().Digest()));
  CHECK(j["members"][2]["epoch"] == 3);
  std::string text = ClusterStatusToText(cs);
  CHECK(text.find("converged:  no, not yet at this state: n3") !=
        std::string::npos);

  status.members[2].epoch = 4;
  status.members[1].conflict = true;
  cs = SummarizeCluster(status, state.value());
  CHECK(cs.lagging == std::vector<std::string>{"n2"});
  CHECK(ClusterStatusToText(cs).find("4 CONFLICT") != std::string::npos);

  status.members[1].conflict = false;
  cs = SummarizeCluster(status, state.value());
  CHECK(cs.converged);
  CHECK(ClusterStatusToText(cs).find("converged:  yes") != std::string::npos);
}

TEST_CASE("cluster status: each receiver's transfer with rate and ETA") {
  ClusterStatus cs;
  cs.node = "n1";
  cs.changing = true;
  // 16 of 64 partitions in 8 s: 24 s to go; 4 MB in 8 s: 0.5 MB/s.
  cs.transfers = {{"n4", {2, 64, 16, 1000, 4'000'000, 8000}, ""},
                  {"n5", {}, "connection refused"}};
  json j = ClusterStatusToJson(cs);
  REQUIRE(j["transfers"].size() == 2);
  CHECK(j["transfers"][0]["node"] == "n4");
  CHECK(j["transfers"][0]["received"] == 16);
  CHECK(j["transfers"][0]["eta_ms"] == 24000);
  CHECK(j["transfers"][0]["bytes_per_second"] == 500000.0);
  CHECK(j["transfers"][1]["error"] == "connection refused");
  const std::string text = ClusterStatusToText(cs);
  CHECK(text.find("n4  [#####...............] 16/64 partitions  1000 keys  "
                  "4.0 MB  0.50 MB/s  ETA 24s") != std::string::npos);
  CHECK(text.find("n5  (not answering: connection refused)") !=
        std::string::npos);
  // Nothing received yet: no ETA; all received: done.
  cs.transfers = {{"n4", {2, 64, 0, 0, 0, 500}, ""}};
  CHECK(ClusterStatusToJson(cs)["transfers"][0]["eta_ms"] == -1);
  CHECK(ClusterStatusToText(cs).find("ETA ?") != std::string::npos);
  cs.transfers = {{"n4", {2, 64, 64, 9, 9, 500}, ""}};
  CHECK(ClusterStatusToText(cs).find("[####################] 64/64") !=
        std::string::npos);
  CHECK(ClusterStatusToText(cs).find("ETA done") != std::string::npos);
}

TEST_CASE("a plan report: flows, estimates from statuses, members after") {
  auto state = cluster::ClusterState::Initial(
      {{"n1", "h:1"}, {"n2", "h:2"}, {"n3", "h:3"}, {"n4", "h:4"}},
      {.partitions = 16, .n = 2});
  REQUIRE(state.ok());
  std::map<std::string, wire::StatusReply> statuses;
  for (const char* name : {"n1", "n2", "n3"}) {  // n4 did not answer
    statuses[name].keys = 800;                   // in 8 replicas each
    statuses[name].storage_bytes = 8000;
  }
  auto report = MakePlanReport(state.value(),
                               {cluster::Change::Join("n5", "h:5")}, statuses);
  REQUIRE(report.ok());
  // n5 takes 3 partitions (16 / 5, rounded down) and is a primary of 2
  // partitions' worth for each: 6 replicas.
  CHECK(report->partitions_changing_owner == 3);
  CHECK(report->replicas_to_copy == 6);
  uint32_t replicas = 0;
  for (const PlanReport::Flow& f : report->flows) {
    CHECK(f.to == "n5");
    replicas += f.replicas;
    if (f.from == "n4") {
      CHECK_FALSE(f.keys.has_value());
    } else {
      REQUIRE(f.keys.has_value());
      CHECK(*f.keys == 100 * f.replicas);
      CHECK(*f.bytes == 1000 * f.replicas);
    }
  }
  CHECK(replicas == 6);
  REQUIRE(report->members.size() == 5);
  CHECK(report->members[4].name == "n5");
  CHECK(report->members[4].state_now == "-");
  CHECK(report->members[4].partitions_next == 3);
  CHECK(report->members[4].replicas_next == 6);
  const json j = PlanReportToJson(*report);
  CHECK(j["next_epoch"] == 2);
  CHECK(j["committed"] == false);
  CHECK(j["transfers"].size() == 6);
  const std::string text = PlanReportToText(*report);
  CHECK(text.find("epoch 1 -> 2: join n5 at h:5") != std::string::npos);
  CHECK(text.find("not committed") != std::string::npos);

  auto refused =
      MakePlanReport(state.value(), {cluster::Change::Leave("n9")}, statuses);
  CHECK(refused.status().code() == Code::kNotFound);
}

TEST_CASE("status renders as JSON and text") {
  wire::StatusReply reply;
  reply.node = "n1";
  reply.actor = 0xabc;
  reply.n = 3;
  reply.w = 2;
  reply.r = 2;
  reply.partitions = 64;
  reply.uptime_ms = 3723000;
  reply.keys = 10;
  reply.storage_bytes = 1536;
  reply.map_size_bytes = 1ull << 30;
  reply.members = {{"n1", "127.0.0.1:7101", true, true, -1, 13},
                   {"n2", "127.0.0.1:7102", false, false, 4500, 13}};
  json j = StatusReplyToJson(reply);
  CHECK(j["actor"] == "0000000000000abc");
  CHECK(j["members"][1]["up"] == false);
  CHECK(j["members"][1]["last_heard_ms_ago"] == 4500);
  CHECK(j["members"][0]["self"] == true);
  const std::string text = StatusReplyToText(reply);
  CHECK(text.find("1h 02m 03s") != std::string::npos);
  CHECK(text.find("1.5 KiB used of a 1.0 GiB map (0 B holding data") !=
        std::string::npos);
  CHECK(text.find("(self)") != std::string::npos);
  CHECK(text.find("4s ago") != std::string::npos);
  CHECK(text.find("down") != std::string::npos);
  CHECK(text.find("tombstones: 0 stored, 0 reaped since start\n") !=
        std::string::npos);

  reply.tombstones = {12, 340, 65'000, "n2 is down"};
  j = StatusReplyToJson(reply);
  CHECK(j["tombstones"]["count"] == 12);
  CHECK(j["tombstones"]["reaped"] == 340);
  CHECK(j["tombstones"]["oldest_age_ms"] == 65000);
  CHECK(j["tombstones"]["waiting_for"] == "n2 is down");
  CHECK(StatusReplyToText(reply).find(
            "tombstones: 12 stored, 340 reaped since start; the oldest "
            "deleted 1m 05s ago, waiting for n2 is down") != std::string::npos);
}

TEST_CASE("a put reply renders as JSON and text") {
  const std::string context("\x01\x02\xff", 3);
  PutResult one =
      ToPutResult(wire::PutReply{.context = context, .siblings = 1});
  CHECK(one.context == context);
  CHECK(one.siblings == 1);
  CHECK(PutResultToText(one) == "ok\ncontext: AQL/\n");
  json j1 = PutResultToJson(one);
  CHECK(j1.dump() == R"({"ok":true,"context":"AQL/","siblings":1})");

  // Several siblings: the node sends no context, and the text says to read.
  PutResult three = ToPutResult(wire::PutReply{.context = "", .siblings = 3});
  CHECK(three.siblings == 3);
  CHECK(PutResultToText(three) ==
        "ok (the key now has 3 siblings: read it before writing again)\n");
  json j3 = PutResultToJson(three);
  CHECK(j3["ok"] == true);
  CHECK(j3["context"] == "");
  CHECK(j3["siblings"] == 3);

  // A context is never printed next to the sibling warning.
  PutResult odd{.context = context, .siblings = 2};
  const std::string text = PutResultToText(odd);
  CHECK(text.find("context:") == std::string::npos);
  CHECK(text.find("2 siblings") != std::string::npos);

  // No context (an old node): just "ok".
  CHECK(PutResultToText(PutResult{}) == "ok\n");
}

wire::HintsReply SampleHints() {
  wire::HintsReply reply;
  reply.node = "n4";
  reply.stored = 120;
  reply.delivered = 100;
  reply.dropped_cap = 7;
  reply.delivered_per_sec = 12.5;
  reply.targets = {{.target = "n2",
                    .count = 15,
                    .bytes = 1536,
                    .oldest_age_ms = 3250,
                    .target_up = false},
                   {.target = "n3",
                    .count = 5,
                    .bytes = 300,
                    .oldest_age_ms = 245000,
                    .target_up = true}};
  return reply;
}

TEST_CASE("hints render as JSON") {
  json j = HintsReplyToJson(SampleHints());
  CHECK(j.dump() ==
        R"({"node":"n4","stored":120,"delivered":100,"dropped":{"cap":7},)"
        R"("delivered_per_sec":12.5,"targets":[)"
        R"({"target":"n2","count":15,"bytes":1536,"oldest_age_ms":3250,)"
        R"("target_up":false},)"
        R"({"target":"n3","count":5,"bytes":300,"oldest_age_ms":245000,)"
        R"("target_up":true}],"pending":20})");

  wire::HintsReply empty;
  empty.node = "n1";
  json e = HintsReplyToJson(empty);
  CHECK(e["targets"] == json::array());
  CHECK(e["pending"] == 0);
  CHECK(e["dropped"]["cap"] == 0);
}

TEST_CASE("hints render as text") {
  const std::string text = HintsReplyToText(SampleHints());
  CHECK(text ==
        "node:       n4\n"
        "totals:     stored 120, delivered 100, dropped 7 (cap)\n"
        "delivering: 12.5 hints/s (recent)\n"
        "waiting:    20 hints for 2 targets\n"
        "  TARGET  COUNT  BYTES    OLDEST  TARGET-STATE\n"
        "  n2      15     1.5 KiB  3.2s    down\n"
        "  n3      5      300 B    4m 05s  up\n");

  wire::HintsReply empty;
  empty.node = "n1";
  empty.stored = 4;
  empty.delivered = 4;
  const std::string none = HintsReplyToText(empty);
  CHECK(none ==
        "node:       n1\n"
        "totals:     stored 4, delivered 4, dropped 0 (cap)\n"
        "delivering: 0.0 hints/s (recent)\n"
        "no hints waiting\n");
  CHECK(none.find("TARGET") == std::string::npos);
}

TEST_CASE("human formats") {
  CHECK(FormatDurationMs(250) == "250ms");
  CHECK(FormatDurationMs(6000) == "6s");
  CHECK(FormatDurationMs(245000) == "4m 05s");
  CHECK(FormatAgeMs(-5) == "0ms");
  CHECK(FormatAgeMs(250) == "250ms");
  CHECK(FormatAgeMs(3250) == "3.2s");
  CHECK(FormatAgeMs(59999) == "59.9s");
  CHECK(FormatAgeMs(60000) == "1m 00s");
  CHECK(FormatBytes(512) == "512 B");
  CHECK(FormatBytes(3ull << 30) == "3.0 GiB");
}

}  // namespace
}  // namespace shoal::tools
