// StorageProbe: the store's figures (Store::Stats) as Prometheus metrics,
// read at scrape time (a pull probe, metrics/probe.h).
//
// Threads: the read function runs on scrape threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "metrics/metrics.h"
#include "storage/types.h"

namespace shoal::storage {

// shoal_storage_*: keys, bytes used, map size, map usage ratio, sync
// failures, whether writes are refused for lack of room (and how often,
// map or filesystem), the filesystem's free and total bytes. Pull probe.
class StorageProbe {
 public:
  // `read` runs on scrape threads until the probe is destroyed; after that
  // the families are no longer served. `metrics` must outlive the probe.
  StorageProbe(metrics::Metrics& metrics, std::function<StoreStats()> read);
  ~StorageProbe();
  StorageProbe(const StorageProbe&) = delete;
  StorageProbe& operator=(const StorageProbe&) = delete;

 private:
  class Source;
  std::shared_ptr<Source> source_;
};

}  // namespace shoal::storage
