#!/usr/bin/env python3
"""Deletes that give their space back (issue 15): tombstone reaping on a
real 3-node ring, n=3 w=2 r=2, with storage.tombstone_grace = 1s.

- 100,000 keys are written, then each is read and deleted with the read's
  context (raw frames, pipelined). Within REAP_DEADLINE_S every node holds
  no key and no tombstone, its databases hold no more pages than an empty
  node's plus a little, and each node reaped every one of its copies.
- A delete while one primary is cut off and still holds the old value: the
  two others keep their tombstones (and `status` names what they wait for)
  as long as the cut lasts; after the heal, the key is gone everywhere and
  reads find nothing, never the old value.
- The control: the same cut with the planted unsafe rule
  (storage.TEST_reap_unsafe: reap at once, no checks) brings the deleted
  value back, so the scenario above can fail.
- `shoal check --workload delete` under the mix nemesis on a 5-node ring
  with a 1 s grace: nothing lost, nothing resurrected, and tombstones were
  really reaped during the run.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_tombstones.py -v
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_handoff as th  # noqa: E402  pipelined raw frames
from harness import wait_until  # noqa: E402

KEYS = 100_000
# 100,000 tombstones per node, 2,000 per reaper round every 500 ms, after
# a 1 s grace: about 25 s of rounds; the deadline leaves room for a loaded
# machine.
REAP_DEADLINE_S = 120.0
# What "back near empty" allows above an empty node's database pages: the
# B-tree roots and the meta records of an empty store fit in a few pages.
EMPTY_SLACK_BYTES = 1 << 20


def log(text: str) -> None:
    print(f"[tombstones] {text}", file=sys.stderr, flush=True)


class TombstoneTest(harness.RingTestCase):
    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = 24000

    def setUp(self) -> None:
        super().setUp()
        settings = {"reap": "true", "tombstone_grace": '"1s"',
                    "reap_interval": '"500ms"', "reap_batch": "2000"}
        test = getattr(self, self._testMethodName)
        if getattr(test, "unsafe", False):
            settings["TEST_reap_unsafe"] = "true"
        self.ring.reconfigure({"storage": settings})

    def statuses(self) -> dict[str, dict]:
        return {n: self.ring.status(n) for n in self.ring.names}

    def delete_all(self, keys: list[str]) -> None:
        """Reads each key through n1 for its context, then deletes it with
        that context, spread over the three nodes; every reply must be a
        success."""
        started = time.monotonic()
        gets = th.spread(self.ring.host_port, self.ring.names,
                         th.quorum_get_frames(keys, 2), window=64)
        contexts = {}
        for i, key in enumerate(keys):
            reply = gets[i + 1]
            self.assertEqual(harness.kind(reply), "getReply", (key, reply))
            contexts[key] = bytes(reply["getReply"].get("context", []))
            self.assertTrue(contexts[key], (key, reply))
        frames = th.numbered(
            harness.put_request(i + 1, k.encode(), b"", contexts[k], delete=True)
            for i, k in enumerate(keys))
        puts = th.spread(self.ring.host_port, self.ring.names, frames, window=64)
        bad = [k for i, k in enumerate(keys) if harness.kind(puts[i + 1]) != "putReply"]
        log(f"read and deleted {len(keys)} keys in {time.monotonic() - started:.1f} s "
            f"({len(bad)} timed out or failed)")
        # A delete that timed out may or may not have landed: as a client
        # would, read the key again and delete it with that context.
        for key in bad:
            got = self.ring.get(key, "n1")
            if got["found"]:
                self.ring.shoal("del", key, "--context", got["context"], node="n1")
            self.assertFalse(self.ring.get(key, "n1")["found"], key)

    # ---- a. 100,000 deletes give the space back ----

    def test_a_deleting_every_key_empties_every_replica(self):
        empty = {n: s["data_bytes"] for n, s in self.statuses().items()}
        _, out, err = harness.run_shoal(
            ["bench", "--dir", self.ring.dir, "--load", "--workload", "w",
             "--keys", str(KEYS), "--value-size", "100", "--ops", "1",
             "--concurrency", "16", "--seed", "1501", "--json"], timeout=300)
        self.assertIsInstance(out, dict, err)
        self.assertEqual(out["load"]["errors"], {}, out)
        loaded = self.statuses()
        for name, st in loaded.items():
            self.assertEqual(st["keys"], KEYS, (name, st))
        log("data bytes: empty " + str(empty) + ", loaded " +
            str({n: s["data_bytes"] for n, s in loaded.items()}))

        keys = [f"user{i}" for i in range(KEYS)]
        self.delete_all(keys)
        deleted_at = time.monotonic()

        def reaped():
            sts = self.statuses()
            left = {n: (s["keys"], s["tombstones"]["count"]) for n, s in sts.items()}
            if time.monotonic() - reaped.last >= 5:
                reaped.last = time.monotonic()
                log(f"  +{time.monotonic() - deleted_at:5.1f} s: (keys, tombstones) {left}")
            return all(k == 0 and t == 0 for k, t in left.values())
        reaped.last = 0.0
        try:
            wait_until(reaped, REAP_DEADLINE_S, "every replica to reap every tombstone",
                       interval=1.0)
        except AssertionError as e:
            raise AssertionError(f"{e}: {self.statuses()}") from None
        log(f"every replica empty {time.monotonic() - deleted_at:.1f} s after the deletes")

        after = self.statuses()
        for name, st in after.items():
            # At least once per key: a replica whose reaped-key guard (the
            # last 65,536 reaps) forgot a key can take its tombstone back
            # from a replica that had not reaped it yet, and reaps it again.
            self.assertGreaterEqual(st["tombstones"]["reaped"], KEYS,
                                    (name, st["tombstones"]))
            self.assertLessEqual(
                st["data_bytes"], empty[name] + EMPTY_SLACK_BYTES,
                f"{name}'s databases still hold {st['data_bytes']} bytes "
                f"(empty: {empty[name]}, loaded: {loaded[name]['data_bytes']})")
        # Reads find nothing, on every node and in every node's own store.
        for key in keys[:: KEYS // 20]:
            for name in self.ring.names:
                got = self.ring.get(key, name)
                self.assertFalse(got["found"], (key, name, got))
                self.assertFalse(self.ring.local_get(key, name)["found"], (key, name))

    # ---- b. a delete while a primary with the old value is cut off ----

    def test_b_a_primary_cut_off_during_the_delete_never_brings_the_value_back(self):
        self.ring.put("k", "old")
        for name in self.ring.names:  # w=2: wait until the third has it too
            wait_until(lambda: self.ring.local_get("k", name)["found"], 10,
                       f"{name} to hold k")
        self.ring.shoal("fault", "isolate", "n3")
        got = self.ring.get("k", "n1")
        self.ring.shoal("del", "k", "--context", got["context"], node="n1")
        self.assertFalse(self.ring.get("k", "n1")["found"])
        # Well past the grace: n1 and n2 keep their tombstones while n3 (the
        # old value) is unreachable, and say why.
        time.sleep(4)
        for name in ("n1", "n2"):
            st = self.ring.status(name)["tombstones"]
            self.assertEqual(st["count"], 1, (name, st))
            self.assertEqual(st["reaped"], 0, (name, st))
            self.assertIn("n3", st["waiting_for"], (name, st))
        stale = self.ring.local_get("k", "n3")
        self.assertTrue(stale["found"], stale)
        self.ring.shoal("fault", "heal")
        # Anti-entropy brings the tombstone to n3; then all three reap.

        def gone():
            return all(self.ring.status(n)["keys"] == 0 for n in self.ring.names)
        try:
            wait_until(gone, REAP_DEADLINE_S, "k to be reaped everywhere", interval=1.0)
        except AssertionError as e:
            raise AssertionError(f"{e}: {self.statuses()}") from None
        for name in self.ring.names:
            self.assertFalse(self.ring.get("k", name)["found"], name)
            self.assertFalse(self.ring.local_get("k", name)["found"], name)
        # A later anti-entropy pass has nothing to bring back.
        for name in self.ring.names:
            _, run = self.ring.shoal("aae", "run", node=name, timeout=120)
            self.assertEqual(run["errors"], 0, run)
        for name in self.ring.names:
            self.assertFalse(self.ring.local_get("k", name)["found"], name)

    # ---- c. the control: the same cut with the planted unsafe rule ----

    def test_c_unsafe_reaping_brings_the_deleted_value_back(self):
        """storage.TEST_reap_unsafe reaps at once, without the checks: the
        scenario of b then resurrects the value, so b can fail."""
        self.ring.put("k", "old")
        for name in self.ring.names:
            wait_until(lambda: self.ring.local_get("k", name)["found"], 10,
                       f"{name} to hold k")
        self.ring.shoal("fault", "isolate", "n3")
        got = self.ring.get("k", "n1")
        self.ring.shoal("del", "k", "--context", got["context"], node="n1")
        wait_until(lambda: all(self.ring.status(n)["keys"] == 0 for n in ("n1", "n2")),
                   30, "n1 and n2 to reap k at once")
        self.ring.shoal("fault", "heal")
        wait_until(lambda: self.ring.get("k", "n1")["found"], REAP_DEADLINE_S,
                   "anti-entropy to bring the deleted value back from n3")
        log("unsafe control: the deleted value came back, as it must without the checks")
    test_c_unsafe_reaping_brings_the_deleted_value_back.unsafe = True


CHECK_TIMEOUT_S = 400
REAPING = {"reap": "true", "tombstone_grace": '"1s"', "reap_interval": '"200ms"'}


class DeleteCheckTest(harness.RingTestCase):
    NODES = 5
    N, W, R = 3, 2, 2
    BASE_PORT = 24200

    def run_check(self, seed: int) -> tuple[int, dict]:
        code, report = self.ring.shoal(
            "check", "--workload", "delete", "--nemesis", "mix", "--duration", "45s",
            "--seed", str(seed), "--keys", "100", expect_ok=False,
            timeout=CHECK_TIMEOUT_S)
        self.assertIsInstance(report, dict, report)
        return code, report

    def reaped(self) -> int:
        return sum(self.ring.status(n)["tombstones"]["reaped"] for n in self.ring.names)

    def test_delete_workload_with_reaping_resurrects_nothing(self):
        self.ring.reconfigure({"storage": REAPING})
        code, report = self.run_check(21)
        self.assertEqual(code, 0, str(report)[:3000])
        self.assertEqual(report["resurrected"], 0, report)
        self.assertEqual(report["lost"], 0, report)
        self.assertTrue(report["converged"], report)
        self.ring.wait_ready(timeout=30)
        reaped = self.reaped()
        log(f"check seed 21: ops {report['ops']}, {reaped} tombstone copies reaped")
        self.assertGreater(reaped, 0, "nothing was reaped: the run proves nothing")



if __name__ == "__main__":
    harness.main()
