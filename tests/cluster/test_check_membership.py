#!/usr/bin/env python3
"""`shoal check --nemesis membership` on a 5-node ring n=3 w=2 r=2 (issue 14).

- the set workload while nodes join, leave and are replaced, between kills,
  pauses and partitions, for two fixed seeds: nothing lost, the cluster
  settles (every member on one state, nothing changing, removed nodes
  stopped) and the replicas converge; ring.json then lists exactly the
  cluster's current members, all running;
- the same kind of run on a ring with conflict = "lww" (and a clock skew)
  MUST report lost writes and exit non-zero.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_check_membership.py -v
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CHECK_TIMEOUT_S = 300
CHANGES = ("join ", "leave ", "replace ")


def membership_steps(report):
    return [line for line in report["nemesis_log"]
            if any(c in line for c in CHANGES)]


class MembershipCheckTest(harness.RingTestCase):
    NODES = 5
    N, W, R = 3, 2, 2
    BASE_PORT = 25500  # nodes 25501.. (joins add a few), metrics 25601..

    def assert_valid_run(self, seed):
        code, report = self.ring.shoal(
            "check", "--workload", "set", "--nemesis", "membership",
            "--duration", "45s", "--seed", str(seed), expect_ok=False,
            timeout=CHECK_TIMEOUT_S)
        self.assertIsInstance(report, dict, report)
        self.assertEqual(code, 0, json.dumps(report, indent=1)[:3000])
        self.assertTrue(report["valid"])
        self.assertEqual(report["nemesis"], "membership")
        self.assertEqual(report["lost"], 0)
        self.assertTrue(report["converged"])
        self.assertGreater(report["ops"]["ok"], 100, report["ops"])
        changes = membership_steps(report)
        self.assertGreaterEqual(len(changes), 2, report["nemesis_log"])
        for line in changes:
            # A change that could not be committed says so in its line.
            self.assertNotIn("not committed", line, report["nemesis_log"])
        # The history records the changes as nemesis events.
        with open(report["history"]) as f:
            events = [json.loads(line) for line in f]
        nemesis = [e["value"] for e in events if e.get("process") == -1]
        self.assertTrue(any(v.startswith(CHANGES) for v in nemesis), nemesis)
        # ring.json now lists the cluster's current members, all running.
        _, cluster = self.ring.shoal("cluster", "status")
        self.assertFalse(cluster["changing"], cluster)
        self.assertTrue(cluster["converged"], cluster)
        current = sorted(m["name"] for m in cluster["members"]
                         if m["state"] != "removed")
        states = self.ring.states()
        self.assertEqual(sorted(states), current, (states, cluster))
        self.assertTrue(all(s == "running" for s in states.values()), states)
        self.assertGreaterEqual(len(current), self.N)
        sys.stderr.write(
            f"[check membership seed {seed}] ops {report['ops']}, "
            f"converged in {report['convergence_ms']} ms, changes: "
            f"{changes}\n")

    def test_set_membership_seed_11(self):
        self.assert_valid_run(11)

    def test_set_membership_seed_12(self):
        self.assert_valid_run(12)


class LwwMembershipCheckTest(harness.RingTestCase):
    NODES = 5
    N, W, R = 3, 2, 2
    BASE_PORT = 25800  # nodes 25801.., metrics 25901..
    EXTRA_UP_ARGS = ("--conflict", "lww")

    def test_lww_under_membership_changes_loses_writes(self):
        code, report = self.ring.shoal(
            "check", "--workload", "set", "--nemesis", "membership",
            "--duration", "30s", "--seed", "5", "--conflict", "lww",
            "--clock-skew", "+5s", expect_ok=False, timeout=CHECK_TIMEOUT_S)
        self.assertIsInstance(report, dict, report)
        self.assertEqual(code, 1, report)
        self.assertFalse(report["valid"])
        self.assertEqual(report["conflict"], "lww")
        self.assertGreater(report["lost"], 0, report)
        self.assertGreaterEqual(len(membership_steps(report)), 1,
                                report["nemesis_log"])
        sys.stderr.write(f"[check membership lww] lost {report['lost']} of "
                         f"{report['ops']['ok']} acknowledged adds\n")


if __name__ == "__main__":
    harness.main()
