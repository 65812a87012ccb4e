// Edge cases of the elementwise kernels that the ONNX backend suite does not reach: bad input, integer
// overflow and division by zero, legacy broadcasting, string formatting corner cases.
#include "kernels/ref/elementwise.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace kiln::ref {
namespace {

struct Attr {
  std::string name;
  int64_t i = 0;
  std::string s;
};

// Builds the registered kernel for op_type at `opset` and runs it once on `inputs`.
Expected<Tensor> run_op(const std::string& op_type, int64_t opset, const std::vector<Tensor>& inputs,
                        const std::vector<Attr>& attrs = {}) {
  ir::Node node;
  node.op_type = op_type;
  for (const Attr& a : attrs) {
    ir::Attribute attr;
    attr.name = a.name;
    attr.type = a.s.empty() ? ir::Attribute::Type::kInt : ir::Attribute::Type::kString;
    attr.i = a.i;
    attr.s = a.s;
    node.attributes.push_back(attr);
  }
  const KernelRegistration* reg = KernelRegistry::global().find("", op_type, opset);
  if (!reg) return Status::NotFound(op_type);
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> kernel, reg->factory(KernelBuildContext{node, opset, {}}));
  std::vector<Value> values(inputs.begin(), inputs.end());
  std::vector<const Value*> ptrs;
  for (const Value& v : values) ptrs.push_back(&v);
  std::vector<Value> outputs(1);
  KernelContext ctx(ptrs, &outputs, nullptr);
  KILN_RETURN_IF_ERROR(kernel->run(ctx));
  return outputs[0].tensor();
}

template <typename T>
std::vector<T> values_of(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.size());
}

TEST(BroadcastLoop, CoalescesAndVisitsEveryElement) {
  // [2, 3, 4] + [3, 1]: dimension 0 of B is broadcast, so rows are of length 4 with B's step 0.
  auto loop = BroadcastLoop::make({{2, 3, 4}, {3, 1}});
  ASSERT_TRUE(loop.ok());
  EXPECT_EQ(loop->out_shape(), (Shape{2, 3, 4}));
  std::vector<int64_t> b_offsets;
  loop->for_each_row([&](int64_t o, const int64_t* off, const int64_t* step, int64_t n) {
    for (int64_t j = 0; j < n; ++j) b_offsets.push_back(off[1] + j * step[1]);
  });
  ASSERT_EQ(b_offsets.size(), 24u);
  for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(b_offsets[static_cast<size_t>(i)], (i / 4) % 3) << i;

  EXPECT_FALSE(BroadcastLoop::make({{2, 3}, {4}}).ok());
  EXPECT_FALSE(BroadcastLoop::make_onto({3}, {{2, 3}}).ok());  // PRelu's slope must not grow X
}

TEST(LegacyBroadcast, AxisAlignsAndBroadcastFlagIsRequired) {
  const Tensor a = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor b = Tensor::from_vector<float>({2}, {10, 20});
  auto sum = run_op("Add", 6, {a, b}, {{"broadcast", 1}, {"axis", 0}});
  ASSERT_TRUE(sum.ok()) << sum.status().to_string();
  EXPECT_EQ(values_of<float>(*sum), (std::vector<float>{11, 12, 13, 24, 25, 26}));
  EXPECT_FALSE(run_op("Add", 6, {a, b}, {}).ok());                                  // broadcast not set
  EXPECT_FALSE(run_op("Add", 6, {a, b}, {{"broadcast", 1}}).ok());                  // suffix [3] != [2]
  EXPECT_FALSE(run_op("Add", 6, {a, b}, {{"broadcast", 1}, {"axis", 5}}).ok());     // axis out of range
  EXPECT_FALSE(run_op("Add", 13, {a, b}).ok());                                     // numpy: [2,3] vs [2]
}

TEST(BinaryArithmetic, IntegerEdgeCases) {
  constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
  const Tensor x = Tensor::from_vector<int32_t>({3}, {kMin, -7, 7});
  const Tensor y = Tensor::from_vector<int32_t>({3}, {-1, 2, -2});
  auto q = run_op("Div", 14, {x, y});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(values_of<int32_t>(*q), (std::vector<int32_t>{kMin, -3, -3}));  // wraps; truncates
  auto r = run_op("Mod", 13, {x, y});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(values_of<int32_t>(*r), (std::vector<int32_t>{0, 1, -1}));  // Python's sign rule

  const Tensor zero = Tensor::from_vector<int32_t>({3}, {1, 0, 1});
  EXPECT_EQ(run_op("Div", 14, {x, zero}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(run_op("Mod", 13, {x, zero}).status().code(), StatusCode::kInvalidArgument);

  auto shifted = run_op("BitShift", 11,
                        {Tensor::from_vector<uint8_t>({2}, {0xff, 1}), Tensor::from_vector<uint8_t>({2}, {8, 7})},
                        {{"direction", 0, "LEFT"}});
  ASSERT_TRUE(shifted.ok());
  EXPECT_EQ(values_of<uint8_t>(*shifted), (std::vector<uint8_t>{0, 128}));
  EXPECT_FALSE(run_op("BitShift", 11, {x, y}, {{"direction", 0, "UP"}}).ok());

  auto p = run_op("Pow", 15, {Tensor::from_vector<int64_t>({3}, {2, -1, 3}), Tensor::from_vector<int64_t>({3}, {62, -3, -1})});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(values_of<int64_t>(*p), (std::vector<int64_t>{int64_t{1} << 62, -1, 0}));
}

TEST(Elementwise, RejectsBadInputs) {
  const Tensor f = Tensor::from_vector<float>({2}, {1, 2});
  const Tensor i = Tensor::from_vector<int32_t>({2}, {1, 2});
  EXPECT_FALSE(run_op("Add", 14, {f, i}).ok());             // mixed types
  EXPECT_FALSE(run_op("Add", 14, {f}).ok());                // missing input
  EXPECT_FALSE(run_op("Where", 16, {f, f, f}).ok());        // condition not bool
  EXPECT_FALSE(run_op("Clip", 13, {f, Tensor::from_vector<float>({2}, {0, 1})}).ok());  // min not scalar
  EXPECT_FALSE(run_op("Clip", 13, {f, Tensor::scalar<double>(0)}).ok());                 // min of other type
  EXPECT_FALSE(run_op("Sum", 13, {}).ok());
  // [2^21, 1] + [1, 2^21] would need 16 TiB: refused, not attempted.
  const Tensor col(DataType::kFloat32, {int64_t{1} << 21, 1});
  const Tensor row(DataType::kFloat32, {1, int64_t{1} << 21});
  EXPECT_EQ(run_op("Add", 14, {col, row}).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(run_op("Where", 16, {Tensor(DataType::kBool, {1}), col, row}).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_FALSE(run_op("Cast", 13, {Tensor::scalar<std::string>("1.5x")}, {{"to", 1}}).ok());
  EXPECT_FALSE(run_op("Cast", 13, {f}, {{"to", 99}}).ok());
}

TEST(Clip, MinAboveMaxGivesMax) {
  auto y = run_op("Clip", 13, {Tensor::from_vector<int16_t>({3}, {-5, 0, 5}), Tensor::scalar<int16_t>(3),
                               Tensor::scalar<int16_t>(1)});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(values_of<int16_t>(*y), (std::vector<int16_t>{1, 1, 1}));
}

TEST(Cast, NumpyStyleStrings) {
  auto s = run_op("Cast", 13,
                  {Tensor::from_vector<float>({6}, {1e-5f, 123456789.0f, -0.0f, 1.0f, -INFINITY, 1e16f})},
                  {{"to", static_cast<int64_t>(DataType::kString)}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(values_of<std::string>(*s),
            (std::vector<std::string>{"1e-05", "123456790.0", "-0.0", "1.0", "-inf", "1e+16"}));
  auto h = run_op("Cast", 13, {Tensor::from_vector<Float16>({1}, {Float16(0.1f)})},
                  {{"to", static_cast<int64_t>(DataType::kString)}});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(values_of<std::string>(*h), (std::vector<std::string>{"0.1"}));

  auto f = run_op("Cast", 13, {Tensor::from_vector<std::string>({4}, {"+INF", "-inf", " 2 ", "nan"})},
                  {{"to", static_cast<int64_t>(DataType::kInt32)}});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(values_of<int32_t>(*f)[2], 2);
}

TEST(Cast, DoubleToHalfRoundsOnce) {
  // 1 + 2^-11 + 2^-40 lies just above the midpoint between two halves; rounding to float first would
  // land exactly on the midpoint and then round down to even.
  const double d = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);
  auto h = run_op("Cast", 13, {Tensor::scalar<double>(d)}, {{"to", static_cast<int64_t>(DataType::kFloat16)}});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(static_cast<float>(h->data<Float16>()[0]), 1.0f + std::ldexp(1.0f, -10));

  auto i = run_op("Cast", 13, {Tensor::from_vector<float>({2}, {NAN, 300.7f})},
                  {{"to", static_cast<int64_t>(DataType::kUInt8)}});
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(values_of<uint8_t>(*i), (std::vector<uint8_t>{0, 44}));  // defined, numpy-like wrap
}

}  // namespace
}  // namespace kiln::ref
