// Unit tests for the launcher's pure parts (tools/ring/launcher.h): parameter
// checks, ring.json, node.toml, key placement, prometheus.yml, and probing a
// process that is not a node.
#include "tools/ring/launcher.h"

#include <doctest/doctest.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <tuple>

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
  Result<ring::Ring> ring = ring::Ring::Create(
      {"n1", "n2", "n3", "n4", "n5"},
      ring::RingOptions{.partitions = 64, .n = 3, .dcs = {}});
  REQUIRE(ring.ok());
  const uint32_t partition = ring->Locate("hello").partition;
  CHECK(placement->partition == partition);
  const auto primaries = ring->Primaries(partition);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(placement->primaries[i].name == ring->members()[primaries[i]]);
  }
}

TEST_CASE("--dcs splits the nodes in order, racks round-robin") {
  RingParams p;
  p.nodes = 6;
  p.dcs = 2;
  CHECK(ValidateRingParams(p).ok());
  RingState s = PlanRing("/tmp/r", p);
  REQUIRE(s.dcs.size() == 2);
  CHECK(s.dcs[0] == RingDc{"dc1", 3});
  CHECK(s.dcs[1] == RingDc{"dc2", 3});
  CHECK(TotalReplicas(s) == 6);
  CHECK(TotalReplicas(p) == 6);
  const std::vector<std::pair<std::string, std::string>> sites{
      {"dc1", "r1"}, {"dc1", "r2"}, {"dc1", "r3"},
      {"dc2", "r1"}, {"dc2", "r2"}, {"dc2", "r3"}};
  for (size_t i = 0; i < 6; ++i) {
    CHECK(s.nodes[i].dc == sites[i].first);
    CHECK(s.nodes[i].rack == sites[i].second);
  }
  CHECK(DescribeDcs(s) == "dc1: n1 n2 n3; dc2: n4 n5 n6");
  CHECK(ParamsOf(s) == p);
  CHECK(DescribeRingParams(p).find("dcs=2") != std::string::npos);

  // 7 nodes in 2: dc1 gets the larger share; n is capped per datacenter.
  p.nodes = 7;
  p.n = 2;
  CHECK(DcNodeRange(7, 2, 1) == std::pair<uint32_t, uint32_t>{1, 4});
  CHECK(DcNodeRange(7, 2, 2) == std::pair<uint32_t, uint32_t>{5, 7});
  s = PlanRing("/tmp/r", p);
  CHECK(s.dcs[0] == RingDc{"dc1", 2});
  CHECK(s.nodes[2].rack == "r1");  // n3: the third node of dc1, 2 racks
  CHECK(s.nodes[3].rack == "r2");
  p.nodes = 5;
  p.n = 3;
  p.dcs = 3;  // 2 + 2 + 1 nodes: 2 + 2 + 1 replicas
  s = PlanRing("/tmp/r", p);
  CHECK(s.dcs[2] == RingDc{"dc3", 1});
  CHECK(s.nodes[4].dc == "dc3");
  CHECK(TotalReplicas(s) == 5);
  CHECK(TotalReplicas(p) == 5);

  // Without --dcs nothing changes.
  s = PlanRing("/tmp/r", RingParams{});
  CHECK(s.dcs.empty());
  CHECK(s.nodes[0].dc.empty());
  CHECK(s.nodes[0].rack.empty());
  CHECK(DescribeDcs(s).empty());
}

TEST_CASE("--dcs is validated against --nodes; w and r against the total") {
  RingParams p;
  p.nodes = 2;
  p.n = 1;
  p.w = p.r = 1;
  p.dcs = 3;
  CHECK(ValidateRingParams(p).message() ==
        "--dcs 3 needs at least 3 nodes, --nodes is 2");
  p.nodes = 6;
  p.n = 3;
  p.dcs = 2;
  p.w = 6;  // the replicas of both datacenters
  p.r = 4;
  CHECK(ValidateRingParams(p).ok());
  p.w = 7;
  CHECK(ValidateRingParams(p).message().find("--w must be 1..6") !=
        std::string::npos);
}

TEST_CASE("ring.json keeps the datacenters and sites") {
  RingParams p;
  p.nodes = 6;
  p.dcs = 2;
  RingState s = PlanRing("/tmp/r", p);
  const json j = RingStateToJson(s);
  CHECK(j["dcs"][1]["name"] == "dc2");
  CHECK(j["dcs"][1]["n"] == 3);
  CHECK(j["nodes"][4]["dc"] == "dc2");
  CHECK(j["nodes"][4]["rack"] == "r2");
  Result<RingState> back = ParseRingState(j.dump(2));
  REQUIRE(back.ok());
  CHECK(*back == s);
  CHECK(ParamsOf(*back).dcs == 2);

  // A ring without datacenters writes no dc keys at all.
  const json plain = RingStateToJson(PlanRing("/tmp/r", RingParams{}));
  CHECK_FALSE(plain.contains("dcs"));
  CHECK_FALSE(plain["nodes"][0].contains("dc"));

  json bad = j;
  bad["nodes"][0]["dc"] = "dc9";
  CHECK(ParseRingState(bad.dump()).status().message().find("dc9") !=
        std::string::npos);
  bad = j;
  bad["dcs"][1]["name"] = "dc1";
  CHECK(ParseRingState(bad.dump()).status().message().find("duplicate") !=
        std::string::npos);
}

TEST_CASE("node.toml of a ring with datacenters") {
  RingParams p;
  p.nodes = 6;
  p.dcs = 2;
  RingState s = PlanRing("/tmp/r", p);
  const std::string text = NodeConfigToml(s, s.nodes[4]).value();
  toml::table t = toml::parse(text);
  CHECK(t["name"].value_or(std::string()) == "n5");
  CHECK(t["dc"].value_or(std::string()) == "dc2");
  CHECK(t["rack"].value_or(std::string()) == "r2");
  REQUIRE(t["cluster"]["n"].as_table() != nullptr);
  CHECK(t["cluster"]["n"]["dc1"].value_or(0) == 3);
  CHECK(t["cluster"]["n"]["dc2"].value_or(0) == 3);
  CHECK(t["cluster"]["w"].value_or(0) == 2);
  CHECK(t["cluster"]["r"].value_or(0) == 2);
  CHECK(text.find("n = { dc1 = 3, dc2 = 3 }") != std::string::npos);
  toml::array* members = t["cluster"]["members"].as_array();
  REQUIRE(members != nullptr);
  REQUIRE(members->size() == 6);
  CHECK((*members)[0].as_table()->at("dc").value_or(std::string()) == "dc1");
  CHECK((*members)[5].as_table()->at("rack").value_or(std::string()) == "r3");

  // Without datacenters: no dc keys, an integer n.
  RingState plain = PlanRing("/tmp/r", RingParams{});
  toml::table u = toml::parse(NodeConfigToml(plain, plain.nodes[0]).value());
  CHECK_FALSE(u["dc"]);
  CHECK_FALSE(u["rack"]);
  CHECK(u["cluster"]["n"].value_or(0) == 3);
  CHECK_FALSE(
      (*u["cluster"]["members"].as_array())[0].as_table()->contains("dc"));

  // A node that joins gets its own site, not the member's it copies.
  const RingNode joiner = [&] {
    RingNode n = NodeAt("/tmp/r", s.base_port, 7);
    std::tie(n.dc, n.rack) = SiteForNewNode(s);
    return n;
  }();
  CHECK(joiner.dc == "dc1");
  CHECK(joiner.rack == "r1");
  toml::table v = toml::parse(
      NodeConfigToml(s, joiner, {s.nodes[4].address}, text).value());
  CHECK(v["dc"].value_or(std::string()) == "dc1");
  CHECK(v["rack"].value_or(std::string()) == "r1");
}

TEST_CASE("a node added to a ring with datacenters goes to the smallest") {
  RingParams p;
  p.nodes = 5;
  p.dcs = 2;  // dc1: n1 n2 n3 (r1 r2 r3), dc2: n4 n5 (r1 r2)
  RingState s = PlanRing("/tmp/r", p);
  CHECK(s.dcs[1] == RingDc{"dc2", 2});
  CHECK(SiteForNewNode(s) == std::pair<std::string, std::string>{"dc2", "r1"});
  s.nodes.erase(s.nodes.begin());  // dc1 now holds n2 (r2) and n3 (r3)
  CHECK(SiteForNewNode(s) == std::pair<std::string, std::string>{"dc1", "r1"});
  CHECK(SiteForNewNode(PlanRing("/tmp/r", RingParams{})) ==
        std::pair<std::string, std::string>{});
}

TEST_CASE("PlaceKey builds the ring with the datacenters") {
  RingParams p;
  p.nodes = 6;
  p.dcs = 2;
  p.n = 2;  // 2 replicas in each datacenter
  RingState s = PlanRing("/tmp/r", p);
  ring::Sites sites;
  for (const RingNode& node : s.nodes) sites[node.name] = {node.dc, node.rack};
  Result<ring::Ring> ring = ring::Ring::Create(
      {"n1", "n2", "n3", "n4", "n5", "n6"},
      ring::RingOptions{
          .partitions = 64, .n = 4, .dcs = {{"dc1", 2}, {"dc2", 2}}},
      sites);
  REQUIRE(ring.ok());
  for (const std::string key : {"hello", "a", "b", "c", "d"}) {
    Result<KeyPlacement> placement = PlaceKey(s, key);
    REQUIRE(placement.ok());
    REQUIRE(placement->primaries.size() == 4);
    CHECK(placement->fallbacks.size() == 2);
    const auto primaries = ring->Primaries(ring->Locate(key).partition);
    int in_dc1 = 0;
    for (size_t i = 0; i < 4; ++i) {
      CHECK(placement->primaries[i].name == ring->members()[primaries[i]]);
      in_dc1 += placement->primaries[i].dc == "dc1" ? 1 : 0;
    }
    CHECK(in_dc1 == 2);
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
