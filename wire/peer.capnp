# Node-to-node messages, sent over one persistent connection per peer.
@0xcb33559e0084e449;

$import "/capnp/c++.capnp".namespace("shoal::wire::schema");
using Obj = import "object.capnp";
using Client = import "client.capnp";

struct Hello {
  node @0 :Text;              # sender's member name
  protocolVersion @1 :UInt32; # wire protocol version (currently 1)
}

struct ReadRequest {
  key @0 :Data;  # the replica answers with its own stored copy
}

struct ReadReply {
  object @0 :Obj.Object;  # empty (no vv, no siblings) when the replica has none
}

struct ReplicateRequest {
  key @0 :Data;
  object @1 :Obj.Object;  # the receiver merges (DVV sync) and acks after commit
  hintFor @2 :Text;       # sloppy quorum: keep it as a hint for this primary
                          # (fsynced before the ack); "" = a normal replica write
}

struct Ping {}  # heartbeat; answered with Pong
struct Pong {}

struct ReplicateReply {}

struct CoordinatePutRequest {
  put @0 :Client.PutRequest;  # a put forwarded to a primary; never forwarded again
}
