// Unit tests for the launcher's pure parts (tools/ring/launcher.h): parameter
// checks, ring.json, node.toml, key placement, prometheus.yml, and probing a
// process that is not a node.
#include "tools/ring/launcher.h"

#include <doctest/doctest.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ring/ring.h"

namespace shoal::tools {
namespace {

using json = nlohmann::ordered_json;

TEST_CASE("ring parameters are validated with the flag named") {
  RingParams p;
  CHECK(ValidateRingParams(p).ok());
  auto message = [](RingParams q) { return ValidateRingParams(q).message(); };
  RingParams q = p;
  q.w = 4;
  CHECK(message(q).find("--w") != std::string::npos);
  q = p;
  q.r = 0;
  CHECK(message(q).find("--r") != std::string::npos);
  q = p;
  q.n = 6;
  CHECK(message(q).find("--n") != std::string::npos);
  q = p;
  q.nodes = 0;
  CHECK(message(q).find("--nodes") != std::string::npos);
  q = p;
  q.partitions = 48;
  CHECK(message(q).find("--partitions") != std::string::npos);
  q = p;
  q.partitions = 4;
  CHECK(message(q).find("--partitions") != std::string::npos);
  q = p;
  q.base_port = 65500;
  CHECK(message(q).find("--base-port") != std::string::npos);
  q = p;
  q.sync = "sometimes";
  CHECK(message(q).find("--sync") != std::string::npos);
  q = p;
  q.nodes = 1;
  q.n = q.w = q.r = 1;
  q.partitions = 1;
  CHECK(ValidateRingParams(q).ok());
}

TEST_CASE("PlanRing lays out names, ports and paths") {
  RingParams p;
  p.base_port = 17100;
  RingState s = PlanRing("/tmp/r", p);
  REQUIRE(s.nodes.size() == 5);
  CHECK(s.nodes[0].name == "n1");
  CHECK(s.nodes[0].address == "127.0.0.1:17101");
  CHECK(s.nodes[0].metrics_address == "127.0.0.1:17201");
  CHECK(s.nodes[4].address == "127.0.0.1:17105");
  CHECK(s.nodes[4].data_dir == "/tmp/r/n5/data");
  CHECK(s.nodes[4].config == "/tmp/r/n5/node.toml");
  CHECK(s.nodes[4].log == "/tmp/r/n5/shoald.log");
  CHECK(ParamsOf(s) == p);
}

TEST_CASE("ring.json round-trips and rejects bad documents") {
  RingState s = PlanRing("/tmp/r", RingParams{});
  s.nodes[2].pid = 4242;
  Result<RingState> back = ParseRingState(RingStateToJson(s).dump(2));
  REQUIRE(back.ok());
  CHECK(*back == s);

  CHECK(ParseRingState("{").status().code() == Code::kCorruption);
  CHECK(ParseRingState("[]").status().code() == Code::kCorruption);
  json j = RingStateToJson(s);
  j["version"] = 99;
  CHECK(ParseRingState(j.dump()).status().message().find("version") !=
        std::string::npos);
  j = RingStateToJson(s);
  j.erase("partitions");
  CHECK(ParseRingState(j.dump()).status().message().find("partitions") !=
        std::string::npos);
  j = RingStateToJson(s);
  j["nodes"][1]["address"] = 7;
  CHECK(ParseRingState(j.dump()).status().message().find("address") !=
        std::string::npos);
  j = RingStateToJson(s);
  j["nodes"][1]["name"] = "n1";
  CHECK(ParseRingState(j.dump()).status().message().find("duplicate") !=
        std::string::npos);
  j = RingStateToJson(s);
  j["w"] = 9;
  CHECK_FALSE(ParseRingState(j.dump()).ok());
}

TEST_CASE("node.toml carries the node and the member list") {
  RingParams p;
  p.sync = "always";
  RingState s = PlanRing("/tmp/r", p);
  const std::string text = NodeConfigToml(s, s.nodes[1]).value();
  toml::table t = toml::parse(text);
  CHECK(t["name"].value_or(std::string()) == "n2");
  CHECK(t["listen"].value_or(std::string()) == "127.0.0.1:7102");
  CHECK(t["metrics_listen"].value_or(std::string()) == "127.0.0.1:7202");
  CHECK(t["data_dir"].value_or(std::string()) == "/tmp/r/n2/data");
  CHECK(t["cluster"]["n"].value_or(0) == 3);
  CHECK(t["cluster"]["w"].value_or(0) == 2);
  CHECK(t["cluster"]["r"].value_or(0) == 2);
  CHECK(t["cluster"]["partitions"].value_or(0) == 64);
  CHECK(t["storage"]["sync"].value_or(std::string()) == "always");
  toml::array* members = t["cluster"]["members"].as_array();
  REQUIRE(members != nullptr);
  REQUIRE(members->size() == 5);
  CHECK((*members)[4].as_table()->at("name").value_or(std::string()) == "n5");
  CHECK((*members)[4].as_table()->at("address").value_or(std::string()) ==
        "127.0.0.1:7105");
}

TEST_CASE("a node that joins keeps a member's settings, not its identity") {
  RingState s = PlanRing("/tmp/r", RingParams{});
  std::string like = NodeConfigToml(s, s.nodes[0]).value();
  like += "\n[antientropy]\nrepair_rate = 77\n";
  // An operator's edit of [storage] in the member's file.
  const size_t at = like.find("[storage]\n");
  REQUIRE(at != std::string::npos);
  like.insert(at + 10, "reap = true\ntombstone_grace = '1s'\n");
  const RingNode joiner = NodeAt("/tmp/r", s.base_port, 6);
  toml::table t = toml::parse(
      NodeConfigToml(s, joiner, {s.nodes[0].address}, like).value());
  CHECK(t["name"].value_or(std::string()) == "n6");
  CHECK(t["listen"].value_or(std::string()) == joiner.address);
  CHECK(t["data_dir"].value_or(std::string()) == joiner.data_dir);
  CHECK(t["metrics_listen"].value_or(std::string()) == joiner.metrics_address);
  CHECK(t["cluster"]["seeds"][0].value_or(std::string()) == s.nodes[0].address);
  CHECK_FALSE(t["cluster"]["members"]);
  CHECK(t["storage"]["reap"].value_or(false));
  CHECK(t["storage"]["tombstone_grace"].value_or(std::string()) == "1s");
  CHECK(t["antientropy"]["repair_rate"].value_or(0) == 77);

  auto bad = NodeConfigToml(s, joiner, {s.nodes[0].address}, "[storage");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("does not parse") != std::string::npos);
}

TEST_CASE("PlaceKey matches ring::Ring") {
  RingState s = PlanRing("/tmp/r", RingParams{});
  Result<KeyPlacement> placement = PlaceKey(s, "hello");
  REQUIRE(placement.ok());
  CHECK(placement->primaries.size() == 3);
  CHECK(placement->fallbacks.size() == 2);
  Result<ring::Ring> ring =
      ring::Ring::Create({"n1", "n2", "n3", "n4", "n5"},
                         ring::RingOptions{.partitions = 64, .n = 3});
  REQUIRE(ring.ok());
  const uint32_t partition = ring->Locate("hello").partition;
  CHECK(placement->partition == partition);
  const auto primaries = ring->Primaries(partition);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(placement->primaries[i].name == ring->members()[primaries[i]]);
  }
}

TEST_CASE("ProbeNode does not mistake another process for a node") {
  RingNode node;
  node.config = "/nonexistent/node.toml";
  CHECK(ProbeNode(node) == NodeState::kStopped);  // pid 0
  node.pid = ::getpid();                          // alive, but not shoald
  CHECK(ProbeNode(node) == NodeState::kStopped);
  node.pid = 1 << 30;  // no such process
  CHECK(ProbeNode(node) == NodeState::kStopped);
}

TEST_CASE("TailFile returns the last lines") {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("tools_test_tail_" + std::to_string(::getpid()));
  {
    std::ofstream out(path);
    for (int i = 1; i <= 30; ++i) out << "line " << i << "\n";
  }
  CHECK(TailFile(path, 2) == "line 29\nline 30");
  CHECK(TailFile(path, 100).rfind("line 1\n", 0) == 0);
  std::filesystem::remove(path);
  CHECK(TailFile(path, 5) == "");
}

TEST_CASE("the ring's prometheus.yml scrapes every node each second") {
  RingParams params;
  params.nodes = 3;
  params.base_port = 29100;
  const RingState state = PlanRing("/tmp/ring", params);
  const std::string yml = PrometheusConfigYaml(state);
  CHECK(yml.find("scrape_interval: 1s") != std::string::npos);
  for (const RingNode& node : state.nodes) {
    CHECK(yml.find("'" + node.metrics_address + "'") != std::string::npos);
    CHECK(yml.find("node: '" + node.name + "'") != std::string::npos);
  }
  CHECK(PrometheusAddress(state) == "127.0.0.1:29300");
}

}  // namespace
}  // namespace shoal::tools
