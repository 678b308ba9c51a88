#!/usr/bin/env python3
"""`shoal check`: Jepsen-style runs on a 5-node ring n=3 w=2 r=2 (issue 7).

- the set workload under the mix nemesis, for two fixed seeds, loses
  nothing and converges within 120 s of the heal;
- the same kind of run with conflict = "lww" and a clock skew MUST report
  lost writes and exit non-zero: the checker can fail.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_check.py -v
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CHECK_TIMEOUT_S = 400


class CheckTest(harness.RingTestCase):
    NODES = 5
    N, W, R = 3, 2, 2
    BASE_PORT = 30200

    def check(self, *args):
        return self.ring.shoal("check", *args, expect_ok=False,
                               timeout=CHECK_TIMEOUT_S)

    def assert_valid_run(self, seed):
        code, report = self.check("--workload", "set", "--nemesis", "mix",
                                  "--duration", "60s", "--seed", str(seed))
        self.assertIsInstance(report, dict, report)
        self.assertEqual(code, 0, json.dumps(report, indent=1)[:3000])
        self.assertTrue(report["valid"])
        self.assertEqual(report["lost"], 0)
        self.assertEqual(report["resurrected"], 0)
        self.assertTrue(report["converged"])
        self.assertLessEqual(report["convergence_ms"], 120_000)
        self.assertGreater(report["ops"]["ok"], 100, report["ops"])
        self.assertGreaterEqual(len(report["nemesis_log"]), 4)
        # The history is JSON lines with invoke and completion events.
        with open(report["history"]) as f:
            events = [json.loads(line) for line in f]
        types = {e["type"] for e in events}
        self.assertTrue({"invoke", "ok", "final"} <= types, types)
        sys.stderr.write(
            f"[check seed {seed}] ops {report['ops']}, converged in "
            f"{report['convergence_ms']} ms\n")
        self.ring.wait_ready(timeout=30)

    def test_set_mix_seed_11(self):
        self.assert_valid_run(11)

    def test_set_mix_seed_12(self):
        self.assert_valid_run(12)


class LwwCheckTest(harness.RingTestCase):
    NODES = 5
    N, W, R = 3, 2, 2
    BASE_PORT = 30400
    EXTRA_UP_ARGS = ("--conflict", "lww")

    def test_lww_with_partition_and_clock_skew_loses_writes(self):
        code, report = self.ring.shoal(
            "check", "--workload", "set", "--nemesis", "partition-random",
            "--duration", "30s", "--seed", "5", "--conflict", "lww",
            "--clock-skew", "+5s", expect_ok=False, timeout=CHECK_TIMEOUT_S)
        self.assertIsInstance(report, dict, report)
        self.assertEqual(code, 1, report)
        self.assertFalse(report["valid"])
        self.assertEqual(report["conflict"], "lww")
        self.assertGreater(report["lost"], 0, report)
        sys.stderr.write(f"[check lww] lost {report['lost']} of "
                         f"{report['ops']['ok']} acknowledged adds\n")
        self.ring.wait_ready(timeout=30)

    def test_check_refuses_a_ring_in_another_mode(self):
        code, out = self.ring.shoal("check", "--conflict", "siblings",
                                    "--duration", "1s", expect_ok=False)
        self.assertEqual(code, 1)
        self.assertIn("resolves conflicts by lww", out["error"]["message"])


if __name__ == "__main__":
    harness.main()
