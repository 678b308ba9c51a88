# The one root type on the wire: every frame carries exactly one Frame.
# Frame = 4-byte little-endian length + a Cap'n Proto flat message (doc/wire.md).
@0xb2cb7e00cbf380e8;

$import "/capnp/c++.capnp".namespace("shoal::wire::schema");
using Client = import "client.capnp";
using Peer = import "peer.capnp";
using Admin = import "admin.capnp";

enum ErrorCode {
  ok @0;
  notFound @1;
  invalidArgument @2;
  tooLarge @3;
  unavailable @4;
  timeout @5;
  overloaded @6;
  corruption @7;
  storageFull @8;
  internal @9;
}

struct Error {
  code @0 :ErrorCode;
  message @1 :Text;       # names the problem and the limit
  hasQuorum @2 :Bool;     # the fields below are set
  acked @3 :UInt32;       # replicas that answered successfully
  required @4 :UInt32;    # w, r, pw or pr asked for
  contacted @5 :UInt32;   # replicas the request was sent to
  maybeApplied @6 :Bool;  # a failed write may still have landed
}

struct Frame {
  id @0 :UInt64;  # request id chosen by the sender; a reply carries the same id
  union {
    error @1 :Error;                          # reply to any request
    get @2 :Client.GetRequest;
    getReply @3 :Client.GetReply;
    put @4 :Client.PutRequest;
    putReply @5 :Client.PutReply;
    hello @6 :Peer.Hello;                     # first frame on a peer connection
    read @7 :Peer.ReadRequest;
    readReply @8 :Peer.ReadReply;
    replicate @9 :Peer.ReplicateRequest;
    replicateReply @10 :Peer.ReplicateReply;
    coordinatePut @11 :Peer.CoordinatePutRequest;
    status @12 :Admin.StatusRequest;
    statusReply @13 :Admin.StatusReply;
    ping @14 :Peer.Ping;
    pong @15 :Peer.Pong;
    hints @16 :Admin.HintsRequest;
    hintsReply @17 :Admin.HintsReply;
    aaeTree @18 :Peer.AaeTreeRequest;
    aaeTreeReply @19 :Peer.AaeTreeReply;
    aaeKeys @20 :Peer.AaeKeysRequest;
    aaeKeysReply @21 :Peer.AaeKeysReply;
    aaeFetch @22 :Peer.AaeFetchRequest;
    aaeFetchReply @23 :Peer.AaeFetchReply;
    aaeRepair @24 :Peer.AaeRepairRequest;
    aaeRepairReply @25 :Peer.AaeRepairReply;
    aaeStatus @26 :Admin.AaeStatusRequest;
    aaeStatusReply @27 :Admin.AaeStatusReply;
    aaeRun @28 :Admin.AaeRunRequest;
    aaeRunReply @29 :Admin.AaeRunReply;
    fault @30 :Admin.FaultRequest;           # fault injection (doc/faults.md)
    faultReply @31 :Admin.FaultReply;
    clusterState @32 :Peer.ClusterStateRequest;
    clusterStateReply @33 :Peer.ClusterStateReply;
    clusterStage @34 :Admin.ClusterStageRequest;
    clusterStageReply @35 :Admin.ClusterStageReply;
    clusterCommit @36 :Admin.ClusterCommitRequest;  # answered with clusterStateReply
    reapCheck @37 :Peer.ReapCheckRequest;
    reapCheckReply @38 :Peer.ReapCheckReply;
  }
}
