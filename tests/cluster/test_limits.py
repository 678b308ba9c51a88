#!/usr/bin/env python3
"""A node defends itself (issue 12): against slow and idle connections,
overload, a full disk and blind writers piling up siblings. Real shoald
processes on 127.0.0.1, raw sockets for the misbehaving clients, `shoal
bench` for load, the node's /metrics and log for what it says about it.

- Stalled frames: 64 connections each send a frame header announcing
  16 MiB and stall. The node's RssAnon grows by less than 64 MB, a
  concurrent client's p99 stays within 2x its baseline, and the read
  deadline (limits.frame_timeout) closes every stalled connection.
- Idle connections: 2,000 connections to a node capped at 1,000
  (limits.max_connections): the first 1,000 are served and closed by
  limits.idle_timeout, the rest are refused (`overloaded`, naming the
  limit) and closed; a peer restarted meanwhile is still admitted; memory
  stays bounded; afterwards clients are served again.
- Overload: open-loop load at 5x the node's measured peak for 10 s: the
  node stays up, RssAnon < 200 MB, the failed requests are `overloaded`
  (no timeouts), the admitted ones keep their p99 under the 2 s request
  deadline, and 5 s after the load stops latency is back to baseline.
- Full disk: the data directory on a small tmpfs (mounted here, as root;
  skipped with the reason printed where mounting is impossible): writes fail
  with `storage_full` naming the filesystem and its free bytes, the metric
  and one log line say so, every acknowledged key reads back, and once
  space is freed writes succeed again without a restart.
- Blind writers: 16 writers on one key for 10 s never leave more than
  limits.max_siblings siblings on any replica; the warning metric counts.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_limits.py -v
"""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BASE_PORT = 26000  # nodes 26001.., metrics 26101..


def rss_anon_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError(f"no RssAnon for pid {pid}")


class RssSampler:
    """Samples a process's RssAnon every 0.2 s in a thread; `peak_kb`."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak_kb = rss_anon_kb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.peak_kb = max(self.peak_kb, rss_anon_kb(self.pid))
            except (OSError, AssertionError):
                return  # the process ended (or is a zombie without RssAnon)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kb


def scrape(ring: harness.Ring, name: str) -> str:
    url = f"http://{ring.metrics_address(name)}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def metric(text: str, family: str, **labels: str) -> float:
    """The sum of the samples of `family` whose labels include `labels`."""
    total = 0.0
    found = False
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$", line)
        if not m or m.group(1) != family:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
            found = True
    if not found:
        raise AssertionError(f"no sample of {family} {labels} in /metrics")
    return total


def bench(ring: harness.Ring, *args: str, timeout: float = 120) -> dict:
    _, out, err = harness.run_shoal(["bench", "--dir", ring.dir, *args, "--json"],
                                    timeout=timeout)
    if not isinstance(out, dict):
        raise AssertionError(f"bench printed no JSON: {out!r} {err[-2000:]}")
    return out


def header(length: int) -> bytes:
    return struct.pack("<I", length)


def closed_by_peer(sock: socket.socket) -> bool:
    """True when the other side has closed `sock` (EOF or reset); reads
    and drops whatever arrived before."""
    sock.setblocking(False)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def wait_all_closed(socks: list[socket.socket], timeout: float) -> float:
    """Waits until the node has closed every socket; returns the seconds it
    took. AssertionError with the count still open after `timeout`."""
    start = time.monotonic()
    open_socks = list(socks)
    while open_socks:
        open_socks = [s for s in open_socks if not closed_by_peer(s)]
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{len(open_socks)} of {len(socks)} connections "
                                 f"still open after {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - start


def ok_p99_us(summary: dict) -> float:
    return summary["ok"]["p99_us"]


class StalledFramesTest(harness.RingTestCase):
    NODES = 1
    N, W, R = 1, 1, 1
    BASE_PORT = BASE_PORT
    FRAME_TIMEOUT_S = 8

    def test_stalled_frame_headers_hold_no_memory_and_are_cut_off(self):
        ring = self.ring
        ring.reconfigure({"limits": {"frame_timeout": f'"{self.FRAME_TIMEOUT_S}s"'}})
        pid = ring.members["n1"]["pid"]
        host, port = ring.host_port("n1")
        load = ["--workload", "a", "--keys", "2000", "--concurrency", "4",
                "--duration", "4"]
        bench(ring, *load, "--load")  # loads and warms up
        baseline = bench(ring, *load)
        self.assertEqual(baseline["errors"], {}, baseline)
        rss_before = rss_anon_kb(pid)

        socks = []
        for _ in range(64):
            s = socket.create_connection((host, port), timeout=5)
            # A frame of 16 MiB announced (within the frame cap), 4 bytes of
            # it sent, then nothing.
            s.sendall(header(16 << 20) + b"\0\0\0\0")
            socks.append(s)
        stalled_at = time.monotonic()
        sampler = RssSampler(pid)
        during = bench(ring, *load)
        peak_kb = sampler.stop()
        self.assertLess(time.monotonic() - stalled_at, self.FRAME_TIMEOUT_S,
                        "the concurrent run must overlap the stall")

        self.assertEqual(during["errors"], {}, during)
        growth_mb = (peak_kb - rss_before) / 1024
        self.assertLess(growth_mb, 64, f"RssAnon {rss_before} -> {peak_kb} kB")
        self.assertLessEqual(ok_p99_us(during), 2 * ok_p99_us(baseline),
                             f"p99 {ok_p99_us(baseline)} us alone, "
                             f"{ok_p99_us(during)} us beside 64 stalled frames")

        # Closed by the read deadline: not before it, and within 1.5x of it
        # (the watcher looks every half deadline).
        waited = wait_all_closed(socks, timeout=2 * self.FRAME_TIMEOUT_S)
        elapsed = time.monotonic() - stalled_at
        self.assertGreaterEqual(elapsed, self.FRAME_TIMEOUT_S - 0.5)
        self.assertLessEqual(elapsed, 1.5 * self.FRAME_TIMEOUT_S + 1, waited)
        text = scrape(ring, "n1")
        self.assertEqual(metric(text, "shoal_connections_closed_total",
                                reason="frame_timeout"), 64)
        for s in socks:
            s.close()
        self.assertEqual(ring.put("after", "v")["ok"], True)


class IdleConnectionsTest(harness.RingTestCase):
    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = BASE_PORT + 10
    CAP = 1000
    # Long enough for the checks below, a peer's kill and restart among
    # them (about 4.5 s on a loaded 2-core machine), to run while every
    # connection is still open.
    IDLE_S = 15

    def test_idle_connections_are_closed_or_refused_and_peers_still_get_in(self):
        ring = self.ring
        ring.reconfigure({"limits": {"max_connections": str(self.CAP),
                                     "idle_timeout": f'"{self.IDLE_S}s"'}})
        pid = ring.members["n1"]["pid"]
        host, port = ring.host_port("n1")
        rss_before = rss_anon_kb(pid)
        sampler = RssSampler(pid)

        socks = []
        for _ in range(2 * self.CAP):
            socks.append(socket.create_connection((host, port), timeout=5))
        opened_at = time.monotonic()
        time.sleep(0.5)

        # Over the cap a client is refused, with the limit named.
        code, out = ring.shoal("status", node="n1", expect_ok=False)
        self.assertEqual(code, 1, out)
        self.assertEqual(out["error"]["code"], "overloaded", out)
        self.assertIn("limits.max_connections", out["error"]["message"])
        # One of the refused raw connections asks too: it gets the same
        # answer to its own request id, then the node closes it.
        late = socket.create_connection((host, port), timeout=5)
        late.sendall(harness.status_frame(77))
        reply = harness.read_frame(late)
        self.assertIsNotNone(reply)
        self.assertEqual(reply["id"], 77)
        self.assertEqual(reply["error"]["code"], "overloaded", reply)
        harness.wait_closed(late)
        late.close()

        # A peer restarted while n1 is full still gets its link in.
        ring.kill("n2")
        ring.start("n2", wait_ready=False)

        def n1_sees_n2_up():
            return metric(scrape(ring, "n1"), "shoal_peer_up", peer="n2") == 1

        harness.wait_until(n1_sees_n2_up, 10, "n1 to see the restarted n2 up")
        views = ring.views(["n2", "n3"])
        self.assertTrue(views["n2"]["n1"] and views["n3"]["n1"], views)
        self.assertLess(time.monotonic() - opened_at, self.IDLE_S,
                        "the checks above must run while the connections are open")

        # Every connection ends: the served ones by the idle timeout, the
        # refused ones after their second to show they are a peer's.
        wait_all_closed(socks, timeout=2 * self.IDLE_S + 5)
        peak_kb = sampler.stop()
        self.assertLess((peak_kb - rss_before) / 1024, 64,
                        f"RssAnon {rss_before} -> {peak_kb} kB")
        text = scrape(ring, "n1")
        idle = metric(text, "shoal_connections_closed_total", reason="idle")
        refused = metric(text, "shoal_connections_refused_total")
        self.assertGreaterEqual(idle, self.CAP - 5, text)  # a few CLI calls
        self.assertGreaterEqual(refused, self.CAP, text)
        self.assertEqual(metric(text, "shoal_connections", kind="client"), 0)
        for s in socks:
            s.close()

        # Served again.
        self.assertTrue(ring.put("k", "v", "n1")["ok"])
        self.assertEqual(ring.get("k", "n1")["values"], ["v"])


class OverloadTest(harness.RingTestCase):
    NODES = 1
    N, W, R = 1, 1, 1
    BASE_PORT = BASE_PORT + 20
    KEYS = 20000
    DEADLINE_US = 2_000_000  # limits.request_timeout_ms

    def test_five_times_the_peak_is_answered_overloaded_not_timeouts(self):
        ring = self.ring
        pid = ring.members["n1"]["pid"]
        keys = ["--keys", str(self.KEYS), "--distribution", "uniform"]
        bench(ring, "--workload", "a", *keys, "--load", "--ops", "1")
        peak = bench(ring, "--workload", "a", *keys, "--concurrency", "32",
                     "--duration", "5")
        self.assertEqual(peak["errors"], {}, peak)
        light = ["--workload", "a", *keys, "--concurrency", "4", "--duration", "3"]
        baseline = bench(ring, *light)
        self.assertEqual(baseline["errors"], {}, baseline)

        rate = 5 * peak["ops_per_s"]
        sampler = RssSampler(pid)
        over = bench(ring, "--workload", "a", *keys, "--concurrency", "32",
                     "--rate", str(int(rate)), "--duration", "10")
        peak_kb = sampler.stop()
        stopped = time.monotonic()
        ring.check_nodes_alive()

        summary = (f"peak {peak['ops_per_s']} ops/s; asked {int(rate)} ops/s; "
                   f"completed {over['ops']} ({over['ops_per_s']} ops/s), "
                   f"shed by the client {over['shed']}, errors {over['errors']}, "
                   f"ok p99 {ok_p99_us(over)} us, RssAnon peak {peak_kb} kB")
        print(f"\n[overload] {summary}", file=sys.stderr)
        self.assertLess(peak_kb, 200 * 1024, summary)
        # The node was overloaded and said so; nothing else failed.
        self.assertGreater(over["errors"].get("overloaded", 0), 0, summary)
        self.assertEqual(set(over["errors"]), {"overloaded"}, summary)
        self.assertGreater(over["ok"]["count"], 0, summary)
        self.assertLess(ok_p99_us(over), self.DEADLINE_US, summary)
        text = scrape(ring, "n1")
        self.assertGreater(metric(text, "shoal_requests_total", result="overloaded"), 0)
        self.assertEqual(metric(text, "shoal_requests_total", result="timeout"), 0)

        # 5 s after the load stopped, nothing of it is left queued: the
        # light load runs as fast as before it, and no request waits behind
        # a backlog (one would hold requests for up to the 2 s deadline).
        # Latency figures themselves belong to bench/limits.sh (doc/perf.md):
        # a sub-millisecond p99 moves by 2x on a busy 2-core machine.
        time.sleep(max(0.0, 5 - (time.monotonic() - stopped)))
        after = bench(ring, *light)
        self.assertEqual(after["errors"], {}, after)
        recovered = (f"{baseline['ops_per_s']} ops/s, p99 {ok_p99_us(baseline)} us "
                     f"before; {after['ops_per_s']} ops/s, p99 {ok_p99_us(after)} us "
                     f"5 s after the overload")
        self.assertGreaterEqual(after["ops_per_s"], 0.5 * baseline["ops_per_s"], recovered)
        self.assertLess(ok_p99_us(after), 50_000, recovered)


def set_top_level(path: str, key: str, value: str) -> None:
    """Sets a top-level `key = value` (TOML text) in node.toml."""
    with open(path) as f:
        lines = f.read().splitlines()
    out = [line for line in lines if line.split("=", 1)[0].strip() != key]
    out.insert(0, f"{key} = {value}")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


class FullDiskTest(harness.RingTestCase):
    NODES = 1
    N, W, R = 1, 1, 1
    BASE_PORT = BASE_PORT + 30
    TMPFS_MB = 24
    VALUE_BYTES = 64 << 10

    def mount_tmpfs(self) -> str:
        mnt = tempfile.mkdtemp(prefix="shoal-full-")
        self.addCleanup(os.rmdir, mnt)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.TMPFS_MB}m",
                               "tmpfs", mnt], capture_output=True, text=True)
        if proc.returncode != 0:
            reason = (f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode}); "
                      f"the full-disk test needs root and mount rights")
            print(f"\n[skip] {reason}", file=sys.stderr)
            self.skipTest(reason)
        self.addCleanup(subprocess.run, ["umount", "-l", mnt], capture_output=True)
        return mnt

    def put_value(self, key: str, value: bytes) -> tuple[int, dict]:
        return self.ring.shoal("put", key, "--value-file", "-", node="n1",
                               expect_ok=False, stdin=value)

    def test_a_full_filesystem_is_storage_full_and_writes_resume_when_freed(self):
        ring = self.ring
        mnt = self.mount_tmpfs()
        data_dir = os.path.join(mnt, "data")
        harness.run_shoal(["ring", "down", "--dir", ring.dir, "--json"])
        set_top_level(ring.members["n1"]["config"], "data_dir", f'"{data_dir}"')
        ring.up()
        pid = ring.members["n1"]["pid"]
        # Most of the filesystem taken by something else.
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * ((self.TMPFS_MB - 4) << 20))

        acked = {}
        error = None
        for i in range(200):
            value = chr(ord("a") + i % 26).encode() * self.VALUE_BYTES
            code, out = self.put_value(f"k{i}", value)
            if code == 0:
                acked[f"k{i}"] = value
                continue
            error = out["error"]
            break
        self.assertIsNotNone(error, "the filesystem never filled up")
        self.assertGreater(len(acked), 0)
        self.assertEqual(error["code"], "storage_full", error)
        self.assertIn(f"filesystem at {mnt}", error["message"])
        self.assertRegex(error["message"], r"has \d+ bytes free of \d+")
        # More writes fail the same way; the log says so once.
        for i in range(5):
            code, out = self.put_value(f"more{i}", b"x" * self.VALUE_BYTES)
            self.assertEqual(code, 1, out)
            self.assertEqual(out["error"]["code"], "storage_full", out)
        text = scrape(ring, "n1")
        self.assertEqual(metric(text, "shoal_storage_full"), 1)
        self.assertGreaterEqual(metric(text, "shoal_storage_full_errors_total",
                                       reason="disk"), 6)
        self.assertGreaterEqual(metric(text, "shoal_requests_total", op="put",
                                       result="storage_full"), 6)
        log = ring.log_tail("n1", 200)
        self.assertEqual(log.count("storage full: the filesystem at"), 1, log)

        # Reads go on: every acknowledged key reads back.
        for key, value in acked.items():
            _, got = ring.shoal("get", key, node="n1")
            self.assertTrue(got["found"], key)
            self.assertEqual(got["values"], [value.decode()], key)

        # Space freed: writes succeed again, no restart.
        os.remove(filler)
        code, out = self.put_value("after", b"y" * self.VALUE_BYTES)
        self.assertEqual(code, 0, out)
        self.assertEqual(ring.ring_status()["nodes"][0]["pid"], pid)
        text = scrape(ring, "n1")
        self.assertEqual(metric(text, "shoal_storage_full"), 0)
        harness.wait_until(lambda: "accepts writes again" in ring.log_tail("n1", 50),
                           5, "the log to say writes resumed")


class BlindWritersTest(harness.RingTestCase):
    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = BASE_PORT + 40
    WARN, MAX = 5, 20
    WRITERS = 16

    def test_blind_writers_never_leave_more_than_max_siblings(self):
        ring = self.ring
        ring.reconfigure({"limits": {"warn_siblings": str(self.WARN),
                                     "max_siblings": str(self.MAX)}})
        run = bench(ring, "--workload", "w", "--keys", "1", "--blind",
                    "--concurrency", str(self.WRITERS), "--duration", "10")
        # Writes beyond the limit were refused, naming it.
        self.assertGreater(run["errors"].get("too_large", 0), 0, run)
        self.assertEqual(set(run["errors"]), {"too_large"}, run)
        key = "user0"
        merged = ring.get(key, "n1")
        # One coordinator counts the siblings once the key is past
        # warn_siblings; writes that other primaries coordinated before
        # they saw it cross can overrun max_siblings, by at most the writes
        # in flight then (doc/impl.md, "Limits"). Never by more.
        self.assertLessEqual(len(merged["siblings"]), self.MAX + self.WRITERS, merged)
        self.assertGreater(len(merged["siblings"]), self.WARN, merged)

        def replicas_agree():
            counts = {len(ring.local_get(key, n)["siblings"]) for n in ring.names}
            return counts if len(counts) == 1 else None

        counts = harness.wait_until(replicas_agree, 30, "the replicas to agree")
        settled = counts.pop()
        self.assertLessEqual(settled, self.MAX + self.WRITERS)

        # From there on the count stops growing: every blind write, at any
        # coordinator, is refused.
        again = bench(ring, "--workload", "w", "--keys", "1", "--blind",
                      "--concurrency", str(self.WRITERS), "--duration", "3")
        self.assertEqual(again["errors"].get("too_large", 0), again["ops"], again)
        for name in ring.names:
            self.assertEqual(len(ring.local_get(key, name)["siblings"]), settled, name)
        code, out = ring.shoal("put", key, "blind", node="n2", expect_ok=False)
        self.assertEqual(code, 1, out)
        self.assertEqual(out["error"]["code"], "too_large", out)
        self.assertIn("limits.max_siblings", out["error"]["message"])
        self.assertIn("read it and write back", out["error"]["message"])
        warnings = sum(metric(scrape(ring, n), "shoal_write_siblings_warnings_total")
                       for n in ring.names)
        self.assertGreater(warnings, 0)
        logs = "".join(ring.log_tail(n, 100) for n in ring.names)
        self.assertRegex(logs, r"the key with hash [0-9a-f]{16} has \d+ siblings")

        # Resolving them with the read's context works, and then so do
        # blind writes again.
        merged = ring.get(key, "n1")
        resolved = ring.shoal("put", key, "merged", "--context", merged["context"],
                              node="n3")[1]
        self.assertTrue(resolved["ok"], resolved)
        self.assertEqual(ring.get(key, "n1")["values"], ["merged"])
        self.assertTrue(ring.put(key, "blind-again", "n2")["ok"])


if __name__ == "__main__":
    harness.main()
