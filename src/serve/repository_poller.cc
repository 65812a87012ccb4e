#include "serve/repository_poller.h"

namespace kiln::serve {

RepositoryPoller::RepositoryPoller(ModelRepository* repository, std::chrono::milliseconds interval,
                                   std::function<void(const std::string&)> report) {
  thread_ = std::thread([this, repository, interval, report = std::move(report)] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
      lock.unlock();
      for (const std::string& line : repository->poll()) report(line);
      lock.lock();
    }
  });
}

RepositoryPoller::~RepositoryPoller() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace kiln::serve
