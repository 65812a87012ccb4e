#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// y = x * Sigmoid(x), with the Mul's operands in either order.
ir::Graph swish_graph(bool sigmoid_first) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.nodes = {
      make("Sigmoid", {"x"}, {"s"}),
      make("Mul", sigmoid_first ? std::vector<std::string>{"s", "x"} : std::vector<std::string>{"x", "s"}, {"y"})};
  return g;
}

TEST(FuseSwish, BothOperandOrdersBecomeOneNodeWithTheSameResult) {
  const Tensor x = ramp({2, 3, 5}, 1.3f, -9.0f);
  for (bool sigmoid_first : {false, true}) {
    ir::Graph g = swish_graph(sigmoid_first);
    const auto before = run(g, {x});
    ASSERT_TRUE(fuse_swish(g, PassContext{opsets()}).value());
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].domain, "kiln");
    EXPECT_EQ(g.nodes[0].op_type, "Swish");
    EXPECT_EQ(g.nodes[0].inputs, std::vector<std::string>{"x"});
    EXPECT_EQ(g.nodes[0].outputs, std::vector<std::string>{"y"});
    expect_close(run(g, {x}), before, 1e-6);
  }
}

TEST(FuseSwish, KeepsASigmoidThatIsReadElsewhereOrOfAnotherValue) {
  ir::Graph shared = swish_graph(false);
  shared.nodes.push_back(make("Neg", {"s"}, {"n"}));  // the Sigmoid's output has another reader
  shared.outputs.push_back(float_value("n"));
  EXPECT_FALSE(fuse_swish(shared, PassContext{opsets()}).value());

  ir::Graph output = swish_graph(false);
  output.outputs.push_back(float_value("s"));  // the Sigmoid's output is a graph output
  EXPECT_FALSE(fuse_swish(output, PassContext{opsets()}).value());

  ir::Graph other;  // z * Sigmoid(x): a gate, not a swish
  other.inputs = {float_value("x"), float_value("z")};
  other.outputs = {float_value("y")};
  other.nodes = {make("Sigmoid", {"x"}, {"s"}), make("Mul", {"z", "s"}, {"y"})};
  EXPECT_FALSE(fuse_swish(other, PassContext{opsets()}).value());
  EXPECT_EQ(count_op(other, "Sigmoid"), 1);
}

}  // namespace
}  // namespace kiln::opt
