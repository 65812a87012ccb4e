// Unit tests for If, Loop, Scan and the sequence operators: the cases the ONNX node suite does not
// cover (errors, shape changes, Scan axes/directions/sequence_lens, split/concat of sequences, outer
// values read only from nested subgraphs).
//
// Graphs are built by hand as ir::Graph. The bodies need a few simple operators that live elsewhere;
// private stand-ins for them are registered here at priority -1, so the real kernels win in this test
// binary once they exist.
#include <gtest/gtest.h>

#include "exec/graph_plan.h"
#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

// ---- Test-only stand-ins -----------------------------------------------------------------------

// Add for float and int64 with numpy broadcasting.
Status standin_add(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
  const Tensor& a = ctx.tensor(0);
  const Tensor& b = ctx.tensor(1);
  if (a.dtype() != b.dtype()) return Status::InvalidArgument("Add: types differ");
  KILN_ASSIGN_OR_RETURN(Shape shape, broadcast_shapes({a.shape(), b.shape()}));
  Tensor out(a.dtype(), shape);
  return visit_type(TypeList<float, int64_t>{}, a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    BroadcastIterator it(shape, {a.shape(), b.shape()});
    for (int64_t i = 0; i < out.size(); ++i, it.next()) {
      out.data<T>()[i] = a.data<T>()[it.offset(0)] + b.data<T>()[it.offset(1)];
    }
    ctx.set_output(0, Value(out));
    return Status::OK();
  });
}

Status standin_not(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  Tensor out(DataType::kBool, ctx.tensor(0).shape());
  for (int64_t i = 0; i < out.size(); ++i) out.data<bool>()[i] = !ctx.tensor(0).data<bool>()[i];
  ctx.set_output(0, Value(out));
  return Status::OK();
}

Status standin_shape(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  const Shape& s = ctx.tensor(0).shape();
  ctx.set_output(0, Value(Tensor::from_vector<int64_t>({static_cast<int64_t>(s.size())}, s)));
  return Status::OK();
}

// Unsqueeze with axes from the attribute (opset < 13) or input 1.
class StandinUnsqueeze : public Kernel {
 public:
  explicit StandinUnsqueeze(std::vector<int64_t> axes) : axes_(std::move(axes)) {}
  Status run(KernelContext& ctx) const override {
    std::vector<int64_t> axes = axes_;
    if (ctx.has_input(1)) {
      KILN_ASSIGN_OR_RETURN(axes, read_int_list(ctx.tensor(1), "axes"));
    }
    const Tensor& t = ctx.tensor(0);
    const int64_t rank = t.rank() + static_cast<int64_t>(axes.size());
    std::vector<bool> is_new(static_cast<size_t>(rank), false);
    for (int64_t a : axes) is_new[static_cast<size_t>(a < 0 ? a + rank : a)] = true;
    Shape shape;
    size_t k = 0;
    for (int64_t d = 0; d < rank; ++d) shape.push_back(is_new[static_cast<size_t>(d)] ? 1 : t.shape()[k++]);
    ctx.set_output(0, Value(t.reshaped(shape)));
    return Status::OK();
  }

 private:
  std::vector<int64_t> axes_;
};

// Slice of a 1-D float tensor with one start and one end, step 1.
Status standin_slice(KernelContext& ctx) {
  const Tensor& t = ctx.tensor(0);
  KILN_ASSIGN_OR_RETURN(auto starts, read_int_list(ctx.tensor(1), "starts"));
  KILN_ASSIGN_OR_RETURN(auto ends, read_int_list(ctx.tensor(2), "ends"));
  const int64_t n = t.dim(0);
  const int64_t s = std::clamp<int64_t>(starts[0] < 0 ? starts[0] + n : starts[0], 0, n);
  const int64_t e = std::clamp<int64_t>(ends[0] < 0 ? ends[0] + n : ends[0], s, n);
  Tensor out(t.dtype(), {e - s});
  for (int64_t i = s; i < e; ++i) out.data<float>()[i - s] = t.data<float>()[i];
  ctx.set_output(0, Value(out));
  return Status::OK();
}

// Fails on purpose: a body that errors.
Status standin_fail(KernelContext&) { return Status::InvalidArgument("deliberate failure"); }

KILN_REGISTER_KERNEL_PRIORITY("", "Add", 1, kMaxOpset, -1, stateless(standin_add));
KILN_REGISTER_KERNEL_PRIORITY("", "Not", 1, kMaxOpset, -1, stateless(standin_not));
KILN_REGISTER_KERNEL_PRIORITY("", "Shape", 1, kMaxOpset, -1, stateless(standin_shape));
KILN_REGISTER_KERNEL_PRIORITY("", "Slice", 10, kMaxOpset, -1, stateless(standin_slice));
KILN_REGISTER_KERNEL_PRIORITY("", "Unsqueeze", 1, kMaxOpset, -1,
                              [](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
                                return std::unique_ptr<Kernel>(
                                    std::make_unique<StandinUnsqueeze>(b.node.attr_ints("axes")));
                              });
KILN_REGISTER_KERNEL("kiln.test", "Fail", 1, 1, stateless(standin_fail));

// ---- Graph building helpers ---------------------------------------------------------------------

ir::ValueInfo tensor_vi(const std::string& name, DataType t = DataType::kFloat32) {
  ir::ValueInfo vi;
  vi.name = name;
  vi.type.kind = ir::TypeInfo::Kind::kTensor;
  vi.type.elem_type = t;
  return vi;
}

ir::ValueInfo tensor_vi(const std::string& name, DataType t, const std::vector<int64_t>& dims) {
  ir::ValueInfo vi = tensor_vi(name, t);
  std::vector<ir::Dim> shape;
  for (int64_t d : dims) shape.push_back(ir::Dim{d, ""});
  vi.type.shape = shape;
  return vi;
}

ir::Attribute int_attr(const std::string& name, int64_t v) { return ir::Attribute::of_int(name, v); }

ir::Attribute ints_attr(const std::string& name, std::vector<int64_t> v) { return ir::Attribute::of_ints(name, v); }

ir::Attribute graph_attr(const std::string& name, ir::Graph g) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kGraph;
  a.g = std::make_shared<ir::Graph>(std::move(g));
  return a;
}

ir::Node make_node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
                   std::vector<ir::Attribute> attrs = {}, const std::string& domain = "") {
  ir::Node n;
  n.op_type = op;
  n.domain = domain;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.attributes = std::move(attrs);
  return n;
}

const std::map<std::string, int64_t> kOpsets = {{"", 17}, {"kiln.test", 1}};

// Builds and runs `g`; returns its outputs or the first error.
Expected<std::vector<Value>> run_graph(const ir::Graph& g, const std::vector<Value>& inputs,
                                       const std::map<std::string, int64_t>& opsets = kOpsets) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<GraphPlan> plan, GraphPlan::build(g, opsets, {}));
  std::vector<Value> outputs;
  KILN_RETURN_IF_ERROR(plan->run(inputs, nullptr, &outputs));
  return outputs;
}

std::vector<float> floats(const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.size()); }

// Loop body (i, cond, acc) -> (cond, acc + x, acc + x): `x` comes from the outer graph.
ir::Graph accumulate_body() {
  ir::Graph body;
  body.inputs = {tensor_vi("i", DataType::kInt64), tensor_vi("cond_in", DataType::kBool), tensor_vi("acc")};
  body.nodes = {make_node("Identity", {"cond_in"}, {"cond_out"}), make_node("Add", {"acc", "x"}, {"acc_out"}),
                make_node("Identity", {"acc_out"}, {"scan_out"})};
  body.outputs = {tensor_vi("cond_out", DataType::kBool), tensor_vi("acc_out"), tensor_vi("scan_out", DataType::kFloat32, {2})};
  return body;
}

ir::Graph loop_graph(ir::Graph body, std::vector<std::string> loop_inputs) {
  ir::Graph g;
  g.inputs = {tensor_vi("M", DataType::kInt64), tensor_vi("cond", DataType::kBool), tensor_vi("init"), tensor_vi("x")};
  g.nodes = {make_node("Loop", std::move(loop_inputs), {"final", "scans"}, {graph_attr("body", std::move(body))})};
  g.outputs = {tensor_vi("final"), tensor_vi("scans")};
  return g;
}

// ---- Loop --------------------------------------------------------------------------------------------

TEST(Loop, TripCountAndConditionCombine) {
  const ir::Graph g = loop_graph(accumulate_body(), {"M", "cond", "init"});
  const Value init = Tensor::from_vector<float>({2}, {0, 10});
  const Value x = Tensor::from_vector<float>({2}, {1, 2});
  auto out = run_graph(g, {Tensor::scalar<int64_t>(3), Tensor::scalar<bool>(true), init, x});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(floats((*out)[0].tensor()), (std::vector<float>{3, 16}));
  EXPECT_EQ((*out)[1].tensor().shape(), (Shape{3, 2}));
  EXPECT_EQ(floats((*out)[1].tensor()), (std::vector<float>{1, 12, 2, 14, 3, 16}));

  // A false initial condition runs no iteration: initial values pass through, scan outputs are empty
  // with the body's declared element shape.
  out = run_graph(g, {Tensor::scalar<int64_t>(3), Tensor::scalar<bool>(false), init, x});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(floats((*out)[0].tensor()), (std::vector<float>{0, 10}));
  EXPECT_EQ((*out)[1].tensor().shape(), (Shape{0, 2}));
}

TEST(Loop, NeitherTripCountNorConditionIsRejected) {
  const ir::Graph g = loop_graph(accumulate_body(), {"", "", "init"});
  auto out = run_graph(g, {Value(), Value(), Tensor::from_vector<float>({2}, {0, 0}), Tensor::from_vector<float>({2}, {1, 1})});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
}

TEST(Loop, BodyErrorIsReturned) {
  ir::Graph body = accumulate_body();
  body.nodes.push_back(make_node("Fail", {"acc"}, {"unused"}, {}, "kiln.test"));
  const ir::Graph g = loop_graph(std::move(body), {"M", "cond", "init"});
  auto out = run_graph(g, {Tensor::scalar<int64_t>(3), Tensor::scalar<bool>(true), Tensor::from_vector<float>({2}, {0, 0}),
                           Tensor::from_vector<float>({2}, {1, 1})});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("deliberate failure"), std::string::npos) << out.status().message();
  EXPECT_NE(out.status().message().find("iteration 0"), std::string::npos) << out.status().message();
}

TEST(Loop, ScanOutputChangingShapeIsAnError) {
  // Scanning the incoming acc: [2] in iteration 0, then [3, 2] once broadcasting with x [3, 1] grew it.
  ir::Graph body = accumulate_body();
  body.nodes[2] = make_node("Identity", {"acc"}, {"scan_out"});
  const ir::Graph g = loop_graph(std::move(body), {"M", "cond", "init"});
  auto out = run_graph(g, {Tensor::scalar<int64_t>(2), Tensor::scalar<bool>(true), Tensor::from_vector<float>({2}, {0, 0}),
                           Tensor::from_vector<float>({3, 1}, {1, 1, 1})});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("scan output 0 changed from [2] to [3, 2]"), std::string::npos)
      << out.status().message();
}

// ---- If ----------------------------------------------------------------------------------------------

// If(cond) returning outer value `a` from then_branch and `b` from else_branch.
ir::Graph if_graph() {
  ir::Graph then_branch, else_branch;
  then_branch.nodes = {make_node("Identity", {"a"}, {"then_out"})};
  then_branch.outputs = {tensor_vi("then_out")};
  else_branch.nodes = {make_node("Identity", {"b"}, {"else_out"})};
  else_branch.outputs = {tensor_vi("else_out")};
  ir::Graph g;
  g.inputs = {tensor_vi("cond", DataType::kBool), tensor_vi("a"), tensor_vi("b")};
  g.nodes = {make_node("If", {"cond"}, {"res"},
                       {graph_attr("then_branch", std::move(then_branch)), graph_attr("else_branch", std::move(else_branch))})};
  g.outputs = {tensor_vi("res")};
  return g;
}

TEST(If, BranchesMayProduceDifferentShapes) {
  const ir::Graph g = if_graph();
  const Value a = Tensor::from_vector<float>({2}, {1, 2});
  const Value b = Tensor::from_vector<float>({3, 1}, {3, 4, 5});
  auto out = run_graph(g, {Tensor::scalar<bool>(true), a, b});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].tensor().shape(), (Shape{2}));
  out = run_graph(g, {Tensor::from_vector<bool>({1}, {false}), a, b});  // a one-element cond also counts
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(floats((*out)[0].tensor()), (std::vector<float>{3, 4, 5}));
}

TEST(If, ConditionMustBeOneBool) {
  const ir::Graph g = if_graph();
  const Value a = Tensor::scalar<float>(1);
  for (const Value& cond : {Value(Tensor::scalar<float>(1)), Value(Tensor::from_vector<bool>({2}, {true, false}))}) {
    auto out = run_graph(g, {cond, a, a});
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  }
}

// Regression: `y` is read directly by one node and, later, only from inside an If branch. The executor
// used to release it after the direct reader, so the branch saw an empty value.
TEST(If, OuterValueReadOnlyInBranchStaysAlive) {
  ir::Graph then_branch, else_branch;
  then_branch.nodes = {make_node("Identity", {"y"}, {"then_out"})};
  then_branch.outputs = {tensor_vi("then_out")};
  else_branch.outputs = {tensor_vi("y")};  // no nodes: the branch returns the outer value itself
  ir::Graph g;
  g.inputs = {tensor_vi("cond", DataType::kBool), tensor_vi("x")};
  g.nodes = {make_node("Identity", {"x"}, {"y"}), make_node("Identity", {"y"}, {"z"}),
             make_node("If", {"cond"}, {"res"},
                       {graph_attr("then_branch", std::move(then_branch)), graph_attr("else_branch", std::move(else_branch))})};
  g.outputs = {tensor_vi("z"), tensor_vi("res")};
  for (bool cond : {true, false}) {
    auto out = run_graph(g, {Tensor::scalar<bool>(cond), Tensor::from_vector<float>({2}, {7, 8})});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    ASSERT_TRUE((*out)[1].is_tensor());
    EXPECT_EQ(floats((*out)[1].tensor()), (std::vector<float>{7, 8}));
  }
}

// ---- Scan --------------------------------------------------------------------------------------------

// Body (acc, x) -> (acc + x, acc + x).
ir::Graph cumsum_body() {
  ir::Graph body;
  body.inputs = {tensor_vi("acc"), tensor_vi("x")};
  body.nodes = {make_node("Add", {"acc", "x"}, {"acc_out"}), make_node("Identity", {"acc_out"}, {"scan_out"})};
  body.outputs = {tensor_vi("acc_out"), tensor_vi("scan_out")};
  return body;
}

TEST(Scan, AxesAndDirections) {
  // X [2, 3] scanned over axis 1 in reverse: slices [3, 6], [2, 5], [1, 4].
  ir::Graph g;
  g.inputs = {tensor_vi("init"), tensor_vi("X")};
  g.nodes = {make_node("Scan", {"init", "X"}, {"final", "Y"},
                       {graph_attr("body", cumsum_body()), int_attr("num_scan_inputs", 1), ints_attr("scan_input_axes", {-1}),
                        ints_attr("scan_input_directions", {1}), ints_attr("scan_output_axes", {1}),
                        ints_attr("scan_output_directions", {1})})};
  g.outputs = {tensor_vi("final"), tensor_vi("Y")};
  auto out = run_graph(g, {Tensor::from_vector<float>({2}, {0, 0}), Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6})});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(floats((*out)[0].tensor()), (std::vector<float>{6, 15}));
  // Partial sums [3, 6], [5, 11], [6, 15], prepended along axis 1.
  EXPECT_EQ((*out)[1].tensor().shape(), (Shape{2, 3}));
  EXPECT_EQ(floats((*out)[1].tensor()), (std::vector<float>{6, 5, 3, 15, 11, 6}));
}

TEST(Scan, Opset8BatchWithSequenceLengths) {
  // Batch 2, max length 3, element [1]; entry 1 stops after one step and is zero-padded.
  ir::Graph g;
  g.inputs = {tensor_vi("lens", DataType::kInt64), tensor_vi("init"), tensor_vi("X")};
  g.nodes = {make_node("Scan", {"lens", "init", "X"}, {"final", "Y"},
                       {graph_attr("body", cumsum_body()), int_attr("num_scan_inputs", 1), ints_attr("directions", {1})})};
  g.outputs = {tensor_vi("final"), tensor_vi("Y")};
  const Value x = Tensor::from_vector<float>({2, 3, 1}, {1, 2, 3, 10, 20, 30});
  auto out = run_graph(g, {Tensor::from_vector<int64_t>({2}, {3, 1}), Tensor::from_vector<float>({2, 1}, {0, 100}), x},
                       {{"", 8}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(floats((*out)[0].tensor()), (std::vector<float>{6, 110}));
  EXPECT_EQ((*out)[1].tensor().shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(floats((*out)[1].tensor()), (std::vector<float>{3, 5, 6, 110, 0, 0}));

  auto bad = run_graph(g, {Tensor::from_vector<int64_t>({2}, {4, 1}), Tensor::from_vector<float>({2, 1}, {0, 0}), x}, {{"", 8}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(Scan, MismatchedScanLengthsAreRejected) {
  ir::Graph body = cumsum_body();
  body.inputs.push_back(tensor_vi("x2"));
  ir::Graph g;
  g.inputs = {tensor_vi("init"), tensor_vi("X"), tensor_vi("X2")};
  g.nodes = {make_node("Scan", {"init", "X", "X2"}, {"final", "Y"},
                       {graph_attr("body", std::move(body)), int_attr("num_scan_inputs", 2)})};
  g.outputs = {tensor_vi("final"), tensor_vi("Y")};
  auto out = run_graph(g, {Tensor::scalar<float>(0), Tensor::from_vector<float>({3}, {1, 2, 3}),
                           Tensor::from_vector<float>({2}, {1, 2})});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
}

// ---- Sequences ---------------------------------------------------------------------------------------

// A one-node graph: op(inputs) -> out.
Expected<std::vector<Value>> run_op(const std::string& op, const std::vector<Value>& inputs,
                                    std::vector<ir::Attribute> attrs = {}) {
  ir::Graph g;
  std::vector<std::string> names;
  for (size_t i = 0; i < inputs.size(); ++i) {
    names.push_back(inputs[i].is_none() ? "" : "in" + std::to_string(i));
    if (!inputs[i].is_none()) g.inputs.push_back(tensor_vi(names.back()));
  }
  g.nodes = {make_node(op, names, {"out"}, std::move(attrs))};
  g.outputs = {tensor_vi("out")};
  std::vector<Value> present;
  for (const Value& v : inputs) {
    if (!v.is_none()) present.push_back(v);
  }
  return run_graph(g, present);
}

TEST(Sequence, SplitAndConcatRoundTrip) {
  const Tensor x = Tensor::from_vector<float>({5, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  // Scalar split: chunks of 2 with a smaller last one.
  auto parts = run_op("SplitToSequence", {x, Tensor::scalar<int64_t>(2)});
  ASSERT_TRUE(parts.ok()) << parts.status().to_string();
  const auto& items = (*parts)[0].sequence_items();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[2].shape(), (Shape{1, 2}));
  auto joined = run_op("ConcatFromSequence", {(*parts)[0]}, {int_attr("axis", 0)});
  ASSERT_TRUE(joined.ok()) << joined.status().to_string();
  EXPECT_EQ(floats((*joined)[0].tensor()), floats(x));

  // No split, keepdims=0 along axis 1: two [5] tensors; stacking them on a new last axis restores x.
  parts = run_op("SplitToSequence", {x}, {int_attr("axis", 1), int_attr("keepdims", 0)});
  ASSERT_TRUE(parts.ok()) << parts.status().to_string();
  ASSERT_EQ((*parts)[0].sequence_items().size(), 2u);
  EXPECT_EQ((*parts)[0].sequence_items()[0].shape(), (Shape{5}));
  joined = run_op("ConcatFromSequence", {(*parts)[0]}, {int_attr("axis", -1), int_attr("new_axis", 1)});
  ASSERT_TRUE(joined.ok()) << joined.status().to_string();
  EXPECT_EQ((*joined)[0].tensor().shape(), (Shape{5, 2}));
  EXPECT_EQ(floats((*joined)[0].tensor()), floats(x));

  // Split lengths that do not add up, and an empty sequence to concatenate.
  EXPECT_FALSE(run_op("SplitToSequence", {x, Tensor::from_vector<int64_t>({2}, {2, 2})}).ok());
  EXPECT_FALSE(run_op("ConcatFromSequence", {Value::sequence({}, DataType::kFloat32)}, {int_attr("axis", 0)}).ok());
}

TEST(Sequence, PositionsAreChecked) {
  const Value seq = Value::sequence({Tensor::scalar<float>(1), Tensor::scalar<float>(2), Tensor::scalar<float>(3)},
                                    DataType::kFloat32);
  auto at = run_op("SequenceAt", {seq, Tensor::scalar<int64_t>(-1)});
  ASSERT_TRUE(at.ok()) << at.status().to_string();
  EXPECT_EQ((*at)[0].tensor().data<float>()[0], 3);
  EXPECT_FALSE(run_op("SequenceAt", {seq, Tensor::scalar<int64_t>(3)}).ok());
  EXPECT_FALSE(run_op("SequenceAt", {seq, Tensor::scalar<int64_t>(-4)}).ok());

  auto erased = run_op("SequenceErase", {seq});  // default: the last element
  ASSERT_TRUE(erased.ok()) << erased.status().to_string();
  auto length = run_op("SequenceLength", {(*erased)[0]});
  ASSERT_TRUE(length.ok());
  EXPECT_EQ((*length)[0].tensor().data<int64_t>()[0], 2);
  EXPECT_FALSE(run_op("SequenceErase", {Value::sequence({}, DataType::kFloat32)}).ok());

  // Inserting at size is allowed (append); past it, or a tensor of another type, is not.
  EXPECT_TRUE(run_op("SequenceInsert", {seq, Tensor::scalar<float>(4), Tensor::scalar<int64_t>(3)}).ok());
  EXPECT_FALSE(run_op("SequenceInsert", {seq, Tensor::scalar<float>(4), Tensor::scalar<int64_t>(4)}).ok());
  EXPECT_FALSE(run_op("SequenceInsert", {seq, Tensor::scalar<int64_t>(4)}).ok());
}

}  // namespace
}  // namespace kiln::ref
