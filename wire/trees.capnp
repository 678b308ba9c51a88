# The anti-entropy trees a node saves when it shuts down cleanly
# (antientropy/trees.h): the value of its "aae_trees" meta record, loaded at
# the next start instead of rescanning every partition (doc/storage.md,
# "Saved trees").
@0xf7c9940c816b8d7c;

$import "/capnp/c++.capnp".namespace("shoal::wire::schema");

struct SavedTree {
  partition @0 :UInt32;
  leaves @1 :List(UInt64);  # one per segment, in segment order
}

struct SavedTrees {
  # How leaves were hashed (merkle::LeafHash over quorum::CausalFingerprint);
  # a build that hashes differently sets another number and rebuilds.
  format @0 :UInt32;
  partitions @1 :UInt32;  # the ring's Q when saved
  segments @2 :UInt32;    # leaves per tree
  trees @3 :List(SavedTree);
}
