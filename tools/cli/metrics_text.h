// `shoal metrics`: parse the Prometheus text exposition format of a node's
// /metrics (fetched with HttpGet, tools/ring/http_get.h), and sum it up as the
// figures a person looks at (request rates and latencies, stale reads, hint
// backlog, peers, storage).
//
// The parser is hand-written and minimal: Debian 12 packages no C++ parser
// for the text format (prometheus-cpp only writes it). It reads what
// prometheus-cpp writes: `# HELP`/`# TYPE` lines, and samples
// `name{label="value",...} value [timestamp]` with the escapes \\, \" and
// \n in label values. Anything else is skipped line by line, never fatal.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace shoal::tools {

struct Sample {
  std::string name;                           // e.g. shoal_requests_total
  std::map<std::string, std::string> labels;  // sorted by label name
  double value = 0;
};

// Every sample of a text-format page, in page order (# lines skipped).
std::vector<Sample> ParsePrometheusText(std::string_view text);

// The figures `shoal metrics` shows. Quantiles are estimated from
// cumulative histogram buckets since the node started, by linear
// interpolation within a bucket (as PromQL's histogram_quantile does);
// -1 when the histogram is empty.
struct MetricsSummary {
  std::string version;
  struct Op {
    std::string op;
    double count = 0;
    double errors = 0;  // results other than ok and not_found
    double mean_seconds = -1;
    double p99_seconds = -1;
  };
  std::vector<Op> requests;  // get, put, delete
  double replies_current = 0, replies_stale = 0, replies_missing = 0;
  double stale_ratio = 0;  // stale / all replies (0 when none)
  double stale_age_p50_seconds = -1, stale_age_p99_seconds = -1;
  double repairs_ok = 0, repairs_failed = 0;
  double write_acks = 0;
  double write_lag_p50_seconds = -1, write_lag_p99_seconds = -1;
  struct Target {
    std::string target;
    double pending = 0, bytes = 0, oldest_age_seconds = 0;
  };
  std::vector<Target> hint_targets;
  double hints_pending = 0, hints_pending_bytes = 0, hints_oldest_seconds = 0;
  double hints_stored = 0, hints_delivered = 0, hints_dropped = 0;
  std::vector<std::pair<std::string, bool>> peers;  // (peer, up)
  double storage_keys = 0, storage_used_bytes = 0, storage_map_size_bytes = 0;
  double storage_usage_ratio = 0;
};

MetricsSummary Summarize(const std::vector<Sample>& samples);
// histogram_quantile over the `<name>_bucket` samples whose labels
// (other than le) include `match`. -1 when there are no observations.
double HistogramQuantile(const std::vector<Sample>& samples,
                         const std::string& name, double q,
                         const std::map<std::string, std::string>& match = {});

nlohmann::ordered_json MetricsSummaryToJson(const MetricsSummary& summary);
std::string MetricsSummaryToText(const MetricsSummary& summary);

}  // namespace shoal::tools
