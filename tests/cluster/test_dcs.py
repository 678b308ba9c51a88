#!/usr/bin/env python3
"""Two datacenters (doc/impl.md, "Datacenters and racks"): a ring of 6 nodes
started with `shoal ring up --dcs 2 --nodes 6 --n 3 --prometheus` (n1-n3 in
dc1, n4-n6 in dc2, racks r1..r3 in each, 3 replicas of every key in each
datacenter), one ring for the class; metrics are read through the real
Prometheus the ring starts (scraping every node each second).

1. topology: `ring status` (and each node's `shoal status`) puts n1-n3 in
   dc1 and n4-n6 in dc2, on three distinct racks per datacenter, with n = 3
   per datacenter (`cluster.n = { dc1 = 3, dc2 = 3 }` in node.toml).
2. WAN delay: with `fault delay 'dc1<->dc2' 50ms`, 100 local_quorum puts and
   gets through n1 all succeed, and n1's shoal_write_replica_lag_seconds
   (labelled with the acking replica's dc) has, over exactly those puts, a
   median of at least the injected 50 ms for dc="dc2" and well below it
   (under 25 ms) for dc="dc1". Request latencies are not asserted (speed
   belongs to the benchmarks).
3. cut: with `fault cut 'dc1<->dc2'` and n1 seeing n4-n6 down (and n4 seeing
   n1-n3 down), 50 local_quorum puts through n1 succeed and local_quorum gets
   through n2 return them; each_quorum puts and gets through n1 fail
   (`unavailable`, exit != 0) naming datacenter dc2; dc2 serves its own
   local_quorum (a put through n4, a get through n5).
4. heal: every acknowledged write reaches the other datacenter's own copies
   (`get --local`: n4-n6 for dc1's writes, n1-n3 for dc2's) by anti-entropy
   and hints within 90 s, and every one reads back with each_quorum: 0
   acknowledged writes lost. The convergence time is printed.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_dcs.py -v
"""

import json
import os
import shutil
import sys
import time
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_until  # noqa: E402

BASE_PORT = 31800  # nodes 31801..6, metrics 31901..6, prometheus 32000
DC1 = ["n1", "n2", "n3"]
DC2 = ["n4", "n5", "n6"]
DELAY_S = 0.050
WAN_KEYS = 100
CUT_KEYS = 50
CONVERGENCE_LIMIT_S = 90.0
LAG = "shoal_write_replica_lag_seconds"


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class TwoDatacentersTest(harness.PrometheusQueries, harness.SharedRingTestCase):
    NODES = 6
    N, W, R = 3, 2, 2
    BASE_PORT = BASE_PORT
    EXTRA_UP_ARGS = ("--dcs", "2", "--prometheus")

    @classmethod
    def setUpClass(cls) -> None:
        # scripts/setup.sh installs Prometheus: without it the machine is not
        # set up, and that is a failure to report, not a reason to skip.
        if shutil.which("prometheus") is None:
            raise AssertionError("prometheus is not installed (Debian package "
                                 "prometheus; run scripts/setup.sh)")
        super().setUpClass()
        prom = cls.ring.up_json["prometheus"]
        if prom.get("pid") is None:
            raise AssertionError(f"ring up --prometheus started no Prometheus: {prom}")
        cls.prom = prom["address"]

    def setUp(self) -> None:
        self.wait_value('count(up{job="shoal"} == 1)', lambda v: v == 6,
                        "Prometheus to scrape all 6 nodes")

    def heal(self) -> None:
        self.ring.shoal("fault", "heal", expect_ok=False)
        self.ring.wait_ready(timeout=30)  # every node sees the others up

    def scraped_since(self, t0: float) -> None:
        """Waits until Prometheus scraped n1 after wall time t0."""
        self.wait_value('timestamp(shoal_build_info{node="n1"})',
                        lambda v: v > t0 + 0.1, "a scrape of n1")

    # ---- helpers ----

    def sees_down(self, asker: str, others: list[str]) -> bool:
        view = self.ring.views([asker]).get(asker, {})
        return all(view.get(o) is False for o in others)

    def live_values(self, node: str, key: str) -> list[str]:
        """The live sibling values of `node`'s own copy of `key`."""
        got = self.ring.local_get(key, node)
        return sorted(s["value"] for s in got["siblings"] if not s.get("tombstone"))

    def fails_naming_dc2(self, verb: str, *args: str) -> None:
        """`shoal VERB ARGS --level each_quorum` through n1 fails with
        `unavailable`, naming datacenter dc2 (n1 sees dc2's nodes down)."""
        code, out = self.ring.shoal(verb, *args, "--level", "each_quorum",
                                    node="n1", expect_ok=False)
        self.assertNotEqual(code, 0, out)
        self.assertIsInstance(out, dict, out)
        err = out.get("error", {})
        log(f"each_quorum {verb} through n1 during the cut: exit {code}, {err}")
        self.assertIn("datacenter dc2", err.get("message", ""), out)
        self.assertEqual(err.get("code"), "unavailable", out)
        if verb == "put":
            self.assertIn("the write may have been applied", err["message"], out)

    # ---- 1. topology ----

    def test_1_ring_status_shows_two_datacenters_on_distinct_racks(self):
        status = self.ring.ring_status()
        self.assertEqual(status["n"], 3, "n is per datacenter")
        self.assertEqual(
            [(d["name"], d["n"], d["nodes"]) for d in status["dcs"]],
            [("dc1", 3, DC1), ("dc2", 3, DC2)], status["dcs"])
        nodes = {m["name"]: m for m in status["nodes"]}
        self.assertEqual(sorted(nodes), sorted(DC1 + DC2))
        for dc, names in (("dc1", DC1), ("dc2", DC2)):
            for name in names:
                self.assertEqual(nodes[name].get("dc"), dc, nodes[name])
            racks = [nodes[name].get("rack") for name in names]
            self.assertEqual(sorted(racks), ["r1", "r2", "r3"],
                             f"{dc} racks: {racks}")
        # A node's own view (shoal status) places the members the same way.
        for asker in ("n1", "n4"):
            members = {m["name"]: (m.get("dc"), m.get("rack"))
                       for m in self.ring.status(asker)["members"]}
            self.assertEqual(
                members, {name: (m["dc"], m["rack"]) for name, m in nodes.items()},
                f"members as {asker} reports them")
        # Each node is configured with 3 replicas in each datacenter.
        for name in DC1 + DC2:
            with open(self.ring.members[name]["config"], "rb") as f:
                config = tomllib.load(f)
            self.assertEqual(config["cluster"]["n"], {"dc1": 3, "dc2": 3}, name)
        # 3 + 3 replicas on 6 nodes: every node holds every key.
        _, where = self.ring.shoal("ring", "where", "some-key")
        self.assertEqual(sorted(p["name"] for p in where["primaries"]),
                         sorted(DC1 + DC2), where)

    # ---- 2. WAN delay ----

    def test_2_wan_delay_shows_in_dc2_replica_lag(self):
        ring = self.ring
        self.addCleanup(self.heal)
        # One put before the phase, so both dc series exist at its start
        # (a series appears with its first observation).
        ring.put("wan-warmup", "w", "n1", "--level", "local_quorum")
        for dc in ("dc1", "dc2"):
            self.wait_value(f'{LAG}_count{{node="n1",dc="{dc}"}}', lambda v: v > 0,
                            f"n1's {dc} lag series")
        # t0: a scrape of n1 taken before t0 holds everything before the phase.
        self.scraped_since(time.time())
        t0 = time.time()
        before = {dc: self.query(f'{LAG}_count{{node="n1",dc="{dc}"}} @ {t0:.3f}')
                  for dc in ("dc1", "dc2")}

        ring.shoal("fault", "delay", "dc1<->dc2", f"{int(DELAY_S * 1000)}ms")
        values = {f"wan-{i}": f"value-{i}" for i in range(WAN_KEYS)}
        for key, value in values.items():
            ring.put(key, value, "n1", "--level", "local_quorum")
        for key, value in values.items():
            got = ring.get(key, "n1", "--level", "local_quorum")
            self.assertEqual(got["values"], [value], f"{key}: {got}")

        # Every replica's ack is observed, also dc2's that come after the
        # answer: 3 per datacenter per put.
        for dc in ("dc1", "dc2"):
            count = self.wait_value(
                f'{LAG}_count{{node="n1",dc="{dc}"}} - {LAG}_count{{node="n1",dc="{dc}"}} @ {t0:.3f}',
                lambda v: v >= 3 * WAN_KEYS, f"n1's {dc} acks of the phase's puts")
            self.assertEqual(count, 3 * WAN_KEYS, f"{dc} acks since t0 (before: {before})")

        def median(dc: str) -> float:
            b = f'{LAG}_bucket{{node="n1",dc="{dc}"}}'
            value = self.query(f"histogram_quantile(0.5, {b} - {b} @ {t0:.3f})")
            self.assertIsNotNone(value, f"no {dc} lag median")
            return value

        dc1, dc2 = median("dc1"), median("dc2")
        log(f"n1's replica ack lag over {WAN_KEYS} local_quorum puts with "
            f"{DELAY_S * 1000:.0f} ms between the datacenters: median dc1 "
            f"{dc1 * 1000:.2f} ms, dc2 {dc2 * 1000:.2f} ms")
        self.assertGreaterEqual(dc2, DELAY_S, "dc2's acks lag by the WAN delay")
        self.assertLess(dc1, DELAY_S / 2, "dc1's acks do not cross the WAN")

        # each_quorum works across the (slow) WAN.
        ring.put("wan-each", "e", "n1", "--level", "each_quorum")
        got = ring.get("wan-each", "n4", "--level", "each_quorum")
        self.assertEqual(got["values"], ["e"], got)

    # ---- 3 and 4. cut, then heal ----

    def test_3_cut_then_heal_loses_no_acknowledged_write(self):
        ring = self.ring
        self.addCleanup(self.heal)
        ring.shoal("fault", "cut", "dc1<->dc2")
        # Failures are told apart from timeouts once the failure detector
        # has marked the other side down.
        wait_until(lambda: self.sees_down("n1", DC2), 10, "n1 to see n4-n6 down",
                   interval=0.1)
        wait_until(lambda: self.sees_down("n4", DC1), 10, "n4 to see n1-n3 down",
                   interval=0.1)

        # dc1 serves local_quorum on its own: these writes are acknowledged.
        acked: dict[str, str] = {}
        for i in range(CUT_KEYS):
            ring.put(f"k{i}", f"v{i}", "n1", "--level", "local_quorum")
            acked[f"k{i}"] = f"v{i}"
        for key, value in acked.items():
            got = ring.get(key, "n2", "--level", "local_quorum")
            self.assertEqual(got["values"], [value], f"{key}: {got}")

        # each_quorum needs dc2 too: refused, naming it.
        with self.subTest("each_quorum put names dc2"):
            self.fails_naming_dc2("put", "cut-each", "x")
        with self.subTest("each_quorum get names dc2"):
            self.fails_naming_dc2("get", "k0")

        # dc2 serves its own local_quorum.
        ring.put("dc2-k", "dc2-v", "n4", "--level", "local_quorum")
        got = ring.get("dc2-k", "n5", "--level", "local_quorum")
        self.assertEqual(got["values"], ["dc2-v"], got)
        from_dc2 = {"dc2-k": "dc2-v"}

        # 4. Heal: anti-entropy and hints bring each side's acknowledged
        # writes to the other side's own copies.
        ring.shoal("fault", "heal")
        healed = time.monotonic()
        pending = {(key, node): value for key, value in acked.items() for node in DC2}
        pending.update({(key, node): value for key, value in from_dc2.items()
                        for node in DC1})
        total = len(pending)

        def converged():
            for (key, node), value in list(pending.items()):
                if self.live_values(node, key) == [value]:
                    del pending[(key, node)]
            return not pending

        try:
            wait_until(converged, CONVERGENCE_LIMIT_S,
                       "the other datacenter's copies of every acknowledged write",
                       interval=0.5)
        except AssertionError as e:
            sample = {f"{k}@{n}": self.live_values(n, k)
                      for (k, n) in list(pending)[:5]}
            raise AssertionError(f"{e}: {len(pending)} of {total} copies still "
                                 f"missing, e.g. {sample}") from None
        took = time.monotonic() - healed
        log(f"after the heal, {total} copies ({len(acked)} dc1 writes on n4-n6, "
            f"{len(from_dc2)} dc2 write on n1-n3) converged in {took:.1f} s")

        # 0 acknowledged writes lost.
        lost = {}
        for key, value in {**acked, **from_dc2}.items():
            got = ring.get(key, "n1", "--level", "each_quorum")
            if got["values"] != [value]:
                lost[key] = got["values"]
        self.assertEqual(lost, {}, "acknowledged writes lost or changed")


if __name__ == "__main__":
    harness.main()
