#include "opt/squeeze_excite_test_graph.h"

namespace kiln::opt {
namespace {

using namespace testing;

// Each test runs in both channel blocks (kernels/blocked_layout.h).
class FuseSqueezeExciteProjection : public ::testing::TestWithParam<int64_t> {};

// The passes that run before this one, in the pass manager's order.
void prepare(ir::Graph& g, int64_t block) {
  ASSERT_TRUE(remove_identity(g, PassContext{opsets()}).ok());
  ASSERT_TRUE(fuse_conv_activation(g, PassContext{opsets()}).ok());
  ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{opsets(), block}).value());
  ASSERT_TRUE(fuse_blocked_conv_add(g, PassContext{opsets()}).ok());
  ASSERT_TRUE(fuse_blocked_conv_swish(g, PassContext{opsets()}).value());
  ASSERT_TRUE(fuse_blocked_squeeze_excite(g, PassContext{opsets()}).value());
}

TEST_P(FuseSqueezeExciteProjection, BlockAndProjectionBecomeOneNode) {
  for (bool residual : {false, true}) {
    SCOPED_TRACE(residual);
    ir::Graph g = squeeze_excite_tail({.projection_channels = 20, .residual = residual});
    const Tensor x = ramp({2, 20, 6, 6});
    const auto before = run(g, {x});
    prepare(g, GetParam());
    ASSERT_TRUE(fuse_squeeze_excite_projection(g, PassContext{opsets()}).value());
    EXPECT_EQ(count_op(g, "BlockedSqueezeExciteConv"), 1);
    EXPECT_EQ(count_op(g, "BlockedSqueezeExcite"), 0);
    EXPECT_EQ(count_op(g, "BlockedConv"), 1) << "the depthwise conv stays";
    EXPECT_EQ(count_op(g, "Add"), 0);
    for (const ir::Node& n : g.nodes) {
      if (n.op_type == "BlockedSqueezeExciteConv") EXPECT_EQ(n.inputs.size(), residual ? 8u : 7u);
    }
    expect_close(run(g, {x}), before, 1e-5);
  }
}

TEST_P(FuseSqueezeExciteProjection, SkipsABlockReadElsewhere) {
  ir::Graph g = squeeze_excite_tail({});
  g.outputs.push_back(float_value("m"));
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_squeeze_excite_projection(g, PassContext{opsets()}).value());
  EXPECT_EQ(count_op(g, "BlockedSqueezeExcite"), 1);
}

TEST_P(FuseSqueezeExciteProjection, SkipsAConvThatIsNotPointwise) {
  ir::Graph g = squeeze_excite_tail({});
  g.initializers["wp"] = ramp({8, 20, 3, 3}, 0.01f, -0.3f);
  g.nodes.back().attributes.push_back(ints("pads", {1, 1, 1, 1}));
  const Tensor x = ramp({1, 20, 5, 5});
  const auto before = run(g, {x});
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_squeeze_excite_projection(g, PassContext{opsets()}).value());
  expect_close(run(g, {x}), before, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(ChannelBlocks, FuseSqueezeExciteProjection, ::testing::Values(16, 8));

}  // namespace
}  // namespace kiln::opt
