#include "serve/dynamic_batcher.h"

#include <algorithm>
#include <new>
#include <optional>
#include <stdexcept>

#include "core/buffer_pool.h"
#include "exec/run_threads.h"
#include "serve/batch_tensors.h"

namespace kiln::serve {

std::vector<int64_t> batch_sizes_for(int64_t max_batch_size, const std::vector<int64_t>& preferred) {
  std::vector<int64_t> sizes;
  if (max_batch_size <= 0) return sizes;
  for (int64_t n = 1; n < max_batch_size; n *= 2) sizes.push_back(n);
  sizes.push_back(max_batch_size);
  for (int64_t p : preferred) {
    if (p > 0 && p <= max_batch_size) sizes.push_back(p);
  }
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  return sizes;
}

// Held by the Cancellation of each queued request, which its frontend may keep after the batcher is
// gone (an HTTP connection reuses its own): it reaches the batcher only while the batcher lives.
class DynamicBatcher::ClientGoneListener final : public Cancellation::Listener {
 public:
  explicit ClientGoneListener(DynamicBatcher* batcher) : batcher_(batcher) {}

  void on_cancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (batcher_ != nullptr) batcher_->drop_cancelled();
  }

  // Waits for a call in progress; none reaches the batcher afterwards.
  void detach() {
    std::lock_guard<std::mutex> lock(mu_);
    batcher_ = nullptr;
  }

 private:
  std::mutex mu_;
  DynamicBatcher* batcher_;  // guarded by mu_
};

DynamicBatcher::DynamicBatcher(BatcherOptions options, Executor executor, ExecutionObserver observer)
    : options_(std::move(options)),
      executor_(std::move(executor)),
      observer_(std::move(observer)),
      listener_(std::make_shared<ClientGoneListener>(this)) {
  recent_run_ns_.store(options_.first_run_time.count(), std::memory_order_relaxed);
  const int n = std::max(1, options_.instance_count);
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { worker_loop(); });
}

DynamicBatcher::~DynamicBatcher() {
  shutdown();
  listener_->detach();
}

Status DynamicBatcher::submit(std::vector<NamedValue> inputs, Clock::time_point deadline, Completion done,
                              std::shared_ptr<Cancellation> cancelled) {
  Item item;
  item.rows = options_.max_batch_size > 0 ? batch_rows(inputs) : 1;
  item.inputs = std::move(inputs);
  item.enqueued = Clock::now();
  item.deadline = deadline;
  item.cancelled = std::move(cancelled);
  item.done = std::move(done);
  if (try_run_inline(item)) return Status::OK();
  std::vector<Item> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Unavailable(options_.name + " is shutting down");
    if (queue_.size() >= options_.max_queue_size) {
      return Status::Unavailable(options_.name + ": queue is full (" + std::to_string(options_.max_queue_size) +
                                 " requests waiting)");
    }
    // Listening before the flag is read: a client that leaves from here on is told to drop_cancelled,
    // which waits for this lock and then finds the request queued.
    listen_for_client_gone(item);
    if (item.is_cancelled()) {
      gone.push_back(std::move(item));
    } else {
      queue_.push_back(std::move(item));
    }
  }
  if (!gone.empty()) {
    expire(gone);
    return Status::OK();
  }
  cv_.notify_all();
  return Status::OK();
}

void DynamicBatcher::listen_for_client_gone(Item& item) {
  if (item.cancelled != nullptr) item.cancelled->listen(listener_);
}

void DynamicBatcher::drop_cancelled() {
  std::vector<Item> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->is_cancelled()) {
        gone.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // A worker forming a batch holds its requests outside the queue; woken, it drops those whose
  // clients left, and gives the batch up when none is left.
  cv_.notify_all();
  expire(gone);
}

void DynamicBatcher::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  std::call_once(joined_, [this] {
    for (std::thread& t : workers_) t.join();
  });
}

bool DynamicBatcher::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

size_t DynamicBatcher::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

bool DynamicBatcher::wait_pays() {
  if (fruitless_waits_ < kFruitlessWaitsBeforeSkipping) return true;
  if (++skipped_waits_ < kWaitEvery) return false;
  skipped_waits_ = 0;  // a probe: requests may come in parallel again
  return true;
}

void DynamicBatcher::record_wait(bool gathered) {
  fruitless_waits_ = gathered ? 0 : fruitless_waits_ + 1;
  skipped_waits_ = 0;
}

bool DynamicBatcher::batch_ready(int64_t rows) const {
  if (options_.max_batch_size <= 0 || rows >= options_.max_batch_size) return true;
  const auto& p = options_.preferred_batch_sizes;
  return std::find(p.begin(), p.end(), rows) != p.end();
}

void DynamicBatcher::take_compatible(std::vector<Item>* batch, int64_t* rows, std::vector<Item>* expired) {
  const Clock::time_point now = Clock::now();
  for (auto it = queue_.begin(); it != queue_.end() && !batch_ready(*rows);) {
    if (it->deadline <= now || it->is_cancelled()) {
      expired->push_back(std::move(*it));
      it = queue_.erase(it);
    } else if (*rows + it->rows <= options_.max_batch_size && batch_compatible(batch->front().inputs, it->inputs)) {
      *rows += it->rows;
      batch->push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;  // stays queued, in order, for a later batch
    }
  }
}

void DynamicBatcher::drop_gone(std::vector<Item>* batch, int64_t* rows, std::vector<Item>* expired) {
  const Clock::time_point now = Clock::now();
  auto gone = [now](const Item& item) { return item.deadline <= now || item.is_cancelled(); };
  auto keep = std::stable_partition(batch->begin(), batch->end(), [&](const Item& item) { return !gone(item); });
  for (auto it = keep; it != batch->end(); ++it) {
    *rows -= it->rows;
    expired->push_back(std::move(*it));
  }
  batch->erase(keep, batch->end());
}

void DynamicBatcher::trim_to_batch_size(std::vector<Item>* batch, int64_t* rows) {
  const std::vector<int64_t>& sizes = options_.batch_sizes;
  if (sizes.empty()) return;
  // The batch holds requests oldest first; the newest go back to the front, still oldest first, and
  // lead the next batch (their flush time has passed, so it forms at once).
  while (batch->size() > 1 && !std::binary_search(sizes.begin(), sizes.end(), *rows)) {
    *rows -= batch->back().rows;
    queue_.push_front(std::move(batch->back()));
    batch->pop_back();
  }
}

void DynamicBatcher::worker_loop() {
  // Merged inputs come from the lanes' own pools: a batch at a size seen before reuses the last one's
  // blocks instead of mapping fresh pages (8 resnet18 rows: 4.8 MB, 1200 page faults) per batch.
  BatchLanes lanes(options_.max_batch_size > 0 ? options_.split_parts : 1);
  // An inline run counts as an instance at work, so workers may have to wait for it to end.
  const auto has_work = [this] {
    return (!forming_ && !queue_.empty() && running_ < options_.instance_count) || (stopping_ && queue_.empty());
  };
  bool ran_since_idle = false;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (ran_since_idle && !cv_.wait_for(lock, options_.idle_before_team_release, has_work)) {
      // Idle: the team threads this worker led would only count against the cores while other
      // models' workers compute (release_team_threads, exec/run_threads.h).
      lock.unlock();
      release_team_threads();
      lock.lock();
      ran_since_idle = false;
    }
    cv_.wait(lock, has_work);
    if (queue_.empty()) return;  // stopping and drained
    forming_ = true;
    std::vector<Item> batch;
    std::vector<Item> expired;
    while (batch.empty() && !queue_.empty()) {
      Item front = std::move(queue_.front());
      queue_.pop_front();
      if (front.deadline <= Clock::now() || front.is_cancelled()) {
        expired.push_back(std::move(front));
      } else {
        batch.push_back(std::move(front));
      }
    }
    if (!batch.empty() && options_.max_batch_size > 0) {
      int64_t rows = batch[0].rows;
      take_compatible(&batch, &rows, &expired);  // what is queued already
      const bool wait = !batch_ready(rows) && wait_pays();
      const Clock::time_point flush_at = wait ? batch[0].enqueued + options_.max_queue_delay : Clock::now();
      int64_t rows_while_waiting = 0;
      while (!batch_ready(rows) && !stopping_ && Clock::now() < flush_at) {
        // Wake at the flush time, or earlier when a request in the batch reaches its deadline: it is
        // answered then, not when the batch goes. A client that leaves wakes it too (drop_cancelled).
        Clock::time_point wake = flush_at;
        for (const Item& item : batch) wake = std::min(wake, item.deadline);
        cv_.wait_until(lock, wake);
        drop_gone(&batch, &rows, &expired);
        if (!expired.empty()) {
          lock.unlock();  // completions run without the lock; forming_ keeps other workers out
          expire(expired);
          expired.clear();
          lock.lock();
        }
        if (batch.empty()) break;
        const int64_t before = rows;
        take_compatible(&batch, &rows, &expired);
        rows_while_waiting += rows - before;
      }
      if (wait) record_wait(rows_while_waiting > 0);
      drop_gone(&batch, &rows, &expired);
      trim_to_batch_size(&batch, &rows);
    }
    forming_ = false;
    const bool runs = !batch.empty();
    running_ += runs ? 1 : 0;
    lock.unlock();
    cv_.notify_all();  // another worker may form the next batch while this one executes
    expire(expired);
    if (!batch.empty()) execute(batch, Clock::now(), lanes);
    ran_since_idle = ran_since_idle || runs;
    lock.lock();
    running_ -= runs ? 1 : 0;
  }
}

void DynamicBatcher::expire(std::vector<Item>& expired) {
  for (Item& item : expired) {
    RequestTiming timing;
    timing.queue = Clock::now() - item.enqueued;
    item.done(item.is_cancelled()
                  ? Status::Cancelled(options_.name + ": the client went away while the request was queued")
                  : Status::DeadlineExceeded(options_.name + ": request timed out after waiting in the queue"),
              timing);
  }
}

namespace {

// Runs fn and turns an exception into a status: a worker thread must survive anything one batch
// throws (copying a huge output can run out of memory), or every later request would hang.
template <typename T, typename Fn>
Expected<T> guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("unexpected exception: ") + e.what());
  }
}

}  // namespace

// A merged batch computes rows for each of its requests, so it runs while any of them still has a
// client waiting: it stops at the latest of their deadlines, or once each request was cancelled or is
// past its own deadline. A batch of one request stops on that request's flag.
RunOptions DynamicBatcher::stop_options(std::span<const Item> batch) {
  RunOptions options;
  options.deadline = Clock::time_point::min();
  for (const Item& item : batch) options.deadline = std::max(options.deadline, item.deadline);
  if (batch.size() == 1) {
    options.cancelled = batch[0].cancelled != nullptr ? batch[0].cancelled->flag() : nullptr;
    return options;
  }
  const bool cancellable =
      std::any_of(batch.begin(), batch.end(), [](const Item& i) { return i.cancelled != nullptr; });
  if (!cancellable) return options;  // only the deadline can stop it
  // Asked before every node; the batch outlives the run. A request with no deadline and a client
  // still there answers at once, without a clock read.
  options.cancel_when = [batch] {
    bool any_cancelled = false;
    std::optional<Clock::time_point> now;
    for (const Item& item : batch) {
      if (item.is_cancelled()) {
        any_cancelled = true;
        continue;
      }
      if (item.deadline == Clock::time_point::max()) return false;
      if (!now) now = Clock::now();
      if (item.deadline > *now) return false;
    }
    return any_cancelled;  // all past their deadlines: the deadline check says so, as DeadlineExceeded
  };
  return options;
}

// What a request of a batch whose run stopped early gets: the run's status, unless the run was
// cancelled for clients that left while this request's client, still waiting, ran out of time.
Status DynamicBatcher::stopped_status(const Item& item, const Status& run_status) const {
  if (run_status.code() == StatusCode::kCancelled && !item.is_cancelled()) {
    return Status::DeadlineExceeded(options_.name +
                                    ": request timed out while its batch ran; the batch stopped, the other "
                                    "requests' clients having gone");
  }
  return run_status.with_context(options_.name);
}

DynamicBatcher::PartResult DynamicBatcher::compute_part(std::span<const Item> part, int threads,
                                                       const std::shared_ptr<BufferPool>& pool) const {
  std::vector<const std::vector<NamedValue>*> inputs;
  std::vector<int64_t> rows;
  for (const Item& item : part) {
    inputs.push_back(&item.inputs);
    rows.push_back(item.rows);
  }
  using Tensors = std::vector<NamedValue>;
  const Clock::time_point t0 = Clock::now();
  Expected<Tensors> merged = guarded<Tensors>([&] {
    const ScopedBufferPool use_pool(pool);
    return concat_batch(inputs);
  });
  const Clock::time_point t1 = Clock::now();
  Expected<Tensors> outputs = merged.status();
  if (merged.ok()) {
    RunOptions run_options = stop_options(part);
    run_options.intra_op_threads = threads;
    outputs = guarded<Tensors>([&] { return executor_(*merged, run_options); });
  }
  const Clock::time_point t2 = Clock::now();
  PartResult result;
  using Pieces = std::vector<std::vector<NamedValue>>;
  result.pieces =
      outputs.ok() ? guarded<Pieces>([&] { return split_batch(*outputs, rows); }) : Expected<Pieces>(outputs.status());
  result.merged = merged.ok();
  result.timing.compute_input = t1 - t0;
  result.timing.compute_infer = t2 - t1;
  result.timing.compute_output = Clock::now() - t2;
  return result;
}

void DynamicBatcher::execute(std::vector<Item>& batch, Clock::time_point dispatched, BatchLanes& lanes) {
  std::vector<int64_t> rows;
  int64_t total = 0;
  for (const Item& item : batch) {
    rows.push_back(item.rows);
    total += item.rows;
  }
  const std::vector<size_t> bounds = balanced_groups(rows, static_cast<int>(lanes.size()));
  const size_t parts = bounds.size() - 1;
  std::vector<PartResult> results(parts);
  {
    // Parts run one thread each; a single part runs on the whole team, or alone while runs are short
    // and its inputs are no larger than those the average measured.
    const bool alone = parts == 1 && recent_runs_below(options_.single_thread_runs_below) &&
                       small_enough_for_one_thread(batch);
    ComputeBudget::Slot slot(options_.budget.get(), alone ? kInlineThreads : options_.threads_per_run);
    const int team = parts > 1 ? 1 : (alone ? kInlineThreads : 0);
    const std::span<const Item> all(batch);
    lanes.run(parts, [&](size_t p) {
      results[p] = compute_part(all.subspan(bounds[p], bounds[p + 1] - bounds[p]), team, lanes.pool(p));
    });
  }
  // The batch's timing is its slowest part's, phase by phase.
  RequestTiming timing;
  bool merged = true;
  bool succeeded = true;
  for (const PartResult& r : results) {
    timing.compute_input = std::max(timing.compute_input, r.timing.compute_input);
    timing.compute_infer = std::max(timing.compute_infer, r.timing.compute_infer);
    timing.compute_output = std::max(timing.compute_output, r.timing.compute_output);
    merged = merged && r.merged;
    succeeded = succeeded && r.pieces.ok();
  }
  note_run_time(timing.compute_infer);
  if (observer_ && merged) observer_(Execution{total, batch.size(), succeeded, timing});
  for (size_t p = 0; p < parts; ++p) {
    for (size_t i = bounds[p]; i < bounds[p + 1]; ++i) {
      timing.queue = dispatched - batch[i].enqueued;
      // A frontend's completion (encoding the response) runs here too; if it throws, that one request
      // is lost to its client, but the worker and every other request go on.
      try {
        Expected<std::vector<std::vector<NamedValue>>>& pieces = results[p].pieces;
        if (pieces.ok()) {
          batch[i].done(std::move((*pieces)[i - bounds[p]]), timing);
        } else {
          batch[i].done(stopped_status(batch[i], pieces.status()), timing);
        }
      } catch (const std::exception&) {
      }
    }
  }
}

}  // namespace kiln::serve
