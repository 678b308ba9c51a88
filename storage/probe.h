// StorageProbe: the store's figures as Prometheus metrics (metrics/), read
// at scrape time.
//
// Threads: the read function runs on scrape threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "metrics/metrics.h"

namespace shoal::metrics {

// LMDB figures, read at scrape time.
struct StorageFigures {
  uint64_t keys = 0;
  uint64_t used_bytes = 0;
  uint64_t map_size_bytes = 0;
  uint64_t sync_failures = 0;
  bool full = false;  // the last write batch was refused for lack of room
  uint64_t full_map_errors = 0;   // batches refused: map full
  uint64_t full_disk_errors = 0;  // batches refused: filesystem full
  uint64_t fs_free_bytes = 0;     // the data directory's filesystem
  uint64_t fs_size_bytes = 0;
};

// shoal_storage_*: keys, bytes used, map size, map usage ratio, sync
// failures, whether writes are refused for lack of room (and how often,
// map or filesystem), the filesystem's free and total bytes. Pull probe.
class StorageProbe {
 public:
  // `read` runs on scrape threads until the probe is destroyed; after that
  // the families are no longer served. `metrics` must outlive the probe.
  StorageProbe(Metrics& metrics, std::function<StorageFigures()> read);
  ~StorageProbe();
  StorageProbe(const StorageProbe&) = delete;
  StorageProbe& operator=(const StorageProbe&) = delete;

 private:
  class Source;
  std::shared_ptr<Source> source_;
};

}  // namespace shoal::metrics
