// DynamicBatcher's inline runs: a short run of a request that would run alone goes on the submitting
// thread; a busy instance, a busy compute budget, a queue delay or a run that outgrows the limit send
// it to a worker instead, and every request still completes exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "serve/dynamic_batcher.h"

namespace kiln::serve {
namespace {

using namespace std::chrono_literals;

std::vector<NamedValue> one_row(float value) {
  Tensor t(DataType::kFloat32, {1, 1});
  t.data<float>()[0] = value;
  return {{"x", Value(t)}};
}

// Returns x unchanged; records the thread of each run.
struct Echo {
  std::mutex mu;
  std::vector<std::thread::id> run_threads;
  std::shared_future<void> gate;  // when valid, runs wait for it

  DynamicBatcher::Executor executor() {
    return [this](const std::vector<NamedValue>& in, const RunOptions&) -> Expected<std::vector<NamedValue>> {
      if (gate.valid()) gate.wait();
      std::lock_guard<std::mutex> lock(mu);
      run_threads.push_back(std::this_thread::get_id());
      return std::vector<NamedValue>{{"y", in[0].value}};
    };
  }
};

struct Outcome {
  bool ok = false;
  std::thread::id thread;
  bool done_before_submit_returned = false;
};

// Submits and returns a future of where and how the request completed.
std::future<Outcome> submit(DynamicBatcher& b, float value) {
  auto p = std::make_shared<std::promise<Outcome>>();
  auto f = p->get_future();
  auto returned = std::make_shared<std::atomic<bool>>(false);
  Status st = b.submit(one_row(value), Clock::time_point::max(),
                       [p, returned](Expected<std::vector<NamedValue>> out, const RequestTiming&) {
                         p->set_value(Outcome{out.ok(), std::this_thread::get_id(), !returned->load()});
                       });
  returned->store(true);
  if (!st.ok()) p->set_value(Outcome{});
  return f;
}

BatcherOptions inline_opts(std::chrono::microseconds below) {
  BatcherOptions o;
  o.name = "model 'm' version 1";
  o.inline_runs_below = below;
  return o;
}

TEST(DynamicBatcherInlineTest, ShortRunCompletesOnTheSubmittingThreadBeforeSubmitReturns) {
  Echo echo;
  DynamicBatcher b(inline_opts(1s), echo.executor());
  Outcome o = submit(b, 1).get();
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(o.thread, std::this_thread::get_id());
  EXPECT_TRUE(o.done_before_submit_returned);
}

TEST(DynamicBatcherInlineTest, OffByDefaultAndWithAQueueDelay) {
  Echo echo;
  DynamicBatcher plain(inline_opts(0us), echo.executor());
  EXPECT_NE(submit(plain, 1).get().thread, std::this_thread::get_id());
  BatcherOptions merging = inline_opts(1s);
  merging.max_batch_size = 4;
  merging.max_queue_delay = 1ms;  // requests wait for companions: a worker forms the batch
  DynamicBatcher batching(merging, echo.executor());
  EXPECT_NE(submit(batching, 1).get().thread, std::this_thread::get_id());
}

TEST(DynamicBatcherInlineTest, BusyInstanceSendsTheNextRequestToTheQueue) {
  std::promise<void> entered;
  std::promise<void> open;
  std::shared_future<void> gate = open.get_future().share();
  std::atomic<int> runs{0};
  DynamicBatcher::Executor held_first = [&](const std::vector<NamedValue>& in,
                                            const RunOptions&) -> Expected<std::vector<NamedValue>> {
    if (runs++ == 0) {
      entered.set_value();
      gate.wait();
    }
    return std::vector<NamedValue>{{"y", in[0].value}};
  };
  DynamicBatcher b(inline_opts(1s), held_first);  // one instance
  // The first request runs inline on another thread and holds the only instance.
  std::future<Outcome> first;
  std::thread first_thread([&] { first = submit(b, 1); });
  entered.get_future().wait();
  std::future<Outcome> second = submit(b, 2);  // returns at once: queued for the worker, not run here
  EXPECT_EQ(second.wait_for(0s), std::future_status::timeout);
  open.set_value();
  first_thread.join();
  EXPECT_TRUE(first.get().ok);
  Outcome o = second.get();
  EXPECT_TRUE(o.ok);
  EXPECT_NE(o.thread, std::this_thread::get_id());
  EXPECT_FALSE(o.done_before_submit_returned);
}

// A version whose runs take several threads still runs a short request inline, on the submitting
// thread alone: it asks the session for one intra-op thread and takes one of the budget's.
TEST(DynamicBatcherInlineTest, AVersionOfSeveralThreadsRunsInlineOnATeamOfOne) {
  std::atomic<int> threads_asked{-1};
  DynamicBatcher::Executor record = [&](const std::vector<NamedValue>& in,
                                        const RunOptions& run_options) -> Expected<std::vector<NamedValue>> {
    threads_asked = run_options.intra_op_threads;
    return std::vector<NamedValue>{{"y", in[0].value}};
  };
  BatcherOptions o = inline_opts(1s);
  o.threads_per_run = 2;
  o.budget = std::make_shared<ComputeBudget>(2);
  DynamicBatcher b(o, record);
  ComputeBudget::Slot other_run(o.budget.get(), 1);  // one of the two threads is busy elsewhere
  Outcome out = submit(b, 1).get();
  EXPECT_TRUE(out.ok);
  EXPECT_EQ(out.thread, std::this_thread::get_id());
  EXPECT_TRUE(out.done_before_submit_returned);
  EXPECT_EQ(threads_asked.load(), kInlineThreads);
}

// The average starts from the version's warm-up run: a heavy model's first request goes to a worker.
TEST(DynamicBatcherInlineTest, ASlowFirstRunKeepsTheFirstRequestsOffTheSubmittingThread) {
  Echo echo;
  BatcherOptions o = inline_opts(100us);
  o.first_run_time = 50ms;
  DynamicBatcher b(o, echo.executor());
  Outcome out = submit(b, 1).get();
  EXPECT_TRUE(out.ok);
  EXPECT_NE(out.thread, std::this_thread::get_id());
}

TEST(DynamicBatcherInlineTest, BusyComputeBudgetSendsTheRequestToAWorker) {
  Echo echo;
  BatcherOptions o = inline_opts(1s);
  o.budget = std::make_shared<ComputeBudget>(1);
  DynamicBatcher b(o, echo.executor());
  std::future<Outcome> f;
  {
    ComputeBudget::Slot held(o.budget.get(), 1);
    f = submit(b, 1);  // cannot run here: the worker waits for the budget
  }
  Outcome out = f.get();
  EXPECT_TRUE(out.ok);
  EXPECT_NE(out.thread, std::this_thread::get_id());
  EXPECT_FALSE(out.done_before_submit_returned);
}

TEST(DynamicBatcherInlineTest, RunThatOutgrowsTheLimitIsHandedToAWorkerAndLaterRunsGoThere) {
  // A run takes 20 ms unless stopped earlier by its deadline; the inline limit stops it at 10x 100us.
  std::atomic<int> runs{0};
  std::atomic<int> stopped{0};
  DynamicBatcher::Executor slow = [&](const std::vector<NamedValue>& in,
                                      const RunOptions& options) -> Expected<std::vector<NamedValue>> {
    ++runs;
    const Clock::time_point end = Clock::now() + 20ms;
    while (Clock::now() < end) {
      if (Clock::now() >= options.deadline) {
        ++stopped;
        return Status::DeadlineExceeded("stopped");
      }
      std::this_thread::sleep_for(100us);
    }
    return std::vector<NamedValue>{{"y", in[0].value}};
  };
  DynamicBatcher b(inline_opts(100us), slow);
  Outcome first = submit(b, 1).get();
  EXPECT_TRUE(first.ok);
  EXPECT_NE(first.thread, std::this_thread::get_id());  // finished by a worker, from the start
  EXPECT_EQ(runs.load(), 2);
  EXPECT_EQ(stopped.load(), 1);
  // Recent runs are long now: the next request goes straight to a worker.
  Outcome second = submit(b, 2).get();
  EXPECT_TRUE(second.ok);
  EXPECT_NE(second.thread, std::this_thread::get_id());
  EXPECT_EQ(runs.load(), 3);
  EXPECT_EQ(stopped.load(), 1);
}

TEST(DynamicBatcherInlineTest, RequestDeadlineStillFailsAnInlineRun) {
  DynamicBatcher::Executor expired = [](const std::vector<NamedValue>&,
                                        const RunOptions& options) -> Expected<std::vector<NamedValue>> {
    if (Clock::now() >= options.deadline) return Status::DeadlineExceeded("past the deadline");
    return Status::Internal("the deadline should have passed");
  };
  DynamicBatcher b(inline_opts(1s), expired);
  std::promise<Status> p;
  Status st = b.submit(one_row(1), Clock::now() - 1ms,
                       [&](Expected<std::vector<NamedValue>> out, const RequestTiming&) { p.set_value(out.status()); });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(p.get_future().get().code(), StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace kiln::serve
