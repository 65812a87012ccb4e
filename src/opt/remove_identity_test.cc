#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

TEST(RemoveIdentity, DropsIdentityAndInferenceDropoutKeepsOutputs) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y"), float_value("z")};
  g.nodes = {make("Identity", {"x"}, {"a"}), make("Dropout", {"a"}, {"b"}), make("Relu", {"b"}, {"c"}),
             make("Identity", {"c"}, {"y"}), make("Dropout", {"c"}, {"z", "mask"})};
  const Tensor x = ramp({2, 3});
  const auto before = run(g, {x});
  ASSERT_TRUE(remove_identity(g, PassContext{opsets()}).value());
  // The two leading no-ops go; the Identity and Dropout producing graph outputs stay (their names are
  // the interface).
  EXPECT_EQ(g.nodes.size(), 3u);
  EXPECT_EQ(g.nodes[0].op_type, "Relu");
  EXPECT_EQ(g.nodes[0].inputs[0], "x");
  expect_close(run(g, {x}), before, 0);
}

TEST(RemoveIdentity, KeepsTrainingDropoutAndUsedMask) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["t"] = Tensor::scalar<bool>(false);
  g.nodes = {make("Dropout", {"x", "", "t"}, {"a"}), make("Dropout", {"a"}, {"b", "m"}),
             make("Cast", {"m"}, {"mf"}, {}), make("Add", {"b", "mf"}, {"y"})};
  g.nodes[2].attributes.push_back([] {
    ir::Attribute a;
    a.name = "to";
    a.type = ir::Attribute::Type::kInt;
    a.i = 1;
    return a;
  }());
  EXPECT_FALSE(remove_identity(g, PassContext{opsets()}).value());
  EXPECT_EQ(g.nodes.size(), 4u);
}

}  // namespace
}  // namespace kiln::opt
