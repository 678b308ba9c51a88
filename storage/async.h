// Store writes as Boost.Asio awaitables: the caller's coroutine resumes on
// its own executor after the commit (Store::Submit's completion runs on the
// writer thread and only posts back).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <vector>

#include "storage/store.h"

namespace shoal::storage {

// One write.
boost::asio::awaitable<Result<WriteResult>> AsyncWrite(Store& store,
                                                       WriteOp op);

// Several writes queued at once (so they can share a group commit); the
// results come back in the order of `ops`.
boost::asio::awaitable<std::vector<Result<WriteResult>>> AsyncWriteAll(
    Store& store, std::vector<WriteOp> ops);

}  // namespace shoal::storage
