#!/usr/bin/env python3
"""Metrics through a real Prometheus server (issue 6): a 3-node ring with
n=2 w=2 r=2 started with `shoal ring up --prometheus`, which scrapes every
node each second; every assertion is a PromQL query through Prometheus's
HTTP API (/api/v1/query).

n=2 on 3 nodes so that every key has a fallback: a write for a down
primary becomes a hint on the third node.

Phases (one ring, in order; each phase checks something the previous one
could not have made true by accident):
1. hints: n3 is killed and keys whose primaries are n1 and n3 are written
   through n1: the fallback n2 keeps hints, so sum(shoal_hints_pending) > 0.
2. drain: n3 is started again; handoff delivers the hints and
   sum(shoal_hints_pending) returns to 0 (the series stay, at 0).
3. stale: keys with primaries n1 and n3 are written (v1, every node up);
   then n2 and n3 are killed and the keys are overwritten through n1 with
   --w 1 (blind writes, so v1 stays as a sibling): with the fallback n2
   down too, no hint is kept anywhere, so n3
   misses v2 and nothing will hand it over. Both are started again and the
   keys are read through n1 with r=2: n1's stale-reply counter and its
   stale-age histogram count grow by one per key (n3's reply lacks v2).
Automatic anti-entropy is off (it would repair n3 before phase 3 reads).
4. current: read repair has brought n3 up to date; a read-only phase over
   the same keys raises the current-reply counter and leaves the stale one
   where it was.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_prometheus.py -v
"""

import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_until  # noqa: E402

BASE_PORT = 29000  # nodes 29001..3, metrics 29101..3, prometheus 29200
KEYS = 6


class PrometheusTest(harness.PrometheusQueries, harness.RingTestCase):
    NODES = 3
    N, W, R = 2, 2, 2
    BASE_PORT = BASE_PORT
    EXTRA_UP_ARGS = ("--prometheus",)

    def setUp(self):
        # scripts/setup.sh installs Prometheus: without it the machine is not
        # set up, and that is a failure to report, not a reason to skip.
        if shutil.which("prometheus") is None:
            self.fail("prometheus is not installed (Debian package prometheus; "
                      "run scripts/setup.sh)")
        super().setUp()
        # Anti-entropy would bring n3 up to date before phase 3 reads it;
        # this test needs a replica that only read repair fixes.
        self.ring.reconfigure({"antientropy": {"enabled": "false"}})
        prom = self.ring.up_json["prometheus"]
        self.assertIsNotNone(prom["pid"], prom)
        self.prom = prom["address"]
        self.assertEqual(self.prom, f"127.0.0.1:{harness.base_port(BASE_PORT) + 200}")
        # Every node scraped at least once.
        self.wait_value('count(up{job="shoal"} == 1)', lambda v: v == 3,
                        "Prometheus to scrape all 3 nodes")

    def scraped_since(self, t0):
        """Waits until Prometheus scraped n1 after wall time t0."""
        self.wait_value('timestamp(shoal_build_info{node="n1"})',
                        lambda v: v > t0 + 0.1, "a scrape of n1 after the phase")

    # ---- keys ----

    def keys_with_primaries(self, prefix, primaries, count):
        out = []
        for i in range(2000):
            key = f"{prefix}{i}"
            _, where = self.ring.shoal("ring", "where", key)
            names = sorted(p["name"] for p in where["primaries"])
            if names == sorted(primaries):
                out.append(key)
                if len(out) == count:
                    return out
        self.fail(f"no {count} keys with primaries {primaries}")

    # ---- the scenario ----

    def test_hints_drain_and_staleness_seen_through_prometheus(self):
        ring = self.ring
        hinted = self.keys_with_primaries("h", ["n1", "n3"], KEYS)
        stale_keys = self.keys_with_primaries("s", ["n1", "n3"], KEYS)

        # Nothing pending on a fresh ring: the series exist, at 0.
        self.wait_value("sum(shoal_hints_pending)", lambda v: v == 0,
                        "hint series at 0 on a fresh ring")

        # 1. One node down, writes flowing: hints pile up.
        ring.kill("n3")
        wait_until(lambda: ring.views(["n1"])["n1"].get("n3") is False, 10,
                   "n1 to see n3 down")
        for k in hinted:
            ring.put(k, "v", "n1")
        pending = self.wait_value("sum(shoal_hints_pending)", lambda v: v > 0,
                                  "hints pending while n3 is down")
        self.assertLessEqual(pending, KEYS)
        self.wait_value('shoal_hints_pending{node="n2",target="n3"}',
                        lambda v: v == KEYS, "n2 to keep one hint per key")
        self.wait_value('shoal_hints_oldest_age_seconds{node="n2",target="n3"}',
                        lambda v: v > 0, "the oldest hint to have an age")
        self.wait_value('shoal_peer_up{node="n1",peer="n3"}', lambda v: v == 0,
                        "n1's shoal_peer_up for n3 to be 0")

        # 2. The node is back: handoff drains the backlog to 0.
        ring.start("n3")
        self.wait_value("sum(shoal_hints_pending)", lambda v: v == 0,
                        "the hint backlog to drain", timeout=60)
        self.wait_value('shoal_hints_delivered_total{node="n2"}',
                        lambda v: v >= KEYS, "delivered hints counted")
        self.wait_value('shoal_peer_up{node="n1",peer="n3"}', lambda v: v == 1,
                        "n1's shoal_peer_up for n3 back to 1")

        # 3. A replica misses writes that nothing hands over.
        for k in stale_keys:
            ring.put(k, "v1", "n1")
        ring.kill("n2")
        ring.kill("n3")
        wait_until(lambda: all(v is False for p, v in ring.views(["n1"])["n1"].items()
                               if p != "n1"), 10, "n1 to see n2 and n3 down")
        for k in stale_keys:
            ring.put(k, "v2", "n1", "--w", "1")
        ring.start("n2")
        ring.start("n3")
        # No hint was kept for these writes (the fallback was down too).
        self.assertEqual(ring.shoal("hints", node="n2")[1]["pending"], 0)
        stale_q = ('shoal_read_replica_replies_total{node="n1",freshness="stale"}')
        age_q = 'shoal_read_stale_age_seconds_count{node="n1"}'
        t0 = time.time()
        self.scraped_since(t0)
        stale_before = self.query(stale_q)
        age_before = self.query(age_q)
        for k in stale_keys:
            got = ring.get(k, "n1", "--r", "2")
            self.assertIn("v2", got["values"], got)  # v1 stays as a sibling
        self.wait_value(stale_q, lambda v: v >= stale_before + KEYS,
                        "one stale reply per key read")
        self.wait_value(age_q, lambda v: v >= age_before + KEYS,
                        "one stale-age observation per stale reply")
        # n3 lacked writes made a few seconds ago, not hours ago.
        self.wait_value('histogram_quantile(0.5, shoal_read_stale_age_seconds_bucket{node="n1"})',
                        lambda v: 0 < v < 300, "a plausible median stale age")
        # Read repair brought n3 up to date.
        for k in stale_keys:
            wait_until(lambda: "v2" in ring.local_get(k, "n3")["values"], 10,
                       f"read repair of {k} on n3")

        # 4. Every replica current: a read-only phase moves only "current".
        t1 = time.time()
        self.scraped_since(t1)
        stale_now = self.query(stale_q)
        current_q = 'shoal_read_replica_replies_total{node="n1",freshness="current"}'
        current_before = self.query(current_q)
        for _ in range(2):
            for k in stale_keys + hinted:
                ring.get(k, "n1", "--r", "2")
        reads = 2 * (len(stale_keys) + len(hinted))
        # Every read waits for r=2 replies, and repair classifies each reply.
        self.wait_value(current_q, lambda v: v >= current_before + reads,
                        "current replies for the read-only phase")
        self.scraped_since(time.time())
        self.assertEqual(self.query(stale_q), stale_now,
                         "stale replies counted while every replica was current")


if __name__ == "__main__":
    harness.main()
