# Client requests and their replies (CLI, bench, any client library).
@0xed742268da7bf47d;

$import "/capnp/c++.capnp".namespace("shoal::wire::schema");
using Obj = import "object.capnp";

# How many replies a request waits for (quorum/level.h); `explicit` takes
# the request's r or w (or the cluster default).
enum Level {
  explicit @0;
  quorum @1;       # n/2+1 of all replicas
  localQuorum @2;  # n_dc/2+1 in the coordinator's datacenter
  eachQuorum @3;   # n_dc/2+1 in every datacenter
}

struct GetRequest {
  key @0 :Data;          # 1..500 bytes
  r @1 :UInt8;           # replies to wait for; 0 = cluster default
  timeoutMs @2 :UInt32;  # request deadline; 0 = node default (2000 ms)
  local @3 :Bool;        # diagnostic: this node's own stored copy only, no quorum
  pr @4 :UInt8;          # primaries that must reply (0 = none required)
  session @5 :Data;      # packed SessionToken; empty = no session guarantee
  level @6 :Level;       # not explicit: r must be 0
}

struct GetReply {
  object @0 :Obj.Object;  # merged object; not found = no live (non-tombstone) sibling
  context @1 :Data;       # packed Context for a later put of this key ("" if none)
  session @2 :Data;       # the request's session token updated with this read
}

struct PutRequest {
  key @0 :Data;          # 1..500 bytes
  value @1 :Data;        # ignored when `delete` is set
  delete @2 :Bool;       # write a tombstone instead of a value
  context @3 :Data;      # packed Context from an earlier get; empty = blind write
  w @4 :UInt8;           # acks to wait for; 0 = cluster default
  timeoutMs @5 :UInt32;  # request deadline; 0 = node default (2000 ms)
  pw @6 :UInt8;          # primaries that must acknowledge (0 = none required)
  session @7 :Data;      # packed SessionToken; empty = no session
  level @8 :Level;       # not explicit: w must be 0
  localDc @9 :Text;      # the datacenter local_quorum counts in; "" = the
                         # coordinator's (a forwarding node sets its own)
}

struct PutReply {
  context @0 :Data;    # packed Context covering exactly this write and what the
                       # put's context covered; "" when the key now has other
                       # siblings too (read before writing again)
  siblings @1 :UInt32; # siblings (tombstones included) the coordinator holds after the write
  seen @2 :List(Obj.Dot);  # the coordinator's version vector after the write
                           # (replies to a forwarded put only)
  session @3 :Data;    # the request's session token updated with this write
}

# A client session's causal floor (quorum/session.h), opaque to clients.
# Serialized *packed*; at most 64 floors, most recently touched first.
struct SessionToken {
  floors @0 :List(SessionFloor);
}

struct SessionFloor {
  keyHash @0 :UInt64;    # XXH3-64 of the key (ring::HashKey)
  vv @1 :List(Obj.Dot);  # what the session wrote or read at this key
  absent @2 :Bool;       # that version had no live sibling
  wrote @3 :Bool;        # the session wrote it (else read it)
}
