#!/usr/bin/env python3
"""The cluster state in the nodes (issue 14, doc/membership.md).

A 3-node ring, n=3 w=2 r=2. Every node keeps the cluster state (members,
claim, epoch) in its data directory and spreads its epoch and digest with
the heartbeats: `shoal cluster status` on any node shows the same state
and that every member reports it. A node whose data was wiped, started
from a config that lists only a seed, learns the state and serves again;
a config whose member list disagrees with the stored state is refused; a
node started from a different member list is a conflict that the others
report and never merge.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_membership.py -v
"""

import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_until  # noqa: E402


def seed_only(text: str, seed: str) -> str:
    """A node.toml with its members, n and partitions replaced by one seed."""
    text = re.sub(r"(?m)^n = \d+\n", "", text)
    text = re.sub(r"(?m)^partitions = \d+\n", "", text)
    text = re.sub(r"\n\s*\[\[cluster\.members\]\]\n\s*address = '[^']*'\n"
                  r"\s*name = '[^']*'\n", "\n", text)
    text = text.replace("[cluster]\n", f"[cluster]\nseeds = ['{seed}']\n", 1)
    parsed = tomllib.loads(text)["cluster"]
    assert "members" not in parsed and "n" not in parsed, parsed
    return text


def metric(ring: harness.Ring, name: str, family: str) -> float | None:
    """The value of an unlabelled family on node `name`'s /metrics (None
    when it is not exported)."""
    url = f"http://{ring.metrics_address(name)}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    m = re.search(rf"(?m)^{family} (\S+)$", text)
    return float(m.group(1)) if m else None


def lose_node(ring: harness.Ring, name: str, seen_by: str) -> None:
    """Kills `name`, deletes its data directory (a lost disk) and waits
    until `seen_by` reports it down."""
    ring.kill(name)
    with open(ring.members[name]["config"], "rb") as f:
        shutil.rmtree(tomllib.load(f)["data_dir"])

    def down() -> bool:
        members = ring.shoal("cluster", "status", node=seen_by)[1]["members"]
        return not next(m for m in members if m["name"] == name)["up"]

    wait_until(down, 15, f"{seen_by} to see {name} down", interval=0.1)


class MembershipStateTest(harness.RingTestCase):
    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = 31000

    def cluster_status(self, name: str) -> dict:
        return self.ring.shoal("cluster", "status", node=name)[1]

    def metric(self, name: str, family: str) -> float:
        value = metric(self.ring, name, family)
        self.assertIsNotNone(value, f"{family} not exported by {name}")
        return value

    def wait_converged(self, names=None) -> dict[str, dict]:
        names = names or self.ring.names
        views: dict[str, dict] = {}

        def converged():
            for n in names:
                views[n] = self.cluster_status(n)
            return all(v["converged"] for v in views.values())

        wait_until(converged, 15, "every node to report one cluster state",
                   interval=0.2)
        return views

    def config_path(self, name: str) -> str:
        return self.ring.members[name]["config"]

    def data_dir(self, name: str) -> str:
        with open(self.config_path(name), "rb") as f:
            return tomllib.load(f)["data_dir"]

    def shoald(self, config: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [os.path.join(harness.bin_dir(), "shoald"), "--config", config],
            capture_output=True, text=True, timeout=90)

    def test_every_node_holds_one_state_at_epoch_1(self):
        views = self.wait_converged()
        digests = {v["digest"] for v in views.values()}
        self.assertEqual(len(digests), 1, views)
        for name, view in views.items():
            self.assertEqual(view["epoch"], 1)
            self.assertEqual(view["n"], 3)
            self.assertFalse(view["changing"])
            self.assertEqual(
                [(m["name"], m["state"], m["epoch"]) for m in view["members"]],
                [("n1", "valid", 1), ("n2", "valid", 1), ("n3", "valid", 1)])
            self.assertEqual(
                sum(m["partitions_owned"] for m in view["members"]), 64)
            self.assertEqual(self.metric(name, "shoal_ring_epoch"), 1)
            self.assertEqual(
                self.metric(name, "shoal_cluster_state_conflicts_total"), 0)
        # The same figures in `shoal status`.
        status = self.ring.status("n2")
        self.assertEqual(status["epoch"], 1)
        self.assertEqual(status["cluster_digest"], digests.pop())
        # The text form says the same.
        code, text = self.ring.shoal_text("cluster", "status", node="n3")[:2]
        self.assertEqual(code, 0)
        self.assertIn("converged:  yes", text)

    def test_plan_shows_what_a_join_would_move_and_commits_nothing(self):
        self.wait_converged()
        for i in range(300):
            self.ring.put(f"p{i}", "x" * 100, "n1", "--w", "3")
        newcomer = "n4@127.0.0.1:31004"
        plan = self.ring.shoal("cluster", "plan", "--join", newcomer,
                               node="n2")[1]
        self.assertEqual((plan["epoch"], plan["next_epoch"]), (1, 2))
        self.assertEqual(plan["changes"], ["join n4 at 127.0.0.1:31004"])
        # n4's share is 64/4 = 16 partitions, and it becomes a primary of
        # 3 partitions' worth per partition it takes: 48 replicas, all to it.
        self.assertEqual(plan["partitions_changing_owner"], 16)
        self.assertEqual(plan["replicas_to_copy"], 48)
        self.assertEqual({f["to"] for f in plan["flows"]}, {"n4"})
        self.assertEqual(sum(f["replicas"] for f in plan["flows"]), 48)
        n4 = next(m for m in plan["members"] if m["name"] == "n4")
        self.assertEqual((n4["state"], n4["state_next"]), ("-", "joining"))
        self.assertEqual((n4["partitions_next"], n4["replicas_next"]), (16, 48))
        self.assertEqual(plan["windows_with_repeats"], 0)
        self.assertEqual((plan["min_share"], plan["max_share"]), (16, 16))
        self.assertFalse(plan["committed"])
        # Every node holds 300 keys in 64 x 3 / 3 = 64 replicas: each of
        # the 48 replicas copied is about 300 / 64 keys.
        keys = sum(f["keys_estimate"] for f in plan["flows"])
        self.assertAlmostEqual(keys, 48 * 300 / 64, delta=10)
        # Nothing changed.
        self.assertEqual(self.cluster_status("n2")["epoch"], 1)

        # A change the ring cannot take is refused, naming why.
        code, out = self.ring.shoal("cluster", "plan", "--leave", "n2",
                                    node="n1", expect_ok=False)
        self.assertEqual(code, 1)
        self.assertIn("fewer than n=3", out["error"]["message"])
        code, _ = self.ring.shoal("cluster", "plan", "--join", "n4",
                                  node="n1", expect_ok=False)
        self.assertEqual(code, 2)

    def test_a_wiped_node_started_from_a_seed_learns_the_state(self):
        self.wait_converged()
        for i in range(20):
            self.ring.put(f"k{i}", f"v{i}", "n1", "--w", "3")
        before = self.cluster_status("n1")
        self.ring.kill("n3")
        shutil.rmtree(self.data_dir("n3"))
        path = self.config_path("n3")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(seed_only(text, self.ring.address("n1")))
        printed = subprocess.run(
            [os.path.join(harness.bin_dir(), "shoald"), "--config", path,
             "--print-config"], capture_output=True, text=True, timeout=10)
        self.assertEqual(printed.returncode, 0, printed.stderr)
        self.assertEqual(tomllib.loads(printed.stdout)["cluster"]["seeds"],
                         [self.ring.address("n1")])

        self.ring.start("n3")
        views = self.wait_converged()
        self.assertEqual(views["n3"]["digest"], before["digest"])
        self.assertIn("from seed", self.ring.log_tail("n3", 50))
        # It serves as the member it was: reads that need all three replicas
        # succeed (read repair refills its wiped copy), and its own copy is
        # then back.
        for i in range(20):
            self.assertEqual(self.ring.get(f"k{i}", "n3", "--r", "3")["values"],
                             [f"v{i}"])
        wait_until(lambda: self.ring.local_get("k0", "n3").get("values") == ["v0"],
                   10, "read repair to refill n3's copy of k0", interval=0.1)

        # Restarted from the same seed-only config, it starts from what it
        # stored (the seed is asked too; both agree).
        self.ring.kill("n3")
        self.ring.start("n3")
        self.assertEqual(self.wait_converged()["n3"]["digest"],
                         before["digest"])

    def test_a_config_that_disagrees_with_the_stored_state_is_refused(self):
        self.wait_converged()
        self.ring.kill("n2")
        path = self.config_path("n2")
        with open(path) as f:
            text = f.read()
        moved = text.replace(self.ring.address("n3"), "127.0.0.1:31009")
        self.assertNotEqual(moved, text)
        bad = os.path.join(os.path.dirname(path), "moved.toml")
        with open(bad, "w") as f:
            f.write(moved)
        run = self.shoald(bad)
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn("n3@127.0.0.1:31009", run.stderr)
        self.assertIn(f"n3@{self.ring.address('n3')}", run.stderr)
        self.assertIn("cluster.seeds", run.stderr)
        # Nothing was changed: the node starts with its own config.
        self.ring.start("n2")
        self.assertEqual(self.cluster_status("n2")["epoch"], 1)
        self.wait_converged()

    def test_a_node_outside_the_cluster_is_refused(self):
        self.wait_converged()
        path = os.path.join(self.ring.tmp, "stranger.toml")
        with open(path, "w") as f:
            f.write(f"name = 'n9'\nlisten = '127.0.0.1:31009'\n"
                    f"data_dir = '{self.ring.tmp}/n9'\n"
                    f"metrics_listen = ''\n"
                    f"[cluster]\nseeds = ['{self.ring.address('n2')}']\n")
        run = self.shoald(path)
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn("'n9' is not a member", run.stderr)
        self.assertIn(f"n1@{self.ring.address('n1')}", run.stderr)

    def test_a_different_state_at_the_same_epoch_is_a_conflict(self):
        self.wait_converged()
        self.ring.kill("n2")
        path = self.config_path("n2")
        with open(path) as f:
            original = f.read()
        shutil.rmtree(self.data_dir("n2"))
        # n2 starts a ring of its own: same names, n3 elsewhere, epoch 1.
        with open(path, "w") as f:
            f.write(original.replace(self.ring.address("n3"),
                                     "127.0.0.1:31009"))
        self.ring.start("n2", wait_ready=False)

        def conflict_seen():
            view = self.cluster_status("n1")
            n2 = next(m for m in view["members"] if m["name"] == "n2")
            return n2["conflict"] and not view["converged"]

        wait_until(conflict_seen, 15, "n1 to report n2's conflicting state",
                   interval=0.2)
        self.assertGreaterEqual(
            self.metric("n1", "shoal_cluster_state_conflicts_total"), 1)
        self.assertGreaterEqual(
            self.metric("n3", "shoal_cluster_state_conflicts_total"), 1)
        # Not merged: n1 and n3 keep their state.
        self.assertEqual(self.cluster_status("n1")["members"][2]["address"],
                         self.ring.address("n3"))
        self.assertIn("different cluster state", self.ring.log_tail("n1", 80))

        # n2 back as it was: the conflict clears.
        self.ring.kill("n2")
        shutil.rmtree(self.data_dir("n2"))
        with open(path, "w") as f:
            f.write(original)
        self.ring.start("n2")
        self.wait_converged()


class ForceRemoveTest(harness.RingTestCase):
    """A 4-node ring, n=3 w=2 r=2, loses a node for good: the operator
    stages `cluster force-remove` at one node and commits it there. The
    commit waits for every member that stays; then every node serves the
    new ring, the removed node's hints go to the new primaries, and
    anti-entropy leaves every key on exactly its three new primaries with
    nothing acknowledged lost."""
    NODES = 4
    N, W, R = 3, 2, 2
    BASE_PORT = 31100

    def view(self, name: str) -> dict:
        return self.ring.shoal("cluster", "status", node=name)[1]

    def test_a_dead_member_is_force_removed_and_nothing_acknowledged_is_lost(self):
        wait_until(lambda: self.view("n1")["converged"], 15,
                   "the ring to converge on epoch 1", interval=0.2)
        written = {}
        for i in range(120):
            self.ring.put(f"k{i}", f"v{i}", "n1")
            written[f"k{i}"] = f"v{i}"
        self.ring.kill("n4")
        # Written while n4 is down: those n4 would hold wait as hints.
        for i in range(120, 200):
            self.ring.put(f"k{i}", f"v{i}", "n2")
            written[f"k{i}"] = f"v{i}"
        hints_for_n4 = sum(
            t["count"] for name in ("n1", "n2", "n3")
            for t in self.ring.shoal("hints", node=name)[1]["targets"]
            if t["target"] == "n4")
        self.assertGreater(hints_for_n4, 0)

        # Staged at n1; a plan shows it; nothing changes before the commit.
        _, staged = self.ring.shoal("cluster", "force-remove", "n4", node="n1")
        self.assertEqual(staged["staged"], ["force-remove n4"])
        self.assertEqual(staged["epoch"], 1)
        _, plan = self.ring.shoal("cluster", "plan", node="n1")
        self.assertGreater(len(plan["transfers"]), 0, plan)
        self.assertEqual(self.view("n2")["epoch"], 1)

        # A member that stays is down: refused, naming it, nothing changed.
        self.ring.kill("n3")

        def n3_up_at_n1() -> bool:
            return next(m for m in self.view("n1")["members"]
                        if m["name"] == "n3")["up"]

        wait_until(lambda: not n3_up_at_n1(), 15, "n1 to see n3 down",
                   interval=0.1)
        code, refused = self.ring.shoal("cluster", "commit", node="n1",
                                        expect_ok=False)
        self.assertEqual(code, 1, refused)
        self.assertIn("member n3", refused["error"]["message"])
        self.assertEqual(self.view("n1")["epoch"], 1)
        self.ring.start("n3", wait_ready=False)

        def n3_in_step():
            n3 = next(m for m in self.view("n1")["members"] if m["name"] == "n3")
            return n3["up"] and n3["epoch"] == 1

        wait_until(n3_in_step, 15, "n1 to see n3 up at epoch 1", interval=0.2)
        _, committed = self.ring.shoal("cluster", "commit", node="n1")
        self.assertEqual(committed["epoch"], 2)
        self.assertEqual(committed["committed"], ["force-remove n4"])
        # The staged change is gone with the commit.
        _, after = self.ring.shoal("cluster", "plan", node="n1", expect_ok=False)
        self.assertIn("nothing is staged", after["error"]["message"])

        def everyone_at_2():
            views = [self.view(n) for n in ("n1", "n2", "n3")]
            return all(v["epoch"] == 2 and v["converged"] for v in views)

        wait_until(everyone_at_2, 15, "n1, n2, n3 to hold epoch 2")
        view = self.view("n2")
        members = {m["name"]: m for m in view["members"]}
        self.assertEqual(members["n4"]["state"], "removed")
        self.assertEqual(members["n4"]["partitions_owned"], 0)
        self.assertEqual(sum(m["partitions_owned"] for m in members.values()),
                         64)
        self.assertEqual(metric(self.ring, "n3", "shoal_ring_epoch"), 2)

        # n4's hints go to the key's current primaries and are deleted.
        def no_hints_for_n4():
            return all(
                t["target"] != "n4" or t["count"] == 0
                for name in ("n1", "n2", "n3")
                for t in self.ring.shoal("hints", node=name)[1]["targets"])

        wait_until(no_hints_for_n4, 30, "the hints kept for n4 to be delivered")

        # Anti-entropy fills the new primaries; then every key is on exactly
        # its three primaries, none of them n4, with the value written.
        for name in ("n1", "n2", "n3"):
            self.ring.shoal("aae", "run", node=name, timeout=120)
        for key, value in written.items():
            _, where = self.ring.shoal("ring", "where", key, node="n1")
            self.assertEqual(where["epoch"], 2)
            primaries = [p["name"] for p in where["primaries"]]
            self.assertEqual(sorted(primaries), ["n1", "n2", "n3"], where)
        for key in list(written)[::5]:
            for name in ("n1", "n2", "n3"):
                local = self.ring.local_get(key, name)
                self.assertEqual(local["values"], [written[key]],
                                 f"{key} on {name}: {local}")
        for key, value in written.items():
            self.assertEqual(self.ring.get(key, "n3", "--r", "3")["values"],
                             [value], key)

        # n4 back with its old data: it learns it was removed and holds no
        # partition; the others still hold epoch 2.
        self.ring.start("n4", wait_ready=False)
        wait_until(lambda: "was removed from the cluster at epoch 2"
                   in self.ring.log_tail("n4", 200), 15,
                   "n4 to learn it was removed")
        self.assertEqual(self.view("n1")["epoch"], 2)
        self.ring.kill("n4")


class Writer(threading.Thread):
    """Puts w0, w1, ... one at a time through the CLI, round-robin over
    `targets` (a list the test may change), until stopped; every fourth
    key written is then deleted with the context its put returned. A put
    or delete counts as acknowledged only when it succeeded; a key whose
    delete failed may hold either state and is checked for neither."""

    def __init__(self, ring: harness.Ring, targets: list[str]):
        super().__init__(daemon=True)
        self.ring = ring
        self.targets = targets
        self.acked: dict[str, str] = {}  # written, not deleted
        self.deleted: set[str] = set()   # written, then deleted
        self.failed = 0
        self.stop = threading.Event()

    def shoal(self, *args: str) -> tuple[int, dict]:
        targets = list(self.targets)  # the test changes it meanwhile
        target = targets[self.calls % len(targets)]
        self.calls += 1
        code, out, _ = harness.run_shoal(
            [*args, "--node", target, "--json", "--dir", self.ring.dir],
            expect_ok=False)
        return code, out

    def run(self) -> None:
        self.calls = 0
        i = 0
        while not self.stop.is_set():
            key, value = f"w{i}", f"v{i}"
            code, out = self.shoal("put", key, value)
            if code != 0:
                self.failed += 1
            elif i % 4 != 3:
                self.acked[key] = value
            else:
                code, _ = self.shoal("del", key, "--context", out["context"])
                if code == 0:
                    self.deleted.add(key)
                else:
                    self.failed += 1
            i += 1


class JoinLeaveReplaceTest(harness.RingTestCase):
    """A 3-node ring, n=3 w=2 r=2, under a continuous workload of writes
    and deletes (Writer) lives through three changes, each staged and
    committed at n1 while the ring serves: n4 and n5 join (started with
    only a seed once committed), n2 leaves, and n3 is killed, its data
    wiped, and replaced by n6. Each change's partitions are transferred
    and the change completes by itself. At the end: every acknowledged
    write is read back and every acknowledged delete stays deleted (0 lost,
    0 resurrected); every partition has three distinct primaries among n1,
    n4, n5, n6; the left node holds no key; and after anti-entropy each
    sampled key is on exactly its primaries, identical there, and nowhere
    else."""
    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = 31200

    def view(self, name: str) -> dict:
        return self.ring.shoal("cluster", "status", node=name)[1]

    def start_new_node(self, name: str, port: int) -> str:
        with open(self.ring.members["n1"]["config"]) as f:
            text = seed_only(f.read(), self.ring.address("n1"))
        data = os.path.join(self.ring.tmp, name)
        address = f"127.0.0.1:{port}"
        for key, value in (("name", name), ("listen", address),
                           ("data_dir", data), ("metrics_listen", "")):
            text = re.sub(rf"(?m)^{key} = .*$", f"{key} = '{value}'", text)
        path = os.path.join(self.ring.tmp, f"{name}.toml")
        with open(path, "w") as f:
            f.write(text)
        log = open(os.path.join(self.ring.tmp, f"{name}.log"), "w")
        proc = subprocess.Popen(
            [os.path.join(harness.bin_dir(), "shoald"), "--config", path],
            stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), log.close()))
        return address

    def wait_epoch(self, nodes: list[str], epoch: int, timeout: float) -> None:
        def there():
            try:
                views = [self.view(n) for n in nodes]
            except harness.CliError:  # a node still starting
                return False
            return all(v["epoch"] == epoch and not v["changing"]
                       and v["converged"] for v in views)

        wait_until(there, timeout, f"{nodes} to complete epoch {epoch}",
                   interval=0.3)

    def commit(self, *changes: list[str]) -> int:
        for change in changes:
            self.ring.shoal("cluster", *change, node="n1")
        return self.ring.shoal("cluster", "commit", node="n1")[1]["epoch"]

    def test_two_join_one_leaves_one_is_replaced_under_writes(self):
        wait_until(lambda: self.view("n1")["converged"], 15,
                   "the ring to converge on epoch 1", interval=0.2)
        for i in range(300):
            self.ring.put(f"pre{i}", f"p{i}", "n1")
        targets = [self.ring.address(n) for n in ("n1", "n2", "n3")]
        writer = Writer(self.ring, targets)
        writer.start()
        self.addCleanup(writer.stop.set)
        base = harness.base_port(self.BASE_PORT)
        n4, n5, n6 = (f"127.0.0.1:{base + i}" for i in (4, 5, 6))

        # n4 and n5 join in one change, committed while neither runs yet.
        self.assertEqual(
            self.commit(["join", f"n4@{n4}"], ["join", f"n5@{n5}"]), 2)
        view = self.view("n1")
        self.assertEqual((view["epoch"], view["changing"]), (2, True))
        self.start_new_node("n4", base + 4)
        self.start_new_node("n5", base + 5)
        # Transfers done, reads switched (epoch 3), complete (epoch 4).
        self.wait_epoch(["n1", "n2", "n3", n4, n5], 4, 120)
        targets += [n4, n5]
        owned = {m["name"]: m["partitions_owned"]
                 for m in self.view("n1")["members"]}
        self.assertEqual(sorted(owned), ["n1", "n2", "n3", "n4", "n5"])
        self.assertEqual(sum(owned.values()), 64)
        self.assertEqual(min(owned.values()), 12, owned)  # 64 / 5

        # n2 leaves: it hands its partitions over, then is removed.
        targets.remove(self.ring.address("n2"))
        self.assertEqual(self.commit(["leave", "n2"]), 5)
        self.wait_epoch(["n1", "n3", n4, n5], 7, 120)
        # n1 received part of n2's share: its transfer figures say so.
        def figure(family: str) -> float | None:
            return metric(self.ring, "n1", family)

        self.assertGreater(figure("shoal_transfer_partitions_received_total"), 0)
        self.assertEqual(figure("shoal_transfer_partitions_remaining"), 0)
        self.assertEqual(figure("shoal_transfer_started_time_seconds"), 0)
        self.assertEqual(figure("shoal_cluster_changing"), 0)
        self.assertEqual(figure("shoal_ring_epoch"), 7)

        # n3 is lost with its disk and replaced by n6.
        targets.remove(self.ring.address("n3"))
        lose_node(self.ring, "n3", seen_by="n1")
        self.assertEqual(self.commit(["replace", "n3", f"n6@{n6}"]), 8)
        self.start_new_node("n6", base + 6)
        self.wait_epoch(["n1", n4, n5, n6], 10, 120)
        targets.append(n6)
        done = writer.calls
        wait_until(lambda: writer.calls > done + 10, 30,
                   "the writer to go on at epoch 10")
        writer.stop.set()
        writer.join(60)
        self.assertGreater(len(writer.acked), 50, writer.failed)
        self.assertGreater(len(writer.deleted), 10, writer.failed)

        members = {m["name"]: m for m in self.view(n5)["members"]}
        self.assertEqual({n: m["state"] for n, m in members.items()},
                         {"n1": "valid", "n2": "removed", "n3": "removed",
                          "n4": "valid", "n5": "valid", "n6": "valid"})
        self.assertEqual(members["n2"]["partitions_owned"], 0)
        self.assertEqual(members["n3"]["partitions_owned"], 0)
        written = {f"pre{i}": f"p{i}" for i in range(300)}
        written.update(writer.acked)
        # Read back at r=2 right after the last switch: nothing
        # acknowledged lost, nothing deleted back.
        lost = [(k, got) for k, v in written.items()
                if (got := self.ring.get(k, n5)["values"]) != [v]]
        self.assertEqual(lost, [], f"{len(lost)} of {len(written)} lost")
        resurrected = [(k, got) for k in sorted(writer.deleted)
                       if (got := self.ring.get(k, n6)["values"]) != []]
        self.assertEqual(resurrected, [],
                         f"{len(resurrected)} of {len(writer.deleted)} back")
        # The left node drops every copy once all members hold epoch 10.
        wait_until(lambda: self.ring.status("n2")["keys"] == 0, 30,
                   "n2 to drop the partitions it no longer replicates")
        # Three distinct primaries, none of them n2 or n3; after
        # anti-entropy each holds what was written (deleted keys: nothing)
        # and no other node holds a copy.
        running = [self.ring.address("n1"), self.ring.address("n2"), n4, n5,
                   n6]
        for address in running:
            if address != self.ring.address("n2"):
                self.ring.shoal("aae", "run", node=address, timeout=120)
        expected = dict(written)
        expected.update({k: None for k in writer.deleted})
        gone = {self.ring.address("n2"), self.ring.address("n3")}
        for key in sorted(expected)[::9]:
            _, where = self.ring.shoal("ring", "where", key, node="n1")
            self.assertEqual(where["epoch"], 10)
            primaries = [p["address"] for p in where["primaries"]]
            self.assertEqual(len(set(primaries)), 3, where)
            self.assertFalse(gone & set(primaries), where)
            for address in running:
                _, local = self.ring.shoal("get", key, "--local", node=address)
                want = ([expected[key]] if address in primaries
                        and expected[key] is not None else [])
                self.assertEqual(local["values"], want, f"{key} on {address}")


class ReplaceTest(harness.RingTestCase):
    """A 3-node ring, n=3 w=2 r=2, holding 3,000 keys, loses n3 for good:
    its data directory is wiped and `cluster replace n3 n5@...` is
    committed; n5 starts from a seed and receives every partition from n1
    and n2. Anti-entropy repairs are throttled (500 keys/s) so that the
    transfer takes seconds: n5 is killed in the middle of it, restarted
    with what it had received, and resumes; then both its sources are
    killed in the middle of it and started again, and it resumes. The
    change completes only once n5's trees equal its sources', and n5 then
    holds every key with the sources' values."""
    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = 31300
    KEYS = 3000

    def view(self, name: str) -> dict:
        return self.ring.shoal("cluster", "status", node=name)[1]

    def figure(self, metrics_address: str, family: str) -> float | None:
        try:
            with urllib.request.urlopen(f"http://{metrics_address}/metrics",
                                        timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            return None
        m = re.search(rf"(?m)^{family} (\S+)$", text)
        return float(m.group(1)) if m else None

    def test_a_wiped_node_is_replaced_and_transfers_resume_after_kills(self):
        self.ring.reconfigure({"antientropy": {"enabled": "false",
                                               "transfer_rate": "500"}})
        wait_until(lambda: self.view("n1")["converged"], 15,
                   "the ring to converge on epoch 1", interval=0.2)
        nodes = ",".join(self.ring.address(n) for n in ("n1", "n2", "n3"))
        _, out, err = harness.run_shoal(
            ["bench", "--nodes", nodes, "--load", "--workload", "w", "--keys",
             str(self.KEYS), "--value-size", "100", "--ops", "1",
             "--concurrency", "16", "--seed", "7", "--json"], timeout=300)
        self.assertEqual(out["load"]["errors"], {}, err)

        # n3 is lost with its disk.
        lose_node(self.ring, "n3", seen_by="n1")
        base = harness.base_port(self.BASE_PORT)
        n5 = f"127.0.0.1:{base + 5}"
        n5_metrics = f"127.0.0.1:{base + 105}"
        self.ring.shoal("cluster", "replace", "n3", f"n5@{n5}", node="n1")
        _, committed = self.ring.shoal("cluster", "commit", node="n1")
        self.assertEqual(committed["epoch"], 2)

        with open(self.ring.members["n1"]["config"]) as f:
            text = seed_only(f.read(), self.ring.address("n1"))
        data = os.path.join(self.ring.tmp, "n5")
        for key, value in (("name", "n5"), ("listen", n5), ("data_dir", data),
                           ("metrics_listen", n5_metrics)):
            text = re.sub(rf"(?m)^{key} = .*$", f"{key} = '{value}'", text)
        config = os.path.join(self.ring.tmp, "n5.toml")
        with open(config, "w") as f:
            f.write(text)
        log_path = os.path.join(self.ring.tmp, "n5.log")

        def start_n5() -> subprocess.Popen:
            log = open(log_path, "a")
            proc = subprocess.Popen(
                [os.path.join(harness.bin_dir(), "shoald"), "--config", config],
                stdout=log, stderr=subprocess.STDOUT)
            self.addCleanup(lambda: (proc.kill(), proc.wait(), log.close()))
            return proc

        proc = start_n5()

        def partway() -> bool:
            left = self.figure(n5_metrics, "shoal_transfer_partitions_remaining")
            return left is not None and 0 < left < 60

        wait_until(partway, 30, "n5 to have received some partitions",
                   interval=0.05)
        # `cluster status` at any member shows n5's transfer as n5 reports it
        # (once that member holds epoch 2: a heartbeat after the commit, and
        # n5 starts with its first 500 keys at once).
        wait_until(lambda: self.view("n2")["epoch"] == 2, 5,
                   "n2 to hold epoch 2", interval=0.05)
        transfers = self.view("n2")["transfers"]
        self.assertEqual([t["node"] for t in transfers], ["n5"])
        t = transfers[0]
        self.assertEqual((t["epoch"], t["partitions"]), (2, 64))
        self.assertTrue(0 < t["received"] < 64, t)
        self.assertGreater(t["bytes"], 0)
        self.assertGreater(t["keys"], 0)
        self.assertGreater(t["eta_ms"], 0)
        _, text, _ = self.ring.shoal_text("cluster", "status", node="n2")
        self.assertRegex(text, r"n5  \[#*\.+\] \d+/64 partitions")
        proc.kill()
        proc.wait()
        self.assertEqual(self.view("n1")["epoch"], 2)  # not complete
        self.assertTrue(self.view("n1")["changing"])
        start_n5()

        # Then both sources are killed mid-transfer: n5 gets nothing more
        # and counts nothing done, and resumes once they are back.
        def further() -> bool:
            left = self.figure(n5_metrics, "shoal_transfer_partitions_remaining")
            return left is not None and 0 < left < 40

        wait_until(further, 30, "n5 to receive more partitions", interval=0.05)
        self.ring.kill("n1")
        self.ring.kill("n2")
        stalled = self.figure(n5_metrics, "shoal_transfer_partitions_remaining")
        self.assertGreater(stalled, 0)
        state = self.view(n5)
        self.assertEqual((state["epoch"], state["changing"]), (2, True))
        self.ring.start("n1")
        self.ring.start("n2")

        def complete() -> bool:
            try:
                views = [self.view(n) for n in ("n1", "n2", n5)]
            except harness.CliError:
                return False
            # Committed at 2, switched at 3, complete at 4.
            return all(v["epoch"] == 4 and not v["changing"] and v["converged"]
                       for v in views)

        wait_until(complete, 120, "the replacement to complete", interval=0.3)
        with open(log_path) as f:
            log = f.read()
        self.assertEqual(log.count("receiving 64 partitions"), 2, log[-2000:])
        members = {m["name"]: m for m in self.view("n2")["members"]}
        self.assertEqual(members["n3"]["state"], "removed")
        self.assertEqual(members["n5"]["state"], "valid")
        # Every key on n5, as its sources hold it.
        self.assertEqual(self.ring.status(n5)["keys"], self.KEYS)
        for i in range(0, self.KEYS, 37):
            key = f"user{i}"
            source = self.ring.shoal("get", key, "--local", node="n1")[1]
            mine = self.ring.shoal("get", key, "--local", node=n5)[1]
            self.assertTrue(mine["found"], key)
            self.assertEqual(mine["values"], source["values"], key)


class RingAddRemoveTest(harness.RingTestCase):
    """`shoal ring add` and `ring remove` drive the same changes for the
    local launcher: a fourth node joins and holds its partitions when the
    verb returns; a member leaves, is stopped and its directory deleted;
    the ring restarts as it now is."""
    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = 31400

    def test_ring_add_then_remove(self):
        for i in range(100):
            self.ring.put(f"k{i}", f"v{i}", "n1")
        _, added = self.ring.shoal("ring", "add", "--wait", "60s", timeout=90)
        self.assertEqual((added["node"], added["after"]), ("n4", "running"))
        view = self.ring.shoal("cluster", "status", node="n1")[1]
        self.assertEqual((view["epoch"], view["changing"]), (4, False))
        owned = {m["name"]: m["partitions_owned"] for m in view["members"]}
        self.assertEqual(sorted(owned), ["n1", "n2", "n3", "n4"])
        self.assertGreater(self.ring.status(added["address"])["keys"], 0)

        _, removed = self.ring.shoal("ring", "remove", "n2", "--wait", "60s",
                                     timeout=90)
        self.assertEqual((removed["node"], removed["after"]),
                         ("n2", "stopped"))
        self.ring.expected_down.add("n2")
        self.assertFalse(os.path.exists(os.path.join(self.ring.dir, "n2")))
        names = [n["name"] for n in self.ring.ring_status()["nodes"]]
        self.assertEqual(names, ["n1", "n3", "n4"])
        view = self.ring.shoal("cluster", "status", node="n3")[1]
        self.assertEqual(view["epoch"], 7)
        for i in range(100):
            self.assertEqual(self.ring.get(f"k{i}", "n3")["values"], [f"v{i}"])
        # Bad input: an unknown node, and a duration without a unit.
        code, out = self.ring.shoal("ring", "remove", "n9", expect_ok=False)
        self.assertEqual(code, 1)
        self.assertIn("no node named 'n9'", out["error"]["message"])
        code, _, err = harness.run_shoal(
            ["ring", "add", "--wait", "60", "--dir", self.ring.dir],
            expect_ok=False)
        self.assertEqual(code, 2, err)
        self.assertIn("--wait", err)


if __name__ == "__main__":
    harness.main()
