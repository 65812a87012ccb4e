#include "kernels/fused_activation.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

ir::Attribute string_attr(const std::string& name, const std::string& v) { return ir::Attribute::of_string(name, v); }
ir::Attribute floats_attr(const std::string& name, std::vector<float> v) {
  return ir::Attribute::of_floats(name, std::move(v));
}

ir::Node fused(std::vector<ir::Attribute> attrs) {
  ir::Node n;
  n.domain = "kiln";
  n.op_type = "FusedConvTranspose";
  n.attributes = std::move(attrs);
  return n;
}

TEST(FusedActivation, ReadsTheActivationAndItsParameters) {
  auto clip = parse_fused_activation(
      fused({string_attr(kActivationAttr, "Clip"), floats_attr(kActivationParamsAttr, {-1.f, 6.f})}));
  ASSERT_TRUE(clip.ok()) << clip.status().message();
  EXPECT_EQ(clip->op, "Clip");
  const std::optional<vec::UnaryFn> fn = fused_activation_unary(*clip);
  ASSERT_TRUE(fn.has_value());
  EXPECT_EQ(fn->op, vec::UnaryOp::kClip);
  EXPECT_EQ(fn->alpha, -1.f);
  EXPECT_EQ(fn->beta, 6.f);
  auto none = parse_fused_activation(fused({}));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->op.empty());
  EXPECT_FALSE(fused_activation_unary(*none).has_value());
  EXPECT_FALSE(fused_activation_unary(FusedActivation{"Gelu", {}}).has_value());  // the unary loops have none
}

// A user's model can hold a kiln-domain node: an attribute of the wrong type must not read as "no
// activation" and run the node without it.
TEST(FusedActivation, RejectsMalformedAttributes) {
  EXPECT_FALSE(parse_fused_activation(fused({ir::Attribute::of_int(kActivationAttr, 3)})).ok());
  EXPECT_FALSE(
      parse_fused_activation(fused({string_attr(kActivationAttr, "Relu"), string_attr(kActivationParamsAttr, "1")}))
          .ok());
  EXPECT_FALSE(parse_fused_activation(fused({floats_attr(kActivationParamsAttr, {0.1f})})).ok());
  EXPECT_FALSE(parse_fused_activation(fused({string_attr(kActivationAttr, "Foo")})).ok());
  EXPECT_FALSE(parse_fused_activation(fused({string_attr(kActivationAttr, "LeakyRelu")})).ok());
}

}  // namespace
}  // namespace kiln
