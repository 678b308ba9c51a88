# Client requests and their replies (CLI, bench, any client library).
@0xed742268da7bf47d;

$import "/capnp/c++.capnp".namespace("shoal::wire::schema");
using Obj = import "object.capnp";

struct GetRequest {
  key @0 :Data;          # 1..500 bytes
  r @1 :UInt8;           # replies to wait for; 0 = cluster default
  timeoutMs @2 :UInt32;  # request deadline; 0 = node default (2000 ms)
  local @3 :Bool;        # diagnostic: this node's own stored copy only, no quorum
  pr @4 :UInt8;          # primaries that must reply (0 = none required)
}

struct GetReply {
  object @0 :Obj.Object;  # merged object; not found = no live (non-tombstone) sibling
  context @1 :Data;       # packed Context for a later put of this key ("" if none)
}

struct PutRequest {
  key @0 :Data;          # 1..500 bytes
  value @1 :Data;        # ignored when `delete` is set
  delete @2 :Bool;       # write a tombstone instead of a value
  context @3 :Data;      # packed Context from an earlier get; empty = blind write
  w @4 :UInt8;           # acks to wait for; 0 = cluster default
  timeoutMs @5 :UInt32;  # request deadline; 0 = node default (2000 ms)
  pw @6 :UInt8;          # primaries that must acknowledge (0 = none required)
}

struct PutReply {
  context @0 :Data;    # packed Context covering exactly this write and what the
                       # put's context covered; "" when the key now has other
                       # siblings too (read before writing again)
  siblings @1 :UInt32; # siblings (tombstones included) the coordinator holds after the write
}
