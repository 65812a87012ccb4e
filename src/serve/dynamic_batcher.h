// DynamicBatcher: the request queue and worker threads of one model version.
//
// Requests wait in a bounded FIFO queue. One worker at a time forms a batch: it takes the oldest
// request, then adds queued requests whose inputs are batch_compatible with it while the batch has at
// most max_batch_size rows, waiting up to max_queue_delay after the oldest request arrived for more to
// come (unless the last few waits gathered nothing: then it waits only every few batches, wait_pays). A batch is dispatched as soon as it is full or reaches a preferred size. The merged batch runs
// once on the executor and each request gets its own rows back. With max_batch_size 0 every request
// runs alone. `instance_count` workers execute batches concurrently.
//
// A request still queued at its deadline fails with DeadlineExceeded (it is never run late), one whose
// client went away fails with Cancelled without running (at once: the batcher listens to the
// Cancellation of each request it holds), and a full queue rejects new requests with
// Unavailable, so latency stays bounded under overload. A request cancelled or expired while its batch
// waited for the queue delay leaves the batch before it runs. A running batch stops early (the engine
// checks between nodes) once every request in it was cancelled or is past its deadline: a merged batch
// keeps computing while any of its clients still waits.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "kiln/session.h"
#include "kiln/status.h"
#include "serve/batch_lanes.h"
#include "serve/cancellation.h"
#include "serve/compute_budget.h"
#include "serve/inference_request.h"

namespace kiln {
class BufferPool;
}

namespace kiln::serve {

struct BatcherOptions {
  std::string name;            // "model 'x' version 1", for error messages
  int64_t max_batch_size = 0;  // 0: never merge
  std::vector<int64_t> preferred_batch_sizes;
  std::chrono::microseconds max_queue_delay{0};
  // Row counts a merged batch may have, ascending (batch_sizes_for); empty: any count up to
  // max_batch_size. A formed batch of another count hands its newest requests back to the front of the
  // queue, for the next batch, until its count is allowed or it holds one request. The engine builds
  // kernels per input shape, and a shape it has not seen costs two thirds of a run more (resnet18 at
  // batch 8: first run 207 ms, later ones 126 ms, docs/benchmarks.md); with every count from 1 to 32
  // coming up, batching lost throughput (bench/serve/run.py). A few counts, warmed up at load, keep
  // every batch on built kernels.
  std::vector<int64_t> batch_sizes;
  size_t max_queue_size = 1024;  // queued requests beyond this are rejected
  int instance_count = 1;        // worker threads executing batches
  // A worker that found no work for this long gives back its OpenMP team threads (release_team_threads in exec/run_threads.h:
  // idle, they would only count against the cores while other models' workers compute). Long against
  // the cost, a new team thread at its next run (0.1-0.6 ms measured on the 2-vCPU VM, where waking the
  // idle CPU for a kept one costs up to 6 ms anyway); short against the time another model's worker
  // may compute alone.
  std::chrono::milliseconds idle_before_team_release{1000};
  // Shared by every batcher of the process; each model run holds threads_per_run threads of it (its
  // session's intra-op threads). Null: no cap.
  std::shared_ptr<ComputeBudget> budget;
  int threads_per_run = 1;
  // A batch of several requests computes as up to this many parts side by side, each a run on one
  // thread of its own (batch_lanes.h), within the batch's threads_per_run; 1: one run of
  // threads_per_run threads. A part is whole requests, their rows balanced (balanced_groups).
  int split_parts = 1;
  // Inline runs (dynamic_batcher_inline.cc): while recent runs took less than this, a request that a
  // worker would run alone and at once runs on the thread that submits it instead, on that thread
  // alone (kInlineThreads), saving the two thread switches (to the worker and back) and the team's
  // wake-up that cost more than a small model's run. Zero: never.
  std::chrono::microseconds inline_runs_below{0};
  // While recent runs took less than this, a worker runs a batch of one part on its own thread alone
  // (kInlineThreads) and takes that one thread of the budget: waking the rest of a team for so short a
  // run costs more than it saves once other threads (the frontends, the clients) want the cores.
  // Zero: never; runs then take threads_per_run.
  std::chrono::microseconds single_thread_runs_below{0};
  // Inline and single-thread runs only take batches whose inputs hold at most this many bytes: the
  // run-time average says nothing of a larger request than those it measured. Zero: any size.
  int64_t single_thread_input_bytes = 0;
  // What the run-time average (inline and single-thread runs) starts from: the version's warm-up run,
  // so that a heavy model's first requests do not go inline or alone before any run was measured.
  // Zero: start as short.
  std::chrono::nanoseconds first_run_time{0};
};

// The intra-op threads of an inline run: the submitting thread alone.
inline constexpr int kInlineThreads = 1;

// Where a request's time went, for metrics.
struct RequestTiming {
  Clock::duration queue{};           // enqueue to dispatch
  Clock::duration compute_input{};   // merging inputs
  Clock::duration compute_infer{};   // the model run
  Clock::duration compute_output{};  // splitting outputs
};

// The row counts a model with dynamic batching runs at: the powers of two below max_batch_size, the
// preferred sizes, and max_batch_size itself; ascending, without repeats. At most log2(max)+2 shapes
// plus the preferred ones, whatever the traffic.
std::vector<int64_t> batch_sizes_for(int64_t max_batch_size, const std::vector<int64_t>& preferred);

class DynamicBatcher {
 public:
  // Runs one batch with the options (deadline, cancellation) the batch's requests allow; called
  // concurrently from up to instance_count threads.
  using Executor = std::function<Expected<std::vector<NamedValue>>(const std::vector<NamedValue>& inputs,
                                                                   const RunOptions& options)>;
  // Receives each request's outputs (or error) and timing; called exactly once per accepted request,
  // on a worker thread.
  using Completion = std::function<void(Expected<std::vector<NamedValue>>, const RequestTiming&)>;
  // Told about each execution (after it ran, before the requests complete).
  struct Execution {
    int64_t rows = 0;        // rows in the batch
    size_t requests = 0;     // requests merged into it
    bool succeeded = false;  // the model ran and its outputs split back
    RequestTiming timing;    // compute_* of the batch (queue is per request; left zero here)
  };
  using ExecutionObserver = std::function<void(const Execution&)>;

  // Starts the worker threads.
  DynamicBatcher(BatcherOptions options, Executor executor, ExecutionObserver observer = nullptr);
  // Drains (see shutdown) and joins the workers.
  ~DynamicBatcher();
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Queues a request whose inputs the caller has validated (model order, one batch size). On OK the
  // batcher owns it and will call `done` exactly once: on a worker thread, or, for an inline run (see
  // BatcherOptions::inline_runs_below, or a request cancelled already), on the calling thread before
  // submit returns. Returns Unavailable, without calling `done`, when the queue is full or the batcher
  // is shutting down. `cancelled` (may be null) is raised by its frontend when the client goes away
  // (see InferenceRequest); while the request is queued, that calls `done` with Cancelled on the
  // raising thread. Thread-safe.
  Status submit(std::vector<NamedValue> inputs, Clock::time_point deadline, Completion done,
                std::shared_ptr<Cancellation> cancelled = nullptr);

  // Stops accepting requests, runs everything already queued (without waiting for the queue delay),
  // then joins the workers. Idempotent; thread-safe.
  void shutdown();

  size_t queued() const;
  bool stopping() const;

 private:
  struct Item {
    std::vector<NamedValue> inputs;
    int64_t rows = 1;
    Clock::time_point enqueued;
    Clock::time_point deadline;
    std::shared_ptr<Cancellation> cancelled;  // null: cannot be cancelled
    Completion done;

    bool is_cancelled() const { return cancelled != nullptr && cancelled->cancelled(); }
  };
  class ClientGoneListener;

  void worker_loop();
  // Runs `item` on the calling thread if it may (see BatcherOptions::inline_runs_below); true when it
  // took the item (completed it, or handed it to the workers after all). dynamic_batcher_inline.cc.
  bool try_run_inline(Item& item);
  bool inline_allowed(const Item& item) const;
  // Feeds the recent run time that decides whether runs go inline.
  void note_run_time(Clock::duration run);
  // Whether recent runs averaged less than `limit` (never, for a zero limit).
  bool recent_runs_below(std::chrono::microseconds limit) const;
  // Whether `items`' inputs fit BatcherOptions::single_thread_input_bytes.
  bool small_enough_for_one_thread(std::span<const Item> items) const;
  // Moves queued requests that fit into `batch`; expired and cancelled ones go to `expired`. Needs mu_.
  void take_compatible(std::vector<Item>* batch, int64_t* rows, std::vector<Item>* expired);
  bool batch_ready(int64_t rows) const;
  // Moves requests of `batch` that were cancelled or are past their deadline (while it waited for the
  // queue delay) to `expired`, so a batch never computes rows no one waits for.
  void drop_gone(std::vector<Item>* batch, int64_t* rows, std::vector<Item>* expired);
  // Hands the newest requests of `batch` back to the queue's front until its rows are an allowed
  // batch size or one request is left. Needs mu_ held.
  void trim_to_batch_size(std::vector<Item>* batch, int64_t* rows);
  // Runs `batch` on the calling worker's lanes, split into parts when it holds several requests.
  void execute(std::vector<Item>& batch, Clock::time_point dispatched, BatchLanes& lanes);
  // What one part of a batch came to: each of its requests' outputs, or why there are none.
  struct PartResult {
    Expected<std::vector<std::vector<NamedValue>>> pieces = Status::Internal("not run");
    bool merged = false;  // its inputs merged, so the model ran (or was stopped)
    RequestTiming timing;
  };
  // Merges, runs and splits the requests of `part` on the calling thread, the merged inputs from `pool`; `threads` > 0 caps the run's team (RunOptions::intra_op_threads).
  PartResult compute_part(std::span<const Item> part, int threads, const std::shared_ptr<BufferPool>& pool) const;
  void expire(std::vector<Item>& expired);
  // Has the Cancellation of `item`, about to be queued, tell drop_cancelled when its client leaves.
  void listen_for_client_gone(Item& item);
  // Answers the queued requests whose clients went away, and wakes a worker forming a batch to drop
  // its own; called by listener_ on the thread that raised a Cancellation.
  void drop_cancelled();
  // The deadline and cancellation flag the run of `batch` stops at.
  static RunOptions stop_options(std::span<const Item> batch);
  Status stopped_status(const Item& item, const Status& run_status) const;

  // Whether a batch being formed should wait for more requests (up to max_queue_delay): not after
  // kFruitlessWaitsBeforeSkipping waits in a row that gathered nothing, except every kWaitEvery-th
  // batch, which probes. One client sending a request at a time (concurrency 1) gains nothing from
  // the delay and paid it on every request: resnet18 at concurrency 1 answered 79 requests/s batched
  // against 109 unbatched (bench/serve/run.py). Called under mu_ by the worker forming a batch.
  bool wait_pays();
  // Records whether the wait of the batch just formed gathered requests. Under mu_.
  void record_wait(bool gathered);
  static constexpr int kFruitlessWaitsBeforeSkipping = 4;
  static constexpr int kWaitEvery = 8;

  const BatcherOptions options_;
  const Executor executor_;
  const ExecutionObserver observer_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // guarded by mu_
  bool forming_ = false;    // guarded by mu_: a worker is forming a batch
  bool stopping_ = false;   // guarded by mu_
  int running_ = 0;         // guarded by mu_: batches executing, on workers or inline; <= instance_count
  int fruitless_waits_ = 0;  // guarded by mu_: the last waits in a row that gathered no request
  int skipped_waits_ = 0;    // guarded by mu_: batches formed without waiting since the last wait
  std::atomic<int64_t> recent_run_ns_{0};  // moving average of run times: inline and single-thread runs
  // Listens to the Cancellation of every queued request; frontends may hold it beyond this batcher.
  const std::shared_ptr<ClientGoneListener> listener_;
  std::vector<std::thread> workers_;
  std::once_flag joined_;
};

}  // namespace kiln::serve
