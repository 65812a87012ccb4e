#include "opt/squeeze_excite_test_graph.h"

namespace kiln::opt {
namespace {

using namespace testing;

// Each test runs in both channel blocks (kernels/blocked_layout.h).
class FuseBlockedSqueezeExcite : public ::testing::TestWithParam<int64_t> {};

// The passes that run before this one, in the pass manager's order.
void prepare(ir::Graph& g, int64_t block) {
  ASSERT_TRUE(remove_identity(g, PassContext{opsets()}).ok());
  ASSERT_TRUE(fuse_conv_activation(g, PassContext{opsets()}).ok());
  ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{opsets(), block}).value());
  ASSERT_TRUE(fuse_blocked_conv_swish(g, PassContext{opsets()}).value());
}

TEST_P(FuseBlockedSqueezeExcite, BlockBecomesOneNode) {
  for (bool gate_first : {false, true}) {
    ir::Graph g = squeeze_excite_tail({.gate_first = gate_first});
    const Tensor x = ramp({2, 20, 6, 6});
    const auto before = run(g, {x});
    prepare(g, GetParam());
    ASSERT_TRUE(fuse_blocked_squeeze_excite(g, PassContext{opsets()}).value());
    EXPECT_EQ(count_op(g, "BlockedSqueezeExcite"), 1);
    EXPECT_EQ(count_op(g, "BlockedGlobalAveragePool"), 0);
    EXPECT_EQ(count_op(g, "Mul"), 0);
    EXPECT_EQ(count_op(g, "BlockedConv"), 2) << "the depthwise and the projecting conv stay";
    expect_close(run(g, {x}), before, 1e-5);
  }
}

TEST_P(FuseBlockedSqueezeExcite, SkipsAGateReadElsewhere) {
  ir::Graph g = squeeze_excite_tail({});
  g.outputs.push_back(float_value("gate"));
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_blocked_squeeze_excite(g, PassContext{opsets()}).value());
  EXPECT_EQ(count_op(g, "Mul"), 1);
}

TEST_P(FuseBlockedSqueezeExcite, SkipsAMulOfAnotherTensor) {
  ir::Graph g = squeeze_excite_tail({});
  // The gate scales the block's input, not the pooled tensor: not a squeeze-excite.
  g.nodes[8].inputs = {"x", "g"};
  g.nodes.pop_back();
  g.outputs = {float_value("m")};
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_blocked_squeeze_excite(g, PassContext{opsets()}).value());
}

INSTANTIATE_TEST_SUITE_P(ChannelBlocks, FuseBlockedSqueezeExcite, ::testing::Values(16, 8));

}  // namespace
}  // namespace kiln::opt
