// The bench's pure parts: the --mix parser, workload letters, --target,
// option checks, and the JSON / text / CSV report formats. Running against
// real servers is tests/cluster/test_bench.py.
#include "tools/bench/bench.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace shoal::tools {
namespace {

Status MixError(std::string_view text) {
  Result<Mix> mix = ParseMix(text);
  REQUIRE_FALSE(mix.ok());
  CHECK(mix.status().code() == Code::kInvalidArgument);
  return mix.status();
}

TEST_CASE("mix: read=R,write=W,delete=D in any order and subset") {
  CHECK(ParseMix("read=50,write=50").value() == Mix{.read = 50, .write = 50});
  CHECK(ParseMix("write=10,read=80,delete=10").value() ==
        Mix{.read = 80, .write = 10, .del = 10});
  CHECK(ParseMix("read=100").value() == Mix{.read = 100});
  CHECK(ParseMix("read=0,write=100").value() == Mix{.write = 100});
  CHECK(ParseMix("read=50,rmw=50").value() == Mix{.read = 50, .rmw = 50});
}

TEST_CASE("mix: clear errors") {
  CHECK(
      MixError("read=50,write=40").message().find("must sum to 100 (got 90)") !=
      std::string::npos);
  CHECK(MixError("read=60,write=60").message().find("(got 120)") !=
        std::string::npos);
  CHECK(MixError("").message().find("empty") != std::string::npos);
  CHECK(MixError("read").message().find("not NAME=PERCENT") !=
        std::string::npos);
  CHECK(MixError("scan=100").message().find("unknown operation 'scan'") !=
        std::string::npos);
  CHECK(MixError("read=50,read=50").message().find("given twice") !=
        std::string::npos);
  CHECK(MixError("read=-5,write=105").message().find("not a percentage") !=
        std::string::npos);
  CHECK(MixError("read=abc").message().find("not a percentage") !=
        std::string::npos);
  CHECK(MixError("read=,write=100").message().find("not a percentage") !=
        std::string::npos);
  CHECK(MixError("read=50,,write=50").message().find("not NAME=PERCENT") !=
        std::string::npos);
  CHECK(MixError("read=50 ,write=50").message().find("not a percentage") !=
        std::string::npos);
  CHECK(MixError("read=101").message().find("not a percentage") !=
        std::string::npos);
}

TEST_CASE("mix: printed back in canonical order") {
  CHECK(MixToString(Mix{.read = 95, .write = 5}) == "read=95,write=5");
  CHECK(MixToString(ParseMix("delete=10,read=90").value()) ==
        "read=90,delete=10");
}

TEST_CASE("workload letters are YCSB's mixes") {
  CHECK(WorkloadMix("a").value() == Mix{.read = 50, .write = 50});
  CHECK(WorkloadMix("b").value() == Mix{.read = 95, .write = 5});
  CHECK(WorkloadMix("c").value() == Mix{.read = 100});
  CHECK(WorkloadMix("f").value() == Mix{.read = 50, .rmw = 50});
  CHECK(WorkloadMix("w").value() == Mix{.write = 100});
  Result<Mix> bad = WorkloadMix("e");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("unknown workload 'e'") !=
        std::string::npos);
}

TEST_CASE("targets: shoal node lists and redis://") {
  Result<Target> nodes = ParseTarget("127.0.0.1:7101,127.0.0.1:7102");
  REQUIRE(nodes.ok());
  CHECK(nodes->kind == Target::Kind::kShoal);
  CHECK(nodes->addresses ==
        std::vector<std::string>{"127.0.0.1:7101", "127.0.0.1:7102"});
  CHECK(nodes->ToString() == "127.0.0.1:7101,127.0.0.1:7102");
  Result<Target> redis = ParseTarget("redis://127.0.0.1:6379");
  REQUIRE(redis.ok());
  CHECK(redis->kind == Target::Kind::kRedis);
  CHECK(redis->addresses == std::vector<std::string>{"127.0.0.1:6379"});
  CHECK(redis->ToString() == "redis://127.0.0.1:6379");
  CHECK_FALSE(ParseTarget("").ok());
  CHECK_FALSE(ParseTarget("redis://").ok());
  CHECK_FALSE(ParseTarget("redis://nohost").ok());
  CHECK_FALSE(ParseTarget("127.0.0.1:7101,bad").ok());
  CHECK_FALSE(ParseTarget("127.0.0.1:99999").ok());
}

BenchOptions GoodOptions() {
  BenchOptions o;
  o.target = ParseTarget("127.0.0.1:7101").value();
  o.duration_s = 1;
  return o;
}

TEST_CASE("option checks name the option") {
  CHECK(ValidateBenchOptions(GoodOptions()).ok());
  auto fails = [](BenchOptions o, const char* what) {
    const Status st = ValidateBenchOptions(o);
    CAPTURE(what);
    REQUIRE_FALSE(st.ok());
    CHECK(st.message().find(what) != std::string::npos);
  };
  BenchOptions o = GoodOptions();
  o.keys = 0;
  fails(o, "--keys");
  o = GoodOptions();
  o.concurrency = 0;
  fails(o, "--concurrency");
  o = GoodOptions();
  o.duration_s = 0;
  fails(o, "--duration or --ops");
  o.ops = 10;
  CHECK(ValidateBenchOptions(o).ok());
  o = GoodOptions();
  o.rate = -1;
  fails(o, "--rate");
  o = GoodOptions();
  o.value_size = 5u << 20;
  fails(o, "--value-size");
  o = GoodOptions();
  o.redis_wait = 1;
  fails(o, "--redis-wait");
  o = GoodOptions();
  o.keys = 20'000'000;
  fails(o, "--blind");
  o.blind = true;
  CHECK(ValidateBenchOptions(o).ok());
  o = GoodOptions();
  o.target = ParseTarget("redis://127.0.0.1:6379").value();
  o.w = 2;
  fails(o, "--r and --w");
  o.w = 0;
  o.redis_wait = 1;
  CHECK(ValidateBenchOptions(o).ok());
}

BenchReport SampleReport() {
  BenchReport r;
  r.workload = "a";
  r.target = "127.0.0.1:7101";
  r.mode = "closed";
  r.duration_s = 2.0;
  OpReport read;
  read.op = OpKind::kRead;
  for (uint64_t i = 1; i <= 300; ++i) read.latency.Record(i * 1000);
  read.ok_latency = read.latency;
  read.count = 300;
  OpReport write;
  write.op = OpKind::kWrite;
  for (uint64_t i = 1; i <= 100; ++i) write.latency.Record(i * 10000);
  // The four failures were the slowest (timeouts): 96 ok, up to 960 us.
  for (uint64_t i = 1; i <= 96; ++i) write.ok_latency.Record(i * 10000);
  write.count = 100;
  write.errors["timeout"] = 3;
  write.errors["unavailable"] = 1;
  r.operations = {read, write};
  r.ops = 400;
  r.total.Merge(read.latency);
  r.total.Merge(write.latency);
  r.total_ok.Merge(read.ok_latency);
  r.total_ok.Merge(write.ok_latency);
  r.errors = {{"timeout", 3}, {"unavailable", 1}};
  return r;
}

TEST_CASE("report JSON has the documented shape and adds up") {
  const Json j = BenchReportToJson(SampleReport());
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  REQUIRE(keys.size() >= 7);
  CHECK(std::vector<std::string>(keys.begin(), keys.begin() + 7) ==
        std::vector<std::string>{"workload", "target", "duration_s", "ops",
                                 "ops_per_s", "errors", "operations"});
  CHECK(j["ops"] == 400);
  CHECK(j["ops_per_s"] == 200.0);
  CHECK(j["errors"] == Json{{"timeout", 3}, {"unavailable", 1}});
  const Json& read = j["operations"]["read"];
  CHECK(read["count"] == 300);
  CHECK(read["ops_per_s"] == 150.0);
  CHECK(read["p50_us"].get<double>() == doctest::Approx(150).epsilon(0.01));
  CHECK(read["max_us"] == 300.0);
  CHECK(read["errors"] == Json::object());
  for (const char* field : {"count", "ops_per_s", "mean_us", "p50_us", "p95_us",
                            "p99_us", "p999_us", "max_us", "errors"}) {
    CAPTURE(field);
    CHECK(read.contains(field));
  }
  CHECK(j["operations"]["write"]["errors"]["timeout"] == 3);
  // Successful requests apart: the slow failures are not in them.
  CHECK(j["operations"]["write"]["ok"]["count"] == 96);
  CHECK(j["operations"]["write"]["ok"]["max_us"] == 960.0);
  CHECK(j["operations"]["write"]["max_us"] == 1000.0);
  CHECK(j["ok"]["count"] == 396);
  CHECK(j["mode"] == "closed");
  CHECK_FALSE(j.contains("load"));
}

TEST_CASE("report text: a row per operation and a total") {
  const std::string text = BenchReportToText(SampleReport());
  CHECK(text.find("workload a against 127.0.0.1:7101 (closed loop)") !=
        std::string::npos);
  CHECK(text.find("400 ops, 200 ops/s, 4 errors") != std::string::npos);
  CHECK(text.find("  read ") != std::string::npos);
  CHECK(text.find("timeout=3 unavailable=1") != std::string::npos);
  CHECK(text.find("  total") != std::string::npos);
}

TEST_CASE("report CSV: summary.csv and one latency file per operation") {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("bench_test_csv_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  REQUIRE(WriteBenchCsv(SampleReport(), dir / "out").ok());
  auto read = [](const std::filesystem::path& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  };
  const std::string summary = read(dir / "out" / "summary.csv");
  CHECK(summary.rfind(
            "op,count,ops_per_s,mean_us,p50_us,p95_us,p99_us,p999_us,max_us,"
            "errors\n",
            0) == 0);
  CHECK(summary.find("\nread,300,150.0,") != std::string::npos);
  CHECK(summary.find(",timeout=3;unavailable=1\n") != std::string::npos);
  CHECK(summary.find("\ntotal,400,200.0,") != std::string::npos);
  const std::string latency = read(dir / "out" / "write_latency.csv");
  CHECK(latency.rfind("percentile,latency_us\n0,10.0\n", 0) == 0);
  CHECK(latency.find("\n100,1000.0\n") != std::string::npos);
  CHECK(std::filesystem::exists(dir / "out" / "read_latency.csv"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace shoal::tools
