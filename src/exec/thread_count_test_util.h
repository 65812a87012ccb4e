// For tests that watch threads come and go: the process's thread count from /proc.
#pragma once

#include <chrono>
#include <filesystem>
#include <thread>

namespace kiln::testing {

inline int process_threads() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// The thread count once it is `expected`, or after `limit`: a thread that was told to end leaves the
// task list only when it has exited.
inline int process_threads_settled(int expected, std::chrono::milliseconds limit = std::chrono::milliseconds(2000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (process_threads() != expected && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return process_threads();
}

}  // namespace kiln::testing
