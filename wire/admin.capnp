# Operator requests: status, hints, anti-entropy, faults, membership.
@0xfdcbea942433830f;

$import "/capnp/c++.capnp".namespace("shoal::wire::schema");

struct StatusRequest {}

struct MemberStatus {
  name @0 :Text;
  address @1 :Text;           # host:port of its client/peer listener
  up @2 :Bool;                # as seen by the node that answers
  isSelf @3 :Bool;
  lastHeardMsAgo @4 :Int64;   # -1 = never heard
  partitionsOwned @5 :UInt32;
  state @6 :Text;             # joining, valid, leaving or removed
  epoch @7 :UInt64;           # cluster state epoch it last reported; 0 = none
  conflict @8 :Bool;          # it reported another state at our epoch
  dc @9 :Text;                # its datacenter ("" = none)
  rack @10 :Text;             # its rack ("" = none)
}

struct HintsRequest {}

struct HintTarget {
  target @0 :Text;         # the primary the hints wait for
  count @1 :UInt64;
  bytes @2 :UInt64;
  oldestAgeMs @3 :Int64;   # age of the oldest waiting hint
  targetUp @4 :Bool;       # as this node sees it
}

struct HintsReply {
  node @0 :Text;
  targets @1 :List(HintTarget);
  stored @2 :UInt64;            # lifetime totals (kept across restarts)
  delivered @3 :UInt64;
  droppedCap @4 :UInt64;
  deliveredPerSec @5 :Float64;  # recent delivery rate
}

struct StatusReply {
  node @0 :Text;
  actor @1 :UInt64;
  n @2 :UInt32;
  w @3 :UInt32;
  r @4 :UInt32;
  partitions @5 :UInt32;
  uptimeMs @6 :UInt64;
  members @7 :List(MemberStatus);
  keys @8 :UInt64;            # objects stored locally (tombstones included)
  storageBytes @9 :UInt64;    # LMDB pages in use, in bytes
  mapSizeBytes @10 :UInt64;   # LMDB map size
  epoch @11 :UInt64;          # the node's cluster state epoch
  clusterDigest @12 :UInt64;  # and its digest (ClusterState::Digest)
  transfer @13 :TransferStatus;  # what this node is receiving
  tombstones @14 :TombstoneStatus;
  dataBytes @15 :UInt64;      # pages the databases hold (not free pages)
}

# Deleted keys still stored here and the reaper (reaper/reaper.h).
struct TombstoneStatus {
  count @0 :UInt64;          # keys whose every sibling is a tombstone
  reaped @1 :UInt64;         # keys reaped since the node started
  oldestAgeMs @2 :Int64;     # now - the oldest one's delete; -1 = none
  waitingFor @3 :Text;       # why the oldest one is still here
}

# The partitions a change in progress gives the node (doc/membership.md).
struct TransferStatus {
  epoch @0 :UInt64;          # the changing epoch received for; 0 = none
  partitions @1 :UInt32;     # to receive in all
  received @2 :UInt32;       # of them, verified equal to their sources
  keys @3 :UInt64;           # replica copies the exchanges changed here
  bytes @4 :UInt64;          # frame bytes of the exchanges, both ways
  elapsedMs @5 :UInt64;      # since receiving began
}

struct AaeStatusRequest {}

struct AaePartitionStatus {
  partition @0 :UInt32;
  treeReady @1 :Bool;
  exchanges @2 :UInt64;
  lastExchangeMsAgo @3 :Int64;   # -1 = never
  lastPeer @4 :Text;
  lastResult @5 :Text;           # "ok" or the error
  keysRepairedLast @6 :UInt64;
  keysRepairedTotal @7 :UInt64;
}

struct AaeStatusReply {
  node @0 :Text;
  enabled @1 :Bool;              # automatic exchanges
  exchanges @2 :UInt64;          # totals since the node started
  keysRepaired @3 :UInt64;
  bytes @4 :UInt64;
  partitions @5 :List(AaePartitionStatus);
}

struct AaeRunRequest {
  partition @0 :UInt32;
}

struct AaeExchangeResult {
  peer @0 :Text;
  result @1 :Text;               # "ok" or the error
  keysRepaired @2 :UInt64;
  segmentsDiffering @3 :UInt32;
  bytes @4 :UInt64;              # frame bytes of the exchange's calls
}

struct AaeRunReply {
  node @0 :Text;
  partition @1 :UInt32;
  exchanges @2 :List(AaeExchangeResult);
}

# ---- fault injection (doc/faults.md) ----

enum FaultKind {
  cut @0;     # every frame dropped
  delay @1;   # every frame held back delayMs ± jitterMs
  drop @2;    # each frame dropped with probability dropPercent / 100
}

struct FaultRule {
  from @0 :Text;           # the node whose outgoing frames it affects
  to @1 :Text;             # the member receiving them ("" when clients)
  clients @2 :Bool;        # applies to replies to client connections instead
  kind @3 :FaultKind;
  delayMs @4 :UInt32;      # for delay
  jitterMs @5 :UInt32;     # for delay: uniform in [-jitter, +jitter]
  dropPercent @6 :Float64; # for drop: 0..100
}

struct ClockSkew {
  node @0 :Text;
  skewMs @1 :Int64;        # added to the wall clock the node stamps on writes
}

struct FaultRequest {
  set @0 :Bool;                  # replace the node's table; false = only report
  rules @1 :List(FaultRule);     # the whole cluster's rules (each node applies
                                 # those whose `from` is itself)
  skews @2 :List(ClockSkew);
}

struct FaultReply {
  node @0 :Text;
  rules @1 :List(FaultRule);     # the table the node holds now
  skews @2 :List(ClockSkew);
  framesDropped @3 :UInt64;      # since the node started
  framesDelayed @4 :UInt64;
}

# ---- membership (doc/membership.md, "Committing a change") ----

enum ClusterChangeKind {
  join @0;
  leave @1;
  replace @2;
  forceRemove @3;
}

struct ClusterChange {
  kind @0 :ClusterChangeKind;
  node @1 :Text;         # joins, leaves, is replaced or removed
  address @2 :Text;      # join: the new node's; replace: the new one's
  replacement @3 :Text;  # replace: the new node's name
  dc @4 :Text;           # join: the new node's datacenter ("" = none)
  rack @5 :Text;         # join: its rack
}

# Stages changes at the asked node (checked with the plan they make); the
# same node commits them.
struct ClusterStageRequest {
  changes @0 :List(ClusterChange);  # appended; none = only report
  clear @1 :Bool;                   # drop what is staged first
}
struct ClusterStageReply {
  epoch @0 :UInt64;                 # the state they are staged on
  changes @1 :List(ClusterChange);  # every staged change, in order
}

# Commits the staged changes; answered with Peer.ClusterStateReply (the
# state committed) or an error naming why not.
struct ClusterCommitRequest {
  epoch @0 :UInt64;  # the epoch the caller planned on; 0 = any
}
