#!/usr/bin/env python3
"""`shoal bench` end to end (issue 5): a short run against a real 3-node ring
(n=3 w=2 r=2) and against a real redis-server started here, each checked
for 0 errors and a JSON summary whose counts add up; plus the exit codes
when a run cannot start.

redis-server comes from Debian's redis-server package (scripts/setup.sh);
it runs without persistence (--save "" --appendonly no) on a free port on
127.0.0.1 and is stopped when the test ends.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_bench.py -v
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DURATION_S = 3
KEYS = 1000
# The run may overshoot --duration by the requests in flight at the end;
# bounded by one request timeout (2 s + 1 s client slack).
MAX_OVERSHOOT_S = 3.5
# Redis's own ports are taken from here up (checked free first).
REDIS_PORT_BASE = 25500


def bench(args, expect_ok=True):
    """Runs `shoal bench ARGS --json`; returns (exit code, JSON or text, stderr)."""
    return harness.run_shoal(["bench", *args, "--json"], expect_ok=expect_ok,
                             timeout=120)


class SummaryChecks:
    """Assertions shared by the shoal and Redis runs (a mixin for TestCase)."""

    def check_summary(self, summary, target, workload="a"):
        self.assertIsInstance(summary, dict, summary)
        # The documented keys, in order.
        self.assertEqual(list(summary)[:7],
                         ["workload", "target", "duration_s", "ops", "ops_per_s", "errors",
                          "operations"], summary)
        self.assertEqual(summary["workload"], workload)
        self.assertEqual(summary["target"], target)
        # 0 errors, by kind and per operation.
        self.assertEqual(summary["errors"], {}, summary)
        self.assertEqual(set(summary["operations"]), {"read", "write"}, summary)
        for name, op in summary["operations"].items():
            self.assertEqual(set(op), {"count", "ops_per_s", "mean_us", "p50_us", "p95_us",
                                       "p99_us", "p999_us", "max_us", "errors", "ok"},
                             (name, op))
            self.assertEqual(op["ok"]["count"], op["count"], (name, op))
            self.assertEqual(op["errors"], {}, (name, op))
            self.assertGreater(op["count"], 0, (name, op))
            self.assertTrue(0 < op["p50_us"] <= op["p95_us"] <= op["p99_us"] <= op["p999_us"]
                            <= op["max_us"], (name, op))
            self.assertGreater(op["mean_us"], 0, (name, op))
        # The counts add up: ops is the sum over the operations, and ops/s
        # is ops over the elapsed time (within 5 %).
        ops = summary["ops"]
        self.assertEqual(ops, sum(op["count"] for op in summary["operations"].values()), summary)
        self.assertGreater(ops, 0)
        duration = summary["duration_s"]
        self.assertGreaterEqual(duration, DURATION_S, summary)
        self.assertLess(duration, DURATION_S + MAX_OVERSHOOT_S, summary)
        self.assertAlmostEqual(summary["ops_per_s"], ops / duration,
                               delta=0.05 * ops / duration, msg=summary)
        for op in summary["operations"].values():
            self.assertAlmostEqual(op["ops_per_s"], op["count"] / duration,
                                   delta=0.05 * op["count"] / duration + 0.1, msg=summary)
        # Workload a is about half reads (zipfian keys, seeded draws).
        reads = summary["operations"]["read"]["count"]
        self.assertTrue(0.4 < reads / ops < 0.6, summary)
        # The load phase wrote every key once, without errors.
        self.assertEqual(summary["load"], {"keys": KEYS, "duration_s": summary["load"]["duration_s"],
                                           "errors": {}}, summary)
        self.assertEqual(summary["shed"], 0)


class BenchRingTest(harness.SharedRingTestCase, SummaryChecks):
    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = 25000

    def test_short_bench_on_a_3_node_ring_has_no_errors_and_adds_up(self):
        # Default target: every running node of the ring in --dir.
        code, summary, err = bench(["--dir", self.ring.dir, "--workload", "a",
                                    "--concurrency", "8", "--keys", str(KEYS), "--load",
                                    "--duration", str(DURATION_S)])
        self.assertEqual(code, 0, err)
        addresses = ",".join(self.ring.members[name]["address"] for name in self.ring.names)
        self.check_summary(summary, addresses)
        # One progress line per second on stderr, then nothing else odd.
        progress = [line for line in err.splitlines() if line.startswith("[")]
        self.assertGreaterEqual(len(progress), DURATION_S - 1, err)
        self.assertIn("ops/s (overall", progress[0])
        # The keys really are there, readable through any node.
        got = self.ring.get("user0", "n3")
        self.assertTrue(got["found"], got)

    def test_text_report_and_csv(self):
        out_dir = tempfile.mkdtemp(prefix="shoal-bench-csv-")
        self.addCleanup(shutil.rmtree, out_dir, True)
        nodes = ",".join(m["address"] for m in self.ring.members.values())
        code, text, err = harness.run_shoal(
            ["bench", "--nodes", nodes, "--mix", "read=80,write=10,delete=10",
             "--concurrency", "4", "--keys", "200", "--ops", "2000", "--csv", out_dir],
            timeout=120)
        self.assertEqual(code, 0, err)
        self.assertIn("workload mix(read=80,write=10,delete=10)", text)
        for row in ("read", "write", "delete", "total"):
            self.assertRegex(text, rf"(?m)^  {row} ")
        with open(os.path.join(out_dir, "summary.csv")) as f:
            rows = f.read().splitlines()
        self.assertEqual(rows[0], "op,count,ops_per_s,mean_us,p50_us,p95_us,p99_us,p999_us,"
                                  "max_us,errors")
        counts = {r.split(",")[0]: int(r.split(",")[1]) for r in rows[1:]}
        self.assertEqual(counts["total"], 2000, rows)
        self.assertEqual(counts["read"] + counts["write"] + counts["delete"], 2000, rows)
        for op in ("read", "write", "delete"):
            with open(os.path.join(out_dir, f"{op}_latency.csv")) as f:
                lines = f.read().splitlines()
            self.assertEqual(lines[0], "percentile,latency_us")
            self.assertTrue(any(line.startswith("99.9,") for line in lines), lines)


def free_port(start: int) -> int:
    for port in range(start, start + 100):
        if harness.port_free(port):
            return port
    raise RuntimeError(f"no free port in {start}..{start + 99}")


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((harness.HOST, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class BenchRedisTest(unittest.TestCase, SummaryChecks):
    def setUp(self):
        server = shutil.which("redis-server")
        if server is None:
            self.fail("redis-server is not installed (Debian package redis-server; "
                      "run scripts/setup.sh)")
        self.port = free_port(REDIS_PORT_BASE)
        self.tmp = tempfile.mkdtemp(prefix="shoal-bench-redis-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        log = open(os.path.join(self.tmp, "redis.log"), "wb")
        self.addCleanup(log.close)
        self.redis = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", harness.HOST, "--save", "",
             "--appendonly", "no", "--dir", self.tmp, "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.addCleanup(self.stop_redis)
        harness.wait_until(lambda: redis_ping(self.port) or self.redis.poll() is not None,
                           10.0, "redis-server to answer PING")
        self.assertIsNone(self.redis.poll(), "redis-server exited at start")

    def stop_redis(self):
        if self.redis.poll() is None:
            self.redis.terminate()
            try:
                self.redis.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.redis.kill()
                self.redis.wait()

    def test_short_bench_against_redis_has_no_errors_and_adds_up(self):
        target = f"redis://127.0.0.1:{self.port}"
        code, summary, err = bench(["--target", target, "--workload", "a",
                                    "--concurrency", "8", "--keys", str(KEYS), "--load",
                                    "--duration", str(DURATION_S)])
        self.assertEqual(code, 0, err)
        self.check_summary(summary, target)
        self.assertIsNone(self.redis.poll(), "redis-server died during the run")

    def test_redis_wait_without_replicas_reports_timeouts_not_a_failure(self):
        # WAIT 1 on a primary with no replica acknowledges 0: every write is
        # a timeout error; the run still completes (exit 0) and says so.
        target = f"redis://127.0.0.1:{self.port}"
        code, summary, err = bench(["--target", target, "--workload", "w",
                                    "--concurrency", "2", "--keys", "10", "--ops", "20",
                                    "--redis-wait", "1", "--redis-wait-timeout", "10"])
        self.assertEqual(code, 0, err)
        self.assertEqual(summary["ops"], 20)
        self.assertEqual(summary["errors"], {"timeout": 20}, summary)


class BenchExitCodeTest(unittest.TestCase):
    def test_nothing_reachable_is_exit_1(self):
        port = free_port(REDIS_PORT_BASE + 200)
        code, out, err = bench(["--nodes", f"127.0.0.1:{port}", "--duration", "1"],
                               expect_ok=False)
        self.assertEqual(code, 1, (out, err))
        self.assertEqual(out["ok"], False, out)
        self.assertEqual(out["error"]["code"], "unavailable", out)
        self.assertIn("no target reachable", out["error"]["message"])

    def test_bad_options_are_exit_2(self):
        for args, message in [
                (["--mix", "read=50,write=40"], "must sum to 100 (got 90)"),
                (["--workload", "z"], "unknown workload 'z'"),
                (["--target", "redis://nohost"], "bad address"),
                (["--nodes", "127.0.0.1:1", "--redis-wait", "1"], "--redis-wait"),
                (["--nodes", "127.0.0.1:1", "--distribution", "latest"], "unknown distribution")]:
            code, out, err = bench(args, expect_ok=False)
            self.assertEqual(code, 2, (args, out, err))
            self.assertIn(message, err, args)


if __name__ == "__main__":
    harness.main()
