// Inline runs: a request that a worker would run alone and at once runs on the thread that submits it.
//
// Handing a request to a worker and its result back costs two thread switches and a wake-up on a
// condition variable. For a small model that is most of the request: an Identity model served over
// HTTP with one core spent a quarter of its time switching threads (perf, bench/serve/run.py tiny).
// So while the recent runs of a version are short (BatcherOptions::inline_runs_below), the frontend
// thread that submits runs the model itself. Everything else holds as for a worker's run: the
// instance count (an inline run is one of the instances at work), the compute budget (taken only if
// free now, else the request queues), arrival order (only into an empty queue), the deadline and the
// cancellation flag.
//
// An inline run computes on the submitting thread alone, a team of one, whatever the version's intra-op
// threads: a run short enough to go inline gains less from a team than the hand-off to it costs. (mlp,
// one instance at --threads 2, HTTP binary, concurrency 16: 5.3k inferences/s through the workers, on
// a 2-thread team; 7.3k with one intra-op thread, inline.) It takes one thread of the compute budget.
//
// A frontend thread must not be held long, whatever a model does with one input: an inline run
// stops at kInlineStopFactor times the limit and the request goes to the front of the queue, for a
// worker to run from the start. Its time counts in the average, so the next requests go to the
// workers until runs are short again.
#include <algorithm>
#include <new>

#include "serve/dynamic_batcher.h"

namespace kiln::serve {

namespace {

// An inline run longer than this many times inline_runs_below is stopped and handed to a worker.
constexpr int kInlineStopFactor = 10;

}  // namespace

bool DynamicBatcher::inline_allowed(const Item& item) const {
  if (options_.inline_runs_below.count() <= 0) return false;
  // A batcher that merges waits for companions unless it has no queue delay.
  if (options_.max_batch_size > 0 && options_.max_queue_delay.count() > 0) return false;
  if (item.is_cancelled()) return false;  // the workers answer it without running
  return recent_runs_below(options_.inline_runs_below) && small_enough_for_one_thread({&item, 1});
}

bool DynamicBatcher::small_enough_for_one_thread(std::span<const Item> items) const {
  if (options_.single_thread_input_bytes <= 0) return true;
  int64_t bytes = 0;
  for (const Item& item : items) {
    for (const NamedValue& nv : item.inputs) {
      if (nv.value.is_tensor()) bytes += static_cast<int64_t>(nv.value.tensor().bytes());
    }
  }
  return bytes <= options_.single_thread_input_bytes;
}

bool DynamicBatcher::recent_runs_below(std::chrono::microseconds limit) const {
  return limit.count() > 0 && recent_run_ns_.load(std::memory_order_relaxed) <
                                  std::chrono::duration_cast<std::chrono::nanoseconds>(limit).count();
}

// An exponential moving average over about the last 8 runs: one slow run (a preempted thread on a
// busy machine) sends a few requests to the workers, not all of them.
void DynamicBatcher::note_run_time(Clock::duration run) {
  const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(run).count();
  const int64_t old = recent_run_ns_.load(std::memory_order_relaxed);
  recent_run_ns_.store(old + (ns - old) / 8, std::memory_order_relaxed);
}

bool DynamicBatcher::try_run_inline(Item& item) {
  if (!inline_allowed(item)) return false;
  const Clock::time_point start = Clock::now();
  Expected<std::vector<NamedValue>> outputs = Status::Internal("not run");
  auto run = [&](Clock::time_point deadline) {
    RunOptions run_options;
    run_options.deadline = deadline;
    run_options.intra_op_threads = kInlineThreads;
    run_options.cancelled = item.cancelled != nullptr ? item.cancelled->flag() : nullptr;
    try {
      outputs = executor_(item.inputs, run_options);
    } catch (const std::bad_alloc&) {
      outputs = Status::ResourceExhausted("out of memory");
    } catch (const std::exception& e) {
      outputs = Status::Internal(std::string("unexpected exception: ") + e.what());
    }
  };
  {
    ComputeBudget::Slot slot(options_.budget.get(), kInlineThreads, std::try_to_lock);
    if (!slot.owns_threads()) return false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ || forming_ || !queue_.empty() || running_ >= options_.instance_count) return false;
      ++running_;
    }
    run(std::min(item.deadline, start + options_.inline_runs_below * kInlineStopFactor));
    const Clock::time_point end = Clock::now();
    note_run_time(end - start);
    const bool outgrown = !outputs.ok() && outputs.status().code() == StatusCode::kDeadlineExceeded &&
                          end < item.deadline && !item.is_cancelled();
    bool handed_over = false;
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      --running_;
      // Workers leave once stopping and drained; after that an outgrown run finishes here.
      if (outgrown && !stopping_) {
        item.enqueued = end;
        listen_for_client_gone(item);
        queue_.push_front(std::move(item));  // it came before anything queued since
        handed_over = true;
      }
      // Idle workers sleep until the queue has work; waking them for nothing is the cost saved here.
      wake = !queue_.empty();
    }
    if (wake) cv_.notify_all();  // for the handed-over request, or queued ones that waited for this instance
    if (handed_over) return true;
    if (outgrown) run(item.deadline);
  }
  RequestTiming timing;
  timing.compute_infer = Clock::now() - start;
  if (observer_) observer_(Execution{item.rows, 1, outputs.ok(), timing});
  try {
    if (outputs.ok()) {
      item.done(std::move(outputs), timing);
    } else {
      item.done(outputs.status().with_context(options_.name), timing);
    }
  } catch (const std::exception&) {
    // As for a worker's completion: that one request is lost to its client; the caller goes on.
  }
  return true;
}

}  // namespace kiln::serve
