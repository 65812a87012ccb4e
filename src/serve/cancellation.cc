#include "serve/cancellation.h"

#include <utility>

namespace kiln::serve {

void Cancellation::cancel() {
  flag_.store(true, std::memory_order_relaxed);
  std::shared_ptr<Listener> listener;
  {
    // Raised before the listener is taken: a listen() that comes after this finds the flag raised.
    std::lock_guard<std::mutex> lock(mu_);
    listener = std::move(listener_);
  }
  if (listener != nullptr) listener->on_cancel();
}

void Cancellation::listen(std::shared_ptr<Listener> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

void Cancellation::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = nullptr;
  flag_.store(false, std::memory_order_relaxed);
}

}  // namespace kiln::serve
