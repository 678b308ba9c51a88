// Turns incoming frames into work: validates each request, runs it (a
// coordinator for client requests, the store for peer requests) and sends
// the reply on the connection it came from.
//
// Every request runs as its own coroutine on the io_context; the one place
// an unexpected exception is caught is that coroutine's completion, which
// turns it into an `internal` error reply.
//
// Threads: the node's io_context thread.
#pragma once

#include <chrono>
#include <memory>

#include "antientropy/antientropy.h"
#include "handoff/handoff.h"
#include "node/admission.h"
#include "node/config.h"
#include "node/faults.h"
#include "node/peers.h"
#include "node/probe.h"
#include "node/replicas.h"
#include "quorum/coordinator.h"
#include "quorum/probe.h"
#include "ring/ring.h"
#include "storage/store.h"
#include "wire/connection.h"

namespace shoal::node {

// All references must outlive the Service and every request it started.
class Service {
 public:
  Service(const NodeConfig& config, const ring::Ring& ring,
          ring::NodeIndex self, storage::Store& store, Peers& peers,
          const handoff::Handoff& handoff, antientropy::AntiEntropy& aae,
          FaultTable& faults, Admission& admission, RequestProbe& requests,
          quorum::QuorumProbe& quorum);

  // Handles one decoded frame from `conn`; `ticket` is kept until the reply
  // is sent, so the connection counts the request as in flight until then.
  // A client request (get, put, del) beyond limits.max_requests is answered
  // `overloaded` at once.
  void Handle(std::shared_ptr<wire::FramedConnection> conn, wire::Message msg,
              wire::RequestTicket ticket);

 private:
  wire::Awaitable<wire::Body> Dispatch(wire::Body body);
  // Sends a reply on `conn`, unless a fault drops or delays it: the
  // connection's label names the peer ("" = a client). `exempt` replies
  // (to status and fault requests) ignore client faults, so an operator
  // can always see and heal them.
  void Reply(const std::shared_ptr<wire::FramedConnection>& conn,
             wire::Message msg, bool exempt);
  wire::Body OnFault(wire::FaultRequest req);
  // Client requests, timed and counted by result.
  wire::Awaitable<wire::Body> OnGet(wire::GetRequest req);
  wire::Awaitable<wire::Body> OnPut(wire::PutRequest req, bool forwarded);
  wire::Awaitable<wire::Body> Get(wire::GetRequest req);
  wire::Awaitable<wire::Body> Put(wire::PutRequest req, bool forwarded);
  wire::Awaitable<wire::Body> OnRead(wire::ReadRequest req);
  wire::Awaitable<wire::Body> OnReplicate(wire::ReplicateRequest req);
  wire::Body OnStatus();
  wire::Body OnHints();

  Status CheckKey(const std::string& key) const;
  // After a successful write: the sibling histogram, and past
  // limits.warn_siblings the warning counter and a log line (at most one a
  // second) naming the key's hash.
  void NoteWriteSiblings(uint64_t key_hash, uint32_t siblings);
  Result<uint32_t> Quorum(uint32_t asked, const char* name) const;
  quorum::Deadline DeadlineFor(uint32_t timeout_ms) const;

  const NodeConfig& config_;
  const ring::Ring& ring_;
  ring::NodeIndex self_;
  storage::Store& store_;
  Peers& peers_;
  const handoff::Handoff& handoff_;
  antientropy::AntiEntropy& aae_;
  FaultTable& faults_;
  Admission& admission_;
  RequestProbe& requests_;
  std::chrono::steady_clock::time_point last_sibling_log_{};
  uint64_t siblings_unlogged_ = 0;
  NodeReplicas replicas_;
  quorum::Coordinator coordinator_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace shoal::node
