// Turns incoming frames into work: validates each request, runs it (a
// coordinator for client requests, the store for peer requests) and sends
// the reply on the connection it came from.
//
// Every request runs as its own coroutine in the Service's TaskGroup; the
// one place an unexpected exception is caught is that coroutine, which turns
// it into an `internal` error reply. Replies held back by a `delay` fault
// wait in the group too, so Shutdown() ends everything the Service started.
// Time is read from the injected Clock only.
//
// Threads: the node's io_context thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "antientropy/antientropy.h"
#include "base/clock.h"
#include "base/task_group.h"
#include "handoff/handoff.h"
#include "node/admission.h"
#include "node/config.h"
#include "node/faults.h"
#include "node/gossip.h"
#include "node/peers.h"
#include "node/probe.h"
#include "node/replicas.h"
#include "node/transfers.h"
#include "quorum/coordinator.h"
#include "quorum/probe.h"
#include "reaper/reaper.h"
#include "ring/ring.h"
#include "storage/store.h"
#include "wire/connection.h"
#include "wire/transport.h"

namespace shoal::node {

struct ServiceOptions {
  // PLANTED BUG, for tests/sim only (the simulator must catch it); the
  // product never sets it. When true, a replicate request (a coordinator's
  // write to this replica, or a hint) is acknowledged as soon as its store
  // write is started, before it is committed: the coordinator counts an
  // ack toward w for a write this node may never have made durable.
  bool TEST_ack_before_commit = false;
  // Planted bug (tests/sim): the coordinator's read repair skips stale
  // replicas (quorum::CoordinatorOptions::TEST_repair_skips_stale).
  bool TEST_repair_skips_stale = false;
};

// All references must outlive the Service. The Service may be destroyed
// only after Shutdown() completed or when no request is running (its
// TaskGroup's rule).
class Service {
 public:
  // Requests (and their coordinators' replica tasks) run on `executor`;
  // `clock` gives deadlines, admission times, uptime and write stamps.
  Service(boost::asio::any_io_executor executor, Clock& clock,
          const NodeConfig& config, const ring::Ring& ring,
          ring::NodeIndex self, storage::Store& store, Peers& peers,
          const handoff::Handoff& handoff, antientropy::AntiEntropy& aae,
          reaper::Reaper& reaper, Gossip& gossip, const Transfers& transfers,
          FaultTable& faults, Admission& admission, RequestProbe& requests,
          quorum::QuorumProbe& quorum, ServiceOptions options = {});

  // Handles one decoded frame from `conn`; `ticket` is kept until the reply
  // is sent, so the connection counts the request as in flight until then
  // (a default-constructed ticket counts nothing). A client request (get,
  // put, del) beyond limits.max_requests is answered `overloaded` at once;
  // once Shutdown() began, every request is answered `unavailable` at once.
  void Handle(std::shared_ptr<wire::Connection> conn, wire::Message msg,
              wire::RequestTicket ticket = {});

  // Cancels every request still running (each is answered `unavailable`
  // if it can still be), every held-back reply (dropped) and the
  // coordinator's replica tasks, and returns once none is running. Must not
  // be awaited from one of the Service's requests.
  wire::Awaitable<void> Shutdown();

 private:
  // One request, start to reply: runs Dispatch, turns an exception into an
  // error reply, replies, then gives back the admission slot and ticket.
  wire::Awaitable<void> Serve(std::shared_ptr<wire::Connection> conn,
                              uint64_t id, bool exempt, wire::Body body,
                              wire::RequestTicket ticket,
                              std::optional<Admission::Slot> slot);
  wire::Awaitable<wire::Body> Dispatch(wire::Body body);
  // Sends a reply on `conn`, unless a fault drops or delays it: the
  // connection's label names the peer ("" = a client). `exempt` replies
  // (to status and fault requests) ignore client faults, so an operator
  // can always see and heal them.
  void Reply(const std::shared_ptr<wire::Connection>& conn, wire::Message msg,
             bool exempt);
  wire::Body OnFault(wire::FaultRequest req);
  // Client requests, timed and counted by result.
  wire::Awaitable<wire::Body> OnGet(wire::GetRequest req);
  wire::Awaitable<wire::Body> OnPut(wire::PutRequest req, bool forwarded);
  wire::Awaitable<wire::Body> Get(wire::GetRequest req);
  wire::Awaitable<wire::Body> Put(wire::PutRequest req, bool forwarded);
  wire::Awaitable<wire::Body> OnRead(wire::ReadRequest req);
  wire::Awaitable<wire::Body> OnReplicate(wire::ReplicateRequest req);
  // A replicate carrying `also`: this node forwards for its datacenter.
  wire::Awaitable<wire::Body> OnRelay(wire::ReplicateRequest req);
  wire::Body OnStatus();
  wire::Body OnHints();

  Status CheckKey(const std::string& key) const;
  // After a successful write: the sibling histogram, and past
  // limits.warn_siblings the warning counter and a log line (at most one a
  // second) naming the key's hash.
  void NoteWriteSiblings(uint64_t key_hash, uint32_t siblings);
  Result<uint32_t> Quorum(uint32_t asked, const char* name) const;
  // What a request at `level` waits for (quorum/level.h): `count` is its
  // resolved w or r (`asked` as the client sent it, which a level
  // excludes); local_quorum counts in `local_dc`, or this node's DC.
  Result<quorum::Requirement> Need(quorum::Level level, uint32_t asked,
                                   uint32_t count, const char* name,
                                   std::string_view local_dc) const;
  quorum::Deadline DeadlineFor(uint32_t timeout_ms) const;

  Clock& clock_;
  const NodeConfig& config_;
  const ring::Ring& ring_;
  ring::NodeIndex self_;
  storage::Store& store_;
  Peers& peers_;
  const handoff::Handoff& handoff_;
  antientropy::AntiEntropy& aae_;
  reaper::Reaper& reaper_;
  Gossip& gossip_;
  const Transfers& transfers_;
  FaultTable& faults_;
  Admission& admission_;
  RequestProbe& requests_;
  ServiceOptions options_;
  Clock::TimePoint last_sibling_log_{};
  uint64_t siblings_unlogged_ = 0;
  NodeReplicas replicas_;
  quorum::Coordinator coordinator_;
  Clock::TimePoint started_;
  TaskGroup tasks_;  // last: destroyed first, once its tasks have ended
};

}  // namespace shoal::node
