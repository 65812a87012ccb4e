// Cancellation: the flag a frontend raises when a request's client goes away (HTTP connection closed,
// gRPC call cancelled), and the one party it tells at once.
//
// A running request needs no telling: the engine reads the flag between nodes (RunOptions::cancelled).
// A request waiting in a batcher's queue is read by no one until a worker looks at the queue again,
// which may be a whole batch's run or the queue delay away. So the batcher listens to the flags of
// the requests it holds: cancel() calls it on the frontend's thread, and it answers the request
// Cancelled and drops it from the queue there and then (DynamicBatcher).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

namespace kiln::serve {

class Cancellation {
 public:
  // Told when the flag is raised, on the thread that raises it, with no lock of the Cancellation
  // held (the listener may answer the request, and its frontend may then reuse the Cancellation).
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void on_cancel() = 0;
  };

  bool cancelled() const { return flag_.load(std::memory_order_relaxed); }
  // The flag itself, for RunOptions::cancelled; lives as long as this object.
  const std::atomic<bool>* flag() const { return &flag_; }

  // Raises the flag, then tells the listener set at that time, if any, and forgets it (so it is told
  // once however often cancel() is called). Thread-safe.
  void cancel();
  // Sets whom cancel() tells, replacing the listener before; null: no one. A listener set after the
  // flag was raised is never told, so a caller checks cancelled() after listen(). Thread-safe.
  void listen(std::shared_ptr<Listener> listener);
  // Lowers the flag and forgets the listener: for a frontend that reuses the object for its next
  // request, once no one else holds it.
  void reset();

 private:
  std::atomic<bool> flag_{false};
  std::mutex mu_;
  std::shared_ptr<Listener> listener_;  // guarded by mu_
};

}  // namespace kiln::serve
