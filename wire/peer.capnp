# Node-to-node messages, sent over one persistent connection per peer.
@0xcb33559e0084e449;

$import "/capnp/c++.capnp".namespace("shoal::wire::schema");
using Obj = import "object.capnp";
using Client = import "client.capnp";
using Cluster = import "cluster.capnp";

struct Hello {
  node @0 :Text;              # sender's member name
  protocolVersion @1 :UInt32; # wire protocol version (currently 1)
}

# `epoch` on ReadRequest, ReplicateRequest and CoordinatePutRequest: the
# cluster state epoch the sender chose this replica under (0 = unstamped:
# hint deliveries, tools). A node at a newer epoch does not serve the
# request: it answers with ClusterStateReply (its state), which the sender
# adopts before it routes the request again (doc/membership.md, "Requests
# across epochs"). A node at an older epoch serves it and asks the sender
# for its state.
struct ReadRequest {
  key @0 :Data;  # the replica answers with its own stored copy
  epoch @1 :UInt64;
}

struct ReadReply {
  object @0 :Obj.Object;  # empty (no vv, no siblings) when the replica has none
}

struct ReplicateRequest {
  key @0 :Data;
  object @1 :Obj.Object;  # the receiver merges (DVV sync) and acks after commit
  hintFor @2 :Text;       # sloppy quorum: keep it as a hint for this primary
                          # (fsynced before the ack); "" = a normal replica write
  epoch @3 :UInt64;
  # A datacenter's forwarder (doc/impl.md, "Datacenters and racks"): the
  # receiver also sends the object to these members of its datacenter and
  # answers with every one's result (its own first) once `waitFor` of them
  # (0 = all) acknowledged, or after `timeoutMs`.
  also @4 :List(RelayTarget);
  timeoutMs @5 :UInt32;
  waitFor @6 :UInt32;
}

struct RelayTarget {
  node @0 :Text;
  hintFor @1 :Text;  # "" = a normal replica write
}

struct RelayResult {
  node @0 :Text;
  code @1 :UInt16;   # frame.capnp ErrorCode; ok = acknowledged; timeout =
                     # no answer yet when the forwarder replied
  message @2 :Text;
}

# Heartbeats carry the sender's cluster state epoch and digest
# (cluster/state.h), so a node learns within one heartbeat that a peer holds
# a newer state (it then asks for it with ClusterStateRequest) or a
# different one at its own epoch (a conflict).
# `transferred` is the epoch of a change in progress whose transfers to the
# sender are all done (0 = none): once every receiving member reports it,
# each node completes the change (doc/membership.md, "Transfer").
struct Ping {  # answered with Pong
  epoch @0 :UInt64;
  digest @1 :UInt64;
  transferred @2 :UInt64;
}
struct Pong {
  epoch @0 :UInt64;
  digest @1 :UInt64;
  transferred @2 :UInt64;
}

# Asks for the node's cluster state; any connection may ask (a node started
# with only seeds asks before it knows the members).
struct ClusterStateRequest {}
struct ClusterStateReply {
  state @0 :Cluster.ClusterState;
}

struct ReplicateReply {
  results @0 :List(RelayResult);  # a forwarder's: one per target, in order
}

struct CoordinatePutRequest {
  put @0 :Client.PutRequest;  # a put forwarded to a primary; never forwarded again
  epoch @1 :UInt64;
}

# ---- anti-entropy exchanges (doc/impl.md, "Anti-entropy") ----

enum AaeLevel {
  root @0;      # one hash
  branches @1;  # every branch hash, in order
  leaves @2;    # the leaves of `branches`, 64 per branch, in request order
}

struct AaeTreeRequest {
  partition @0 :UInt32;
  segments @1 :UInt32;         # the sender's tree shape; must match
  level @2 :AaeLevel;
  branches @3 :List(UInt32);   # for level = leaves
}

struct AaeTreeReply {
  hashes @0 :List(UInt64);
}

struct KeyFingerprint {
  key @0 :Data;
  fingerprint @1 :UInt64;      # hash of the causal state (0 = absent)
}

struct AaeKeysRequest {
  partition @0 :UInt32;
  segments @1 :UInt32;         # tree shape
  leaves @2 :List(UInt32);     # the segments (leaves) to list
  withObjects @3 :Bool;        # the asker holds nothing in these leaves:
                               # send each key's object, not its fingerprint
}

struct AaeKeysReply {
  keys @0 :List(KeyFingerprint);
  leavesListed @1 :UInt32;     # the first this-many requested leaves are
                               # listed completely; ask again for the rest
  objects @2 :List(KeyObject); # instead of keys, when withObjects was asked
}

struct AaeFetchRequest {
  keys @0 :List(Data);
}

struct AaeFetchReply {
  objects @0 :List(Obj.Object);  # for the first objects.size() keys, in
                                 # order (fewer when over the byte budget);
                                 # empty object = not stored
}

struct KeyObject {
  key @0 :Data;
  object @1 :Obj.Object;
}

struct AaeRepairRequest {
  items @0 :List(KeyObject);   # the receiver merges each (DVV sync)
}

struct AaeRepairReply {
  changed @0 :UInt32;          # objects the merge changed
}

# Tombstone reaping (doc/impl.md, "Reaping tombstones"): before it reaps
# tombstoned keys, a primary asks every other member what it holds of them.
struct ReapCheckKey {
  key @0 :Data;
  partition @1 :UInt32;
  segment @2 :UInt32;
  fingerprint @3 :UInt64;      # the asker's tombstone (causal fingerprint)
}

struct ReapCheckRequest {
  epoch @0 :UInt64;            # the asker's cluster epoch; answered only at
                               # the same epoch
  keys @1 :List(ReapCheckKey);
}

enum ReapHolding {
  absent @0;                   # no object for the key
  same @1;                     # the asker's causal state exactly
  other @2;                    # any other version
}

struct ReapCheckReply {
  holding @0 :List(ReapHolding);  # per key, in request order
  hinted @1 :List(Bool);          # per key: a hint for it waits here
}
