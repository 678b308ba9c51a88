#include "node/config.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace shoal::node {
namespace {

// Writes `text` to a temp file and returns its path.
std::string TempConfig(const std::string& text) {
  static int counter = 0;
  auto path = std::filesystem::temp_directory_path() /
              ("shoal_config_test_" + std::to_string(::getpid()) + "_" +
               std::to_string(counter++) + ".toml");
  std::ofstream(path) << text;
  return path.string();
}

Result<ParsedArgs> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "shoald");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseArgs(static_cast<int>(argv.size()), argv.data());
}

const char* kThreeNodes = R"(
name = "n2"
[cluster]
n = 3
w = 2
r = 2
partitions = 64
members = [
  { name = "n1", address = "127.0.0.1:7101" },
  { name = "n2", address = "127.0.0.1:7102" },
  { name = "n3", address = "127.0.0.1:7103" },
]
[storage]
sync = "always"
map_size = 67108864
)";

TEST_CASE("a config file is read and flags override it") {
  const std::string path = TempConfig(kThreeNodes);
  auto parsed = Parse({"--config", path, "--w", "3", "--sync", "none"});
  REQUIRE(parsed.ok());
  const NodeConfig& c = parsed->config;
  CHECK(c.name == "n2");
  CHECK(c.listen == "127.0.0.1:7102");  // defaults to the member address
  CHECK(c.data_dir == "./data-n2");
  CHECK(c.members.size() == 3);
  CHECK(c.w == 3);  // flag wins
  CHECK(c.r == 2);
  CHECK(c.storage.sync == storage::SyncPolicy::kNone);  // flag wins
  CHECK(c.storage.map_size_bytes == 67108864);
  CHECK(Validate(c).ok());
  std::filesystem::remove(path);
}

const char* kTwoDcs = R"(
name = "n3"
dc = "dc2"
rack = "r1"
[cluster]
n = { dc2 = 1, dc1 = 2 }
w = 2
r = 2
partitions = 64
members = [
  { name = "n1", address = "127.0.0.1:7101", dc = "dc1", rack = "r1" },
  { name = "n2", address = "127.0.0.1:7102", dc = "dc1", rack = "r2" },
  { name = "n3", address = "127.0.0.1:7103", dc = "dc2", rack = "r1" },
]
)";

TEST_CASE("a config with datacenters: n per DC, members' dc and rack") {
  auto parsed = Parse({"--config", TempConfig(kTwoDcs)});
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  const NodeConfig& c = parsed->config;
  CHECK(c.n == 3);
  REQUIRE(c.dcs.size() == 2);
  CHECK(c.dcs[0] == ring::DcReplicas{"dc1", 2});  // sorted by name
  CHECK(c.dcs[1] == ring::DcReplicas{"dc2", 1});
  CHECK(c.members[2].dc == "dc2");
  CHECK(c.members[1].rack == "r2");
  CHECK(Validate(c).ok());
  // --print-config writes the table back.
  auto printed = Parse({"--config", TempConfig(kTwoDcs), "--print-config"});
  REQUIRE(printed.ok());
  auto again = Parse({"--config", TempConfig(ToToml(printed->config))});
  REQUIRE(again.ok());
  CHECK(again->config.dcs == c.dcs);
  CHECK(again->config.members[0].dc == "dc1");

  auto error_of = [](std::string toml, const std::string& from,
                     const std::string& to) {
    toml.replace(toml.find(from), from.size(), to);
    auto p = Parse({"--config", TempConfig(toml)});
    if (!p.ok()) return p.status().message();
    Status st = Validate(p->config);
    REQUIRE_FALSE(st.ok());
    return st.message();
  };
  CHECK(error_of(kTwoDcs, "dc2 = 1", "dc2 = 0")
            .find("cluster.n.dc2 must be a replica count") !=
        std::string::npos);
  CHECK(error_of(kTwoDcs, "dc = \"dc1\", rack = \"r2\" }",
                 "dc = \"dc3\", rack = \"r2\" }")
            .find("member 'n2' is in datacenter 'dc3'") != std::string::npos);
  CHECK(error_of(kTwoDcs, "dc = \"dc2\"\nrack", "dc = \"dc1\"\nrack")
            .find("differ from") != std::string::npos);
  CHECK(error_of(kTwoDcs, "n = { dc2 = 1, dc1 = 2 }", "n = {}")
            .find("cluster.n is an empty table") != std::string::npos);
}

TEST_CASE("anti-entropy settings from the file and the --aae flag") {
  const std::string path = TempConfig(std::string(kThreeNodes) +
                                      "[antientropy]\nenabled = false\n"
                                      "interval_ms = 50\nrepair_rate = 7\n"
                                      "transfer_rate = 9\n");
  auto parsed = Parse({"--config", path});
  REQUIRE(parsed.ok());
  CHECK_FALSE(parsed->config.aae_enabled);
  CHECK(parsed->config.aae_interval_ms == 50);
  CHECK(parsed->config.aae_repair_rate == 7);
  CHECK(parsed->config.aae_transfer_rate == 9);
  auto flagged = Parse({"--config", path, "--aae", "true"});
  REQUIRE(flagged.ok());
  CHECK(flagged->config.aae_enabled);  // flag wins
  auto defaults = Parse({"--config", TempConfig(kThreeNodes)});
  REQUIRE(defaults.ok());
  CHECK(defaults->config.aae_enabled);
  CHECK(defaults->config.aae_interval_ms == 250);
  std::filesystem::remove(path);
}

TEST_CASE("a config with seeds instead of members") {
  const std::string text = R"(
name = "n4"
listen = "127.0.0.1:7104"
[cluster]
w = 1
seeds = ["127.0.0.1:7101", "127.0.0.1:7102"]
)";
  const std::string path = TempConfig(text);
  auto parsed = Parse({"--config", path});
  REQUIRE(parsed.ok());
  const NodeConfig& c = parsed->config;
  CHECK(c.members.empty());
  CHECK(c.seeds ==
        std::vector<std::string>{"127.0.0.1:7101", "127.0.0.1:7102"});
  CHECK(Validate(c).ok());
  // --print-config keeps seeds and leaves members, n and partitions out.
  const std::string toml = ToToml(c);
  CHECK(toml.find("seeds") != std::string::npos);
  CHECK(toml.find("members") == std::string::npos);
  CHECK(toml.find("partitions") == std::string::npos);
  auto again = Parse({"--config", TempConfig(toml)});
  REQUIRE(again.ok());
  CHECK(ToToml(again->config) == toml);

  auto n_flag = Parse({"--config", path, "--n", "2"});
  CHECK(n_flag.status().code() == Code::kInvalidArgument);
  CHECK(n_flag.status().message().find("--n") != std::string::npos);
  CHECK_FALSE(Parse({"--config", path, "--partitions", "8"}).ok());

  auto with_n =
      Parse({"--config", TempConfig("name = \"n4\"\n"
                                    "listen = \"127.0.0.1:1\"\n"
                                    "[cluster]\nn = 3\n"
                                    "seeds = [\"127.0.0.1:7101\"]\n")});
  CHECK(with_n.status().code() == Code::kInvalidArgument);
  CHECK(with_n.status().message().find("cluster.n") != std::string::npos);

  NodeConfig no_listen = c;
  no_listen.listen.clear();
  CHECK(Validate(no_listen).message().find("listen") != std::string::npos);
  NodeConfig bad_seed = c;
  bad_seed.seeds = {"nowhere"};
  CHECK(Validate(bad_seed).message().find("cluster.seeds") !=
        std::string::npos);
  NodeConfig neither = c;
  neither.seeds.clear();
  CHECK(Validate(neither).message().find("no cluster members and no seeds") !=
        std::string::npos);
  std::filesystem::remove(path);
}

TEST_CASE("--print-config output parses back to the same config") {
  const std::string path = TempConfig(kThreeNodes);
  auto first = Parse({"--config", path, "--print-config"});
  REQUIRE(first.ok());
  CHECK(first->print_only);
  const std::string toml = ToToml(first->config);
  const std::string again_path = TempConfig(toml);
  auto second = Parse({"--config", again_path});
  REQUIRE(second.ok());
  CHECK(ToToml(second->config) == toml);
  std::filesystem::remove(path);
  std::filesystem::remove(again_path);
}

TEST_CASE("bad configs are rejected with errors that name the problem") {
  auto check = [](const std::string& text, std::vector<std::string> flags,
                  const std::string& expected) {
    const std::string path = TempConfig(text);
    flags.insert(flags.begin(), {"--config", path});
    auto parsed = Parse(flags);
    std::string message;
    if (!parsed.ok()) {
      message = parsed.status().message();
    } else {
      Status st = Validate(parsed->config);
      REQUIRE_FALSE(st.ok());
      message = st.message();
    }
    INFO("message: " << message);
    CHECK(message.find(expected) != std::string::npos);
    std::filesystem::remove(path);
  };
  check(kThreeNodes, {"--w", "4"}, "w=4 must be between 1 and n=3");
  check(kThreeNodes, {"--r", "0"}, "r=0");
  check(kThreeNodes, {"--n", "4"}, "n=4 exceeds the member count 3");
  check(kThreeNodes, {"--name", "n9"}, "'n9' is not among cluster.members");
  check(kThreeNodes, {"--partitions", "48"}, "power of two");
  check(kThreeNodes, {"--sync", "sometimes"}, "unknown sync policy");
  check(kThreeNodes, {"--listen", "nowhere"}, "bad address 'nowhere'");
  check(std::string(kThreeNodes) + "\ntypo_key = 1\n", {},
        "unknown config key 'storage.typo_key'");
  check("name = \"n1\"\n[cluster]\nmembers = []\n", {}, "no cluster members");
  check("name = 5\n", {}, "'name' must be a string");
  check("name = \"n1\"\n[cluster\n", {}, "cannot read config");
  check(std::string(kThreeNodes) + "[handoff]\nenabled = 1\n", {},
        "'handoff.enabled' must be true or false");
  check(std::string(kThreeNodes) + "[antientropy]\nenabled = 1\n", {},
        "'antientropy.enabled' must be true or false");
  check(std::string(kThreeNodes) + "[antientropy]\nrepair_rate = 0\n", {},
        "antientropy.interval_ms, antientropy.repair_rate and "
        "antientropy.transfer_rate must be >= 1");
  check(std::string(kThreeNodes) + "[antientropy]\ntransfer_rate = 0\n", {},
        "antientropy.interval_ms, antientropy.repair_rate and "
        "antientropy.transfer_rate must be >= 1");
  check(std::string(kThreeNodes) + "[antientropy]\nspeed = 1\n", {},
        "unknown config key 'antientropy.speed'");
  check(std::string(kThreeNodes) + "[limits]\nidle_timeout = 300\n", {},
        "'limits.idle_timeout' must be a duration with its unit");
  check(std::string(kThreeNodes) + "[limits]\nframe_timeout = \"10\"\n", {},
        "'limits.frame_timeout': bad duration '10'");
  check(std::string(kThreeNodes) + "[limits]\nmax_inflight_bytes = 1000\n", {},
        "limits.max_inflight_bytes = 1000 must be 0 (no limit) or at least "
        "twice the frame cap");
  check(std::string(kThreeNodes) +
            "[limits]\nwarn_siblings = 10\nmax_siblings = 5\n",
        {},
        "limits.warn_siblings = 10 must not exceed limits.max_siblings = 5");
  check(std::string(kThreeNodes) + "[limits]\nmax_connections = 0\n", {},
        "limits.max_connections must be >= 1");
}

TEST_CASE("limits: defaults, durations with units, and the storage queue") {
  const std::string path = TempConfig(std::string(kThreeNodes) + R"(
max_queued_writes = 50
[limits]
max_connections = 200
max_in_flight = 8
max_requests = 64
frame_timeout = "2.5s"
idle_timeout = "1m"
warn_siblings = 5
max_siblings = 10
)");
  auto parsed = Parse({"--config", path});
  REQUIRE(parsed.ok());
  const NodeConfig& c = parsed->config;
  CHECK(c.max_connections == 200);
  CHECK(c.max_in_flight == 8);
  CHECK(c.max_requests == 64);
  CHECK(c.frame_timeout.count() == 2500);
  CHECK(c.idle_timeout.count() == 60000);
  CHECK(c.warn_siblings == 5);
  CHECK(c.max_siblings == 10);
  CHECK(c.storage.max_queued_writes == 50);
  CHECK(Validate(c).ok());
  const std::string toml = ToToml(c);
  CHECK(toml.find("idle_timeout = '1m'") != std::string::npos);
  CHECK(toml.find("frame_timeout = '2500ms'") != std::string::npos);
  std::filesystem::remove(path);

  NodeConfig defaults;
  CHECK(defaults.max_connections == 10000);
  CHECK(defaults.frame_timeout.count() == 10000);
  CHECK(defaults.idle_timeout.count() == 300000);
  CHECK(defaults.max_siblings == 100);
  CHECK(defaults.warn_siblings == 25);
}

TEST_CASE("cluster.conflict is siblings by default and can be lww") {
  auto path = TempConfig(kThreeNodes);
  auto dflt = Parse({"--config", path});
  REQUIRE(dflt.ok());
  CHECK(dflt->config.conflict == quorum::ConflictPolicy::kSiblings);
  auto lww = Parse({"--config", path, "--conflict", "lww"});
  REQUIRE(lww.ok());
  CHECK(lww->config.conflict == quorum::ConflictPolicy::kLastWriteWins);
  CHECK(ToToml(lww->config).find("conflict = 'lww'") != std::string::npos);
  CHECK(Validate(lww->config).ok());
  // An unknown policy is refused while parsing, as an unknown sync policy.
  auto bad = Parse({"--config", path, "--conflict", "newest"});
  REQUIRE_FALSE(bad.ok());
  const Status st = bad.status();
  CHECK(st.code() == Code::kInvalidArgument);
  CHECK(st.message().find("newest") != std::string::npos);
}

TEST_CASE("unknown flags are usage errors") {
  auto parsed = Parse({"--no-such-flag"});
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.status().message().find("no-such-flag") != std::string::npos);
}

TEST_CASE("shoald dump takes its own flags and none of the node's") {
  auto parsed = Parse({"dump", "--data-dir", "/d", "--db", "hints", "--json"});
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  REQUIRE(parsed->dump.has_value());
  CHECK(parsed->dump->data_dir == "/d");
  CHECK(parsed->dump->db == storage::DumpDb::kHints);
  CHECK(parsed->dump->json);

  parsed = Parse({"dump", "--data-dir", "/d"});
  REQUIRE(parsed.ok());
  CHECK(parsed->dump->db == storage::DumpDb::kObjects);
  CHECK_FALSE(parsed->dump->json);

  // The node's own command line is not a dump.
  parsed = Parse({"--config", TempConfig(kThreeNodes)});
  REQUIRE(parsed.ok());
  CHECK_FALSE(parsed->dump.has_value());
  CHECK(parsed->config.name == "n2");

  struct Bad {
    std::vector<std::string> args;
    const char* says;
  };
  for (const Bad& bad : {
           Bad{{"dump"}, "--data-dir is required"},
           Bad{{"dump", "--data-dir", "/d", "--db", "meta"},
               "unknown database 'meta'"},
           Bad{{"--name", "n1", "dump", "--data-dir", "/d"},
               "takes only --data-dir, --db and --json, not --name"},
           Bad{{"dump", "--data-dir", "/d", "--config", "x"}, "--config"},
       }) {
    CAPTURE(bad.says);
    auto r = Parse(bad.args);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK(r.status().message().find(bad.says) != std::string::npos);
  }

  parsed = Parse({"dump", "--help"});
  REQUIRE(parsed.ok());
  CHECK(parsed->help_text.find("--data-dir") != std::string::npos);
  CHECK(parsed->help_text.find("--print-config") == std::string::npos);
  parsed = Parse({"--help"});
  REQUIRE(parsed.ok());
  CHECK(parsed->help_text.find("dump") != std::string::npos);
}

}  // namespace
}  // namespace shoal::node
