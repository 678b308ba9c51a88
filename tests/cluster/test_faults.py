#!/usr/bin/env python3
"""Network and clock faults through `shoal fault` (issue 7, doc/faults.md).

A 5-node ring, n=3 w=2 r=2. The nodes enforce the faults on their own
peer traffic: a partition must stop it both ways (writes that need the
other side fail or go to fallbacks), `heal` must bring it back, and every
active fault must show in `shoal status`.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_faults.py -v
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_until  # noqa: E402

LEFT = ["n1", "n2"]
RIGHT = ["n3", "n4", "n5"]


class FaultTest(harness.RingTestCase):
    NODES = 5
    N, W, R = 3, 2, 2
    BASE_PORT = 30000

    def key_with_primaries(self, want, prefix):
        """A key whose primaries are exactly the set `want`."""
        for i in range(5000):
            key = f"{prefix}-{i}"
            _, where = self.ring.shoal("ring", "where", key)
            if {p["name"] for p in where["primaries"]} == set(want):
                return key, where
        self.fail(f"no key with primaries {want}")

    def sees_down(self, asker, others):
        members = {m["name"]: m["up"] for m in self.ring.status(asker)["members"]}
        return all(members[o] is False for o in others)

    def test_partition_stops_peer_traffic_both_ways_and_heal_restores_it(self):
        _, out = self.ring.shoal("fault", "partition", "n1,n2", "|", "n3,n4,n5")
        self.assertTrue(out["ok"], out)
        self.assertIn("cut n1<->n3", out["faults"]["active"])
        # Heartbeats are peer frames too: each side sees the other down.
        wait_until(lambda: self.sees_down("n1", RIGHT), 10, "n1 to see n3..n5 down")
        wait_until(lambda: self.sees_down("n4", LEFT), 10, "n4 to see n1, n2 down")
        self.assertTrue(self.sees_down("n2", RIGHT))
        members = {m["name"]: m["up"] for m in self.ring.status("n1")["members"]}
        self.assertTrue(members["n2"], "n1 and n2 are on the same side")

        # Every fault shows in status (JSON and text).
        st = self.ring.status("n3")
        self.assertIn("cut n1<->n3", st["faults"]["active"])
        code, text, _ = self.ring.shoal_text("status", node="n3")
        self.assertEqual(code, 0)
        self.assertIn("FAULTS ACTIVE", text)

        # A key kept only on the far side cannot be written from n1: n1 is
        # no primary and reaches none to coordinate.
        far, _ = self.key_with_primaries(RIGHT, "far")
        code, out = self.ring.shoal("put", far, "x", node="n1", expect_ok=False)
        self.assertEqual(code, 1, out)
        self.assertIn(out["error"]["code"], ("unavailable", "timeout"), out)
        self.assertEqual(self.ring.local_get(far, "n3")["found"], False)

        # A key with n1 and two far primaries: the write goes to n2 as a
        # fallback (a hint), never across the cut.
        mixed, where = self.key_with_primaries(["n1", "n3", "n4"], "mixed")
        put = self.ring.put(mixed, "hinted", "n1")
        self.assertTrue(put["ok"], put)
        for far_node in ("n3", "n4"):
            self.assertEqual(self.ring.local_get(mixed, far_node)["found"], False)
        _, hints = self.ring.shoal("hints", node="n2")
        self.assertGreaterEqual(hints["pending"], 1, hints)
        # pw=2 needs a far primary: it fails.
        code, out = self.ring.shoal("put", mixed, "pw", "--pw", "2", node="n1",
                                    expect_ok=False)
        self.assertEqual(code, 1, out)

        # heal: traffic flows again, the hint reaches the far primaries, and
        # the far key can be written from n1.
        _, out = self.ring.shoal("fault", "heal")
        self.assertEqual(out["faults"]["active"], [])
        self.ring.wait_ready(timeout=15)
        self.assertEqual(self.ring.status("n3")["faults"]["active"], [])
        wait_until(lambda: self.ring.local_get(mixed, "n3")["found"] or
                   self.ring.local_get(mixed, "n4")["found"], 30,
                   "the hinted write to reach a far primary after heal")
        self.assertTrue(self.ring.put(far, "y", "n1")["ok"])

    def test_isolate_cut_and_list(self):
        _, out = self.ring.shoal("fault", "isolate", "n5")
        self.assertIn("cut n5<->n1", out["faults"]["active"])
        wait_until(lambda: self.sees_down("n1", ["n5"]), 10, "n1 to see n5 down")
        wait_until(lambda: self.sees_down("n5", ["n1", "n2", "n3", "n4"]), 10,
                   "n5 to see every peer down")
        # n5's client port stays reachable.
        self.assertEqual(self.ring.status("n5")["node"], "n5")
        _, listed = self.ring.shoal("fault", "list")
        by_node = {n["node"]: n for n in listed["nodes"]}
        self.assertGreater(by_node["n5"]["frames_dropped"], 0, listed)
        self.ring.shoal("fault", "heal")
        self.ring.wait_ready(timeout=15)

        # One direction only: n1 drops what it sends to n2 (its requests
        # and its replies), so both judge the other down, but only n1 drops
        # frames (the counters are totals since each node started).
        _, listed = self.ring.shoal("fault", "list")
        n2_before = {n["node"]: n for n in listed["nodes"]}["n2"]["frames_dropped"]
        _, out = self.ring.shoal("fault", "cut", "n1->n2")
        self.assertEqual(out["faults"]["active"], ["cut n1->n2"])
        wait_until(lambda: self.sees_down("n1", ["n2"]), 10, "n1 to see n2 down")
        _, listed = self.ring.shoal("fault", "list")
        by_node = {n["node"]: n for n in listed["nodes"]}
        self.assertGreater(by_node["n1"]["frames_dropped"], 0)
        self.assertEqual(by_node["n2"]["frames_dropped"], n2_before)
        self.ring.shoal("fault", "heal")
        self.ring.wait_ready(timeout=15)

    def test_delay_drop_and_clock(self):
        _, out = self.ring.shoal("fault", "delay", "n1->n2", "50ms", "jitter", "20ms")
        self.assertEqual(out["faults"]["active"], ["delay n1->n2 50ms jitter 20ms"])
        _, out = self.ring.shoal("fault", "drop", "n2->n3", "10%")
        self.assertIn("drop n2->n3 10%", out["faults"]["active"])

        def delayed():
            _, listed = self.ring.shoal("fault", "list")
            return {n["node"]: n for n in listed["nodes"]}["n1"]["frames_delayed"] > 0
        wait_until(delayed, 10, "n1 to delay frames to n2")

        # clock: n1's writes are stamped 5 s ahead; only written_at moves.
        key, _ = self.key_with_primaries(["n1", "n2", "n3"], "clock")
        self.ring.shoal("fault", "clock", "n1", "+5s")
        before_ms = time.time() * 1000
        self.ring.put(key, "skewed", "n1")
        got = self.ring.get(key, "n1")
        self.assertEqual(got["values"], ["skewed"])
        stamp = got["siblings"][0]["written_at_ms"]
        self.assertGreater(stamp, before_ms + 4000, got)
        self.assertIn("clock n1 +5000ms", self.ring.status("n2")["faults"]["active"])
        _, out = self.ring.shoal("fault", "heal")
        self.assertEqual(out["faults"]["active"], [])

    def test_fault_table_survives_a_restart(self):
        self.ring.shoal("fault", "cut", "n3->n4")
        self.ring.kill("n3")
        self.ring.shoal("fault", "start", "n3")
        self.ring.expected_down.discard("n3")
        self.assertEqual(self.ring.status("n3")["faults"]["active"], ["cut n3->n4"])
        self.ring.shoal("fault", "heal")

    def test_bad_fault_input_names_the_problem(self):
        cases = [
            (["fault", "isolate", "n9"], "unknown node 'n9'"),
            (["fault", "drop", "n1->n2", "150%"], "bad percentage"),
            (["fault", "partition", "n1,n2"], "two groups"),
            (["fault", "cut", "n1-n2"], "expected A->B"),
            (["fault", "delay", "n1->n2", "50"], "unit"),
            (["fault", "clock", "n1", "soon"], "clock skew"),
        ]
        for args, needle in cases:
            code, out = self.ring.shoal(*args, expect_ok=False)
            self.assertEqual(code, 1, (args, out))
            self.assertIn(needle, out["error"]["message"], (args, out))
        _, listed = self.ring.shoal("fault", "list")
        self.assertEqual(listed["faults"]["active"], [])


if __name__ == "__main__":
    harness.main()
