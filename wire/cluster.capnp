# The cluster state (cluster/state.h): the value a node keeps in its meta and
# sends to peers whose epoch is older (doc/membership.md).
@0x8e7fc77b743ec032;

$import "/capnp/c++.capnp".namespace("shoal::wire::schema");

enum MemberState {
  joining @0;
  valid @1;
  leaving @2;
  removed @3;
}

struct Member {
  name @0 :Text;
  address @1 :Text;   # host:port
  state @2 :MemberState;
  dc @3 :Text;        # datacenter; "" without datacenters
  rack @4 :Text;      # "" = none
}

struct DcReplicas {
  dc @0 :Text;
  n @1 :UInt32;
}

struct ClusterState {
  epoch @0 :UInt64;            # >= 1
  partitions @1 :UInt32;       # Q, a power of two
  n @2 :UInt32;                # replicas per key
  members @3 :List(Member);    # in join order (ring index), names unique
  claim @4 :List(UInt16);      # owner of each partition: an index into members
  nextClaim @5 :List(UInt16);  # empty, or the claim a change moves to
  switched @6 :Bool;           # the change's transfers are done: reads go to
                               # nextClaim's owners, writes still to both
  dcs @7 :List(DcReplicas);    # replicas per datacenter, by name; empty =
                               # no datacenters (n is their sum)
}
