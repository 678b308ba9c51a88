#!/usr/bin/env python3
"""Every node's /metrics (issue 6): valid Prometheus text with no lint
warnings, the documented families present, `shoal metrics` reading them,
and a Grafana dashboard that only queries metrics the nodes export.

- After some traffic (puts, gets, a read that repairs a replica), every
  node's /metrics passes `promtool check metrics` with no output at all
  (promtool prints lint problems and exits 0 for some of them, so the
  output must be empty, not only the exit code 0).
- deploy/grafana/shoal.json parses, and every shoal_* metric its queries
  use appears in a node's /metrics (the anti-entropy ones included).
- `shoal metrics --node n2 --json` (and the text form) shows the node's
  figures.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_metrics.py -v
"""

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BASE_PORT = 29400  # nodes 29401..3, metrics 29501..3
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "shoal.json")

# The families doc/metrics.md promises.
EXPECTED = [
    "shoal_build_info", "shoal_requests_total", "shoal_request_duration_seconds",
    "shoal_read_siblings", "shoal_read_replica_replies_total",
    "shoal_read_stale_age_seconds", "shoal_read_repairs_total",
    "shoal_write_replica_lag_seconds", "shoal_hints_pending",
    "shoal_hints_pending_bytes", "shoal_hints_oldest_age_seconds",
    "shoal_hints_stored_total", "shoal_hints_delivered_total",
    "shoal_hints_dropped_total", "shoal_peer_up", "shoal_peer_marked_down_total",
    "shoal_storage_keys", "shoal_storage_used_bytes", "shoal_storage_map_size_bytes",
    "shoal_storage_map_usage_ratio", "shoal_storage_sync_failures_total",
    "shoal_aae_exchanges_total", "shoal_aae_keys_repaired_total",
    "shoal_aae_bytes_total", "shoal_aae_divergence_age_seconds",
    "shoal_write_siblings", "shoal_write_siblings_warnings_total",
    "shoal_storage_full", "shoal_storage_full_errors_total",
    "shoal_storage_filesystem_free_bytes", "shoal_storage_filesystem_size_bytes",
    "shoal_connections", "shoal_connections_refused_total",
    "shoal_connections_closed_total", "shoal_read_pauses_total",
    "shoal_requests_in_flight", "shoal_inflight_bytes",
    "shoal_ring_epoch", "shoal_cluster_changing",
    "shoal_cluster_stale_requests_total",
    "shoal_transfer_partitions_remaining",
    "shoal_transfer_partitions_received_total",
    "shoal_transfer_started_time_seconds",
]


def families(text: str) -> set[str]:
    """Family names from the # TYPE lines."""
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def sample_names(text: str) -> set[str]:
    return {re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0)
            for line in text.splitlines() if line and not line.startswith("#")}


class MetricsTest(harness.SharedRingTestCase):
    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = BASE_PORT

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ring = cls.ring
        # Traffic that fills every kind of series: puts, gets (found and
        # not), a replica repaired by a read, siblings.
        for i in range(10):
            ring.put(f"k{i}", f"v{i}", f"n{1 + i % 3}")
            ring.get(f"k{i}", f"n{1 + (i + 1) % 3}")
        ring.get("absent-key", "n1")
        ring.put("sib", "a", "n1")
        ring.put("sib", "b", "n2")
        ring.get("sib", "n3")

    def scrape(self, name: str) -> str:
        url = f"http://{self.ring.metrics_address(name)}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            self.assertEqual(resp.status, 200)
            return resp.read().decode()

    def test_every_node_passes_promtool_check_metrics_without_warnings(self):
        # scripts/setup.sh installs promtool: its absence is a failure (a
        # machine that was not set up), not a skip.
        if shutil.which("promtool") is None:
            self.fail("promtool is not installed (Debian package prometheus; "
                      "run scripts/setup.sh)")
        for name in self.ring.names:
            with self.subTest(node=name):
                text = self.scrape(name)
                proc = subprocess.run(["promtool", "check", "metrics"],
                                      input=text.encode(), capture_output=True,
                                      timeout=30)
                out = (proc.stdout + proc.stderr).decode().strip()
                self.assertEqual(proc.returncode, 0, out)
                self.assertEqual(out, "", f"promtool lint output for {name}")

    def test_documented_families_are_exported_with_bounded_labels(self):
        text = self.scrape("n1")
        missing = [f for f in EXPECTED if f not in families(text)]
        self.assertEqual(missing, [], "families doc/metrics.md lists")
        # Label values are from fixed sets or member names: no key appears.
        for key in [f"k{i}" for i in range(10)] + ["sib", "absent-key"]:
            self.assertNotIn(f'"{key}"', text)
        peers = set(re.findall(r'shoal_peer_up\{peer="([^"]+)"\}', text))
        self.assertEqual(peers, {"n2", "n3"})
        targets = set(re.findall(r'shoal_hints_pending\{target="([^"]+)"\}', text))
        self.assertEqual(targets, {"n2", "n3"})

    def test_grafana_dashboard_queries_only_exported_metrics(self):
        with open(DASHBOARD) as f:
            dash = json.load(f)
        exprs = []

        def walk(panels):
            for p in panels:
                exprs.extend(t["expr"] for t in p.get("targets", []) if "expr" in t)
                walk(p.get("panels", []))
        walk(dash["panels"])
        for var in dash.get("templating", {}).get("list", []):
            q = var.get("query")
            if isinstance(q, dict):
                exprs.append(q.get("query", ""))
        self.assertGreater(len(exprs), 10)
        used = set()
        for e in exprs:
            used |= set(re.findall(r"\bshoal_[a-z0-9_]+", e))
        exported = set()
        for name in self.ring.names:
            exported |= sample_names(self.scrape(name))
        absent = sorted(m for m in used if m not in exported)
        self.assertEqual(absent, [], "dashboard metrics no node exports")
        # And every documented family appears on the dashboard.
        for fam in EXPECTED:
            if fam in ("shoal_build_info", "shoal_peer_marked_down_total",
                       "shoal_storage_sync_failures_total"):
                continue
            self.assertTrue(any(u == fam or u.startswith(fam + "_") for u in used),
                            f"{fam} is on no dashboard panel")

    def test_shoal_metrics_shows_a_nodes_figures(self):
        _, out = self.ring.shoal("metrics", node="n2")
        self.assertEqual(out["node"], "n2")
        self.assertEqual(out["metrics_address"], self.ring.metrics_address("n2"))
        self.assertEqual(out["version"], "0.1.0")
        self.assertGreater(out["requests"]["put"]["count"], 0)
        self.assertEqual({p["peer"] for p in out["peers"]}, {"n1", "n3"})
        self.assertTrue(all(p["up"] for p in out["peers"]))
        self.assertEqual(out["hints"]["pending"], 0)
        self.assertGreater(out["storage"]["keys"], 0)
        self.assertGreater(out["storage"]["map_size_bytes"], 0)
        code, text, err = self.ring.shoal_text("metrics", "--node", "n1")
        self.assertEqual(code, 0, err)
        for word in ("requests", "reads:", "writes:", "hints:", "peers:", "storage:"):
            self.assertIn(word, text)
        # By address too, and a clean error for an unknown node.
        _, direct = self.ring.shoal("metrics", "--metrics-address",
                                    self.ring.metrics_address("n3"))
        self.assertEqual(direct["metrics_address"], self.ring.metrics_address("n3"))
        code, bad = self.ring.shoal("metrics", node="n9", expect_ok=False)
        self.assertEqual(code, 1)
        self.assertEqual(bad["error"]["code"], "not_found")


if __name__ == "__main__":
    harness.main()
