// Concat written in place (concat_in_place.h): the layout a Concat's parts fill, and GraphPlan runs
// that learn it, write the parts into the Concat's output from the next run on, and copy as before
// whenever that does not apply.
#include "exec/concat_in_place.h"

#include <gtest/gtest.h>

#include <map>

#include "exec/graph_plan.h"
#include "opt/pass_test_util.h"

namespace kiln {
namespace {

using opt::testing::float_value;
using opt::testing::make;
using opt::testing::ramp;

// Where each kiln.test.AddOne node last wrote its output, by node name.
std::map<std::string, const void*> written;

// y = x + 1, written where KernelContext::output0_tensor says, as the fast kernels do.
class AddOneKernel : public Kernel {
 public:
  explicit AddOneKernel(std::string name) : name_(std::move(name)) {}
  Status run(KernelContext& ctx) const override {
    const Tensor& x = ctx.tensor(0);
    Tensor y = ctx.output0_tensor(DataType::kFloat32, x.shape());
    for (int64_t i = 0; i < x.size(); ++i) y.data<float>()[i] = x.data<float>()[i] + 1;
    written[name_] = y.raw();
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  std::string name_;
};

KILN_REGISTER_KERNEL("kiln.test", "AddOne", 1, 1, [](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
  return std::unique_ptr<Kernel>(std::make_unique<AddOneKernel>(b.node.name));
});

ir::Node add_one(const std::string& in, const std::string& out) {
  ir::Node n = make("AddOne", {in}, {out});
  n.domain = "kiln.test";
  n.name = out;
  return n;
}

// Y = Concat(AddOne(A), second(B)) along axis 1; `second` is AddOne or an ordinary kernel (Relu).
ir::Graph two_part_concat(const std::string& second = "AddOne") {
  ir::Graph g;
  g.inputs = {float_value("A"), float_value("B")};
  g.outputs = {float_value("Y")};
  ir::Node b = second == "AddOne" ? add_one("B", "b") : make(second, {"B"}, {"b"});
  g.nodes = {add_one("A", "a"), b, make("Concat", {"a", "b"}, {"Y"}, {ir::Attribute::of_int("axis", 1)})};
  return g;
}

std::unique_ptr<GraphPlan> build(const ir::Graph& g) {
  auto opsets = opt::testing::opsets();
  opsets["kiln.test"] = 1;
  auto plan = GraphPlan::build(g, opsets, {});
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  return plan.ok() ? std::move(plan).value() : nullptr;
}

Tensor run(const GraphPlan& plan, const Tensor& a, const Tensor& b) {
  std::vector<Value> out;
  const Status st = plan.run({Value(a), Value(b)}, nullptr, &out);
  EXPECT_TRUE(st.ok()) << st.to_string();
  return st.ok() && !out.empty() ? out[0].tensor() : Tensor();
}

// What the graph computes, by hand: a + 1 then b + 1 (or relu(b)), per row of the dimensions before axis 1.
void expect_concat(const Tensor& y, const Tensor& a, const Tensor& b, bool relu_b = false) {
  ASSERT_TRUE(y.defined());
  const int64_t rows = a.dim(0), a_row = a.size() / rows, b_row = b.size() / rows;
  ASSERT_EQ(y.size(), a.size() + b.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < a_row; ++i) EXPECT_EQ(y.data<float>()[r * (a_row + b_row) + i], a.data<float>()[r * a_row + i] + 1);
    for (int64_t i = 0; i < b_row; ++i) {
      const float v = b.data<float>()[r * b_row + i];
      EXPECT_EQ(y.data<float>()[r * (a_row + b_row) + a_row + i], relu_b ? std::max(v, 0.f) : v + 1);
    }
  }
}

bool in_place(const Tensor& y, const Tensor& a) {
  return written["a"] == y.raw() && written["b"] == y.data<float>() + a.size();
}

// Runs `plan` on a and b once per entry of `expected`: each run's result is right, and its parts were
// written in place exactly when the entry says so.
void expect_runs(const GraphPlan& plan, const Tensor& a, const Tensor& b, const std::vector<bool>& expected) {
  for (size_t i = 0; i < expected.size(); ++i) {
    const Tensor y = run(plan, a, b);
    expect_concat(y, a, b);
    EXPECT_EQ(in_place(y, a), expected[i]) << "run " << i;
  }
}

TEST(ConcatLayout, PartsFillConsecutiveRangesOnlyWhenTheLeadingDimensionsAreOne) {
  const Value a(ramp({1, 2, 3})), b(ramp({1, 4, 3}));
  for (int64_t axis : {1, -2}) {
    const std::optional<ConcatLayout> layout = ConcatLayout::of({&a, &b}, axis);
    ASSERT_TRUE(layout.has_value()) << axis;
    EXPECT_EQ(layout->shape, (Shape{1, 6, 3}));
    EXPECT_EQ(layout->offsets, (std::vector<int64_t>{0, 6}));
    EXPECT_EQ(layout->part_shapes, (std::vector<Shape>{{1, 2, 3}, {1, 4, 3}}));
  }
  const Value rows_a(ramp({2, 2, 3})), rows_b(ramp({2, 4, 3}));
  EXPECT_FALSE(ConcatLayout::of({&rows_a, &rows_b}, 1).has_value());  // rows interleave
  const Value ints(Tensor(DataType::kInt32, {1, 4, 3}));
  EXPECT_FALSE(ConcatLayout::of({&a, &ints}, 1).has_value());
  const Value other_dims(ramp({1, 4, 5}));
  EXPECT_FALSE(ConcatLayout::of({&a, &other_dims}, 1).has_value());
}

TEST(ConcatInPlace, PartsAreWrittenIntoTheOutputFromTheSecondRun) {
  auto plan = build(two_part_concat());
  ASSERT_NE(plan, nullptr);
  // The first run copies and learns.
  expect_runs(*plan, ramp({1, 2, 3}), ramp({1, 4, 3}, 0.5f, -1.f), {false, true, true});
}

TEST(ConcatInPlace, NewInputShapesAreLearnedAgain) {
  auto plan = build(two_part_concat());
  ASSERT_NE(plan, nullptr);
  const Tensor a = ramp({1, 2, 3});
  expect_runs(*plan, a, ramp({1, 4, 3}), {false, true});
  expect_runs(*plan, a, ramp({1, 5, 3}, 0.25f), {false, true});
}

TEST(ConcatInPlace, RowsThatInterleaveAreCopied) {
  auto plan = build(two_part_concat());
  ASSERT_NE(plan, nullptr);
  expect_runs(*plan, ramp({2, 2, 3}), ramp({2, 4, 3}, 0.5f), {false, false, false});
}

TEST(ConcatInPlace, APartItsKernelAllocatesMakesTheConcatCopyAndStopTrying) {
  auto plan = build(two_part_concat("Relu"));
  ASSERT_NE(plan, nullptr);
  const Tensor a = ramp({1, 2, 3}), b = ramp({1, 4, 3}, 0.5f, -1.f);
  for (int i = 0; i < 4; ++i) {
    const Tensor y = run(*plan, a, b);
    expect_concat(y, a, b, /*relu_b=*/true);
    // Run 2 offers both slices; Relu's output lands elsewhere, so from run 3 none is offered.
    if (i >= 2) EXPECT_NE(written["a"], y.raw()) << i;
  }
}

TEST(ConcatInPlace, APartReadByAnotherNodeIsNotWrittenInPlace) {
  ir::Graph g = two_part_concat();
  g.outputs.push_back(float_value("a"));
  auto plan = build(g);
  ASSERT_NE(plan, nullptr);
  const Tensor a = ramp({1, 2, 3}), b = ramp({1, 4, 3});
  for (int i = 0; i < 3; ++i) {
    std::vector<Value> out;
    ASSERT_TRUE(plan->run({Value(a), Value(b)}, nullptr, &out).ok());
    expect_concat(out[0].tensor(), a, b);
    EXPECT_NE(out[1].tensor().raw(), out[0].tensor().raw());
    for (int64_t k = 0; k < a.size(); ++k) EXPECT_EQ(out[1].tensor().data<float>()[k], a.data<float>()[k] + 1);
  }
}

}  // namespace
}  // namespace kiln
