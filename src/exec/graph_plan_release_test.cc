// The plan lets go of initializers that every reader packed (Kernel::releases_constant), and only those.
// Each test overwrites the released weights with NaN after building: a kernel that still read them would
// produce NaN, so equal results show the packed copy alone serves, the reference fallback included.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "exec/graph_plan.h"
#include "opt/pass_test_util.h"

namespace kiln {
namespace {

using opt::testing::float_value;
using opt::testing::make;
using opt::testing::ramp;

// C = A x B for row-major A [M, K] and B [K, N] (B transposed: [N, K]).
std::vector<float> matmul(const Tensor& a, const Tensor& b, bool trans_b) {
  const int64_t M = a.dim(0), K = a.dim(1), N = trans_b ? b.dim(0) : b.dim(1);
  std::vector<float> c(static_cast<size_t>(M * N), 0.f);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      for (int64_t k = 0; k < K; ++k) {
        c[static_cast<size_t>(i * N + j)] +=
            a.data<float>()[i * K + k] * b.data<float>()[trans_b ? j * K + k : k * N + j];
      }
    }
  }
  return c;
}

void expect_near(const Value& v, const std::vector<float>& want) {
  ASSERT_TRUE(v.is_tensor());
  const Tensor& t = v.tensor();
  ASSERT_EQ(t.size(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(t.data<float>()[i], want[i], 1e-4f) << "at " << i;
}

void poison(Tensor& t) {
  for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = std::numeric_limits<float>::quiet_NaN();
}

std::unique_ptr<GraphPlan> build(const ir::Graph& g) {
  auto plan = GraphPlan::build(g, opt::testing::opsets(), {});
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  return plan.ok() ? std::move(plan).value() : nullptr;
}

TEST(GraphPlanRelease, PackedMatMulWeightsAreReleasedAndResultsUnchanged) {
  ir::Graph g;
  g.inputs = {float_value("X")};
  g.outputs = {float_value("Y")};
  Tensor w = ramp({4, 5});
  const Tensor w_copy = w.clone();
  g.initializers["W"] = w;
  g.nodes = {make("MatMul", {"X", "W"}, {"Y"})};
  auto built = GraphPlan::build(g, opt::testing::opsets(), {}, &g);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  std::unique_ptr<GraphPlan> plan = std::move(built).value();
  EXPECT_EQ(plan->released_initializers(), std::vector<std::string>{"W"});
  EXPECT_EQ(g.initializers.count("W"), 0u);  // the owner let go of it too
  poison(w);
  const Tensor x = ramp({3, 4}, 0.2f, -1.f);
  std::vector<Value> out;
  ASSERT_TRUE(plan->run({Value(x)}, nullptr, &out).ok());
  expect_near(out[0], matmul(x, w_copy, false));
}

TEST(GraphPlanRelease, GemmFallbackToTheReferenceReadsTheUnpackedWeights) {
  // beta = 0 with a runtime C of shape [M, N] is a case the oneDNN Gemm leaves to the reference.
  ir::Graph g;
  g.inputs = {float_value("A"), float_value("C")};
  g.outputs = {float_value("Y")};
  Tensor w = ramp({5, 4});  // [N, K], transB
  const Tensor w_copy = w.clone();
  g.initializers["W"] = w;
  g.nodes = {
      make("Gemm", {"A", "W", "C"}, {"Y"}, {ir::Attribute::of_int("transB", 1), opt::testing::real("beta", 0.f)})};
  std::unique_ptr<GraphPlan> plan = build(g);
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->released_initializers(), std::vector<std::string>{"W"});
  g.initializers.erase("W");
  poison(w);
  const Tensor a = ramp({3, 4}, 0.2f, -1.f);
  std::vector<Value> out;
  ASSERT_TRUE(plan->run({Value(a), Value(ramp({3, 5}))}, nullptr, &out).ok());
  expect_near(out[0], matmul(a, w_copy, true));
}

TEST(GraphPlanRelease, AConstantAnotherKernelReadsIsKept) {
  ir::Graph g;
  g.inputs = {float_value("X")};
  g.outputs = {float_value("Y"), float_value("Z")};
  g.initializers["W"] = ramp({4, 5});
  g.nodes = {make("MatMul", {"X", "W"}, {"Y"}), make("Relu", {"W"}, {"Z"})};
  std::unique_ptr<GraphPlan> plan = build(g);
  ASSERT_NE(plan, nullptr);
  EXPECT_TRUE(plan->released_initializers().empty());
}

TEST(GraphPlanRelease, AConstantThatIsAGraphOutputIsKept) {
  ir::Graph g;
  g.inputs = {float_value("X")};
  g.outputs = {float_value("Y"), float_value("W")};
  g.initializers["W"] = ramp({4, 5});
  g.nodes = {make("MatMul", {"X", "W"}, {"Y"})};
  std::unique_ptr<GraphPlan> plan = build(g);
  ASSERT_NE(plan, nullptr);
  EXPECT_TRUE(plan->released_initializers().empty());
  std::vector<Value> out;
  ASSERT_TRUE(plan->run({Value(ramp({3, 4}))}, nullptr, &out).ok());
  EXPECT_EQ(out[1].tensor().size(), 20);
}

TEST(GraphPlanRelease, AnOverridableInitializerIsKept) {
  ir::Graph g;
  g.inputs = {float_value("X"), float_value("W")};
  g.outputs = {float_value("Y")};
  g.initializers["W"] = ramp({4, 5});
  g.nodes = {make("MatMul", {"X", "W"}, {"Y"})};
  std::unique_ptr<GraphPlan> plan = build(g);
  ASSERT_NE(plan, nullptr);
  EXPECT_TRUE(plan->released_initializers().empty());
}

// If(cond) { Y = X x W } else { Y = X x W }, each branch with its own initializer W.
ir::Graph if_with_weights_in_each_branch(const Tensor& w_then, const Tensor& w_else) {
  auto branch = [](const Tensor& w) {
    auto body = std::make_shared<ir::Graph>();
    body->outputs = {float_value("B")};
    body->initializers["W"] = w;
    body->nodes = {make("MatMul", {"X", "W"}, {"B"})};
    return body;
  };
  ir::Attribute then_branch, else_branch;
  then_branch.name = "then_branch";
  else_branch.name = "else_branch";
  then_branch.type = else_branch.type = ir::Attribute::Type::kGraph;
  then_branch.g = branch(w_then);
  else_branch.g = branch(w_else);
  ir::Graph g;
  ir::ValueInfo cond;
  cond.name = "C";
  cond.type.kind = ir::TypeInfo::Kind::kTensor;
  cond.type.elem_type = DataType::kBool;
  g.inputs = {cond, float_value("X")};
  g.outputs = {float_value("Y")};
  g.nodes = {make("If", {"C"}, {"Y"}, {then_branch, else_branch})};
  return g;
}

TEST(GraphPlanRelease, SubgraphWeightsAreReleasedFromTheBodyToo) {
  Tensor w_then = ramp({4, 5}), w_else = ramp({4, 5}, 0.3f, -1.f);
  const Tensor then_copy = w_then.clone(), else_copy = w_else.clone();
  ir::Graph g = if_with_weights_in_each_branch(w_then, w_else);
  auto built = GraphPlan::build(g, opt::testing::opsets(), {}, &g);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  std::unique_ptr<GraphPlan> plan = std::move(built).value();
  EXPECT_EQ(g.nodes[0].attr_graph("then_branch")->initializers.count("W"), 0u);
  EXPECT_EQ(g.nodes[0].attr_graph("else_branch")->initializers.count("W"), 0u);
  poison(w_then);
  poison(w_else);
  const Tensor x = ramp({3, 4}, 0.2f, -1.f);
  for (bool c : {true, false}) {
    Tensor cond(DataType::kBool, {});
    cond.data<bool>()[0] = c;
    std::vector<Value> out;
    ASSERT_TRUE(plan->run({Value(cond), Value(x)}, nullptr, &out).ok());
    expect_near(out[0], matmul(x, c ? then_copy : else_copy, false));
  }
}

TEST(GraphPlanRelease, ABodyAnotherNodeSharesKeepsItsWeights) {
  ir::Graph g = if_with_weights_in_each_branch(ramp({4, 5}), ramp({4, 5}));
  const ir::Node copy = g.nodes[0];  // shares both bodies (shared_ptr), as a copied node would
  auto built = GraphPlan::build(g, opt::testing::opsets(), {}, &g);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  EXPECT_EQ(copy.attr_graph("then_branch")->initializers.count("W"), 1u);
  EXPECT_EQ(copy.attr_graph("else_branch")->initializers.count("W"), 1u);
}

}  // namespace
}  // namespace kiln
