#!/usr/bin/env python3
"""A ring of separate hosts (issue 14, doc/membership.md "Running on
several hosts").

Each node runs in its own network namespace (`ip netns`) with its own
address on a bridge, as separate machines on one network would: every
node listens on port 7000 of its own address, and nothing is on loopback.
Three nodes start from configs that list the members by address; a fourth
joins (staged and committed at n1, started from a config that names only
a seed) and then n2 leaves. Every key written before and during the
changes is read back, the new node holds its share, and the node that
left holds nothing.

Needs root (network namespaces, a bridge, veth pairs); it creates them
itself and removes them at the end. Addresses: 10.231.77.0/24 (the bridge
is .1, node i is .1i).

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_netns.py -v
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_until  # noqa: E402

NET = "10.231.77"
BRIDGE = "shoalbr0"
PORT = 7000
NODES = 4  # n4 joins later


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs `cmd`; with `check`, a failure raises naming the command and
    what it printed."""
    done = subprocess.run(list(cmd), capture_output=True, text=True,
                          timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {done.returncode}: "
                           f"{done.stderr.strip()}")
    return done


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("ip", *args, check=check)


def ns(i: int) -> str:
    return f"shoal-host{i}"


def in_ns(i: int, *cmd: str) -> list[str]:
    """`cmd` in host i's network namespace. nsenter enters the network
    namespace only; `ip -n` and `ip netns exec` also remount /sys, which a
    chroot (a fresh-machine run) does not allow."""
    return ["nsenter", f"--net=/var/run/netns/{ns(i)}", *cmd]


def address(i: int) -> str:
    return f"{NET}.{10 + i}:{PORT}"


def remove_network() -> None:
    for i in range(1, NODES + 1):
        ip("netns", "delete", ns(i), check=False)  # its veth end goes too
        ip("link", "delete", f"shoalv{i}", check=False)
    ip("link", "delete", BRIDGE, check=False)


def make_network() -> None:
    """A bridge with the test's address, and per host a namespace with
    loopback up and one veth end (NET.1i/24) plugged into the bridge."""
    remove_network()  # whatever an interrupted run left
    ip("link", "add", BRIDGE, "type", "bridge")
    ip("addr", "add", f"{NET}.1/24", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")
    for i in range(1, NODES + 1):
        outside, inside = f"shoalv{i}", f"shoalv{i}p"
        ip("netns", "add", ns(i))
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", ns(i))
        ip("link", "set", outside, "master", BRIDGE)
        ip("link", "set", outside, "up")
        run(*in_ns(i, "ip", "addr", "add", f"{NET}.{10 + i}/24", "dev",
                    inside))
        run(*in_ns(i, "ip", "link", "set", inside, "up"))
        run(*in_ns(i, "ip", "link", "set", "lo", "up"))


def node_config(i: int, data_dir: str, seed: str | None) -> str:
    """A node.toml: the static member list n1..n3, or only a seed."""
    if seed is None:
        members = "".join(
            f"\n[[cluster.members]]\nname = 'n{m}'\naddress = '{address(m)}'\n"
            for m in range(1, 4))
        cluster = f"[cluster]\nn = 3\nw = 2\nr = 2\npartitions = 64\n{members}"
    else:
        cluster = f"[cluster]\nw = 2\nr = 2\nseeds = ['{seed}']\n"
    return (f"name = 'n{i}'\nlisten = '{address(i)}'\n"
            f"data_dir = '{data_dir}'\nmetrics_listen = ''\n"
            f"log_level = 'info'\n{cluster}")


class NetnsRingTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.fail("test_netns needs root: network namespaces and a "
                      "bridge (make test runs as root)")
        self.tmp = tempfile.mkdtemp(prefix="shoal-netns-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(remove_network)  # also after a partial make_network
        make_network()
        self.procs: dict[int, subprocess.Popen] = {}

    def start(self, i: int, seed: str | None = None) -> None:
        data = os.path.join(self.tmp, f"n{i}")
        path = os.path.join(self.tmp, f"n{i}.toml")
        with open(path, "w") as f:
            f.write(node_config(i, data, seed))
        log = open(os.path.join(self.tmp, f"n{i}.log"), "w")
        proc = subprocess.Popen(
            in_ns(i, os.path.join(harness.bin_dir(), "shoald"), "--config",
                  path),
            stdout=log, stderr=subprocess.STDOUT)
        self.procs[i] = proc

        def stop():
            proc.kill()
            proc.wait()
            log.close()

        self.addCleanup(stop)

    def shoal(self, i: int, *args: str, expect_ok: bool = True):
        return harness.run_shoal([*args, "--node", address(i), "--json"],
                                 expect_ok=expect_ok, timeout=60)

    def view(self, i: int) -> dict | None:
        code, out, _ = self.shoal(i, "cluster", "status", expect_ok=False)
        return out if code == 0 else None

    def wait_epoch(self, hosts: list[int], epoch: int) -> None:
        def there():
            views = [self.view(i) for i in hosts]
            return all(v and v["epoch"] == epoch and not v["changing"]
                       and v["converged"] for v in views)

        wait_until(there, 120, f"n{hosts} to complete epoch {epoch}",
                   interval=0.3)

    def test_a_ring_of_hosts_grows_by_one_and_shrinks_by_one(self):
        for i in (1, 2, 3):
            self.start(i)
        self.wait_epoch([1, 2, 3], 1)
        # Each node is reachable only at its own host's address.
        code, _, _ = harness.run_shoal(
            ["status", "--node", f"127.0.0.1:{PORT}", "--json",
             "--timeout", "500"], expect_ok=False)
        self.assertNotEqual(code, 0)
        members = {m["name"]: m["address"] for m in self.view(2)["members"]}
        self.assertEqual(members, {f"n{i}": address(i) for i in (1, 2, 3)})

        written = {}
        for k in range(200):
            self.shoal(1 + k % 3, "put", f"k{k}", f"v{k}")
            written[f"k{k}"] = f"v{k}"

        # n4 joins: staged and committed at n1, then started on its host
        # with only n1 as its seed.
        self.shoal(1, "cluster", "join", f"n4@{address(4)}")
        _, committed, _ = self.shoal(1, "cluster", "commit")
        self.assertEqual(committed["epoch"], 2)
        self.start(4, seed=address(1))
        for k in range(200, 260):  # written while n4 receives
            self.shoal(2, "put", f"k{k}", f"v{k}")
            written[f"k{k}"] = f"v{k}"
        self.wait_epoch([1, 2, 3, 4], 4)  # switched at 3, complete at 4
        owned = {m["name"]: m["partitions_owned"]
                 for m in self.view(4)["members"]}
        self.assertEqual(owned, {"n1": 16, "n2": 16, "n3": 16, "n4": 16})
        self.assertGreater(self.shoal(4, "status")[1]["keys"], 0)
        for key, value in written.items():
            self.assertEqual(self.shoal(4, "get", key)[1]["values"], [value])

        # n2 leaves.
        self.shoal(3, "cluster", "leave", "n2")
        _, committed, _ = self.shoal(3, "cluster", "commit")
        self.assertEqual(committed["epoch"], 5)
        self.wait_epoch([1, 3, 4], 7)
        wait_until(lambda: self.shoal(2, "status")[1]["keys"] == 0, 30,
                   "n2 to drop what it no longer replicates")
        view = self.view(1)
        states = {m["name"]: m["state"] for m in view["members"]}
        self.assertEqual(states, {"n1": "valid", "n2": "removed",
                                  "n3": "valid", "n4": "valid"})
        for key, value in written.items():
            self.assertEqual(self.shoal(1, "get", key)[1]["values"], [value])
            _, where, _ = self.shoal(4, "ring", "where", key)
            primaries = {p["address"] for p in where["primaries"]}
            self.assertEqual(primaries,
                             {address(1), address(3), address(4)}, key)


if __name__ == "__main__":
    harness.main()
