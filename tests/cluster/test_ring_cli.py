#!/usr/bin/env python3
"""The local ring launcher, `shoal ring up|status|where|kill|start|pause|
resume|down`, on a 5-node ring with n=3 w=2 r=2 (what `make up` starts).

Each test gets its own ring directory; the ring is started by the test (as
text or JSON) and always stopped with `shoal ring down` afterwards.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_ring_cli.py -v
"""

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_until  # noqa: E402

NAMES = ["n1", "n2", "n3", "n4", "n5"]


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode() for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except OSError:
        return None


def is_live_shoald(pid, config):
    argv = proc_cmdline(pid)
    return (argv is not None and proc_state(pid) not in (None, "Z")
            and os.path.basename(argv[0]) == "shoald" and config in argv)


class RingCliTest(harness.RingTestCase):
    NODES = 5
    N, W, R = 3, 2, 2
    BASE_PORT = 24000

    def setUp(self):
        # The ring is started by each test (text or JSON form).
        self.ring = harness.Ring(nodes=self.NODES, n=self.N, w=self.W, r=self.R,
                                 base_port=harness.base_port(self.BASE_PORT))
        self.addCleanup(self.ring.down)
        self.base = self.ring.base_port

    def status_by_name(self):
        return {m["name"]: m for m in self.ring.ring_status()["nodes"]}

    # ---- ring up, as `make up` runs it ----

    def test_ring_up_prints_the_nodes_and_three_examples_that_work(self):
        out, _ = self.ring.up_text()
        self.assertIn(f"ring up in {self.ring.dir}: 5 nodes, n=3 w=2 r=2, 64 partitions", out)
        for i, name in enumerate(NAMES, start=1):
            self.assertRegex(
                out, rf"(?m)^\s+{name}\s+127\.0\.0\.1:{self.base + i}\s+"
                     rf"127\.0\.0\.1:{self.base + 100 + i}\s+\d+\s*$")
        self.assertIn("try:\n", out)
        examples = []
        for line in out.split("try:\n", 1)[1].splitlines():
            if not line.startswith("  "):
                break
            examples.append(shlex.split(line))
        self.assertEqual(len(examples), 3, f"expected three example commands in:\n{out}")
        self.assertEqual([e[1] for e in examples], ["put", "get", "status"], examples)
        results = []
        for argv in examples:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            self.assertEqual(proc.returncode, 0, (argv, proc.stdout, proc.stderr))
            results.append(proc.stdout)
        put_out, get_out, status_out = results
        self.assertEqual(put_out.splitlines()[0], "ok")
        value = examples[0][3]
        self.assertEqual(get_out.splitlines()[0], value, get_out)
        self.assertIn("context: ", get_out)
        for name in NAMES:
            self.assertIn(name, status_out)
        # And the printed way to stop it.
        stop = re.search(r"(?m)^stop it with: (.+)$", out)
        self.assertIsNotNone(stop, out)
        proc = subprocess.run(shlex.split(stop.group(1)), capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.ring.expected_down.update(NAMES)
        self.assertEqual(self.ring.pids_in_proc(), [])

    def test_right_after_ring_up_every_node_sees_every_member_up(self):
        # `ring up` returns when the ring is usable: a put through any node
        # right away must not find its peers "down" (it would refuse to
        # forward to a primary). No waiting here on purpose.
        self.ring.up(wait_ready=False)
        views = self.ring.views()
        self.assertEqual(sorted(views), NAMES)
        down = {(a, b) for a, view in views.items() for b, up in view.items() if not up}
        self.assertEqual(down, set(), f"(asked node, member it sees down) right after up: {views}")

    # ---- ring status ----

    def test_ring_status_json_lists_every_node(self):
        up = self.ring.up()
        self.assertEqual((up["n"], up["w"], up["r"], up["partitions"]), (3, 2, 2, 64))
        status = self.ring.ring_status()
        self.assertEqual(status["dir"], self.ring.dir)
        self.assertEqual((status["n"], status["w"], status["r"], status["partitions"]),
                         (3, 2, 2, 64))
        self.assertEqual([m["name"] for m in status["nodes"]], NAMES)
        up_by_name = {m["name"]: m for m in up["nodes"]}
        for i, node in enumerate(status["nodes"], start=1):
            self.assertEqual(set(node), {"name", "address", "metrics_address", "pid", "state"},
                             node)
            self.assertEqual(node["address"], f"127.0.0.1:{self.base + i}")
            self.assertEqual(node["metrics_address"], f"127.0.0.1:{self.base + 100 + i}")
            self.assertEqual(node["state"], "running")
            self.assertEqual(node["pid"], up_by_name[node["name"]]["pid"])
            self.assertTrue(is_live_shoald(node["pid"], up_by_name[node["name"]]["config"]),
                            f"pid {node['pid']} is not {node['name']}'s shoald")
            # It really answers on that address.
            self.assertEqual(self.ring.status(node["name"])["node"], node["name"])

    # ---- ring where ----

    def test_ring_where_gives_three_primaries_and_two_fallbacks(self):
        self.ring.up()
        _, where = self.ring.shoal("ring", "where", "user:42")
        self.assertEqual(where["key"], "user:42")
        self.assertEqual(where["partitions"], 64)
        self.assertIsInstance(where["partition"], int)
        self.assertTrue(0 <= where["partition"] < 64, where)
        self.assertRegex(where["hash"], r"^0x[0-9a-f]{16}$")
        primaries = [p["name"] for p in where["primaries"]]
        fallbacks = [f["name"] for f in where["fallbacks"]]
        self.assertEqual(len(primaries), 3, where)
        self.assertEqual(len(fallbacks), 2, where)
        self.assertEqual(sorted(primaries + fallbacks), NAMES, "all distinct, all members")
        for entry in where["primaries"] + where["fallbacks"]:
            self.assertEqual(entry["address"], self.ring.address(entry["name"]))
        # Deterministic.
        self.assertEqual(self.ring.shoal("ring", "where", "user:42")[1], where)
        # Keys spread over partitions and over first primaries.
        partitions, firsts = set(), set()
        for i in range(40):
            w = self.ring.shoal("ring", "where", f"spread-{i}")[1]
            partitions.add(w["partition"])
            firsts.add(w["primaries"][0]["name"])
        self.assertGreater(len(partitions), 10)
        self.assertEqual(firsts, set(NAMES))

    def test_ring_where_matches_where_the_nodes_store_the_key(self):
        self.ring.up()
        key = "placed-key"
        where = self.ring.shoal("ring", "where", key)[1]
        primaries = [p["name"] for p in where["primaries"]]
        fallbacks = [f["name"] for f in where["fallbacks"]]
        # Through a fallback: it forwards to a primary.
        self.ring.put(key, "here", fallbacks[0])
        for name in primaries:
            wait_until(lambda: self.ring.local_get(key, name)["found"], 5.0,
                       f"primary {name} to store {key!r}")
        for name in fallbacks:
            local = self.ring.local_get(key, name)
            self.assertIs(local["found"], False, f"fallback {name} stores the key: {local}")
            self.assertEqual(local["vv"], [])

    # ---- kill / start / pause / resume ----

    def test_kill_and_start_change_the_state(self):
        self.ring.up()
        old_pid = self.status_by_name()["n2"]["pid"]
        config = self.ring.members["n2"]["config"]

        _, killed = self.ring.shoal("ring", "kill", "n2")
        self.assertEqual(killed, {"node": "n2", "pid": old_pid, "before": "running",
                                  "after": "stopped"})
        self.ring.expected_down.add("n2")
        st = self.status_by_name()
        self.assertEqual((st["n2"]["state"], st["n2"]["pid"]), ("stopped", None))
        self.assertEqual({n: st[n]["state"] for n in NAMES if n != "n2"},
                         {n: "running" for n in NAMES if n != "n2"})
        self.assertFalse(is_live_shoald(old_pid, config))
        code, out = self.ring.shoal("status", node="n2", expect_ok=False)
        self.assertEqual(code, 1)
        self.assertEqual(out["error"]["code"], "unavailable")

        # Killing it again changes nothing and is not an error.
        _, again = self.ring.shoal("ring", "kill", "n2")
        self.assertEqual((again["before"], again["after"]), ("stopped", "stopped"))

        _, started = self.ring.shoal("ring", "start", "n2")
        self.ring.expected_down.discard("n2")
        self.assertEqual((started["node"], started["before"], started["after"]),
                         ("n2", "stopped", "running"))
        self.assertNotEqual(started["pid"], old_pid)
        self.assertTrue(is_live_shoald(started["pid"], config))
        st = self.status_by_name()
        self.assertEqual((st["n2"]["state"], st["n2"]["pid"]), ("running", started["pid"]))
        self.assertEqual(self.ring.status("n2")["node"], "n2")

        # Starting a running node leaves it alone.
        _, again = self.ring.shoal("ring", "start", "n2")
        self.assertEqual((again["before"], again["after"], again["pid"]),
                         ("running", "running", started["pid"]))

    def test_pause_and_resume_change_the_state(self):
        self.ring.up()
        pid = self.status_by_name()["n4"]["pid"]
        _, paused = self.ring.shoal("ring", "pause", "n4")
        self.assertEqual((paused["before"], paused["after"]), ("running", "paused"))
        self.ring.expected_down.add("n4")
        self.assertEqual(self.status_by_name()["n4"]["state"], "paused")
        self.assertEqual(proc_state(pid), "T")
        _, resumed = self.ring.shoal("ring", "resume", "n4")
        self.ring.expected_down.discard("n4")
        self.assertEqual((resumed["before"], resumed["after"]), ("paused", "running"))
        self.assertEqual(self.status_by_name()["n4"]["state"], "running")
        self.assertEqual(self.ring.status("n4")["node"], "n4")

    def test_unknown_node_name_is_not_found(self):
        self.ring.up()
        for verb in ("kill", "start", "pause", "resume"):
            code, out = self.ring.shoal("ring", verb, "n9", expect_ok=False)
            self.assertEqual(code, 1, out)
            self.assertEqual(out["error"]["code"], "not_found", out)
            self.assertIn("n9", out["error"]["message"])
            self.assertIn("n1, n2, n3, n4, n5", out["error"]["message"])

    # ---- ring down ----

    def test_ring_down_stops_everything(self):
        self.ring.up()
        pids = sorted(m["pid"] for m in self.ring.ring_status()["nodes"])
        self.assertEqual(sorted(self.ring.pids_in_proc()), pids)
        self.assertEqual(len(set(pids)), 5)
        self.ring.shoal("ring", "pause", "n3")  # a paused node is stopped too

        _, down = self.ring.shoal("ring", "down")
        self.ring.expected_down.update(NAMES)
        self.assertEqual([(a["node"], a["after"]) for a in down["nodes"]],
                         [(n, "stopped") for n in NAMES])
        self.assertEqual({a["node"]: a["before"] for a in down["nodes"]},
                         {"n1": "running", "n2": "running", "n3": "paused",
                          "n4": "running", "n5": "running"})
        self.assertEqual(self.ring.pids_in_proc(), [], "shoald processes left after ring down")
        status = self.ring.ring_status()
        self.assertEqual([(m["state"], m["pid"]) for m in status["nodes"]], [("stopped", None)] * 5)
        for port in harness.ring_ports(self.base, 5):
            wait_until(lambda: harness.port_free(port), 5.0, f"port {port} to be free")
        # Idempotent.
        code, again = self.ring.shoal("ring", "down")
        self.assertEqual(code, 0)
        self.assertEqual({a["before"] for a in again["nodes"]}, {"stopped"})

    def test_ring_up_again_restarts_a_stopped_ring_with_its_data(self):
        self.ring.up()
        self.ring.put("kept", "across-restart", "n1", "--w", "3")
        self.ring.shoal("ring", "down")
        _, out, _ = harness.run_shoal(["ring", "up", "--dir", self.ring.dir, "--json"])
        self.assertEqual(([m["name"] for m in out["nodes"]], out["n"], out["w"], out["r"]),
                         (NAMES, 3, 2, 2))
        self.ring.wait_ready()  # (test_right_after_ring_up_... covers the start-up race)
        self.assertEqual(self.ring.get("kept", "n4")["values"], ["across-restart"])

    def test_ring_up_refuses_while_the_ring_runs(self):
        self.ring.up()
        before = self.status_by_name()
        code, out = self.ring.shoal("ring", "up", "--nodes", "5", expect_ok=False)
        self.assertEqual(code, 1, out)
        self.assertEqual(out["error"]["code"], "invalid_argument", out)
        self.assertIn("already running", out["error"]["message"])
        self.assertEqual(self.status_by_name(), before)

    def test_ring_up_refuses_a_busy_port_and_leaves_nothing_running(self):
        other = harness.Ring(nodes=3, base_port=self.base + 300)
        self.addCleanup(other.down)
        busy = self.base + 300 + 2
        blocker = socket.socket()
        self.addCleanup(blocker.close)
        blocker.bind(("127.0.0.1", busy))
        blocker.listen()
        other.is_up = True
        code, out, _ = harness.run_shoal(
            ["ring", "up", "--nodes", "3", "--base-port", str(self.base + 300),
             "--dir", other.dir, "--json"], expect_ok=False)
        self.assertEqual(code, 1, out)
        self.assertIs(out["ok"], False)
        self.assertIn(str(busy), out["error"]["message"])
        self.assertEqual(other.pids_in_proc(), [])

    def test_ring_verbs_without_a_ring(self):
        empty = tempfile.mkdtemp(prefix="shoal-noring-")
        self.addCleanup(shutil.rmtree, empty, True)
        code, out, _ = harness.run_shoal(["ring", "status", "--dir", empty, "--json"],
                                         expect_ok=False)
        self.assertEqual(code, 1, out)
        self.assertEqual(out["error"]["code"], "not_found", out)
        self.assertIn("no ring in", out["error"]["message"])
        code, out, _ = harness.run_shoal(["get", "k", "--dir", empty, "--json"],
                                         expect_ok=False)
        self.assertEqual(code, 1, out)
        self.assertIn("no running ring", out["error"]["message"])
        code, out, _ = harness.run_shoal(["ring", "down", "--dir", empty, "--json"])
        self.assertEqual((code, out["nodes"]), (0, []))


if __name__ == "__main__":
    harness.main()
