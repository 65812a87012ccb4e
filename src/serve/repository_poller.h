// RepositoryPoller: runs ModelRepository::poll() every interval on its own thread (control mode poll).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "serve/model_repository.h"

namespace kiln::serve {

class RepositoryPoller {
 public:
  // Starts polling `repository` (which must outlive this object); `report` receives each change line
  // (loads, unloads, load errors) on the poller thread.
  RepositoryPoller(ModelRepository* repository, std::chrono::milliseconds interval,
                   std::function<void(const std::string&)> report);
  // Stops: waits for a poll in progress (a model load) to finish.
  ~RepositoryPoller();
  RepositoryPoller(const RepositoryPoller&) = delete;
  RepositoryPoller& operator=(const RepositoryPoller&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace kiln::serve
