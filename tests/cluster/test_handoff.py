#!/usr/bin/env python3
"""Failure detection, sloppy quorum and hinted handoff on a real 5-node ring,
n=3 w=2 r=2 (issue 3, "What it must show").

- A primary of 5,000 keys is killed; the keys are written through the other
  nodes (all succeed); a fallback holding hints is killed with SIGKILL and
  restarted with every hint it acked; the primary is started again and
  within 60 s holds every key in its own store, every backlog is 0 and no
  key gained a sibling.
- A paused node (SIGSTOP) is seen down by every other node; writes keep
  succeeding within their deadline; after resume it receives its hints.
- pw=3 with a primary down fails naming "2 of 3 primaries"; pw=2 succeeds.
- The hint cap: with max_hints_per_target = 5, writes succeed, the hints
  beyond the cap are dropped and counted in `shoal hints --json`.

Picking keys: the primaries of a key depend only on its partition, the top
log2(64) = 6 bits of the key's XXH3-64 hash. The keys used here are 8 bytes
long, for which XXH3-64 is a few lines (xxh3_64_short below); every test
checks that function against `shoal ring where` (one key per partition,
which also gives each partition's primaries) before trusting it.

Bulk traffic: the CLI costs a process per request (~30 ms here), too slow
for 5,000 puts and 5,000 local reads, so test 1 sends them as raw frames
(doc/wire.md) pipelined over a few connections; the raw local read is
checked against `shoal get --local` on a sample first.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_handoff.py -v
"""

import concurrent.futures
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_until  # noqa: E402

PARTITIONS = 64  # `shoal ring up` default; checked against ring where
# doc: a peer is down after 1 s without a heartbeat (200 ms apart).
DETECT_TIMEOUT_S = 5.0
# The issue: every hint is delivered within 60 s of the primary's start.
HANDOFF_DEADLINE_S = 60.0
# A put's deadline is 2 s; the CLI process and its connect may add a little.
PUT_DEADLINE_S = 2.5

# ---- keys -> partitions, without a process per key ----

_M64 = (1 << 64) - 1
# XXH3's default secret, bytes 8..15 and 16..23 read little-endian (xxhash.h,
# XXH3_kSecret); with seed 0 they are all XXH3_len_4to8_64b needs.
_BITFLIP_4TO8 = 0x1CAD21F72C81017C ^ 0xDB979083E96DD4DE


def _rotl64(x, r):
    return ((x << r) | (x >> (64 - r))) & _M64


def xxh3_64_short(key: bytes) -> int:
    """XXH3_64bits(key) with seed 0, for 4..8-byte keys (XXH3_len_4to8_64b)."""
    assert 4 <= len(key) <= 8, key
    lo = int.from_bytes(key[:4], "little")
    hi = int.from_bytes(key[-4:], "little")
    h = ((hi + (lo << 32)) & _M64) ^ _BITFLIP_4TO8
    h ^= _rotl64(h, 49) ^ _rotl64(h, 24)
    h = (h * 0x9FB21C651E98DF25) & _M64
    h ^= (h >> 35) + len(key)
    h = (h * 0x9FB21C651E98DF25) & _M64
    return h ^ (h >> 28)


def partition_of(key: str) -> int:
    return xxh3_64_short(key.encode()) >> (64 - (PARTITIONS.bit_length() - 1))


def make_key(prefix: str, i: int) -> str:
    """An 8-byte key: a 1-character prefix and 7 digits."""
    assert len(prefix) == 1
    return f"{prefix}{i:07d}"


# ---- raw frames: pipelined puts and local gets ----
#
# Made and read through the schema (harness.encode_frames / decode_bodies:
# capnp convert with wire/frame.capnp), one capnp run per batch.


def numbered(literals) -> list[tuple[int, bytes]]:
    """(id, frame) pairs for Frame literals whose ids are 1, 2, ..."""
    return list(enumerate(harness.encode_frames(literals), start=1))


def local_get_frames(keys: list[str]) -> list[tuple[int, bytes]]:
    """get --local of each key (this node's own stored copy), ids 1.."""
    return numbered(harness.get_request(i + 1, k.encode(), local=True)
                    for i, k in enumerate(keys))


def quorum_get_frames(keys: list[str], r: int) -> list[tuple[int, bytes]]:
    return numbered(harness.get_request(i + 1, k.encode(), r=r)
                    for i, k in enumerate(keys))


def put_frames(keys: list[str], values: dict[str, str]) -> list[tuple[int, bytes]]:
    """A blind put of each key's value, ids 1.."""
    return numbered(harness.put_request(i + 1, k.encode(), values[k].encode())
                    for i, k in enumerate(keys))


def decode_replies(bodies: list[bytes]) -> list[dict]:
    """The decoded frames plus, for a getReply, "siblings":
    [{"value": bytes, "tombstone": bool}] of the reply's object."""
    replies = harness.decode_bodies(bodies)
    for reply in replies:
        if harness.kind(reply) == "getReply":
            reply["siblings"] = harness.siblings(reply)
    return replies


def pipeline(address: tuple[str, int], frames: list[tuple[int, bytes]],
             window: int = 32, timeout: float = 60.0) -> dict[int, dict]:
    """Sends `frames` ((id, frame) pairs) over one connection with at most
    `window` outstanding; returns {id: decoded reply}. Replies may come in
    any order. AssertionError when the node closes the connection or the
    whole exchange takes longer than `timeout` seconds."""
    bodies: list[bytes] = []
    deadline = time.monotonic() + timeout
    with socket.create_connection(address, timeout=5) as sock:
        sent = 0
        while len(bodies) < len(frames):
            batch = []
            while sent < len(frames) and sent - len(bodies) < window:
                batch.append(frames[sent][1])
                sent += 1
            if batch:
                sock.sendall(b"".join(batch))
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{len(frames) - len(bodies)} of {len(frames)} requests to "
                    f"{address} unanswered after {timeout} s")
            sock.settimeout(left)
            header = harness._recv_exact(sock, 4)
            if header is None:
                raise AssertionError(f"{address} closed the connection "
                                     f"({len(bodies)} of {len(frames)} replies)")
            (length,) = struct.unpack("<I", header)
            body = harness._recv_exact(sock, length)
            if body is None:
                raise AssertionError(f"{address} closed the connection inside a frame")
            bodies.append(body)
    return {reply["id"]: reply for reply in decode_replies(bodies)}


def spread(address_of, names: list[str], frames: list[tuple[int, bytes]],
           window: int = 32) -> dict[int, dict]:
    """Deals `frames` round-robin over one connection per node in `names`
    (one thread each); returns every reply by id."""
    shares = {name: frames[i::len(names)] for i, name in enumerate(names)}
    replies: dict[int, dict] = {}
    lock = threading.Lock()

    def run(name):
        got = pipeline(address_of(name), shares[name], window)
        with lock:
            replies.update(got)

    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        for f in [pool.submit(run, name) for name in names]:
            f.result()
    return replies


class HandoffTest(harness.RingTestCase):
    NODES = 5
    N, W, R = 3, 2, 2
    BASE_PORT = 27000

    # -- helpers --

    def where(self, key: str) -> dict:
        return self.ring.shoal("ring", "where", key)[1]

    def learn_primaries(self) -> dict[int, list[str]]:
        """{partition: primary names} from `shoal ring where` on one locally
        chosen key per partition; fails when the local hash disagrees with
        ring where's hash or partition."""
        reps: dict[int, str] = {}
        i = 0
        while len(reps) < PARTITIONS:
            key = make_key("w", i)
            reps.setdefault(partition_of(key), key)
            i += 1
            self.assertLess(i, 100_000, "could not find a key for every partition")
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            wheres = dict(zip(reps, pool.map(self.where, reps.values())))
        primaries = {}
        for part, key in reps.items():
            w = wheres[part]
            self.assertEqual(w["partitions"], PARTITIONS, w)
            self.assertEqual((int(w["hash"], 16), w["partition"]),
                             (xxh3_64_short(key.encode()), part),
                             f"the test's XXH3 disagrees with `shoal ring where {key}`")
            self.assertEqual(len(w["primaries"]), self.N, w)
            primaries[part] = [p["name"] for p in w["primaries"]]
        return primaries

    def keys_with_primary(self, prefix: str, node: str, count: int,
                          primaries: dict[int, list[str]]) -> list[str]:
        keys, i = [], 0
        while len(keys) < count:
            key = make_key(prefix, i)
            if node in primaries[partition_of(key)]:
                keys.append(key)
            i += 1
        return keys

    def hints(self, name: str) -> dict:
        return self.ring.shoal("hints", node=name)[1]

    def pending_for(self, hints: dict, target: str) -> int:
        return sum(t["count"] for t in hints["targets"] if t["target"] == target)

    def wait_seen_down(self, target: str, by: list[str], since: float) -> float:
        """Waits until every node in `by` reports `target` down in `shoal
        status`; returns the seconds since `since`."""
        def all_down():
            views = self.ring.views(by)
            return len(views) == len(by) and all(v[target] is False for v in views.values())
        wait_until(all_down, DETECT_TIMEOUT_S,
                   f"{by} to see {target} down in `shoal status`", interval=0.1)
        return time.monotonic() - since

    def put_cli(self, key: str, value: str, node: str, *extra: str) -> float:
        """One `shoal put` that must exit 0 with ok; returns its duration."""
        start = time.monotonic()
        code, out = self.ring.shoal("put", key, value, *extra, node=node,
                                    expect_ok=False, timeout=10)
        took = time.monotonic() - start
        self.assertEqual(code, 0, f"put {key} through {node}: {out}")
        self.assertIs(out["ok"], True, out)
        return took

    def raw_local(self, node: str, keys: list[str]) -> dict[str, dict]:
        replies = pipeline(self.ring.host_port(node), local_get_frames(keys), window=64)
        out = {}
        for i, k in enumerate(keys):
            reply = replies[i + 1]
            self.assertEqual(harness.kind(reply), "getReply",
                             f"local get {k} on {node}: {reply}")
            out[k] = reply
        return out

    # -- 1. the 5,000-key outage --

    def test_5000_keys_reach_the_returning_primary_through_durable_hints(self):
        count = 5000
        primaries = self.learn_primaries()
        target = "n3"
        others = [n for n in self.ring.names if n != target]
        keys = self.keys_with_primary("h", target, count, primaries)
        values = {k: f"v-{k}" for k in keys}

        started = time.monotonic()
        self.ring.kill(target)
        self.wait_seen_down(target, others, started)

        # 5,000 blind puts through the four other nodes, all must succeed.
        replies = spread(self.ring.host_port, others, put_frames(keys, values))
        failed = [(keys[i - 1], r) for i, r in sorted(replies.items())
                  if harness.kind(r) != "putReply"]
        self.assertEqual(len(replies), count)
        self.assertEqual(failed[:5], [], f"{len(failed)} of {count} puts failed")

        # One hint per key, on the key's first live fallback.
        def backlog():
            hs = {n: self.hints(n) for n in others}
            return hs if sum(self.pending_for(h, target) for h in hs.values()) == count else None
        try:
            hs = wait_until(backlog, 15, f"{count} hints for {target} in all")
        except AssertionError as e:
            raise AssertionError(f"{e}: {[self.hints(n) for n in others]}") from None
        for name, h in hs.items():
            self.assertEqual(h["pending"], self.pending_for(h, target), h)
            for t in h["targets"]:
                self.assertIs(t["target_up"], False, h)
                self.assertGreater(t["bytes"], 0, h)

        # The raw local read agrees with `shoal get --local` (on nodes that
        # hold a key and on nodes that do not).
        for key in keys[:4]:
            for name in others:
                raw = self.raw_local(name, [key])[key]
                cli = self.ring.local_get(key, name)
                self.assertEqual([s["value"].decode() for s in raw["siblings"]
                                  if not s["tombstone"]], cli["values"], (key, name))

        # SIGKILL a fallback that holds hints; it comes back with all of them.
        fallback = max(others, key=lambda n: hs[n]["pending"])
        before = hs[fallback]["pending"]
        self.assertGreater(before, 0, hs)
        self.ring.kill(fallback)
        self.ring.start(fallback)
        after = self.hints(fallback)
        self.assertEqual(self.pending_for(after, target), before,
                         f"{fallback} lost hints across kill -9: {after}")

        # The primary returns: within 60 s every key is in its own store.
        returned = time.monotonic()
        self.ring.start(target)
        deadline = returned + HANDOFF_DEADLINE_S
        missing = keys
        while True:
            pending = {n: self.hints(n)["pending"] for n in self.ring.names}
            if not any(pending.values()):
                local = self.raw_local(target, missing)
                missing = [k for k in missing if not local[k]["siblings"]]
                if not missing:
                    break
            if time.monotonic() > deadline:
                local = self.raw_local(target, missing)
                missing = [k for k in missing if not local[k]["siblings"]]
                self.fail(f"{HANDOFF_DEADLINE_S:.0f} s after {target} started: backlogs "
                          f"{pending}, {len(missing)} of {count} keys not in its store "
                          f"(e.g. {missing[:3]})")
            time.sleep(0.5)
        took = time.monotonic() - returned

        # No key gained a sibling: the primary's copy and a read of all
        # three replicas hold exactly the one written value.
        local = self.raw_local(target, keys)
        wrong = [(k, r["siblings"]) for k, r in local.items()
                 if [(s["value"], s["tombstone"]) for s in r["siblings"]]
                 != [(values[k].encode(), False)]]
        self.assertEqual(wrong[:3], [], f"{len(wrong)} keys wrong in {target}'s store")
        replies = spread(self.ring.host_port, self.ring.names, quorum_get_frames(keys, r=3))
        wrong = [(keys[i - 1], r) for i, r in replies.items()
                 if harness.kind(r) != "getReply"
                 or [s["value"] for s in r["siblings"]] != [values[keys[i - 1]].encode()]]
        self.assertEqual(wrong[:3], [], f"{len(wrong)} keys wrong in an r=3 read")

        totals = [self.hints(n) for n in self.ring.names]
        self.assertEqual(sum(h["stored"] for h in totals), count, totals)
        self.assertGreaterEqual(sum(h["delivered"] for h in totals), count, totals)
        self.assertEqual(sum(h["dropped"]["cap"] for h in totals), 0, totals)
        sys.stderr.write(f"[handoff] {count} hints delivered {took:.1f} s after "
                         f"{target} started\n")

    # -- 2. a paused node --

    def test_paused_node_is_seen_down_writes_succeed_and_it_gets_its_hints(self):
        primaries = self.learn_primaries()
        target = "n2"
        others = [n for n in self.ring.names if n != target]
        keys = self.keys_with_primary("p", target, 50, primaries)

        self.addCleanup(self.ring.shoal, "ring", "resume", target, expect_ok=False)
        paused = time.monotonic()
        _, action = self.ring.shoal("ring", "pause", target)
        self.assertEqual((action["before"], action["after"]), ("running", "paused"), action)
        self.assertEqual(self.ring.states()[target], "paused")
        took = self.wait_seen_down(target, others, paused)
        # The status of the node asked names how long ago it heard the target.
        status = self.ring.status(others[0])
        seen = {m["name"]: m for m in status["members"]}[target]
        self.assertGreaterEqual(seen["last_heard_ms_ago"], 1000, seen)

        slow = []
        for i, key in enumerate(keys):
            t = self.put_cli(key, f"v-{key}", others[i % len(others)])
            if t >= PUT_DEADLINE_S:
                slow.append((key, round(t, 2)))
        self.assertEqual(slow, [], f"puts slower than {PUT_DEADLINE_S} s while {target} "
                                   f"is paused")

        def pending():
            return sum(self.pending_for(self.hints(n), target) for n in others)
        wait_until(lambda: pending() == len(keys), 10,
                   f"{len(keys)} hints for the paused {target}")

        _, action = self.ring.shoal("ring", "resume", target)
        self.assertEqual((action["before"], action["after"]), ("paused", "running"), action)
        self.ring.wait_ready()
        wait_until(lambda: pending() == 0, 30, f"the hints for {target} to drain",
                   interval=0.5)
        for key in keys:
            local = self.ring.local_get(key, target)
            self.assertEqual(local["values"], [f"v-{key}"], (key, local))
        sys.stderr.write(f"[handoff] paused {target} seen down by all after {took:.2f} s\n")

    # -- 3. pw --

    def test_pw3_with_a_primary_down_fails_naming_2_of_3_pw2_succeeds(self):
        key = "pw-key"
        owners = [p["name"] for p in self.where(key)["primaries"]]
        dead = owners[0]
        # One coordinator among the primaries, one not.
        coordinators = [owners[1]] + [n for n in self.ring.names if n not in owners][:1]
        started = time.monotonic()
        self.ring.kill(dead)
        self.wait_seen_down(dead, coordinators, started)

        for node in coordinators:
            code, out = self.ring.shoal("put", key, "strict", "--pw", "3", node=node,
                                        expect_ok=False)
            self.assertEqual(code, 1, out)
            self.assertIs(out["ok"], False, out)
            err = out["error"]
            self.assertEqual(err["code"], "unavailable", err)
            self.assertIn("2 of 3 primaries", err["message"])
            self.assertEqual((err["acked"], err["required"]), (2, 3), err)
            self.assertIs(err["maybe_applied"], False, err)
            # ... and the text form says the same on stderr.
            code, out, err_text = self.ring.shoal_text("put", key, "strict", "--pw", "3",
                                                       node=node)
            self.assertEqual(code, 1)
            self.assertIn("2 of 3 primaries", err_text)
        # It said nothing was written: nothing was.
        code, got = self.ring.shoal("get", key, node=coordinators[0])
        self.assertIs(got["found"], False, got)

        code, out = self.ring.shoal("del", key, "--pw", "3", node=coordinators[0],
                                    expect_ok=False)
        self.assertEqual(code, 1, out)
        self.assertIn("2 of 3 primaries", out["error"]["message"])

        for i, node in enumerate(coordinators):
            self.put_cli(f"{key}-{i}", "relaxed", node, "--pw", "2")
            code, got = self.ring.shoal("get", f"{key}-{i}", node=node)
            self.assertEqual(got["values"], ["relaxed"], got)

        # pr the same way on reads.
        code, out = self.ring.shoal("get", f"{key}-0", "--pr", "3", node=coordinators[0],
                                    expect_ok=False)
        self.assertEqual(code, 1, out)
        self.assertIn("2 of 3 primaries", out["error"]["message"])
        code, got = self.ring.shoal("get", f"{key}-0", "--pr", "2", node=coordinators[0])
        self.assertEqual(got["values"], ["relaxed"], got)

    def test_pw3_with_a_paused_primary_fails_naming_2_of_3(self):
        # Before the pause is detected the coordinator still sends to the
        # paused primary and the put ends at its deadline; after, it is
        # refused up front. Either way the error names 2 of 3 primaries.
        key = "pw-paused"
        owners = [p["name"] for p in self.where(key)["primaries"]]
        paused, coordinator = owners[0], owners[1]
        self.addCleanup(self.ring.shoal, "ring", "resume", paused, expect_ok=False)
        self.ring.shoal("ring", "pause", paused)
        start = time.monotonic()
        code, out = self.ring.shoal("put", key, "strict", "--pw", "3", node=coordinator,
                                    expect_ok=False, timeout=10)
        took = time.monotonic() - start
        self.assertEqual(code, 1, out)
        err = out["error"]
        self.assertIn(err["code"], ("timeout", "unavailable"), err)
        self.assertIn("2 of 3 primaries", err["message"])
        self.assertEqual((err["acked"], err["required"]), (2, 3), err)
        self.assertLess(took, PUT_DEADLINE_S, "the put outlived its deadline")
        self.ring.shoal("ring", "resume", paused)
        self.ring.wait_ready()

    # -- 4. the hint cap --

    def test_hint_cap_drops_and_counts_while_writes_succeed(self):
        cap = 5
        count = 100
        primaries = self.learn_primaries()
        # Every node restarts with the tiny cap: stop the ring, add it to
        # each node.toml, start the ring again from the same directory.
        harness.run_shoal(["ring", "down", "--dir", self.ring.dir, "--json"])
        for name in self.ring.names:
            path = os.path.join(self.ring.dir, name, "node.toml")
            with open(path, "a") as f:
                f.write(f"\n[handoff]\nmax_hints_per_target = {cap}\n")
        self.ring.up()
        for name in self.ring.names:
            printed = subprocess.run(
                [os.path.join(harness.bin_dir(), "shoald"), "--config",
                 os.path.join(self.ring.dir, name, "node.toml"), "--print-config"],
                capture_output=True, text=True, timeout=10)
            self.assertIn(f"max_hints_per_target = {cap}\n", printed.stdout, printed)

        target = "n1"
        others = [n for n in self.ring.names if n != target]
        keys = self.keys_with_primary("c", target, count, primaries)
        started = time.monotonic()
        self.ring.kill(target)
        self.wait_seen_down(target, others, started)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda ik: self.put_cli(ik[1], f"v-{ik[1]}",
                                                   others[ik[0] % len(others)]),
                          enumerate(keys)))

        # Every hint is either kept or dropped and counted, never lost.
        def accounted():
            hs = [self.hints(n) for n in others]
            kept = sum(self.pending_for(h, target) for h in hs)
            dropped = sum(h["dropped"]["cap"] for h in hs)
            return hs if kept + dropped == count else None
        try:
            hs = wait_until(accounted, 10, f"the {count} hints to be kept or dropped")
        except AssertionError as e:
            raise AssertionError(f"{e}: {[self.hints(n) for n in others]}") from None
        self.assertGreater(sum(h["dropped"]["cap"] for h in hs), 0, hs)
        for h in hs:
            self.assertLessEqual(self.pending_for(h, target), cap, h)
            self.assertEqual(h["stored"], self.pending_for(h, target), h)

        # The kept ones are still delivered when the target returns.
        self.ring.start(target)
        wait_until(lambda: all(self.hints(n)["pending"] == 0 for n in others), 30,
                   f"the capped hints for {target} to drain", interval=0.5)


if __name__ == "__main__":
    harness.main()
