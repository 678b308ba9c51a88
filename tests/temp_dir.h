// A fresh directory under the system temp directory for one test, removed
// with everything in it when the TempDir is destroyed. Header-only, for
// unit tests (doctest binaries) only.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <string>

namespace shoal::testing {

class TempDir {
 public:
  // The directory is not created: a store creates it on open.
  explicit TempDir(const std::string& prefix = "shoal-test") {
    static std::atomic<uint64_t> counter{0};
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            (prefix + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter++) + "-" + std::to_string(rd()));
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string str() const { return path_.string(); }
  const std::filesystem::path& path() const { return path_; }
  // Removes the directory and everything in it (a wiped disk).
  void Wipe() const { std::filesystem::remove_all(path_); }

 private:
  std::filesystem::path path_;
};

}  // namespace shoal::testing
