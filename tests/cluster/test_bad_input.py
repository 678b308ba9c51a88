#!/usr/bin/env python3
"""Limits and bad input on a real 3-node ring, n=3 w=2 r=2 (issue 2,
"Limits and bad input"): each is a clear error, nothing is written, and the
node stays up and keeps serving.

One ring for the whole file (nothing here changes membership); after every
test each node must still be running.

Run: SHOAL_BIN_DIR=build/bin python3 tests/cluster/test_bad_input.py -v
"""

import os
import random
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MAX_KEY = 500
MAX_VALUE = 4 * 1024 * 1024          # default limits.max_value_bytes
FRAME_CAP = 16 * 1024 * 1024 + 65536  # default object cap + 64 KiB headroom
RAW_NODE = "n2"                       # the node raw-socket tests talk to


def union_tag_offset() -> int:
    """Where a frame's union tag (a UInt16) sits, learned from the schema
    rather than assumed: the bytes that differ between two frames that
    differ only in their union member (status and hints, both empty
    requests)."""
    a = harness.encode_frame(harness.status_request(1))
    b = harness.encode_frame("(id = 1, hints = ())")
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    assert len(a) == len(b) and diff and diff[-1] - diff[0] <= 1, (a, b)
    return diff[0] - diff[0] % 2


def union_tag(frame: bytes) -> int:
    """The union tag of a frame made by harness.encode_frame."""
    return struct.unpack_from("<H", frame, union_tag_offset())[0]


def frame_with_union_tag(req_id: int, tag: int) -> bytes:
    """A status frame whose union tag is overwritten with `tag`: malformed on
    purpose when no member of Frame's union has that tag."""
    frame = bytearray(harness.status_frame(req_id))
    struct.pack_into("<H", frame, union_tag_offset(), tag)
    return bytes(frame)


class BadInputTest(harness.SharedRingTestCase):
    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = 23000

    # ---- helpers ----

    def assert_error(self, args, code, message_part, node="n1", stdin=None):
        """Runs a shoal verb that must fail with exit 1 and a JSON error."""
        rc, out = self.ring.shoal(*args, node=node, expect_ok=False, stdin=stdin)
        self.assertEqual(rc, 1, out)
        self.assertIsInstance(out, dict, out)
        self.assertIs(out["ok"], False, out)
        self.assertEqual(out["error"]["code"], code, out)
        self.assertIn(message_part, out["error"]["message"])
        return out["error"]

    def assert_not_written(self, key, node="n1"):
        got = self.ring.get(key, node)
        self.assertIs(got["found"], False, f"{key!r} was written: {got}")
        self.assertEqual(got["values"], [])

    def assert_node_healthy(self, name, tag):
        """The node answers status and a put/get through it works."""
        status = self.ring.status(name)
        self.assertEqual(status["node"], name)
        key, value = f"healthy-{tag}", f"value-{tag}"
        self.ring.put(key, value, name)
        got = self.ring.get(key, name)
        self.assertEqual(got["values"], [value], got)

    def connect(self, name=RAW_NODE):
        sock = socket.create_connection(self.ring.host_port(name), timeout=5)
        self.addCleanup(sock.close)
        return sock

    def assert_error_then_closed(self, sock, code, message_part):
        frame = harness.read_frame(sock)
        self.assertIsNotNone(frame, "connection closed without an error frame")
        self.assertEqual(harness.kind(frame), "error", frame)
        self.assertEqual(frame["id"], 0, frame)
        self.assertEqual(frame["error"]["code"], code, frame)
        self.assertIn(message_part, frame["error"]["message"])
        self.assertEqual(harness.wait_closed(sock), b"", "bytes after the error frame")

    def assert_status_reply(self, frame, req_id):
        self.assertIsNotNone(frame, "connection closed without a reply")
        self.assertEqual((frame["id"], harness.kind(frame)), (req_id, "statusReply"), frame)

    def node_rss_bytes(self, name):
        pid = self.ring.ring_status()["nodes"][int(name[1:]) - 1]["pid"]
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError(f"no VmRSS for {name} (pid {pid})")

    # ---- keys ----

    def test_key_of_501_bytes_is_too_large(self):
        key = "k" * (MAX_KEY + 1)
        err = self.assert_error(["put", key, "v"], "too_large", "501")
        self.assertIn("limit of 500 bytes", err["message"])
        self.assert_error(["get", key], "too_large", "limit of 500 bytes")
        self.assert_node_healthy("n1", "key501")

    def test_key_of_500_bytes_works(self):
        key = "k" * MAX_KEY
        self.ring.put(key, "edge", "n1")
        self.assertEqual(self.ring.get(key, "n3")["values"], ["edge"])

    def test_empty_key_is_invalid(self):
        err = self.assert_error(["put", "", "v"], "invalid_argument", "empty key")
        self.assertIn("1..500", err["message"])
        self.assert_error(["get", ""], "invalid_argument", "empty key")
        self.assert_error(["del", ""], "invalid_argument", "empty key")

    # ---- values ----

    def test_value_over_the_limit_is_too_large_then_normal_writes_work(self):
        path = os.path.join(self.ring.tmp, "big-value")
        with open(path, "wb") as f:
            f.write(b"a" * (MAX_VALUE + 1))
        err = self.assert_error(["put", "big", "--value-file", path], "too_large",
                                f"limit of {MAX_VALUE} bytes")
        self.assertIn(str(MAX_VALUE + 1), err["message"])
        self.assert_not_written("big")
        self.assert_node_healthy("n1", "bigvalue")

    def test_value_of_exactly_the_limit_works(self):
        path = os.path.join(self.ring.tmp, "max-value")
        value = (b"0123456789abcdef" * (MAX_VALUE // 16))
        self.assertEqual(len(value), MAX_VALUE)
        with open(path, "wb") as f:
            f.write(value)
        self.ring.shoal("put", "max", "--value-file", path, node="n1")
        got = self.ring.get("max", "n2")
        self.assertEqual(len(got["values"]), 1)
        self.assertEqual(len(got["values"][0]), MAX_VALUE)
        self.assertEqual(got["values"][0].encode(), value)

    # ---- quorum sizes ----

    def test_w_over_n_is_invalid(self):
        err = self.assert_error(["put", "wkey", "v", "--w", "4"], "invalid_argument", "w=4 exceeds n=3")
        self.assertNotIn("acked", err)
        self.assert_not_written("wkey")
        self.assert_error(["del", "wkey", "--w", "4"], "invalid_argument", "w=4 exceeds n=3")

    def test_r_over_n_is_invalid(self):
        self.assert_error(["get", "rkey", "--r", "4"], "invalid_argument", "r=4 exceeds n=3")

    # ---- contexts ----

    def test_garbage_context_is_rejected_and_nothing_written(self):
        # Valid base64 of "not-a-context".
        self.assert_error(["put", "ctx-garbage", "v", "--context", "bm90LWEtY29udGV4dA=="],
                          "invalid_argument", "not a valid shoal context")
        self.assert_not_written("ctx-garbage")
        self.assert_error(["del", "ctx-garbage", "--context", "bm90LWEtY29udGV4dA=="],
                          "invalid_argument", "not a valid shoal context")

    def test_non_base64_context_is_rejected_and_nothing_written(self):
        self.assert_error(["put", "ctx-b64", "v", "--context", "!!not base64!!"],
                          "invalid_argument", "not base64")
        self.assert_not_written("ctx-b64")

    def test_bad_context_sent_raw_is_rejected_by_the_node(self):
        # The CLI checks contexts itself; this goes around it to the node.
        sock = self.connect()
        sock.sendall(harness.put_frame(41, b"raw-ctx", b"v", context=b"not-a-context"))
        frame = harness.read_frame(sock)
        self.assertEqual(frame["id"], 41, frame)
        self.assertEqual(harness.kind(frame), "error", frame)
        self.assertEqual(frame["error"]["code"], "invalidArgument", frame)
        self.assertIn("not a valid shoal context", frame["error"]["message"])
        # A request-level error keeps the connection open.
        sock.sendall(harness.status_frame(42))
        self.assert_status_reply(harness.read_frame(sock), 42)
        self.assert_not_written("raw-ctx", RAW_NODE)

    # ---- raw frames on a client port ----

    def test_raw_valid_frames_are_answered(self):
        # The test encoder itself: a status and a put it builds are served.
        sock = self.connect()
        sock.sendall(harness.status_frame(7))
        self.assert_status_reply(harness.read_frame(sock), 7)
        sock.sendall(harness.put_frame(8, b"raw-put", b"raw-value"))
        reply = harness.read_frame(sock)
        self.assertEqual((reply["id"], harness.kind(reply)), (8, "putReply"), reply)
        self.assertEqual(self.ring.get("raw-put", "n3")["values"], ["raw-value"])

    def test_raw_pipelined_requests_each_get_their_reply(self):
        sock = self.connect()
        sock.sendall(b"".join(harness.status_frame(100 + i) for i in range(50)))
        ids = sorted(frame["id"] for frame in harness.read_frames(sock, 50))
        self.assertEqual(ids, list(range(100, 150)))

    def test_raw_random_garbage(self):
        sock = self.connect()
        sock.sendall(random.Random(2).randbytes(4096))
        harness.wait_closed(sock)
        self.assert_node_healthy(RAW_NODE, "garbage")

    def test_raw_garbage_body_of_valid_length(self):
        sock = self.connect()
        sock.sendall(struct.pack("<I", 64) + random.Random(1).randbytes(64))
        self.assert_error_then_closed(sock, "corruption", "malformed frame")
        self.assert_node_healthy(RAW_NODE, "garbagebody")

    def test_raw_frame_length_not_a_multiple_of_8(self):
        sock = self.connect()
        sock.sendall(struct.pack("<I", 7) + b"1234567")
        self.assert_error_then_closed(sock, "corruption", "bad frame length 7")
        self.assert_node_healthy(RAW_NODE, "len7")

    def test_raw_frame_claiming_1_gib(self):
        rss_before = self.node_rss_bytes(RAW_NODE)
        sock = self.connect()
        sock.sendall(struct.pack("<I", 1 << 30) + b"\0" * 4096)
        self.assert_error_then_closed(sock, "tooLarge", f"frame cap of {FRAME_CAP} bytes")
        self.assert_node_healthy(RAW_NODE, "1gib")
        # Refused before the body was buffered: no 1 GiB allocation.
        self.assertLess(self.node_rss_bytes(RAW_NODE), rss_before + (64 << 20))

    def test_raw_truncated_frame_then_close(self):
        sock = self.connect()
        frame = harness.status_frame(9)
        sock.sendall(frame[: len(frame) - 5])
        sock.close()
        sock = self.connect()
        sock.sendall(struct.pack("<I", 4096) + b"\1" * 100)
        sock.shutdown(socket.SHUT_WR)
        harness.wait_closed(sock)
        self.assert_node_healthy(RAW_NODE, "truncated")

    def test_raw_connect_and_close_without_sending(self):
        for _ in range(20):
            self.connect().close()
        self.assert_node_healthy(RAW_NODE, "emptyconn")

    def test_raw_frame_of_zeros(self):
        sock = self.connect()
        sock.sendall(struct.pack("<I", 16) + b"\0" * 16)
        self.assert_error_then_closed(sock, "corruption", "malformed frame")
        sock = self.connect()
        sock.sendall(struct.pack("<I", 8) + b"\0" * 8)
        self.assert_error_then_closed(sock, "corruption", "malformed frame")
        self.assert_node_healthy(RAW_NODE, "zeros")

    def test_raw_unknown_message_type(self):
        sock = self.connect()
        sock.sendall(frame_with_union_tag(5, 200))
        self.assert_error_then_closed(sock, "invalidArgument", "unknown message type 200")
        self.assert_node_healthy(RAW_NODE, "unknowntype")

    def test_raw_reply_sent_as_request(self):
        sock = self.connect()
        reply_frame = harness.encode_frame("(id = 6, statusReply = ())")
        sock.sendall(reply_frame)
        frame = harness.read_frame(sock)
        self.assertEqual(frame["id"], 6, frame)
        self.assertEqual(frame["error"]["code"], "invalidArgument", frame)
        self.assertIn(f"message type {union_tag(reply_frame)} is a reply, not a request",
                      frame["error"]["message"])
        sock.sendall(harness.status_frame(7))
        self.assert_status_reply(harness.read_frame(sock), 7)

    def test_raw_empty_key_is_answered_with_its_request_id(self):
        sock = self.connect()
        sock.sendall(harness.get_frame(77, b""))
        frame = harness.read_frame(sock)
        self.assertEqual(frame["id"], 77, frame)
        self.assertEqual(frame["error"]["code"], "invalidArgument", frame)
        self.assertIn("empty key", frame["error"]["message"])

    # ---- command-line usage (exit 2) ----

    def assert_usage_error(self, args, stderr_part):
        rc, out, err = self.ring.shoal_text(*args)
        self.assertEqual(rc, 2, (out, err))
        self.assertIn(stderr_part, err)

    def test_usage_errors_exit_2(self):
        self.assert_usage_error(["put", "k", "v", "--bogus"], "--bogus")
        self.assert_usage_error(["get"], "key is required")
        self.assert_usage_error(["put", "k"], "give VALUE or --value-file")
        self.assert_usage_error(["get", "k", "--r", "many"], "many")
        self.assert_usage_error(["ring"], "subcommand")
        # (CLI11 says "A subcommand is required" without naming the unknown verb.)
        self.assert_usage_error(["frobnicate"], "subcommand")
        self.assert_not_written("k")


if __name__ == "__main__":
    harness.main()
