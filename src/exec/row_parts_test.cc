// run_row_parts: a batch cut into parts, run side by side and stacked back, equals the whole run.
#include "exec/row_parts.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <mutex>
#include <set>
#include <thread>

#include "opt/pass_test_util.h"

namespace kiln {
namespace {

using opt::testing::make;

// x [batch, 3, 6, 6] -> Conv(4 channels, 3x3) -> Relu -> GlobalAveragePool -> Flatten -> y [batch, 4];
// z = x's second input passed whole (not a row input): y2 = y * scale.
ir::Graph small_cnn() {
  ir::Graph g;
  g.inputs = {opt::testing::float_value("x"), opt::testing::float_value("scale")};
  g.outputs = {opt::testing::float_value("y"), opt::testing::float_value("y2")};
  g.initializers["w"] = opt::testing::ramp({4, 3, 3, 3}, 0.05f, -0.6f);
  g.nodes = {make("Conv", {"x", "w"}, {"c"}), make("Relu", {"c"}, {"r"}), make("GlobalAveragePool", {"r"}, {"p"}),
             make("Flatten", {"p"}, {"y"}), make("Mul", {"y", "scale"}, {"y2"})};
  return g;
}

struct Parts : ::testing::TestWithParam<std::pair<int64_t, int>> {};

TEST_P(Parts, EqualTheWholeRun) {
  const auto [rows, parts] = GetParam();
  const ir::Graph graph = small_cnn();  // the plan points into it: it must outlive the plan
  auto plan = GraphPlan::build(graph, opt::testing::opsets(), {});
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  const Value x(opt::testing::ramp({rows, 3, 6, 6}, 0.01f, -0.3f));
  const Value scale(Tensor::from_vector<float>({1}, {3.0f}));
  const std::vector<const Value*> inputs{&x, &scale};
  std::vector<Value> whole, cut;
  ASSERT_TRUE((*plan)->run_bound(inputs, nullptr, &whole).ok());
  RunPools pools;
  const Status st = run_row_parts(**plan, pools, inputs, {true, false}, rows, parts, nullptr, &cut);
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_EQ(cut.size(), 2u);
  EXPECT_EQ(cut[0].tensor().shape(), (Shape{rows, 4}));
  opt::testing::expect_close(cut, whole, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(RowParts, Parts,
                         ::testing::Values(std::make_pair<int64_t, int>(8, 2), std::make_pair<int64_t, int>(5, 2),
                                           std::make_pair<int64_t, int>(3, 3), std::make_pair<int64_t, int>(7, 4)));

// y = op(x), one node.
ir::Graph one_node_graph(const std::string& op) {
  ir::Graph g;
  g.inputs = {opt::testing::float_value("x")};
  g.outputs = {opt::testing::float_value("y")};
  g.nodes = {make(op, {"x"}, {"y"})};
  return g;
}

TEST(RowParts, EachPartRunsOnItsOwnThreadWithATeamOfOne) {
  // The timing hook records, per call, the thread and the team size OpenMP reports inside the part.
  const ir::Graph graph = one_node_graph("Relu");  // the plan points into it (the timing hook reads names)
  auto plan = GraphPlan::build(graph, opt::testing::opsets(), {});
  ASSERT_TRUE(plan.ok());
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::set<int> teams;
  RunOptions options;
  options.on_node_timed = [&](const NodeTiming&) {
    std::lock_guard<std::mutex> lock(mu);
    threads.insert(std::this_thread::get_id());
    teams.insert(omp_get_max_threads());
  };
  const Value x(opt::testing::ramp({4, 2}));
  RunPools pools;
  std::vector<Value> out;
  ASSERT_TRUE(run_row_parts(**plan, pools, {&x}, {true}, 4, 2, &options, &out).ok());
  EXPECT_EQ(threads.size(), 2u);
  EXPECT_EQ(teams, std::set<int>{1});
  EXPECT_EQ(out[0].tensor().shape(), (Shape{4, 2}));
}

TEST(RowParts, AnOutputThatDoesNotKeepTheRowsAsksForTheWholeRun) {
  // y = ReduceSum over everything: one value per part, not one per row.
  const ir::Graph graph = one_node_graph("ReduceSum");
  auto plan = GraphPlan::build(graph, opt::testing::opsets(), {});
  ASSERT_TRUE(plan.ok());
  const Value x(opt::testing::ramp({4, 2}));
  RunPools pools;
  std::vector<Value> out;
  EXPECT_EQ(run_row_parts(**plan, pools, {&x}, {true}, 4, 2, nullptr, &out).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace kiln
