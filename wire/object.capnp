# Versioned objects: the unit a replica stores and replicas exchange.
# Also the on-disk value format of the LMDB `objects` database (doc/storage.md).
@0xc448fe15c2f2923b;

$import "/capnp/c++.capnp".namespace("shoal::wire::schema");

struct Dot {
  actor @0 :UInt64;    # 64-bit actor id minted per data directory
  counter @1 :UInt64;  # >= 1; the actor's n-th coordinated write
}

struct Sibling {
  dot @0 :Dot;              # the write that created this sibling
  writtenAtMs @1 :Int64;    # coordinator wall clock, ms since epoch; metadata only
  tombstone @2 :Bool;       # a delete; `value` is then empty
  value @3 :Data;           # the user's bytes
}

struct Object {
  vv @0 :List(Dot);            # version vector: one entry per actor, sorted by actor
  siblings @1 :List(Sibling);  # live siblings, sorted by dot
}

# A client context: the version vector a get returned, opaque to clients.
# Serialized *packed* (doc/wire.md) so it stays short in base64.
struct Context {
  vv @0 :List(Dot);    # sorted by actor, counters >= 1, no duplicate actors
  keyHash @1 :UInt64;  # XXH3-64 of the key the context was read from
}
