#include "opt/pass_manager.h"

#include "kernels/dnnl/channel_block.h"
#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

ir::Model model_of(ir::Graph g) {
  ir::Model m;
  m.opsets = {{"", 17}};
  m.graph = std::move(g);
  m.source = "test.onnx";
  return m;
}

// nn.Linear -> BatchNorm1d -> ReLU: the BN folds into the Gemm first, then the Relu fuses into it.
TEST(OptimizeModel, LinearBatchNormReluBecomesOneFusedGemm) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["w"] = ramp({4, 6}, 0.05f, -0.3f);
  g.initializers["c"] = ramp({4}, 0.2f);
  g.initializers["scale"] = ramp({4}, 0.3f, 0.5f);
  g.initializers["shift"] = ramp({4}, 0.1f);
  g.initializers["mean"] = ramp({4}, 0.2f, -0.1f);
  g.initializers["var"] = ramp({4}, 0.4f, 0.2f);
  g.nodes = {make("Gemm", {"x", "w", "c"}, {"m"}, {ir::Attribute::of_int("transB", 1)}),
             make("BatchNormalization", {"m", "scale", "shift", "mean", "var"}, {"n"}), make("Relu", {"n"}, {"y"})};
  const Tensor x = ramp({3, 6});
  const auto before = run(g, {x});
  ir::Model m = model_of(std::move(g));
  ASSERT_TRUE(optimize_model(m).ok());
  ASSERT_EQ(m.graph.nodes.size(), 1u);
  EXPECT_EQ(m.graph.nodes[0].op_type, "FusedGemm");
  EXPECT_EQ(m.opsets.count("kiln"), 1u);
  EXPECT_EQ(m.graph.initializers.count("w"), 0u) << "initializers nothing reads are dropped";
  expect_close(run(m.graph, {x}), before, 1e-5);
}

// BERT's feed-forward: MatMul -> Add(bias) -> Relu -> MatMul -> Add(bias): two fused nodes.
TEST(OptimizeModel, FeedForwardBecomesTwoFusedMatMuls) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["w1"] = ramp({8, 12}, 0.05f, -0.3f);
  g.initializers["b1"] = ramp({12}, 0.2f);
  g.initializers["w2"] = ramp({12, 8}, 0.04f, -0.2f);
  g.initializers["b2"] = ramp({8}, 0.1f);
  g.nodes = {make("MatMul", {"x", "w1"}, {"p1"}), make("Add", {"b1", "p1"}, {"h1"}), make("Relu", {"h1"}, {"r"}),
             make("MatMul", {"r", "w2"}, {"p2"}), make("Add", {"p2", "b2"}, {"y"})};
  const Tensor x = ramp({2, 5, 8});
  const auto before = run(g, {x});
  ir::Model m = model_of(std::move(g));
  ASSERT_TRUE(optimize_model(m).ok());
  ASSERT_EQ(m.graph.nodes.size(), 2u);
  EXPECT_EQ(m.graph.nodes[0].op_type, "FusedMatMul");
  EXPECT_EQ(m.graph.nodes[0].attr_string("activation"), "Relu");
  EXPECT_EQ(m.graph.nodes[1].op_type, "FusedMatMul");
  expect_close(run(m.graph, {x}), before, 1e-5);
}

// A CNN takes the blocked layout in the process's channel block (16 with AVX-512, 8 with AVX2 or
// KILN_CHANNEL_BLOCK=8, none below SSE4.1 or with KILN_CHANNEL_BLOCK=0) and computes what it did.
TEST(OptimizeModel, CnnRunsInTheProcessChannelBlock) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["w0"] = ramp({20, 3, 3, 3}, 0.03f, -0.2f);
  g.initializers["w1"] = ramp({24, 20, 3, 3}, 0.01f, -0.06f);
  g.nodes = {make("Conv", {"x", "w0"}, {"a"}, {ints("pads", {1, 1, 1, 1})}), make("Relu", {"a"}, {"r"}),
             make("Conv", {"r", "w1"}, {"y"})};
  const Tensor x = ramp({2, 3, 9, 9});
  const auto before = run(g, {x});
  ir::Model m = model_of(std::move(g));
  ASSERT_TRUE(optimize_model(m).ok());
  const int64_t block = dnnl_kernels::process_channel_block();
  EXPECT_EQ(count_op(m.graph, "BlockedConv"), block > 0 ? 2 : 0);
  for (const ir::Node& n : m.graph.nodes) {
    if (n.op_type == "BlockedConv" && n.attr_string("input_layout") == "plain") {
      EXPECT_EQ(n.attr_int("channel_block", 0), block);
    }
  }
  expect_close(run(m.graph, {x}), before, 1e-4);
}

}  // namespace
}  // namespace kiln::opt
