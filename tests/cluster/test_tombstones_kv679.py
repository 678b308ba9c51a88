#!/usr/bin/env python3
"""Deleted values never come back once tombstones are reaped (kv679-style
scenarios, after Riak's issue 679), with storage.reap on and a 1 s grace.

In each scenario the key ends, after the heal and anti-entropy, either not
found on any node or holding only the newer write, never the deleted value,
and its tombstones are reaped once the rule (doc/impl.md, "Reaping
tombstones") allows it.

- A delete at w=1 on one side of a partition ('n1 | n2,n3'): n1 keeps its
  tombstone (and `status` names the node it waits for) while n2 and n3 hold
  the old value; after the heal the key is reaped everywhere, reads find
  nothing, and a forced `shoal aae run` on every node brings nothing back.
- A re-write on the other side: n1 deletes at w=1 while n2 writes "new"
  over the old value at w=2. After the heal every read returns exactly
  "new" (the tombstone may stay as a sibling of "new", never "old" with
  it); a delete of what a read saw is then reaped everywhere.
- A node wiped and replaced after the delete: n3 is isolated during the
  delete, then loses its disk and is replaced by n5 (`cluster replace`).
  n1 and n2 keep their tombstones while n3 is down and while the change is
  in progress; once it completed, n1, n2 and n5 reap the key and reads
  never find the old value.
- A hint holding the old value (4 nodes): a primary P is down during the
  put, so the fallback F keeps the put as a hint for P. P comes back but a
  one-way cut F->P keeps the hint from being delivered; the key is deleted
  through another primary. While F holds the hint no primary reaps (each
  names F in `status`); after the heal the hint reaches P, is absorbed by
  P's tombstone and deleted, and then the key is reaped everywhere.
- The control: the first scenario with the planted unsafe rule
  (storage.TEST_reap_unsafe: reap at once, no checks) brings the deleted
  value back, so the first scenario can fail.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_tombstones_kv679.py -v
"""

import json
import os
import re
import subprocess
import sys
import time
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_until  # noqa: E402
from test_membership import lose_node, seed_only  # noqa: E402

REAPING = {"reap": "true", "tombstone_grace": '"1s"', "reap_interval": '"500ms"'}
GRACE_S = 1.0
# How long past the grace a blocked tombstone is watched to show that
# nothing is reaped: several reaper rounds (500 ms each).
HOLD_S = GRACE_S + 4.0
# From the heal to every copy reaped: anti-entropy exchanges every 250 ms
# per partition, then a reaper round; the bound leaves room for a loaded
# machine.
REAP_DEADLINE_S = 120.0
# How long the failure detector may take to see a cut peer down (about
# failure.down_after_ms, 1 s) or a healed one up.
DETECT_S = 15.0


def log(text: str) -> None:
    print(f"[kv679] {text}", file=sys.stderr, flush=True)


class ReapingTestCase(harness.RingTestCase):
    """A fresh ring per test with reaping on (as TombstoneTest turns it on);
    a test marked `.unsafe` also gets the planted unsafe rule."""

    def setUp(self) -> None:
        super().setUp()
        settings = dict(REAPING)
        test = getattr(self, self._testMethodName)
        if getattr(test, "unsafe", False):
            settings["TEST_reap_unsafe"] = "true"
        self.ring.reconfigure({"storage": settings})

    # ---- what the nodes hold ----

    def statuses(self, nodes=None) -> dict[str, dict]:
        return {n: self.ring.status(n) for n in (nodes or self.ring.names)}

    def stored(self, key: str, node: str) -> tuple[list[str], int]:
        """`node`'s own copy of `key`: (its live values, sorted; how many
        tombstone siblings it has)."""
        got = self.ring.local_get(key, node)
        values = sorted(s["value"] for s in got["siblings"] if not s["tombstone"])
        self.assertEqual(values, sorted(got["values"]), got)
        return values, sum(1 for s in got["siblings"] if s["tombstone"])

    def wait_all_hold(self, key: str, value: str, nodes=None) -> None:
        for name in nodes or self.ring.names:
            wait_until(lambda: self.stored(key, name) == ([value], 0), 10,
                       f"{name} to hold {key} = {value!r}")

    def wait_views(self, want: dict[str, dict[str, bool]]) -> None:
        """Waits until each node of `want` sees each listed member up (True)
        or down (False) in `shoal status`."""
        def seen():
            views = self.ring.views(list(want))
            return all(views.get(a, {}).get(b) is up
                       for a, peers in want.items() for b, up in peers.items())
        try:
            wait_until(seen, DETECT_S, f"the failure detectors to agree with {want}",
                       interval=0.1)
        except AssertionError as e:
            raise AssertionError(f"{e}: {self.ring.views(list(want))}") from None

    def assert_tombstone_kept(self, nodes, waiting_for: tuple[str, ...]) -> None:
        """Each of `nodes` still holds exactly one tombstone, reaped none,
        and `status` names one of `waiting_for` as the reason."""
        for name in nodes:
            st = self.ring.status(name)["tombstones"]
            self.assertEqual(st["count"], 1, (name, st))
            self.assertEqual(st["reaped"], 0, (name, st))
            self.assertTrue(any(w in st["waiting_for"] for w in waiting_for),
                            f"{name} waits for {st['waiting_for']!r}, expected a "
                            f"reason naming one of {waiting_for}")

    def wait_reaped(self, nodes, what: str, since: float, since_what: str,
                    check=None) -> None:
        """Waits until every node of `nodes` (names or addresses) holds no
        key and no tombstone; `check` runs at each poll (it asserts what
        must hold all along)."""
        def reaped():
            if check:
                check()
            sts = {n: self.ring.status(n) for n in nodes}
            left = {n: (s["keys"], s["tombstones"]["count"]) for n, s in sts.items()}
            if time.monotonic() - reaped.last >= 5:
                reaped.last = time.monotonic()
                log(f"  +{time.monotonic() - since:5.1f} s: (keys, tombstones) {left}")
            return all(k == 0 and t == 0 for k, t in left.values())
        reaped.last = 0.0
        try:
            wait_until(reaped, REAP_DEADLINE_S, what, interval=0.5)
        except AssertionError as e:
            raise AssertionError(f"{e}: {self.statuses(nodes)}") from None
        log(f"{what}: done {time.monotonic() - since:.1f} s after {since_what}")

    def assert_gone(self, key: str, nodes) -> None:
        """Reads through each node find nothing, and no node's store holds
        anything of `key` (not even a tombstone)."""
        for name in nodes:
            got = self.ring.get(key, name)
            self.assertFalse(got["found"], (name, got))
            local = self.ring.local_get(key, name)
            self.assertFalse(local["found"], (name, local))
            self.assertEqual(local["siblings"], [], (name, local))


class KV679Test(ReapingTestCase):
    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = 24500

    def cut_n1_off(self) -> None:
        """`fault partition 'n1 | n2,n3'`, and waits until both sides see
        the other down."""
        self.ring.shoal("fault", "partition", "n1 | n2,n3")
        self.wait_views({"n1": {"n2": False, "n3": False},
                         "n2": {"n1": False, "n3": True},
                         "n3": {"n1": False, "n2": True}})

    def delete_at_w1_through_n1(self, reaped_at_once: bool = False) -> None:
        """n1 then stores the tombstone only, unless the planted unsafe rule
        (`reaped_at_once`) may already have reaped it."""
        got = self.ring.get("k", "n1", "--r", "1")
        self.assertEqual(got["values"], ["old"], got)
        self.ring.shoal("del", "k", "--context", got["context"], "--w", "1", node="n1")
        stored = self.stored("k", "n1")
        if reaped_at_once:
            self.assertIn(stored, (([], 1), ([], 0)))
        else:
            self.assertEqual(stored, ([], 1))

    # ---- 1. a delete at w=1 on one side ----

    def test_a_delete_at_w1_on_one_side_is_never_undone(self):
        self.ring.put("k", "old")
        self.wait_all_hold("k", "old")
        self.cut_n1_off()
        self.delete_at_w1_through_n1()
        # Not synchronization: hold well past the grace to show that n1
        # keeps its tombstone while n2 and n3 (the old value) are cut off.
        time.sleep(HOLD_S)
        self.assert_tombstone_kept(["n1"], ("n2", "n3"))
        for name in ("n2", "n3"):
            self.assertEqual(self.stored("k", name), (["old"], 0), name)
            self.assertEqual(self.ring.status(name)["tombstones"]["count"], 0, name)
        self.ring.shoal("fault", "heal")
        healed = time.monotonic()
        self.wait_reaped(self.ring.names, "k to be reaped on every node", healed,
                         "the heal")
        for name, st in self.statuses().items():
            # n2 and n3 only get to "nothing" through the tombstone.
            self.assertGreaterEqual(st["tombstones"]["reaped"], 1, (name, st))
        self.assert_gone("k", self.ring.names)
        # A later anti-entropy pass has nothing to bring back.
        for name in self.ring.names:
            _, run = self.ring.shoal("aae", "run", node=name, timeout=120)
            self.assertEqual(run["errors"], 0, run)
        self.assert_gone("k", self.ring.names)
        for name, st in self.statuses().items():
            self.assertEqual(st["keys"], 0, (name, st))

    # ---- 2. a re-write on the other side ----

    def test_b_a_rewrite_on_the_other_side_keeps_only_the_new_value(self):
        self.ring.put("k", "old")
        self.wait_all_hold("k", "old")
        self.cut_n1_off()
        self.delete_at_w1_through_n1()
        got = self.ring.get("k", "n2")
        self.assertEqual(got["values"], ["old"], got)
        self.ring.put("k", "new", "n2", "--context", got["context"])
        self.assertEqual(self.stored("k", "n2"), (["new"], 0))
        # Not synchronization: past the grace n1 still keeps its tombstone.
        time.sleep(HOLD_S)
        self.assert_tombstone_kept(["n1"], ("n2", "n3"))
        self.ring.shoal("fault", "heal")
        healed = time.monotonic()

        # Every replica ends with the same copy: "new", and at most the
        # tombstone as its sibling (concurrent with "new"), never "old".
        def converged():
            copies = {n: self.stored("k", n) for n in self.ring.names}
            for name, (values, _) in copies.items():
                self.assertNotIn("old", values, (name, copies))
            return len(set(map(repr, copies.values()))) == 1 and \
                copies["n1"][0] == ["new"]
        try:
            wait_until(converged, REAP_DEADLINE_S, "every replica to hold only 'new'",
                       interval=0.5)
        except AssertionError as e:
            raise AssertionError(
                f"{e}: {[self.ring.local_get('k', n) for n in self.ring.names]}") from None
        log(f"replicas converged {time.monotonic() - healed:.1f} s after the heal: "
            f"n1 holds {self.stored('k', 'n1')} (values, tombstone siblings)")
        for name in self.ring.names:
            got = self.ring.get("k", name)
            self.assertEqual(got["values"], ["new"], (name, got))
        for name, st in self.statuses().items():
            # A copy with a live value is no tombstone: nothing to reap.
            self.assertEqual((st["keys"], st["tombstones"]["count"]), (1, 0), (name, st))

        # The resolution: a delete of what a read saw is reaped everywhere.
        got = self.ring.get("k", "n3")
        self.ring.shoal("del", "k", "--context", got["context"], node="n3")
        resolved = time.monotonic()
        self.wait_reaped(self.ring.names, "the resolving delete to be reaped everywhere",
                         resolved, "the delete")
        self.assert_gone("k", self.ring.names)

    # ---- 3. a node wiped and replaced after the delete ----

    def test_c_a_node_wiped_and_replaced_after_the_delete(self):
        self.ring.put("k", "old")
        self.wait_all_hold("k", "old")
        self.ring.shoal("fault", "isolate", "n3")
        self.wait_views({"n1": {"n3": False}, "n2": {"n3": False}})
        got = self.ring.get("k", "n1")
        self.ring.shoal("del", "k", "--context", got["context"], node="n1")
        for name in ("n1", "n2"):
            wait_until(lambda: self.stored("k", name) == ([], 1), 10,
                       f"{name} to hold the tombstone")
        # Not synchronization: past the grace n1 and n2 keep their
        # tombstones while n3 (the old value) is unreachable.
        time.sleep(HOLD_S)
        self.assert_tombstone_kept(["n1", "n2"], ("n3",))
        self.assertEqual(self.stored("k", "n3"), (["old"], 0))

        # n3 loses its disk; the network fault goes, n3 stays dead.
        lose_node(self.ring, "n3", seen_by="n1")
        code, out = self.ring.shoal("fault", "heal", expect_ok=False)
        log(f"fault heal with n3 dead: exit {code}")
        for name in ("n1", "n2"):
            self.assertEqual(self.ring.status(name)["faults"]["active"], [], name)
        self.assert_tombstone_kept(["n1", "n2"], ("n3",))

        base = harness.base_port(self.BASE_PORT)
        n5 = f"127.0.0.1:{base + 5}"
        self.ring.shoal("cluster", "replace", "n3", f"n5@{n5}", node="n1")
        _, committed = self.ring.shoal("cluster", "commit", node="n1")
        self.assertEqual(committed["epoch"], 2)
        with open(self.ring.members["n1"]["config"]) as f:
            text = seed_only(f.read(), self.ring.address("n1"))
        for key, value in (("name", "n5"), ("listen", n5),
                           ("data_dir", os.path.join(self.ring.tmp, "n5")),
                           ("metrics_listen", f"127.0.0.1:{base + 105}")):
            text = re.sub(rf"(?m)^{key} = .*$", f"{key} = '{value}'", text)
        config = os.path.join(self.ring.tmp, "n5.toml")
        with open(config, "w") as f:
            f.write(text)
        n5_log = open(os.path.join(self.ring.tmp, "n5.log"), "a")
        proc = subprocess.Popen(
            [os.path.join(harness.bin_dir(), "shoald"), "--config", config],
            stdout=n5_log, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), n5_log.close()))
        started = time.monotonic()

        def view(name: str) -> dict:
            return self.ring.shoal("cluster", "status", node=name)[1]

        def complete() -> bool:
            # Never the old value on the way (n5 copies from n1 and n2).
            for name in ("n1", "n2"):
                self.assertEqual(self.stored("k", name)[0], [], name)
            try:
                views = [view(n) for n in ("n1", "n2", n5)]
            except harness.CliError:
                return False
            # Committed at 2, switched at 3, complete at 4.
            return all(v["epoch"] == 4 and not v["changing"] and v["converged"]
                       for v in views)
        wait_until(complete, 120, "the replacement to complete", interval=0.3)
        log(f"replacement complete {time.monotonic() - started:.1f} s after n5 started")
        members = {m["name"]: m["state"] for m in view("n1")["members"]}
        self.assertEqual((members["n3"], members["n5"]), ("removed", "valid"), members)

        def never_old():
            for name in ("n1", "n2", n5):
                got = self.ring.shoal("get", "k", "--local", node=name)[1]
                self.assertNotIn("old", got["values"], (name, got))
        self.wait_reaped(["n1", "n2", n5], "k to be reaped on n1, n2 and n5", started,
                         "n5 started", check=never_old)
        log("reaped: " + str({n: self.ring.status(n)["tombstones"]["reaped"]
                              for n in ("n1", "n2", n5)}))
        # n5 copied the tombstone (n1 and n2 could not reap it during the
        # change) and reaped it like the others.
        for name in ("n1", "n2", n5):
            self.assertGreaterEqual(self.ring.status(name)["tombstones"]["reaped"], 1, name)
        self.assert_gone("k", ["n1", "n2", n5])

    # ---- the control: scenario 1 with the planted unsafe rule ----

    def test_d_unsafe_reaping_brings_the_deleted_value_back(self):
        """storage.TEST_reap_unsafe reaps at once, without the checks: n1
        drops its tombstone during the cut, and the old value that n2 and
        n3 hold is read again after the heal, so scenario 1 can fail."""
        self.ring.put("k", "old")
        self.wait_all_hold("k", "old")
        self.cut_n1_off()
        self.delete_at_w1_through_n1(reaped_at_once=True)
        wait_until(lambda: self.ring.status("n1")["keys"] == 0, 30,
                   "n1 to reap k at once")
        self.ring.shoal("fault", "heal")
        wait_until(lambda: self.ring.get("k", "n1")["values"] == ["old"],
                   REAP_DEADLINE_S, "the deleted value to come back through n1")
        log("unsafe control: the deleted value came back, as it must without the checks")
    test_d_unsafe_reaping_brings_the_deleted_value_back.unsafe = True


class HintedOldValueTest(ReapingTestCase):
    """4 nodes, n=3: every key has a fallback that keeps hints."""
    NODES = 4
    N, W, R = 3, 2, 2
    BASE_PORT = 24700

    def hints_for(self, holder: str, target: str) -> int:
        hints = self.ring.shoal("hints", node=holder)[1]
        return sum(t["count"] for t in hints["targets"] if t["target"] == target)

    def hint_records(self, holder: str) -> list[dict]:
        """The records of `holder`'s hints database (`shoald dump --db
        hints --json`: read-only, works while the node runs)."""
        with open(self.ring.members[holder]["config"], "rb") as f:
            data_dir = tomllib.load(f)["data_dir"]
        dump = subprocess.run(
            [os.path.join(harness.bin_dir(), "shoald"), "dump", "--data-dir", data_dir,
             "--db", "hints", "--json"], capture_output=True, text=True, timeout=30)
        self.assertEqual(dump.returncode, 0, dump)
        return [json.loads(line) for line in dump.stdout.splitlines() if line.strip()]

    # ---- 4. a hint with the old value delivered after the others would reap ----

    def test_a_hint_with_the_old_value_blocks_reaping_until_delivered(self):
        _, where = self.ring.shoal("ring", "where", "k")
        primaries = [p["name"] for p in where["primaries"]]
        self.assertEqual(len(primaries), 3, where)
        fallback = where["fallbacks"][0]["name"]
        target, coordinator, third = primaries
        log(f"k: primaries {primaries}, fallback {fallback}; {target} is down "
            f"for the put, {coordinator} coordinates")
        others = [coordinator, third, fallback]

        self.ring.kill(target)
        self.wait_views({n: {target: False} for n in others})
        self.assertEqual(self.hints_for(fallback, target), 0)
        self.ring.put("k", "old", coordinator)
        # Sloppy quorum: the fallback keeps the put as a hint for the target.
        wait_until(lambda: self.hints_for(fallback, target) == 1, 10,
                   f"{fallback} to keep a hint for {target}")
        self.wait_all_hold("k", "old", [coordinator, third])
        hints = self.hint_records(fallback)
        self.assertEqual([(h["key"], h["target"], [(x["value"], x["tombstone"])
                                                   for x in h["siblings"]])
                          for h in hints], [("k", target, [("old", False)])], hints)

        # The target comes back, but its fallback's frames to it are cut:
        # the hint stays where it is. (The cut is set while the target is
        # down; `ring start` gives it the table too.)
        self.ring.shoal("fault", "cut", f"{fallback}->{target}")
        self.ring.start(target, wait_ready=False)
        self.wait_views({coordinator: {target: True}, third: {target: True},
                         target: {coordinator: True, third: True}})
        got = self.ring.get("k", coordinator)
        self.assertEqual(got["values"], ["old"], got)
        self.ring.shoal("del", "k", "--context", got["context"], node=coordinator)
        for name in primaries:
            wait_until(lambda: self.stored("k", name) == ([], 1), 10,
                       f"{name} to hold the tombstone")

        # Not synchronization: hold well past the grace to show that no
        # primary reaps while the fallback holds a hint with the old value.
        time.sleep(HOLD_S)
        self.assertEqual(self.hints_for(fallback, target), 1,
                         "the hint was delivered through the cut")
        self.assert_tombstone_kept(primaries, (fallback,))
        log("while the hint waits: " + str(
            {n: self.ring.status(n)["tombstones"]["waiting_for"] for n in primaries}))

        self.ring.shoal("fault", "heal")
        healed = time.monotonic()

        def never_old():
            for name in primaries:
                values, _ = self.stored("k", name)
                self.assertNotIn("old", values, name)
        wait_until(lambda: never_old() or self.hints_for(fallback, target) == 0,
                   REAP_DEADLINE_S, f"{fallback}'s hint to be delivered to {target}",
                   interval=0.2)
        self.assertEqual(self.hint_records(fallback), [])
        delivered = self.ring.shoal("hints", node=fallback)[1]
        self.assertGreaterEqual(delivered["delivered"], 1, delivered)
        log(f"hint delivered {time.monotonic() - healed:.1f} s after the heal")
        self.wait_reaped(self.ring.names, "k to be reaped on every node", healed,
                         "the heal", check=never_old)
        for name in primaries:
            self.assertGreaterEqual(self.ring.status(name)["tombstones"]["reaped"], 1, name)
        self.assert_gone("k", self.ring.names)


if __name__ == "__main__":
    harness.main()
