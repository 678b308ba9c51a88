// A minimal HTTP client: one GET with HTTP/1.0 (no chunking, the server
// closes the connection). Hand-written because the only HTTP servers shoal's
// tools talk to are prometheus-cpp's (civetweb, a node's /metrics) and
// Prometheus itself, on 127.0.0.1. Used by the launcher (is a ring's
// Prometheus ready?) and by `shoal metrics` (a node's /metrics page).
//
// Thread-safety: a free function without shared state; it runs its own
// io_context on the calling thread.
#pragma once

#include <chrono>
#include <string>

#include "base/result.h"

namespace shoal::tools {

// One HTTP/1.0 GET of http://address/path; the body when the status is 200.
// Errors: kUnavailable (cannot connect, or a status other than 200, named),
// kTimeout (no complete answer within `timeout`), kInvalidArgument (a bad
// address).
Result<std::string> HttpGet(const std::string& address, const std::string& path,
                            std::chrono::milliseconds timeout);

}  // namespace shoal::tools
