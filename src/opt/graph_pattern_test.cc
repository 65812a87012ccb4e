#include "opt/graph_pattern.h"

#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// y = Mul(Add(x, one), half), with one and half scalar constants.
ir::Graph scaled_sum() {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["one"] = Tensor::scalar<float>(1.f);
  g.initializers["half"] = Tensor::scalar<float>(0.5f);
  g.nodes.push_back(make("Add", {"x", "one"}, {"s"}));
  g.nodes.push_back(make("Mul", {"half", "s"}, {"y"}));
  return g;
}

TEST(GraphPattern, FindsTheOperandBesideAScalarConstantInEitherOrder) {
  const ir::Graph g = scaled_sum();
  const GraphPattern p(g);
  float c = 0;
  EXPECT_EQ(p.beside_scalar_constant(g.nodes[0], &c), "x");
  EXPECT_EQ(c, 1.f);
  EXPECT_EQ(p.beside_scalar_constant(g.nodes[1], &c), "s");
  EXPECT_EQ(c, 0.5f);
  EXPECT_EQ(p.beside_scalar_constant(g.nodes[1], 0.5f), "s");
  EXPECT_EQ(p.beside_scalar_constant(g.nodes[1], 2.f), "");  // a constant of another value
  const ir::Node no_constant = make("Add", {"x", "s"}, {"z"});
  EXPECT_EQ(p.beside_scalar_constant(no_constant, &c), "");
}

TEST(GraphPattern, AbsorbedNodesAreConsumedThenErased) {
  ir::Graph g = scaled_sum();
  GraphPattern p(g);
  EXPECT_NE(p.producer("s", "Add"), nullptr);
  p.absorb({0}, 1);
  EXPECT_EQ(p.producer("s", "Add"), nullptr);  // taken by the match
  EXPECT_TRUE(p.consumed()[1]);
  become_kiln_node(g.nodes[1], "AddHalf", {"x"}, {});
  EXPECT_TRUE(p.erase_absorbed(g));
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "AddHalf");
  EXPECT_EQ(g.nodes[0].domain, "kiln");
  EXPECT_EQ(g.nodes[0].outputs, std::vector<std::string>{"y"});

  ir::Graph untouched = scaled_sum();
  EXPECT_FALSE(GraphPattern(untouched).erase_absorbed(untouched));
  EXPECT_EQ(untouched.nodes.size(), 2u);
}

}  // namespace
}  // namespace kiln::opt
