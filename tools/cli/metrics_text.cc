#include "tools/cli/metrics_text.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "base/table.h"
#include "tools/cli/output.h"

namespace shoal::tools {
using json = nlohmann::ordered_json;

// ---- the text format ----

namespace {

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c == ':' || (!first && c >= '0' && c <= '9');
}

// Parses `{a="x",b="y"}` at line[*pos] (pos at '{'); false if malformed.
bool ParseLabels(std::string_view line, size_t* pos,
                 std::map<std::string, std::string>* labels) {
  size_t i = *pos + 1;
  while (true) {
    while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
    if (i >= line.size()) return false;
    if (line[i] == '}') {
      *pos = i + 1;
      return true;
    }
    const size_t name_start = i;
    while (i < line.size() && IsNameChar(line[i], i == name_start)) ++i;
    std::string name(line.substr(name_start, i - name_start));
    if (name.empty() || i + 1 >= line.size() || line[i] != '=' ||
        line[i + 1] != '"') {
      return false;
    }
    i += 2;
    std::string value;
    while (i < line.size() && line[i] != '"') {
      if (line[i] == '\\' && i + 1 < line.size()) {
        const char e = line[++i];
        value += e == 'n' ? '\n' : e;
      } else {
        value += line[i];
      }
      ++i;
    }
    if (i >= line.size()) return false;
    ++i;  // closing quote
    (*labels)[std::move(name)] = std::move(value);
  }
}

double ParseValue(std::string_view text, bool* ok) {
  std::string s(text);
  *ok = true;
  if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  *ok = end != s.c_str() && *end == '\0';
  return v;
}

}  // namespace

std::vector<Sample> ParsePrometheusText(std::string_view text) {
  std::vector<Sample> out;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
      line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t i = 0;
    while (i < line.size() && IsNameChar(line[i], i == 0)) ++i;
    s.name = std::string(line.substr(0, i));
    if (s.name.empty()) continue;
    if (i < line.size() && line[i] == '{' && !ParseLabels(line, &i, &s.labels))
      continue;
    while (i < line.size() && line[i] == ' ') ++i;
    const size_t value_end = line.find(' ', i);
    bool ok = false;
    s.value = ParseValue(line.substr(i, value_end - i), &ok);
    if (!ok) continue;
    out.push_back(std::move(s));
  }
  return out;
}

// ---- the summary ----

namespace {

bool Matches(const Sample& s, const std::map<std::string, std::string>& match) {
  for (const auto& [k, v] : match) {
    auto it = s.labels.find(k);
    if (it == s.labels.end() || it->second != v) return false;
  }
  return true;
}

double Sum(const std::vector<Sample>& samples, const std::string& name,
           const std::map<std::string, std::string>& match = {}) {
  double total = 0;
  for (const Sample& s : samples) {
    if (s.name == name && Matches(s, match)) total += s.value;
  }
  return total;
}

}  // namespace

double HistogramQuantile(const std::vector<Sample>& samples,
                         const std::string& name, double q,
                         const std::map<std::string, std::string>& match) {
  // le -> cumulative count, summed over the matching series.
  std::map<double, double> buckets;
  for (const Sample& s : samples) {
    if (s.name != name + "_bucket" || !Matches(s, match)) continue;
    auto le = s.labels.find("le");
    if (le == s.labels.end()) continue;
    bool ok = false;
    const double bound = ParseValue(le->second, &ok);
    if (ok) buckets[bound] += s.value;
  }
  if (buckets.empty()) return -1;
  const double total = buckets.rbegin()->second;
  if (total <= 0) return -1;
  const double rank = q * total;
  double prev_bound = 0, prev_count = 0;
  for (const auto& [bound, count] : buckets) {
    if (count >= rank) {
      if (std::isinf(bound)) return prev_bound;  // above the last bucket
      if (count == prev_count) return bound;
      return prev_bound +
             (bound - prev_bound) * (rank - prev_count) / (count - prev_count);
    }
    prev_bound = bound;
    prev_count = count;
  }
  return prev_bound;
}

MetricsSummary Summarize(const std::vector<Sample>& samples) {
  MetricsSummary m;
  for (const Sample& s : samples) {
    if (s.name == "shoal_build_info") {
      auto v = s.labels.find("version");
      if (v != s.labels.end()) m.version = v->second;
    }
  }
  for (const char* op : {"get", "put", "delete"}) {
    MetricsSummary::Op o;
    o.op = op;
    for (const Sample& s : samples) {
      if (s.name != "shoal_requests_total" || !Matches(s, {{"op", op}}))
        continue;
      o.count += s.value;
      const auto& result = s.labels.at("result");
      if (result != "ok" && result != "not_found") o.errors += s.value;
    }
    const double n =
        Sum(samples, "shoal_request_duration_seconds_count", {{"op", op}});
    if (n > 0) {
      o.mean_seconds =
          Sum(samples, "shoal_request_duration_seconds_sum", {{"op", op}}) / n;
      o.p99_seconds = HistogramQuantile(
          samples, "shoal_request_duration_seconds", 0.99, {{"op", op}});
    }
    m.requests.push_back(o);
  }
  const std::string replies = "shoal_read_replica_replies_total";
  m.replies_current = Sum(samples, replies, {{"freshness", "current"}});
  m.replies_stale = Sum(samples, replies, {{"freshness", "stale"}});
  m.replies_missing = Sum(samples, replies, {{"freshness", "missing"}});
  const double all = m.replies_current + m.replies_stale + m.replies_missing;
  m.stale_ratio = all > 0 ? m.replies_stale / all : 0;
  m.stale_age_p50_seconds =
      HistogramQuantile(samples, "shoal_read_stale_age_seconds", 0.5);
  m.stale_age_p99_seconds =
      HistogramQuantile(samples, "shoal_read_stale_age_seconds", 0.99);
  m.repairs_ok = Sum(samples, "shoal_read_repairs_total", {{"result", "ok"}});
  m.repairs_failed =
      Sum(samples, "shoal_read_repairs_total", {{"result", "failed"}});
  m.write_acks = Sum(samples, "shoal_write_replica_lag_seconds_count");
  m.write_lag_p50_seconds =
      HistogramQuantile(samples, "shoal_write_replica_lag_seconds", 0.5);
  m.write_lag_p99_seconds =
      HistogramQuantile(samples, "shoal_write_replica_lag_seconds", 0.99);
  std::map<std::string, MetricsSummary::Target> targets;
  for (const Sample& s : samples) {
    auto t = s.labels.find("target");
    if (t == s.labels.end()) continue;
    MetricsSummary::Target& target = targets[t->second];
    target.target = t->second;
    if (s.name == "shoal_hints_pending") target.pending = s.value;
    if (s.name == "shoal_hints_pending_bytes") target.bytes = s.value;
    if (s.name == "shoal_hints_oldest_age_seconds")
      target.oldest_age_seconds = s.value;
  }
  for (const auto& [name, t] : targets) {
    m.hint_targets.push_back(t);
    m.hints_pending += t.pending;
    m.hints_pending_bytes += t.bytes;
    m.hints_oldest_seconds =
        std::max(m.hints_oldest_seconds, t.oldest_age_seconds);
  }
  m.hints_stored = Sum(samples, "shoal_hints_stored_total");
  m.hints_delivered = Sum(samples, "shoal_hints_delivered_total");
  m.hints_dropped = Sum(samples, "shoal_hints_dropped_total");
  for (const Sample& s : samples) {
    if (s.name == "shoal_peer_up" && s.labels.count("peer")) {
      m.peers.emplace_back(s.labels.at("peer"), s.value != 0);
    }
  }
  m.storage_keys = Sum(samples, "shoal_storage_keys");
  m.storage_used_bytes = Sum(samples, "shoal_storage_used_bytes");
  m.storage_map_size_bytes = Sum(samples, "shoal_storage_map_size_bytes");
  m.storage_usage_ratio = Sum(samples, "shoal_storage_map_usage_ratio");
  return m;
}

namespace {

// -1 (no observations) becomes null in JSON.
json OrNull(double v) { return v < 0 ? json(nullptr) : json(v); }

std::string Ms(double seconds) {
  if (seconds < 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f ms", seconds * 1000);
  return buf;
}

std::string Secs(double seconds) {
  if (seconds < 0) return "-";
  char buf[32];
  if (seconds < 1) {
    std::snprintf(buf, sizeof(buf), "%.0f ms", seconds * 1000);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f s", seconds);
  }
  return buf;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f", v);
  return buf;
}

}  // namespace

json MetricsSummaryToJson(const MetricsSummary& m) {
  json requests = json::object();
  for (const auto& o : m.requests) {
    requests[o.op] = json{{"count", o.count},
                          {"errors", o.errors},
                          {"mean_seconds", OrNull(o.mean_seconds)},
                          {"p99_seconds", OrNull(o.p99_seconds)}};
  }
  json targets = json::array();
  for (const auto& t : m.hint_targets) {
    targets.push_back(json{{"target", t.target},
                           {"pending", t.pending},
                           {"bytes", t.bytes},
                           {"oldest_age_seconds", t.oldest_age_seconds}});
  }
  json peers = json::array();
  for (const auto& [peer, up] : m.peers) {
    peers.push_back(json{{"peer", peer}, {"up", up}});
  }
  return json{
      {"version", m.version},
      {"requests", std::move(requests)},
      {"reads", json{{"replies", json{{"current", m.replies_current},
                                      {"stale", m.replies_stale},
                                      {"missing", m.replies_missing}}},
                     {"stale_ratio", m.stale_ratio},
                     {"stale_age_p50_seconds", OrNull(m.stale_age_p50_seconds)},
                     {"stale_age_p99_seconds", OrNull(m.stale_age_p99_seconds)},
                     {"repairs", json{{"ok", m.repairs_ok},
                                      {"failed", m.repairs_failed}}}}},
      {"writes",
       json{{"replica_acks", m.write_acks},
            {"replica_lag_p50_seconds", OrNull(m.write_lag_p50_seconds)},
            {"replica_lag_p99_seconds", OrNull(m.write_lag_p99_seconds)}}},
      {"hints", json{{"pending", m.hints_pending},
                     {"pending_bytes", m.hints_pending_bytes},
                     {"oldest_age_seconds", m.hints_oldest_seconds},
                     {"stored", m.hints_stored},
                     {"delivered", m.hints_delivered},
                     {"dropped", m.hints_dropped},
                     {"targets", std::move(targets)}}},
      {"peers", std::move(peers)},
      {"storage", json{{"keys", m.storage_keys},
                       {"used_bytes", m.storage_used_bytes},
                       {"map_size_bytes", m.storage_map_size_bytes},
                       {"map_usage_ratio", m.storage_usage_ratio}}}};
}

std::string MetricsSummaryToText(const MetricsSummary& m) {
  std::string out;
  out += "requests (since start):\n";
  std::vector<std::vector<std::string>> rows{
      {"OP", "COUNT", "ERRORS", "MEAN", "P99"}};
  for (const auto& o : m.requests) {
    rows.push_back({o.op, Num(o.count), Num(o.errors), Ms(o.mean_seconds),
                    Ms(o.p99_seconds)});
  }
  out += FormatTable(rows);
  char ratio[32];
  std::snprintf(ratio, sizeof(ratio), "%.2f%%", m.stale_ratio * 100);
  out += "reads:      replica replies " + Num(m.replies_current) +
         " current, " + Num(m.replies_stale) + " stale, " +
         Num(m.replies_missing) + " missing (stale " + ratio + ")\n";
  out += "            stale age p50 " + Secs(m.stale_age_p50_seconds) +
         ", p99 " + Secs(m.stale_age_p99_seconds) + "; read repairs " +
         Num(m.repairs_ok) + " ok, " + Num(m.repairs_failed) + " failed\n";
  out += "writes:     " + Num(m.write_acks) + " replica acks, lag p50 " +
         Ms(m.write_lag_p50_seconds) + ", p99 " + Ms(m.write_lag_p99_seconds) +
         "\n";
  out += "hints:      " + Num(m.hints_pending) + " pending (" +
         FormatBytes(static_cast<uint64_t>(m.hints_pending_bytes)) +
         "), oldest " + Secs(m.hints_oldest_seconds) + "; stored " +
         Num(m.hints_stored) + ", delivered " + Num(m.hints_delivered) +
         ", dropped " + Num(m.hints_dropped) + "\n";
  for (const auto& t : m.hint_targets) {
    if (t.pending == 0) continue;
    out += "            for " + t.target + ": " + Num(t.pending) + " (" +
           FormatBytes(static_cast<uint64_t>(t.bytes)) + "), oldest " +
           Secs(t.oldest_age_seconds) + "\n";
  }
  std::string up, down;
  for (const auto& [peer, is_up] : m.peers) {
    std::string& list = is_up ? up : down;
    list += (list.empty() ? "" : " ") + peer;
  }
  out += "peers:      up: " + (up.empty() ? "-" : up) +
         "; down: " + (down.empty() ? "-" : down) + "\n";
  char usage[32];
  std::snprintf(usage, sizeof(usage), "%.1f%%", m.storage_usage_ratio * 100);
  out += "storage:    " + Num(m.storage_keys) + " keys, " +
         FormatBytes(static_cast<uint64_t>(m.storage_used_bytes)) +
         " used of a " +
         FormatBytes(static_cast<uint64_t>(m.storage_map_size_bytes)) +
         " map (" + usage + ")\n";
  return out;
}

}  // namespace shoal::tools
