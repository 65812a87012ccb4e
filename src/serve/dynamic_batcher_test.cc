// DynamicBatcher: merging, splitting back, max batch size, the queue delay, timeouts, shapes that must
// not merge, the bounded queue and draining. The executor is a fake that records each batch's rows and
// returns y = 2x, so every request can check it got its own rows back.
#include "serve/dynamic_batcher.h"

#include <gtest/gtest.h>

#include <omp.h>

#include <atomic>
#include <future>
#include <thread>

#include "exec/thread_count_test_util.h"

namespace kiln::serve {
namespace {

using namespace std::chrono_literals;

std::vector<NamedValue> rows_input(Shape shape, float first) {
  Tensor t(DataType::kFloat32, shape);
  for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = first + static_cast<float>(i);
  return {{"x", Value(t)}};
}

struct Recorder {
  std::mutex mu;
  std::vector<int64_t> batch_rows;  // rows of each executed batch, in order
  std::promise<void> gate_open;     // when set_gate: executions wait on it
  std::shared_future<void> gate;
  std::atomic<int> at_gate{0};      // executions that reached the gate

  DynamicBatcher::Executor executor() {
    return [this](const std::vector<NamedValue>& in, const RunOptions&) -> Expected<std::vector<NamedValue>> {
      if (gate.valid()) {
        ++at_gate;
        gate.wait();
      }
      Tensor x = in[0].value.tensor();
      Tensor y(DataType::kFloat32, x.shape());
      for (int64_t i = 0; i < x.size(); ++i) y.data<float>()[i] = x.data<float>()[i] * 2;
      std::lock_guard<std::mutex> lock(mu);
      batch_rows.push_back(x.dim(0));
      return std::vector<NamedValue>{{"y", Value(y)}};
    };
  }
};

// Submits and returns a future of the result.
std::future<Expected<std::vector<NamedValue>>> submit(DynamicBatcher& b, std::vector<NamedValue> in,
                                                      Clock::time_point deadline = Clock::time_point::max()) {
  auto p = std::make_shared<std::promise<Expected<std::vector<NamedValue>>>>();
  auto f = p->get_future();
  Status st = b.submit(std::move(in), deadline, [p](Expected<std::vector<NamedValue>> out, const RequestTiming&) {
    p->set_value(std::move(out));
  });
  if (!st.ok()) p->set_value(st);
  return f;
}

BatcherOptions opts(int64_t max_batch, std::chrono::microseconds delay) {
  BatcherOptions o;
  o.name = "model 'm' version 1";
  o.max_batch_size = max_batch;
  o.max_queue_delay = delay;
  return o;
}

TEST(DynamicBatcherTest, MergesConcurrentRequestsAndSplitsResults) {
  Recorder rec;
  DynamicBatcher b(opts(8, 200ms), rec.executor());
  std::vector<std::future<Expected<std::vector<NamedValue>>>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(submit(b, rows_input({1, 2}, 10.0f * i)));
  for (int i = 0; i < 4; ++i) {
    auto out = futures[i].get();
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    const Tensor& y = (*out)[0].value.tensor();
    EXPECT_EQ(y.shape(), (Shape{1, 2}));
    EXPECT_EQ(y.data<float>()[0], 20.0f * i);
    EXPECT_EQ(y.data<float>()[1], 20.0f * i + 2);
  }
  // All four arrived well within the 200ms delay, so they ran as one batch.
  EXPECT_EQ(rec.batch_rows, (std::vector<int64_t>{4}));
}

TEST(DynamicBatcherTest, NeverExceedsMaxBatchSize) {
  Recorder rec;
  rec.gate = rec.gate_open.get_future().share();
  DynamicBatcher b(opts(4, 50ms), rec.executor());
  std::vector<std::future<Expected<std::vector<NamedValue>>>> futures;
  // The first request holds the single instance; the rest queue up behind it.
  futures.push_back(submit(b, rows_input({1, 1}, 0)));
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 7; ++i) futures.push_back(submit(b, rows_input({i % 2 + 1, 1}, 0)));
  rec.gate_open.set_value();
  for (auto& f : futures) ASSERT_TRUE(f.get().ok());
  int64_t total = 0;
  for (int64_t r : rec.batch_rows) {
    EXPECT_LE(r, 4);
    total += r;
  }
  EXPECT_EQ(total, 1 + 1 + 2 + 1 + 2 + 1 + 2 + 1);
  EXPECT_LT(rec.batch_rows.size(), 8u);  // some merging happened
}

TEST(DynamicBatcherTest, BatchSizesArePowersOfTwoPreferredAndMax) {
  EXPECT_EQ(batch_sizes_for(32, {}), (std::vector<int64_t>{1, 2, 4, 8, 16, 32}));
  EXPECT_EQ(batch_sizes_for(12, {6, 8, 40}), (std::vector<int64_t>{1, 2, 4, 6, 8, 12}));
  EXPECT_EQ(batch_sizes_for(1, {}), (std::vector<int64_t>{1}));
  EXPECT_TRUE(batch_sizes_for(0, {4}).empty());
}

TEST(DynamicBatcherTest, BatchesOnlyTakeAllowedSizesAndEveryRequestGetsItsRows) {
  Recorder rec;
  rec.gate = rec.gate_open.get_future().share();
  BatcherOptions o = opts(8, 20ms);
  o.batch_sizes = batch_sizes_for(8, {});
  DynamicBatcher b(o, rec.executor());
  std::vector<std::future<Expected<std::vector<NamedValue>>>> futures;
  // The first request holds the single instance; seven one-row requests queue up behind it.
  futures.push_back(submit(b, rows_input({1, 1}, 0)));
  std::this_thread::sleep_for(100ms);
  for (int i = 1; i < 8; ++i) futures.push_back(submit(b, rows_input({1, 1}, static_cast<float>(i))));
  rec.gate_open.set_value();
  for (size_t i = 0; i < futures.size(); ++i) {
    auto out = futures[i].get();
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    EXPECT_EQ((*out)[0].value.tensor().data<float>()[0], 2.0f * static_cast<float>(i));
  }
  // 1 alone, then the 7 queued go as 4, 2 and 1: never 7, a size the model was not warmed up for.
  EXPECT_EQ(rec.batch_rows, (std::vector<int64_t>{1, 4, 2, 1}));
}

TEST(DynamicBatcherTest, FullBatchDispatchesWithoutWaitingForTheDelay) {
  Recorder rec;
  DynamicBatcher b(opts(2, 10s), rec.executor());
  auto start = Clock::now();
  auto f1 = submit(b, rows_input({1, 1}, 0));
  auto f2 = submit(b, rows_input({1, 1}, 1));
  ASSERT_TRUE(f1.get().ok());
  ASSERT_TRUE(f2.get().ok());
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST(DynamicBatcherTest, PartialBatchRunsAfterTheQueueDelay) {
  Recorder rec;
  DynamicBatcher b(opts(8, 30ms), rec.executor());
  auto start = Clock::now();
  auto out = submit(b, rows_input({3, 1}, 0)).get();
  ASSERT_TRUE(out.ok());
  EXPECT_GE(Clock::now() - start, 30ms);
  EXPECT_EQ(rec.batch_rows, (std::vector<int64_t>{3}));
}

// One request at a time: after a few waits that gathered nothing, a batch goes at once instead of
// after the queue delay; every few batches still wait (a probe for parallel requests), and requests
// that are queued together still merge.
TEST(DynamicBatcherTest, AfterWaitsThatGatheredNothingBatchesGoAtOnce) {
  Recorder rec;
  DynamicBatcher b(opts(8, 300ms), rec.executor());
  auto timed = [&b] {
    const auto start = Clock::now();
    EXPECT_TRUE(submit(b, rows_input({1, 1}, 0)).get().ok());
    return Clock::now() - start;
  };
  for (int i = 0; i < 4; ++i) EXPECT_GE(timed(), 300ms) << "wait " << i;
  int at_once = 0;
  for (int i = 0; i < 7; ++i) at_once += timed() < 150ms ? 1 : 0;
  EXPECT_EQ(at_once, 7);
  EXPECT_GE(timed(), 300ms) << "the probe waits";
  // A gate holds the worker's run while two requests queue: they go together.
  rec.gate = rec.gate_open.get_future().share();
  auto first = submit(b, rows_input({1, 1}, 0));
  while (rec.at_gate.load() == 0) std::this_thread::sleep_for(1ms);  // the first runs alone
  auto second = submit(b, rows_input({1, 1}, 0));
  auto third = submit(b, rows_input({1, 1}, 0));
  rec.gate_open.set_value();
  for (auto* f : {&first, &second, &third}) EXPECT_TRUE(f->get().ok());
  EXPECT_EQ(rec.batch_rows.back(), 2) << "the two queued behind the first merge";
}

TEST(DynamicBatcherTest, PreferredSizeDispatchesEarly) {
  Recorder rec;
  BatcherOptions o = opts(8, 10s);
  o.preferred_batch_sizes = {2};
  DynamicBatcher b(o, rec.executor());
  auto start = Clock::now();
  ASSERT_TRUE(submit(b, rows_input({2, 1}, 0)).get().ok());
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST(DynamicBatcherTest, DifferentNonBatchShapesAreNotMerged) {
  Recorder rec;
  DynamicBatcher b(opts(8, 100ms), rec.executor());
  auto f1 = submit(b, rows_input({1, 2}, 0));
  auto f2 = submit(b, rows_input({1, 3}, 0));
  auto f3 = submit(b, rows_input({1, 2}, 5));
  auto r1 = f1.get(), r2 = f2.get(), r3 = f3.get();
  ASSERT_TRUE(r1.ok() && r2.ok() && r3.ok());
  EXPECT_EQ((*r2)[0].value.tensor().shape(), (Shape{1, 3}));
  EXPECT_EQ((*r3)[0].value.tensor().data<float>()[0], 10.0f);
  std::sort(rec.batch_rows.begin(), rec.batch_rows.end());
  EXPECT_EQ(rec.batch_rows, (std::vector<int64_t>{1, 2}));  // [1,2]+[1,2] merged, [1,3] alone
}

TEST(DynamicBatcherTest, NoBatchingRunsEachRequestAlone) {
  Recorder rec;
  DynamicBatcher b(opts(0, 100ms), rec.executor());
  auto f1 = submit(b, rows_input({2, 2}, 0));
  auto f2 = submit(b, rows_input({2, 2}, 0));
  ASSERT_TRUE(f1.get().ok());
  ASSERT_TRUE(f2.get().ok());
  EXPECT_EQ(rec.batch_rows, (std::vector<int64_t>{2, 2}));
}

// A worker's OpenMP team threads stay while it has work and go once it is idle, so that they do not
// count against the cores while other models compute (release_team_threads, exec/run_threads.h).
TEST(DynamicBatcherTest, AnIdleWorkerGivesBackItsTeamThreads) {
  const int before = testing::process_threads();
  BatcherOptions o = opts(0, 0ms);
  o.idle_before_team_release = 20ms;
  std::atomic<int> team{0};
  DynamicBatcher b(o, [&team](const std::vector<NamedValue>& in, const RunOptions&) -> Expected<std::vector<NamedValue>> {
    omp_set_dynamic(0);
    int seen = 0;
#pragma omp parallel num_threads(3) reduction(+ : seen)
    seen += 1;
    team = seen;
    return std::vector<NamedValue>{{"y", in[0].value}};
  });
  ASSERT_TRUE(submit(b, rows_input({1, 2}, 0)).get().ok());
  EXPECT_EQ(team.load(), 3);
  // The worker (started with the batcher) and, until it idles, its two team threads.
  EXPECT_EQ(testing::process_threads_settled(before + 1), before + 1);
  ASSERT_TRUE(submit(b, rows_input({1, 2}, 0)).get().ok());  // a new team, released again
  EXPECT_EQ(team.load(), 3);
  EXPECT_EQ(testing::process_threads_settled(before + 1), before + 1);
}

TEST(DynamicBatcherTest, QueuedPastDeadlineFailsDeadlineExceeded) {
  Recorder rec;
  rec.gate = rec.gate_open.get_future().share();
  DynamicBatcher b(opts(0, 0us), rec.executor());
  auto blocker = submit(b, rows_input({1, 1}, 0));
  std::this_thread::sleep_for(50ms);
  auto late = submit(b, rows_input({1, 1}, 0), Clock::now() + 10ms);
  std::this_thread::sleep_for(50ms);
  rec.gate_open.set_value();
  ASSERT_TRUE(blocker.get().ok());
  auto out = late.get();
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(out.status().message().find("timed out"), std::string::npos);
  EXPECT_EQ(rec.batch_rows.size(), 1u);  // only the blocker ran
}

TEST(DynamicBatcherTest, QueuedRequestOfAClientGoneFailsCancelledWithoutRunning) {
  Recorder rec;
  rec.gate = rec.gate_open.get_future().share();
  DynamicBatcher b(opts(0, 0us), rec.executor());
  auto blocker = submit(b, rows_input({1, 1}, 0));
  auto gone = std::make_shared<Cancellation>();
  auto p = std::make_shared<std::promise<Expected<std::vector<NamedValue>>>>();
  auto cancelled = p->get_future();
  ASSERT_TRUE(b.submit(
                   rows_input({1, 1}, 0), Clock::time_point::max(),
                   [p](Expected<std::vector<NamedValue>> out, const RequestTiming&) { p->set_value(std::move(out)); },
                   gone)
                  .ok());
  while (b.queued() > 1) std::this_thread::yield();  // the worker took the blocker; this one waits
  gone->cancel();
  // Answered by cancel() itself, while the only worker is still busy with the blocker.
  ASSERT_EQ(cancelled.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(b.queued(), 0u);
  rec.gate_open.set_value();
  ASSERT_TRUE(blocker.get().ok());
  auto out = cancelled.get();
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(rec.batch_rows.size(), 1u);  // only the blocker ran
}

TEST(DynamicBatcherTest, RunStopsAtItsRequestsDeadlineAndCancellation) {
  std::mutex mu;
  std::vector<RunOptions> seen;
  auto executor = [&](const std::vector<NamedValue>& in, const RunOptions& o) -> Expected<std::vector<NamedValue>> {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(o);
    return std::vector<NamedValue>{{"y", in[0].value}};
  };
  const Clock::time_point soon = Clock::now() + 1h;
  const Clock::time_point later = soon + 1h;
  auto flag = std::make_shared<Cancellation>();
  {
    // Alone: the run carries the request's deadline and flag.
    DynamicBatcher alone(opts(0, 0us), executor);
    auto p = std::make_shared<std::promise<void>>();
    ASSERT_TRUE(alone
                    .submit(
                        rows_input({1, 1}, 0), soon,
                        [p](Expected<std::vector<NamedValue>>, const RequestTiming&) { p->set_value(); }, flag)
                    .ok());
    p->get_future().wait();
  }
  {
    // Merged: the latest deadline, and no one client's flag alone stops the others' rows.
    DynamicBatcher merged(opts(2, 10s), executor);
    auto p = std::make_shared<std::promise<void>>();
    ASSERT_TRUE(
        merged
            .submit(
                rows_input({1, 1}, 0), soon, [](Expected<std::vector<NamedValue>>, const RequestTiming&) {}, flag)
            .ok());
    ASSERT_TRUE(merged
                    .submit(
                        rows_input({1, 1}, 0), later,
                        [p](Expected<std::vector<NamedValue>>, const RequestTiming&) { p->set_value(); }, flag)
                    .ok());
    p->get_future().wait();
  }
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].deadline, soon);
  EXPECT_EQ(seen[0].cancelled, flag->flag());
  EXPECT_EQ(seen[1].deadline, later);
  EXPECT_EQ(seen[1].cancelled, nullptr);
  EXPECT_TRUE(static_cast<bool>(seen[1].cancel_when));  // stops once both clients are gone
}

// Submits with a cancellation flag and returns a future of the result.
std::future<Expected<std::vector<NamedValue>>> submit_cancellable(
    DynamicBatcher& b, std::vector<NamedValue> in, std::shared_ptr<Cancellation> gone,
    Clock::time_point deadline = Clock::time_point::max()) {
  auto p = std::make_shared<std::promise<Expected<std::vector<NamedValue>>>>();
  auto f = p->get_future();
  Status st = b.submit(
      std::move(in), deadline,
      [p](Expected<std::vector<NamedValue>> out, const RequestTiming&) { p->set_value(std::move(out)); },
      std::move(gone));
  if (!st.ok()) p->set_value(st);
  return f;
}

TEST(DynamicBatcherTest, MergedBatchStopsOnceEveryClientLeft) {
  std::promise<void> started, first_asked;
  std::promise<void> ask_first, ask_second;
  std::shared_future<void> ask_first_f = ask_first.get_future().share();
  std::shared_future<void> ask_second_f = ask_second.get_future().share();
  bool after_one_left = true, after_both_left = false;
  // The run asks whether to stop at points the test picks, as the engine does between nodes.
  auto executor = [&](const std::vector<NamedValue>&, const RunOptions& o) -> Expected<std::vector<NamedValue>> {
    started.set_value();
    if (!o.cancel_when) return Status::Internal("a merged batch of cancellable requests has no cancel_when");
    ask_first_f.wait();
    after_one_left = o.cancel_when();
    first_asked.set_value();
    ask_second_f.wait();
    after_both_left = o.cancel_when();
    return Status::Cancelled("the run was cancelled");
  };
  DynamicBatcher b(opts(2, 10s), executor);
  auto gone1 = std::make_shared<Cancellation>();
  auto gone2 = std::make_shared<Cancellation>();
  auto r1 = submit_cancellable(b, rows_input({1, 1}, 0), gone1);
  auto r2 = submit_cancellable(b, rows_input({1, 1}, 0), gone2);
  started.get_future().wait();  // two rows fill the batch: it runs at once
  gone1->cancel();
  ask_first.set_value();
  first_asked.get_future().wait();
  gone2->cancel();
  ask_second.set_value();
  EXPECT_EQ(r1.get().status().code(), StatusCode::kCancelled);
  EXPECT_EQ(r2.get().status().code(), StatusCode::kCancelled);
  // Read once the run has returned (the results above come after it).
  EXPECT_FALSE(after_one_left);  // the second client still waited for its rows
  EXPECT_TRUE(after_both_left);
}

TEST(DynamicBatcherTest, MergedBatchStopsWhenOneClientLeftAndTheOtherTimedOut) {
  std::promise<void> started;
  std::promise<void> go;
  std::shared_future<void> go_f = go.get_future().share();
  const Clock::time_point deadline = Clock::now() + 500ms;
  auto executor = [&](const std::vector<NamedValue>& in, const RunOptions& o) -> Expected<std::vector<NamedValue>> {
    started.set_value();
    go_f.wait();
    std::this_thread::sleep_until(deadline);
    if (o.cancel_when && o.cancel_when()) return Status::Cancelled("the run was cancelled");
    return std::vector<NamedValue>{{"y", in[0].value}};
  };
  DynamicBatcher b(opts(2, 10s), executor);
  auto gone = std::make_shared<Cancellation>();
  auto left = submit_cancellable(b, rows_input({1, 1}, 0), gone);
  auto timed = submit_cancellable(b, rows_input({1, 1}, 0), std::make_shared<Cancellation>(), deadline);
  started.get_future().wait();
  gone->cancel();
  go.set_value();
  EXPECT_EQ(left.get().status().code(), StatusCode::kCancelled);
  auto out = timed.get();
  ASSERT_FALSE(out.ok());
  // Its client is still there and hears why: its deadline passed, not that it was cancelled.
  EXPECT_EQ(out.status().code(), StatusCode::kDeadlineExceeded) << out.status().to_string();
  EXPECT_NE(out.status().message().find("timed out while its batch ran"), std::string::npos);
}

TEST(DynamicBatcherTest, RequestCancelledWhileItsBatchFormsIsAnsweredAtOnceAndDoesNotRun) {
  Recorder rec;
  DynamicBatcher b(opts(4, 1h), rec.executor());  // a batch that would wait an hour for company
  auto gone = std::make_shared<Cancellation>();
  auto first = submit_cancellable(b, rows_input({1, 1}, 0), gone);  // opens a batch that waits for more
  auto second = submit(b, rows_input({1, 1}, 10));
  gone->cancel();
  ASSERT_EQ(first.wait_for(1min), std::future_status::ready);  // long before the hour is up
  EXPECT_EQ(first.get().status().code(), StatusCode::kCancelled);
  auto third = submit(b, rows_input({1, 1}, 20));
  auto fourth = submit(b, rows_input({1, 1}, 30));
  auto fifth = submit(b, rows_input({1, 1}, 40));  // four rows still waited for: the batch is full and goes
  for (auto* f : {&second, &third, &fourth, &fifth}) {
    auto out = f->get();
    ASSERT_TRUE(out.ok()) << out.status().to_string();
  }
  EXPECT_EQ(rec.batch_rows, (std::vector<int64_t>{4}));
}

TEST(DynamicBatcherTest, BatchWhoseClientsAllLeftWhileItFormedIsGivenUp) {
  Recorder rec;
  DynamicBatcher b(opts(4, 1h), rec.executor());
  auto gone1 = std::make_shared<Cancellation>();
  auto gone2 = std::make_shared<Cancellation>();
  auto r1 = submit_cancellable(b, rows_input({1, 1}, 0), gone1);
  auto r2 = submit_cancellable(b, rows_input({1, 1}, 10), gone2);
  gone1->cancel();
  gone2->cancel();
  ASSERT_EQ(r1.wait_for(1min), std::future_status::ready);
  ASSERT_EQ(r2.wait_for(1min), std::future_status::ready);
  EXPECT_EQ(r1.get().status().code(), StatusCode::kCancelled);
  EXPECT_EQ(r2.get().status().code(), StatusCode::kCancelled);
  b.shutdown();  // runs whatever is still queued or forming, without the queue delay: nothing is
  EXPECT_TRUE(rec.batch_rows.empty());
}

TEST(DynamicBatcherTest, RequestCancelledBeforeItIsSubmittedIsAnsweredWithoutQueueing) {
  Recorder rec;
  DynamicBatcher b(opts(4, 1h), rec.executor());
  auto gone = std::make_shared<Cancellation>();
  gone->cancel();
  auto r = submit_cancellable(b, rows_input({1, 1}, 0), gone);
  ASSERT_EQ(r.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(r.get().status().code(), StatusCode::kCancelled);
  EXPECT_EQ(b.queued(), 0u);
}

TEST(DynamicBatcherTest, CancellationOutlivingItsBatcherIsHarmless) {
  Recorder rec;
  auto gone = std::make_shared<Cancellation>();
  {
    DynamicBatcher b(opts(0, 0us), rec.executor());
    ASSERT_TRUE(submit_cancellable(b, rows_input({1, 1}, 0), gone).get().ok());
  }
  gone->cancel();  // the batcher it listened to is gone (a frontend keeps its flag beyond an unload)
  EXPECT_TRUE(gone->cancelled());
}

TEST(DynamicBatcherTest, RequestExpiringWhileItsBatchFormsIsAnsweredAtItsDeadline) {
  Recorder rec;
  DynamicBatcher b(opts(4, 1h), rec.executor());  // a batch that would wait an hour for company
  auto late = submit(b, rows_input({1, 1}, 0), Clock::now() + 10ms);
  ASSERT_EQ(late.wait_for(1min), std::future_status::ready);  // long before the hour is up
  EXPECT_EQ(late.get().status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(rec.batch_rows.empty());
}

TEST(DynamicBatcherTest, FullQueueRejects) {
  Recorder rec;
  rec.gate = rec.gate_open.get_future().share();
  BatcherOptions o = opts(0, 0us);
  o.max_queue_size = 1;
  DynamicBatcher b(o, rec.executor());
  auto running = submit(b, rows_input({1, 1}, 0));
  std::this_thread::sleep_for(50ms);
  auto queued = submit(b, rows_input({1, 1}, 0));
  auto rejected = submit(b, rows_input({1, 1}, 0)).get();
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), StatusCode::kUnavailable);
  rec.gate_open.set_value();
  EXPECT_TRUE(running.get().ok());
  EXPECT_TRUE(queued.get().ok());
}

TEST(DynamicBatcherTest, ShutdownDrainsQueuedRequests) {
  Recorder rec;
  std::atomic<int> done{0};
  {
    DynamicBatcher b(opts(4, 10s), rec.executor());
    for (int i = 0; i < 6; ++i) {
      ASSERT_TRUE(b.submit(rows_input({1, 1}, 0), Clock::time_point::max(),
                           [&](Expected<std::vector<NamedValue>> out, const RequestTiming&) {
                             if (out.ok()) ++done;
                           })
                      .ok());
    }
    b.shutdown();  // must not wait the 10s delay
    EXPECT_EQ(b.submit(rows_input({1, 1}, 0), Clock::time_point::max(), nullptr).code(), StatusCode::kUnavailable);
  }
  EXPECT_EQ(done.load(), 6);
}

TEST(DynamicBatcherTest, ModelErrorReachesEveryRequestOfTheBatch) {
  DynamicBatcher b(opts(4, 50ms),
                   [](const std::vector<NamedValue>&, const RunOptions&) -> Expected<std::vector<NamedValue>> {
                     return Status::InvalidArgument("node 'n': boom");
                   });
  auto f1 = submit(b, rows_input({1, 1}, 0));
  auto f2 = submit(b, rows_input({1, 1}, 0));
  auto r1 = f1.get();
  auto r2 = f2.get();
  ASSERT_FALSE(r1.ok());
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r1.status().message().find("model 'm' version 1"), std::string::npos);
}

TEST(DynamicBatcherTest, OutputWithoutBatchDimensionFails) {
  DynamicBatcher b(opts(4, 50ms),
                   [](const std::vector<NamedValue>&, const RunOptions&) -> Expected<std::vector<NamedValue>> {
                     return std::vector<NamedValue>{{"y", Value(Tensor::scalar<float>(1))}};
                   });
  auto f1 = submit(b, rows_input({1, 1}, 0));
  auto f2 = submit(b, rows_input({1, 1}, 0));
  EXPECT_EQ(f1.get().status().code(), StatusCode::kInternal);
  EXPECT_EQ(f2.get().status().code(), StatusCode::kInternal);
}

TEST(DynamicBatcherTest, SharedComputeBudgetCapsRunsAcrossBatchers) {
  auto budget = std::make_shared<ComputeBudget>(1);
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  auto executor = [&](const std::vector<NamedValue>& in, const RunOptions&) -> Expected<std::vector<NamedValue>> {
    const int now = ++running;
    most = std::max(most.load(), now);
    std::this_thread::sleep_for(20ms);
    --running;
    return std::vector<NamedValue>{{"y", in[0].value}};
  };
  BatcherOptions o = opts(0, 0us);
  o.instance_count = 2;
  o.budget = budget;
  DynamicBatcher a(o, executor);
  DynamicBatcher b(o, executor);
  std::vector<std::future<Expected<std::vector<NamedValue>>>> futures;
  for (int i = 0; i < 4; ++i) {
    futures.push_back(submit(a, rows_input({1, 1}, 0)));
    futures.push_back(submit(b, rows_input({1, 1}, 0)));
  }
  for (auto& f : futures) ASSERT_TRUE(f.get().ok());
  EXPECT_EQ(most.load(), 1);  // four workers, one slot: never two model runs at once
}

TEST(DynamicBatcherTest, ComputeBudgetCountsEachRunsIntraOpThreads) {
  // Two models on a budget of 4 threads, one running with 3 intra-op threads, one with 2: however the
  // workers interleave, the threads computing at once never exceed 4, so a 3 and a 2 never overlap.
  auto budget = std::make_shared<ComputeBudget>(4);
  std::mutex mu;
  int threads_now = 0;
  int threads_most = 0;
  auto executor_with = [&](int threads) {
    return [&, threads](const std::vector<NamedValue>& in, const RunOptions&) -> Expected<std::vector<NamedValue>> {
      {
        std::lock_guard<std::mutex> lock(mu);
        threads_now += threads;
        threads_most = std::max(threads_most, threads_now);
      }
      std::this_thread::sleep_for(2ms);  // widen the window in which runs could overlap
      {
        std::lock_guard<std::mutex> lock(mu);
        threads_now -= threads;
      }
      return std::vector<NamedValue>{{"y", in[0].value}};
    };
  };
  BatcherOptions o3 = opts(0, 0us);
  o3.instance_count = 3;
  o3.budget = budget;
  o3.threads_per_run = 3;
  BatcherOptions o2 = o3;
  o2.threads_per_run = 2;
  DynamicBatcher a(o3, executor_with(3));
  DynamicBatcher b(o2, executor_with(2));
  std::vector<std::future<Expected<std::vector<NamedValue>>>> futures;
  for (int i = 0; i < 12; ++i) {
    futures.push_back(submit(a, rows_input({1, 1}, 0)));
    futures.push_back(submit(b, rows_input({1, 1}, 0)));
  }
  for (auto& f : futures) ASSERT_TRUE(f.get().ok());
  EXPECT_LE(threads_most, 4);
  EXPECT_LE(budget->peak(), 4);
  EXPECT_GE(budget->peak(), 3);
}

TEST(DynamicBatcherTest, SplitBatchRunsPartsSideBySideOnOneThreadEach) {
  std::mutex mu;
  std::vector<int64_t> part_rows;
  std::vector<int> part_threads;
  std::atomic<int> running{0};
  int most_running = 0;
  std::promise<void> gate_open;
  std::shared_future<void> gate = gate_open.get_future().share();
  auto executor = [&](const std::vector<NamedValue>& in, const RunOptions& o) -> Expected<std::vector<NamedValue>> {
    gate.wait();
    const int now = ++running;
    std::this_thread::sleep_for(20ms);  // long enough for the other part to start meanwhile
    Tensor x = in[0].value.tensor();
    Tensor y(DataType::kFloat32, x.shape());
    for (int64_t i = 0; i < x.size(); ++i) y.data<float>()[i] = x.data<float>()[i] * 2;
    {
      std::lock_guard<std::mutex> lock(mu);
      most_running = std::max(most_running, now);
      part_rows.push_back(x.dim(0));
      part_threads.push_back(o.intra_op_threads);
    }
    --running;
    return std::vector<NamedValue>{{"y", Value(y)}};
  };
  std::mutex exec_mu;
  std::vector<DynamicBatcher::Execution> executions;
  BatcherOptions o = opts(8, 20ms);
  o.batch_sizes = batch_sizes_for(8, {});
  o.threads_per_run = 2;
  o.split_parts = 2;
  DynamicBatcher b(o, executor, [&](const DynamicBatcher::Execution& e) {
    std::lock_guard<std::mutex> lock(exec_mu);
    executions.push_back(e);
  });
  std::vector<std::future<Expected<std::vector<NamedValue>>>> futures;
  // The first request holds the instance; eight one-row requests queue up and form one batch of 8.
  futures.push_back(submit(b, rows_input({1, 1}, 100)));
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 8; ++i) futures.push_back(submit(b, rows_input({1, 1}, static_cast<float>(i))));
  gate_open.set_value();
  for (size_t i = 0; i < futures.size(); ++i) {
    auto out = futures[i].get();
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    const float x = i == 0 ? 100.0f : static_cast<float>(i - 1);
    EXPECT_EQ((*out)[0].value.tensor().data<float>()[0], 2 * x) << "request " << i;
  }
  std::lock_guard<std::mutex> lock(mu);
  // The single request ran whole on the run's threads; the batch of 8 as two parts of 4, one thread each.
  ASSERT_EQ(part_rows, (std::vector<int64_t>{1, 4, 4}));
  EXPECT_EQ(part_threads, (std::vector<int>{0, 1, 1}));
  EXPECT_EQ(most_running, 2);
  std::lock_guard<std::mutex> exec_lock(exec_mu);
  ASSERT_EQ(executions.size(), 2u);  // a split batch is still one execution of its 8 rows
  EXPECT_EQ(executions[1].rows, 8);
  EXPECT_EQ(executions[1].requests, 8u);
  EXPECT_TRUE(executions[1].succeeded);
}

// While runs are short, a worker runs a lone request on one thread and takes one thread of the
// budget; once they are not, on the version's whole team again.
TEST(DynamicBatcherTest, ShortRunsComputeOnOneThreadUntilRunsGrowLonger) {
  std::mutex mu;
  std::vector<int> threads;
  std::atomic<int> budget_free_during_run{-1};
  std::atomic<bool> slow{false};
  auto budget = std::make_shared<ComputeBudget>(2);
  auto executor = [&](const std::vector<NamedValue>& in, const RunOptions& o) -> Expected<std::vector<NamedValue>> {
    if (slow) std::this_thread::sleep_for(5ms);
    std::lock_guard<std::mutex> lock(mu);
    threads.push_back(o.intra_op_threads);
    {
      ComputeBudget::Slot probe(budget.get(), 1, std::try_to_lock);  // is a thread left for another run?
      if (threads.size() == 1) budget_free_during_run = probe.owns_threads() ? 1 : 0;
    }
    return std::vector<NamedValue>{{"y", in[0].value}};
  };
  BatcherOptions o = opts(0, 0us);
  o.threads_per_run = 2;
  o.budget = budget;
  o.single_thread_runs_below = 1ms;
  o.single_thread_input_bytes = 4;  // one float: the two-row request below is larger
  DynamicBatcher b(o, executor);
  ASSERT_TRUE(submit(b, rows_input({1, 1}, 1)).get().ok());
  ASSERT_TRUE(submit(b, rows_input({2, 1}, 1)).get().ok());  // larger than allowed: the whole team
  slow = true;  // runs of 5 ms or more (a busy machine oversleeps)
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(submit(b, rows_input({1, 1}, 1)).get().ok());
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(threads.size(), 6u);
  EXPECT_EQ(threads[0], kInlineThreads);
  EXPECT_EQ(threads[1], 0);
  EXPECT_EQ(threads[2], kInlineThreads);  // decided on the average of the fast runs
  // The average (over about 8 runs) passes 1 ms after one slow run that took 8 ms or more, and after
  // two whatever they took: the run after those is the whole team's.
  EXPECT_EQ(threads[4], 0);
  EXPECT_EQ(threads[5], 0);
  EXPECT_EQ(budget_free_during_run.load(), 1);
}

TEST(DynamicBatcherTest, SplitBatchPartFailureReachesOnlyItsRequests) {
  auto executor = [](const std::vector<NamedValue>& in, const RunOptions&) -> Expected<std::vector<NamedValue>> {
    const Tensor& x = in[0].value.tensor();
    for (int64_t i = 0; i < x.size(); ++i) {
      if (x.data<float>()[i] < 0) return Status::InvalidArgument("negative input");
    }
    return std::vector<NamedValue>{{"y", in[0].value}};
  };
  BatcherOptions o = opts(4, 200ms);
  o.split_parts = 2;
  DynamicBatcher b(o, executor);
  std::vector<std::future<Expected<std::vector<NamedValue>>>> futures;
  for (float x : {1.0f, 2.0f, -3.0f, 4.0f}) futures.push_back(submit(b, rows_input({1, 1}, x)));
  std::vector<bool> ok;
  for (auto& f : futures) ok.push_back(f.get().ok());
  // Parts {1, 2} and {-3, 4}: the second fails as a whole, the first is answered.
  EXPECT_EQ(ok, (std::vector<bool>{true, true, false, false}));
}

}  // namespace
}  // namespace kiln::serve
