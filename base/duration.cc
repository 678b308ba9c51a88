#include "base/duration.h"

#include <cctype>
#include <cmath>
#include <stdexcept>

namespace shoal {
namespace {

Status Bad(std::string message) {
  return Status(Code::kInvalidArgument, std::move(message));
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// A number followed by a unit, in milliseconds; `what` names the input in
// errors.
Result<double> ParseMs(std::string_view text, const std::string& what) {
  const std::string t = Trim(text);
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(t, &used);
  } catch (const std::exception&) {
    return Bad("bad " + what + " '" + t + "' (expected e.g. 50ms, 2s, 1m)");
  }
  const std::string unit = t.substr(used);
  double scale = 0;
  if (unit == "ms") scale = 1;
  if (unit == "s") scale = 1000;
  if (unit == "m") scale = 60'000;
  if (unit == "h") scale = 3'600'000;
  if (scale == 0 || !std::isfinite(value)) {
    return Bad("bad " + what + " '" + t +
               "' (a number with a unit: ms, s, m or h, e.g. 50ms)");
  }
  return value * scale;
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text,
                                                std::string_view what) {
  auto ms = ParseMs(text, std::string(what));
  if (!ms.ok()) return ms.status();
  if (*ms < 0) {
    return Bad("negative " + std::string(what) + " '" + std::string(text) +
               "'");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(*ms)));
}

Result<int64_t> ParseSignedDuration(std::string_view text,
                                    std::string_view what) {
  auto ms = ParseMs(text, std::string(what));
  if (!ms.ok()) return ms.status();
  return static_cast<int64_t>(std::llround(*ms));
}

std::string FormatDuration(std::chrono::milliseconds d) {
  const int64_t ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace shoal
