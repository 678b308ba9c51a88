// Background anti-entropy: exchanges of Merkle trees with the other
// replicas of each partition, and the repair of what differs (Dynamo §4.7,
// in the style of Riak's tictac AAE). doc/impl.md, "Anti-entropy".
//
// An exchange of partition p with peer P, run by this node:
//   roots equal? done. Otherwise branch hashes -> the leaves of differing
//   branches -> (key, fingerprint) lists of differing leaves -> for each
//   differing key, P's object is fetched, merged here (DVV sync) and the
//   merged object is sent to P when P lacked something. Both replicas end
//   with the merged state; neither side's version wins. A differing leaf
//   that is empty here (a new or wiped replica) skips the key list: P
//   sends its keys with their objects at once (AaeKeysRequest.withObjects).
// The scheduler exchanges one partition every `interval` with each of its
// other primaries that is up, unless the node is busy with foreground
// requests (Options::busy); repairs are throttled to `repair_rate` keys/s.
// Peer requests (tree levels, key lists, fetches, repairs) are answered
// from this node's trees and store.
//
// Threads: the node's io_context thread (store reads inline, writes through
// storage::AsyncWrite); the trees lock themselves.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "antientropy/trees.h"
#include "base/clock.h"
#include "base/task_group.h"
#include "ring/ring.h"
#include "storage/store.h"
#include "wire/connection.h"
#include "wire/messages.h"

namespace shoal::antientropy {

struct Options {
  bool enabled = true;  // automatic exchanges (aae run works either way)
  std::chrono::milliseconds interval{250};  // between partition exchanges
  uint32_t repair_rate = 5000;              // keys repaired per second
  // Keys per second a partition transfer (ExchangeWith) copies, from a
  // bucket of its own: a transfer neither waits for the scheduler's
  // repairs nor slows them down. 0 = repair_rate.
  uint32_t transfer_rate = 0;
  uint64_t frame_cap = 0;  // replies stay under half of it
  std::chrono::milliseconds call_timeout{10000};
  // Where the scheduler starts in its round of partitions; 0 = anywhere
  // (random). The simulator passes one derived from its seed.
  uint64_t start_seed = 0;
  // Foreground work comes first: while this says the node is busy, the
  // scheduler skips its exchanges (`aae run` still runs). Empty = never.
  std::function<bool()> busy;
};

// What exchanges report (implemented by metrics::AaeProbe).
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void Exchanged(bool ok) = 0;
  // Replica copies changed by repairs (a key fixed on both replicas of an
  // exchange counts twice).
  virtual void KeysRepaired(uint64_t keys) = 0;
  virtual void BytesExchanged(uint64_t bytes) = 0;
  // How long a repaired difference had existed: now - written_at of the
  // oldest sibling the lagging replica lacked.
  virtual void DivergenceAge(double seconds) = 0;
};

// Calls to other members (implemented over the node's peer links).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual bool IsUp(ring::NodeIndex node) const = 0;
  virtual wire::Awaitable<Result<wire::Body>> Call(ring::NodeIndex node,
                                                   wire::Body request,
                                                   wire::Deadline deadline) = 0;
};

// All references must outlive the AntiEntropy. Its scheduler runs in a
// TaskGroup it owns: Start() it once, and co_await Shutdown() before
// destroying it.
class AntiEntropy {
 public:
  AntiEntropy(boost::asio::any_io_executor executor, Clock& clock,
              const ring::Ring& ring, ring::NodeIndex self,
              storage::Store& store, Trees& trees, Transport& transport,
              Options options, Observer* observer = nullptr);

  // Starts the scheduler (nothing when automatic exchanges are off).
  void Start();
  // Stops the scheduler and waits until it has ended; an exchange in
  // progress is abandoned at its next wait.
  wire::Awaitable<void> Shutdown();

  // Requests from peers.
  wire::Body OnTree(const wire::AaeTreeRequest& req);
  wire::Body OnKeys(const wire::AaeKeysRequest& req);
  wire::Body OnFetch(const wire::AaeFetchRequest& req);
  wire::Awaitable<wire::Body> OnRepair(wire::AaeRepairRequest req);
  // Operator requests.
  wire::AaeStatusReply OnStatus() const;
  wire::Awaitable<wire::Body> OnRun(wire::AaeRunRequest req);

  // One exchange of `partition` with `peer`, as the scheduler runs them
  // (recorded in the same stats) but throttled to transfer_rate: a
  // partition transfer's step (node/transfers.h). The partition's tree
  // must be ready (TreeReady).
  wire::Awaitable<wire::AaeExchangeResult> ExchangeWith(uint32_t partition,
                                                        ring::NodeIndex peer) {
    return Exchange(partition, peer, transfer_bucket_);
  }
  bool TreeReady(uint32_t partition) const { return trees_.Ready(partition); }

 private:
  struct PartitionStats {
    uint64_t exchanges = 0;
    std::optional<Clock::TimePoint> last;
    std::string last_peer;
    std::string last_result;
    uint64_t keys_repaired_last = 0;
    uint64_t keys_repaired_total = 0;
  };
  struct Outcome {
    uint32_t segments_differing = 0;
    uint64_t keys_repaired = 0;
  };
  // A token bucket of keys per second (Throttle).
  struct Bucket {
    double rate = 1;
    double tokens = 0;
    Clock::TimePoint at{};  // {}: never used (full)
  };

  // The scheduler: one partition every interval, with each other primary.
  wire::Awaitable<void> Run();
  // One exchange, recorded in the partition's stats and the observer; its
  // repairs wait for `bucket`.
  wire::Awaitable<wire::AaeExchangeResult> Exchange(uint32_t partition,
                                                    ring::NodeIndex peer,
                                                    Bucket& bucket);
  // Each step below adds the frame bytes of its calls to `bytes`.
  wire::Awaitable<Result<Outcome>> Compare(uint32_t partition,
                                           ring::NodeIndex peer,
                                           uint64_t& bytes, Bucket& bucket);
  // Differing leaves: those empty here (pulled whole) and the others
  // (compared key by key).
  struct Leaves {
    std::vector<uint32_t> compare;
    std::vector<uint32_t> pull;
  };
  wire::Awaitable<Result<Leaves>> DifferingSegments(uint32_t partition,
                                                    ring::NodeIndex peer,
                                                    uint64_t local_root,
                                                    uint64_t& bytes);
  wire::Awaitable<Result<std::vector<std::string>>> DifferingKeys(
      uint32_t partition, ring::NodeIndex peer,
      const std::vector<uint32_t>& segments, uint64_t& bytes);
  // Fetches, merges and pushes back one batch of keys; returns how many
  // replica copies the merges changed (here and at the peer; a key repaired
  // on both sides counts twice).
  wire::Awaitable<Result<uint64_t>> Repair(ring::NodeIndex peer,
                                           const std::vector<std::string>& keys,
                                           uint64_t& bytes);
  // Every key and object of leaves this node holds nothing of, asked of the
  // peer leaf by leaf (no key list first), then merged like Repair.
  wire::Awaitable<Result<uint64_t>> Pull(uint32_t partition,
                                         ring::NodeIndex peer,
                                         const std::vector<uint32_t>& segments,
                                         uint64_t& bytes, Bucket& bucket);
  // Merges the peer's copies here and sends the merged object back where
  // the peer lacked something; returns the replica copies changed.
  wire::Awaitable<Result<uint64_t>> Merge(ring::NodeIndex peer,
                                          std::vector<wire::KeyObject> remote,
                                          uint64_t& bytes);
  // A call whose request and reply bytes are counted; an ErrorReply comes
  // back as its Status.
  wire::Awaitable<Result<wire::Body>> Call(ring::NodeIndex peer,
                                           wire::Body request,
                                           uint64_t& exchange_bytes);
  // Waits until `keys` repairs fit under the bucket's rate.
  wire::Awaitable<void> Throttle(size_t keys, Bucket& bucket);

  // This node's (key, fingerprint) list for the given leaves, stopping
  // before a leaf that would take the list over `budget` bytes (at least
  // one leaf is always listed). *listed = leaves listed completely.
  Result<std::vector<merkle::KeyFingerprint>> ListKeys(
      uint32_t partition, const std::vector<uint32_t>& leaves, size_t budget,
      uint32_t* listed) const;
  // The same walk with make(key, object) -> (item, bytes) per stored key.
  template <typename Item, typename Make>
  Result<std::vector<Item>> ScanLeaves(uint32_t partition,
                                       const std::vector<uint32_t>& leaves,
                                       size_t budget, uint32_t* listed,
                                       Make make) const;
  Status CheckPartition(uint32_t partition, uint32_t segments) const;
  size_t Budget() const;

  boost::asio::any_io_executor executor_;
  Clock& clock_;
  const ring::Ring& ring_;
  ring::NodeIndex self_;
  storage::Store& store_;
  Trees& trees_;
  Transport& transport_;
  Options options_;
  Observer* observer_;
  Timer timer_;
  TaskGroup tasks_;

  std::vector<PartitionStats> stats_;  // by partition; totals are their sums
  uint64_t bytes_ = 0;            // frame bytes of the exchanges this node ran
  Bucket repair_bucket_;          // the scheduler's and `aae run`'s exchanges
  Bucket transfer_bucket_;        // transfers' (ExchangeWith)
  std::vector<uint8_t> scratch_;  // for measuring frame sizes
};

}  // namespace shoal::antientropy
