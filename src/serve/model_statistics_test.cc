// ModelStatistics: Triton's counting rules. Failures count only in `fail`; queue and compute_* count
// successful requests; executions count rows and runs, one batch_stats row per batch size.
#include "serve/model_statistics.h"

#include <gtest/gtest.h>

namespace kiln::serve {
namespace {

using namespace std::chrono_literals;

RequestTiming timing(Clock::duration queue, Clock::duration infer) {
  RequestTiming t;
  t.queue = queue;
  t.compute_infer = infer;
  return t;
}

TEST(ModelStatisticsTest, FollowsTritonsCountingRules) {
  ModelStatistics stats;
  EXPECT_EQ(stats.snapshot().last_inference_ms, 0u);
  stats.record_execution({/*rows=*/3, /*requests=*/2, /*succeeded=*/true, timing(0ns, 5us)});
  stats.record_request(true, 10us, timing(2us, 5us));
  stats.record_request(true, 12us, timing(3us, 5us));
  stats.record_execution({/*rows=*/1, /*requests=*/1, /*succeeded=*/true, timing(0ns, 4us)});
  stats.record_request(true, 8us, timing(1us, 4us));
  stats.record_execution({/*rows=*/3, /*requests=*/1, /*succeeded=*/false, timing(0ns, 1us)});
  stats.record_request(false, 7us, timing(1us, 1us));

  const ModelStatisticsSnapshot s = stats.snapshot();
  EXPECT_GT(s.last_inference_ms, 0u);
  EXPECT_EQ(s.inference_count, 4u);  // rows of successful executions
  EXPECT_EQ(s.execution_count, 2u);
  EXPECT_EQ(s.success.count, 3u);
  EXPECT_EQ(s.success.ns, 30000u);
  EXPECT_EQ(s.fail.count, 1u);
  EXPECT_EQ(s.fail.ns, 7000u);
  EXPECT_EQ(s.queue.count, 3u);  // the failed request's queue time is not counted
  EXPECT_EQ(s.queue.ns, 6000u);
  EXPECT_EQ(s.compute_infer.count, 3u);
  EXPECT_EQ(s.compute_infer.ns, 14000u);
  ASSERT_EQ(s.batch_stats.size(), 2u);
  EXPECT_EQ(s.batch_stats[0].batch_size, 1u);
  EXPECT_EQ(s.batch_stats[0].compute_infer.count, 1u);
  EXPECT_EQ(s.batch_stats[1].batch_size, 3u);
  EXPECT_EQ(s.batch_stats[1].compute_infer.count, 1u);  // the failed batch of 3 is not counted
  EXPECT_EQ(s.batch_stats[1].compute_infer.ns, 5000u);
}

}  // namespace
}  // namespace kiln::serve
