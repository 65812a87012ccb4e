#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

constexpr int64_t kHeads = 2, kDim = 4, kHidden = kHeads * kDim;

// Self-attention as torch exports it: projections, head split, QK^T / sqrt(d) [+ mask], softmax, PV,
// head merge. `mask`: none, "add" (mask + scores) or "add_swapped" (scores + mask, mask built by a Mul).
ir::Graph attention_graph(const std::string& mask = "", const std::string& scale_op = "Div") {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["shape4"] = Tensor::from_vector<int64_t>({4}, {0, 0, kHeads, kDim});
  g.initializers["shape3"] = Tensor::from_vector<int64_t>({3}, {0, 0, kHidden});
  g.initializers["c"] = Tensor::scalar<float>(scale_op == "Div" ? 2.0f : 0.5f);
  std::vector<ir::Node>& n = g.nodes;
  for (const char* p : {"q", "k", "v"}) {
    const std::string s = p;
    g.initializers["w" + s] = ramp({kHidden, kHidden}, 0.03f * static_cast<float>(s[0] - 'p'), -0.2f);
    g.initializers["b" + s] = ramp({kHidden}, 0.05f);
    n.push_back(make("MatMul", {"x", "w" + s}, {s + "m"}));
    n.push_back(make("Add", {"b" + s, s + "m"}, {s + "a"}));
    n.push_back(make("Reshape", {s + "a", "shape4"}, {s + "4"}));
  }
  n.push_back(make("Transpose", {"q4"}, {"qt"}, {ints("perm", {0, 2, 1, 3})}));
  n.push_back(make("Transpose", {"k4"}, {"kt"}, {ints("perm", {0, 2, 3, 1})}));
  n.push_back(make("Transpose", {"v4"}, {"vt"}, {ints("perm", {0, 2, 1, 3})}));
  n.push_back(make("MatMul", {"qt", "kt"}, {"s"}));
  n.push_back(make(
      scale_op, scale_op == "Div" ? std::vector<std::string>{"s", "c"} : std::vector<std::string>{"c", "s"}, {"s2"}));
  std::string probs_in = "s2";
  if (!mask.empty()) {
    g.inputs.push_back(float_value("m"));
    g.initializers["big"] = Tensor::scalar<float>(-100.f);
    n.push_back(make("Mul", {"m", "big"}, {"madd"}));
    n.push_back(make("Add",
                     mask == "add" ? std::vector<std::string>{"madd", "s2"} : std::vector<std::string>{"s2", "madd"},
                     {"s3"}));
    probs_in = "s3";
  }
  n.push_back(make("Softmax", {probs_in}, {"p"}, {ir::Attribute::of_int("axis", -1)}));
  n.push_back(make("MatMul", {"p", "vt"}, {"o"}));
  n.push_back(make("Transpose", {"o"}, {"ot"}, {ints("perm", {0, 2, 1, 3})}));
  n.push_back(make("Reshape", {"ot", "shape3"}, {"y"}));
  return g;
}

Tensor key_mask(int64_t batch, int64_t seq) {
  Tensor m(DataType::kFloat32, {batch, 1, 1, seq});
  for (int64_t i = 0; i < m.size(); ++i) m.data<float>()[i] = (i % 3 == 2) ? 1.f : 0.f;  // 1 = masked out
  return m;
}

TEST(FuseAttention, TheCoreBecomesOneNodeWithTheSameResult) {
  const Tensor x = ramp({2, 5, kHidden}, 0.21f, -1.1f);
  for (const auto& [mask, scale_op] :
       std::vector<std::pair<std::string, std::string>>{{"", "Div"}, {"add", "Div"}, {"add_swapped", "Mul"}}) {
    SCOPED_TRACE(mask + " " + scale_op);
    ir::Graph g = attention_graph(mask, scale_op);
    const std::vector<Tensor> in = mask.empty() ? std::vector<Tensor>{x} : std::vector<Tensor>{x, key_mask(2, 5)};
    const auto before = run(g, in);
    ASSERT_TRUE(fuse_attention(g, PassContext{opsets()}).value());
    EXPECT_EQ(count_op(g, "Softmax"), 0);
    EXPECT_EQ(count_op(g, "Transpose"), 0);
    ASSERT_EQ(count_op(g, "Attention"), 1);
    for (const ir::Node& node : g.nodes) {
      if (node.op_type != "Attention") continue;
      EXPECT_EQ(node.domain, "kiln");
      EXPECT_FLOAT_EQ(node.attr_float("scale", 0), 0.5f);
      EXPECT_EQ(node.inputs.size(), mask.empty() ? 3u : 4u);
    }
    expect_close(run(g, in), before, 1e-5);
  }
}

TEST(FuseAttention, LeavesNearMissesAlone) {
  ir::Graph wrong_perm = attention_graph();
  wrong_perm.nodes[10].attributes = {ints("perm", {0, 2, 1, 3})};  // K not transposed for QK^T
  ir::Graph other_axis = attention_graph();
  for (ir::Node& n : other_axis.nodes) {
    if (n.op_type == "Softmax") n.attributes = {ir::Attribute::of_int("axis", 2)};
  }
  ir::Graph probs_read_elsewhere = attention_graph();
  probs_read_elsewhere.outputs.push_back(float_value("p"));
  ir::Graph runtime_scale = attention_graph();
  runtime_scale.inputs.push_back(float_value("c"));
  for (ir::Graph* g : {&wrong_perm, &other_axis, &probs_read_elsewhere, &runtime_scale}) {
    const size_t n = g->nodes.size();
    EXPECT_FALSE(fuse_attention(*g, PassContext{opsets()}).value());
    EXPECT_EQ(g->nodes.size(), n);
  }
  // Opset 11's Softmax defaults to axis 1: not attention.
  ir::Graph legacy = attention_graph();
  for (ir::Node& n : legacy.nodes) {
    if (n.op_type == "Softmax") n.attributes.clear();
  }
  EXPECT_FALSE(fuse_attention(legacy, PassContext{opsets(11)}).value());
  EXPECT_TRUE(fuse_attention(legacy, PassContext{opsets(13)}).value());
}

}  // namespace
}  // namespace kiln::opt
