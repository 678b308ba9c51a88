#include "storage/probe.h"

#include "metrics/probe.h"

namespace shoal::storage {

using metrics::Counter;
using metrics::Family;
using metrics::Gauge;

class StorageProbe::Source : public metrics::PullSource {
  using PullSource::PullSource;
};

// ---- StorageProbe ----

StorageProbe::StorageProbe(metrics::Metrics& metrics,
                           std::function<StoreStats()> read) {
  source_ = std::make_shared<Source>([read = std::move(read)]() {
    using prometheus::MetricType;
    const StoreStats s = read();
    std::vector<prometheus::MetricFamily> out;
    out.push_back(Family("shoal_storage_keys",
                         "Keys in this node's objects database (hints not "
                         "included)",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(static_cast<double>(s.keys)));
    out.push_back(Family("shoal_storage_tombstones",
                         "Keys in the objects database whose every sibling "
                         "is a tombstone (deleted, not reaped yet)",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(static_cast<double>(s.tombstones)));
    out.push_back(Family("shoal_storage_used_bytes",
                         "LMDB pages in use times the page size",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(static_cast<double>(s.used_bytes)));
    out.push_back(Family("shoal_storage_data_bytes",
                         "LMDB pages the databases hold times the page size: "
                         "used_bytes less the free pages LMDB reuses",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(static_cast<double>(s.data_bytes)));
    out.push_back(Family("shoal_storage_map_size_bytes",
                         "LMDB map size: the most the store can hold",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(static_cast<double>(s.map_size_bytes)));
    out.push_back(Family("shoal_storage_map_usage_ratio",
                         "used_bytes / map_size_bytes; writes fail with "
                         "storage_full at 1",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(
        s.map_size_bytes == 0 ? 0
                              : static_cast<double>(s.used_bytes) /
                                    static_cast<double>(s.map_size_bytes)));
    out.push_back(Family("shoal_storage_sync_failures_total",
                         "Failed periodic fsyncs since the node started",
                         MetricType::Counter));
    out.back().metric.push_back(Counter(static_cast<double>(s.sync_failures)));
    out.push_back(Family("shoal_storage_full",
                         "1 while writes are refused with storage_full (from "
                         "a refused batch to the next commit), else 0",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(s.full ? 1 : 0));
    out.push_back(Family("shoal_storage_full_errors_total",
                         "Write batches refused with storage_full since the "
                         "node started, by reason (map: storage.map_size "
                         "reached; disk: the filesystem is full)",
                         MetricType::Counter));
    out.back().metric.push_back(
        Counter(static_cast<double>(s.full_map_errors), {{"reason", "map"}}));
    out.back().metric.push_back(
        Counter(static_cast<double>(s.full_disk_errors), {{"reason", "disk"}}));
    out.push_back(Family("shoal_storage_filesystem_free_bytes",
                         "Bytes available on the filesystem holding the "
                         "data directory",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(static_cast<double>(s.fs_free_bytes)));
    out.push_back(Family("shoal_storage_filesystem_size_bytes",
                         "Size of the filesystem holding the data directory",
                         MetricType::Gauge));
    out.back().metric.push_back(Gauge(static_cast<double>(s.fs_size_bytes)));
    return out;
  });
  metrics.Add(source_);
}

StorageProbe::~StorageProbe() { source_->Detach(); }

}  // namespace shoal::storage
