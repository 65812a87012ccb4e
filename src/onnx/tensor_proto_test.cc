#include "onnx/tensor_proto.h"

#include <gtest/gtest.h>
#include <onnx/onnx-data_pb.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace kiln::onnx_io {
namespace {

namespace fs = std::filesystem;

template <typename T>
std::vector<T> values(const Tensor& t) {
  const T* p = t.data<T>();
  return std::vector<T>(p, p + t.size());
}

template <typename T>
void expect_raw_round_trip(const std::vector<T>& v, Shape shape) {
  Tensor t = Tensor::from_vector<T>(shape, v);
  onnx::TensorProto p;
  tensor_to_proto(t, "x", &p);
  EXPECT_EQ(p.name(), "x");
  auto back = tensor_from_proto(p, "");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->dtype(), data_type_of<T>);
  EXPECT_EQ(back->shape(), shape);
  EXPECT_EQ(values<T>(*back), v);
}

TEST(TensorProto, RawDataRoundTripsEveryDtype) {
  expect_raw_round_trip<float>({1.5f, -2, 3, 4}, {2, 2});
  expect_raw_round_trip<double>({1e300}, {});
  expect_raw_round_trip<int8_t>({-128, 127}, {2});
  expect_raw_round_trip<int16_t>({-32768, 32767}, {2});
  expect_raw_round_trip<int32_t>({INT32_MIN}, {1});
  expect_raw_round_trip<int64_t>({INT64_MAX, 0}, {2, 1});
  expect_raw_round_trip<uint8_t>({255}, {1});
  expect_raw_round_trip<uint16_t>({65535}, {1});
  expect_raw_round_trip<uint32_t>({UINT32_MAX}, {1});
  expect_raw_round_trip<uint64_t>({UINT64_MAX}, {1});
  expect_raw_round_trip<bool>({true, false}, {2});
  expect_raw_round_trip<std::string>({"a", "", "\xFF"}, {3});
  expect_raw_round_trip<float>({}, {0, 3});
  Tensor h = Tensor::from_vector<Float16>({1}, {Float16(0.1f)});
  onnx::TensorProto p;
  tensor_to_proto(h, "h", &p);
  auto back = tensor_from_proto(p, "");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->data<Float16>()[0].bits, h.data<Float16>()[0].bits);
}

onnx::TensorProto typed(onnx::TensorProto::DataType dt, std::vector<int64_t> dims) {
  onnx::TensorProto p;
  p.set_name("t");
  p.set_data_type(dt);
  for (int64_t d : dims) p.add_dims(d);
  return p;
}

TEST(TensorProto, TypedFieldsForEveryDtype) {
  auto f = typed(onnx::TensorProto::FLOAT, {2});
  f.add_float_data(1.5f);
  f.add_float_data(-1);
  EXPECT_EQ(values<float>(*tensor_from_proto(f, "")), (std::vector<float>{1.5f, -1}));

  auto d = typed(onnx::TensorProto::DOUBLE, {1});
  d.add_double_data(2.25);
  EXPECT_EQ(values<double>(*tensor_from_proto(d, "")), (std::vector<double>{2.25}));

  auto i64 = typed(onnx::TensorProto::INT64, {1});
  i64.add_int64_data(INT64_MIN);
  EXPECT_EQ(values<int64_t>(*tensor_from_proto(i64, "")), (std::vector<int64_t>{INT64_MIN}));

  auto u64 = typed(onnx::TensorProto::UINT64, {1});
  u64.add_uint64_data(UINT64_MAX);
  EXPECT_EQ(values<uint64_t>(*tensor_from_proto(u64, "")), (std::vector<uint64_t>{UINT64_MAX}));

  auto u32 = typed(onnx::TensorProto::UINT32, {1});
  u32.add_uint64_data(UINT32_MAX);
  EXPECT_EQ(values<uint32_t>(*tensor_from_proto(u32, "")), (std::vector<uint32_t>{UINT32_MAX}));

  // Everything 32 bits or narrower travels in int32_data.
  auto i32 = typed(onnx::TensorProto::INT32, {1});
  i32.add_int32_data(-7);
  EXPECT_EQ(values<int32_t>(*tensor_from_proto(i32, "")), (std::vector<int32_t>{-7}));
  auto i16 = typed(onnx::TensorProto::INT16, {1});
  i16.add_int32_data(-300);
  EXPECT_EQ(values<int16_t>(*tensor_from_proto(i16, "")), (std::vector<int16_t>{-300}));
  auto i8 = typed(onnx::TensorProto::INT8, {1});
  i8.add_int32_data(-100);
  EXPECT_EQ(values<int8_t>(*tensor_from_proto(i8, "")), (std::vector<int8_t>{-100}));
  auto u16 = typed(onnx::TensorProto::UINT16, {1});
  u16.add_int32_data(60000);
  EXPECT_EQ(values<uint16_t>(*tensor_from_proto(u16, "")), (std::vector<uint16_t>{60000}));
  auto u8 = typed(onnx::TensorProto::UINT8, {1});
  u8.add_int32_data(250);
  EXPECT_EQ(values<uint8_t>(*tensor_from_proto(u8, "")), (std::vector<uint8_t>{250}));
  auto b = typed(onnx::TensorProto::BOOL, {3});
  b.add_int32_data(1);
  b.add_int32_data(0);
  b.add_int32_data(5);
  EXPECT_EQ(values<bool>(*tensor_from_proto(b, "")), (std::vector<bool>{true, false, true}));

  // float16 and bfloat16 are their bit patterns in int32_data.
  auto h = typed(onnx::TensorProto::FLOAT16, {2});
  h.add_int32_data(0x3C00);  // 1.0
  h.add_int32_data(0xC000);  // -2.0
  Tensor ht = *tensor_from_proto(h, "");
  EXPECT_EQ(ht.dtype(), DataType::kFloat16);
  EXPECT_EQ(float(ht.data<Float16>()[0]), 1.0f);
  EXPECT_EQ(float(ht.data<Float16>()[1]), -2.0f);
  auto bf = typed(onnx::TensorProto::BFLOAT16, {1});
  bf.add_int32_data(0x3FC0);  // 1.5
  EXPECT_EQ(float(tensor_from_proto(bf, "")->data<BFloat16>()[0]), 1.5f);

  auto c = typed(onnx::TensorProto::COMPLEX64, {1});
  c.add_float_data(1);
  c.add_float_data(-1);
  Tensor ct = *tensor_from_proto(c, "");
  EXPECT_EQ(ct.data<float>()[1], -1.0f);

  auto s = typed(onnx::TensorProto::STRING, {2});
  s.add_string_data("x");
  s.add_string_data("yz");
  EXPECT_EQ(values<std::string>(*tensor_from_proto(s, "")), (std::vector<std::string>{"x", "yz"}));
}

std::string error_of(const onnx::TensorProto& p, const std::string& base_dir = "") {
  auto t = tensor_from_proto(p, base_dir);
  EXPECT_FALSE(t.ok());
  if (t.ok()) return "";
  EXPECT_EQ(t.status().message().find('\n'), std::string::npos);
  return t.status().message();
}

TEST(TensorProto, SizeMismatchesAreRejected) {
  auto raw = typed(onnx::TensorProto::FLOAT, {3, 4});
  raw.set_raw_data(std::string(20, '\0'));
  EXPECT_EQ(error_of(raw), "tensor 't': raw_data has 20 bytes, shape [3, 4] of float needs 48");

  auto f = typed(onnx::TensorProto::FLOAT, {2});
  f.add_float_data(1);
  EXPECT_NE(error_of(f).find("has 1 values"), std::string::npos);
  auto c = typed(onnx::TensorProto::COMPLEX64, {1});
  c.add_float_data(1);
  EXPECT_NE(error_of(c).find("needs 2"), std::string::npos);
  auto h = typed(onnx::TensorProto::FLOAT16, {2});
  h.add_int32_data(1);
  EXPECT_FALSE(tensor_from_proto(h, "").ok());
  auto s = typed(onnx::TensorProto::STRING, {2});
  s.add_string_data("x");
  EXPECT_NE(error_of(s).find("1 strings"), std::string::npos);
  auto neg = typed(onnx::TensorProto::FLOAT, {-1});
  EXPECT_NE(error_of(neg).find("negative"), std::string::npos);
  auto huge = typed(onnx::TensorProto::FLOAT, {1LL << 40, 1LL << 40});
  EXPECT_NE(error_of(huge).find("too large"), std::string::npos);
  auto bad_type = typed(static_cast<onnx::TensorProto::DataType>(99), {1});
  EXPECT_NE(error_of(bad_type).find("unknown data type code 99"), std::string::npos);
  auto undefined = typed(onnx::TensorProto::UNDEFINED, {1});
  EXPECT_FALSE(tensor_from_proto(undefined, "").ok());
}

// Declared dims far beyond the data must fail on the size check, before anything that large is
// allocated (a 1 TiB tensor from a 20-byte file would take the process down).
TEST(TensorProto, HugeDimsWithLittleDataDoNotAllocate) {
  auto raw = typed(onnx::TensorProto::FLOAT, {1LL << 37});
  raw.set_raw_data(std::string(4, '\0'));
  EXPECT_NE(error_of(raw).find("needs 549755813888"), std::string::npos);
  auto f = typed(onnx::TensorProto::FLOAT, {1LL << 37});
  f.add_float_data(1);
  EXPECT_NE(error_of(f).find("has 1 values"), std::string::npos);
  auto s = typed(onnx::TensorProto::STRING, {1LL << 34});
  EXPECT_NE(error_of(s).find("0 strings"), std::string::npos);
  auto none = typed(onnx::TensorProto::INT64, {1LL << 36});
  EXPECT_NE(error_of(none).find("has 0 values"), std::string::npos);
}

onnx::SparseTensorProto sparse(std::vector<int64_t> dims, std::vector<int64_t> index_dims, std::vector<int64_t> idx) {
  onnx::SparseTensorProto sp;
  for (int64_t d : dims) sp.add_dims(d);
  tensor_to_proto(Tensor::from_vector<float>({static_cast<int64_t>(idx.size() / std::max<size_t>(1, index_dims.size() > 1 ? index_dims[1] : 1))},
                                             std::vector<float>(idx.size(), 9.0f)),
                  "sp", sp.mutable_values());
  tensor_to_proto(Tensor::from_vector<int64_t>(index_dims, idx), "", sp.mutable_indices());
  return sp;
}

TEST(SparseTensorProto, DensifiesAndChecksIndices) {
  auto linear = tensor_from_sparse_proto(sparse({2, 2}, {2}, {0, 3}), "");
  ASSERT_TRUE(linear.ok()) << linear.status().to_string();
  EXPECT_EQ(values<float>(*linear), (std::vector<float>{9, 0, 0, 9}));
  auto coo = tensor_from_sparse_proto(sparse({2, 3}, {1, 2}, {1, 2}), "");
  ASSERT_TRUE(coo.ok()) << coo.status().to_string();
  EXPECT_EQ(values<float>(*coo), (std::vector<float>{0, 0, 0, 0, 0, 9}));
  EXPECT_FALSE(tensor_from_sparse_proto(sparse({2, 2}, {2}, {0, 4}), "").ok());
  // A coordinate out of range in one dimension must not alias another element (or overflow).
  EXPECT_FALSE(tensor_from_sparse_proto(sparse({2, 3}, {1, 2}, {0, 4}), "").ok());
  EXPECT_FALSE(tensor_from_sparse_proto(sparse({2, 3}, {1, 2}, {INT64_MAX, 2}), "").ok());
  auto huge = tensor_from_sparse_proto(sparse({1LL << 20, 1LL << 20}, {1}, {0}), "");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(tensor_from_sparse_proto(sparse({-2}, {1}, {0}), "").ok());
}

class ExternalData : public ::testing::Test {
 protected:
  void SetUp() override {
    // One folder per test and process: ctest -j runs this fixture's tests side by side, and one's
    // TearDown must not remove another's files.
    dir_ = fs::temp_directory_path() / ("kiln_ext_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "weights");
    std::ofstream f(dir_ / "weights" / "w.bin", std::ios::binary);
    const float v[4] = {1, 2, 3, 4};
    f.write("PAD!", 4);
    f.write(reinterpret_cast<const char*>(v), sizeof v);
  }
  void TearDown() override { fs::remove_all(dir_); }

  onnx::TensorProto external(const std::string& location, const std::string& offset, const std::string& length) {
    auto p = typed(onnx::TensorProto::FLOAT, {2, 2});
    p.set_data_location(onnx::TensorProto::EXTERNAL);
    auto* kv = p.add_external_data();
    kv->set_key("location");
    kv->set_value(location);
    if (!offset.empty()) {
      kv = p.add_external_data();
      kv->set_key("offset");
      kv->set_value(offset);
    }
    if (!length.empty()) {
      kv = p.add_external_data();
      kv->set_key("length");
      kv->set_value(length);
    }
    return p;
  }
  fs::path dir_;
};

TEST_F(ExternalData, RelativePathInsideTheModelFolderIsRead) {
  auto t = tensor_from_proto(external("weights/w.bin", "4", "16"), dir_.string());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(values<float>(*t), (std::vector<float>{1, 2, 3, 4}));
  auto no_length = tensor_from_proto(external("weights/w.bin", "4", ""), dir_.string());
  ASSERT_TRUE(no_length.ok()) << no_length.status().to_string();
}

TEST_F(ExternalData, EscapesAndBadRangesAreRejected) {
  EXPECT_NE(error_of(external((dir_ / "weights/w.bin").string(), "4", "16"), dir_.string()).find("must be relative"),
            std::string::npos);
  EXPECT_NE(error_of(external("../w.bin", "", ""), (dir_ / "weights").string()).find("leaves the model folder"),
            std::string::npos);
  EXPECT_NE(error_of(external("weights/../../etc/passwd", "", ""), dir_.string()).find("leaves the model folder"),
            std::string::npos);
  EXPECT_NE(error_of(external("weights/w.bin", "4", "16"), "").find("not loaded from a file"), std::string::npos);
  EXPECT_NE(error_of(external("", "", ""), dir_.string()).find("no location"), std::string::npos);
  EXPECT_NE(error_of(external("weights/missing.bin", "", ""), dir_.string()).find("cannot open"), std::string::npos);
  EXPECT_NE(error_of(external("weights/w.bin", "0", "20"), dir_.string()).find("expected 16"), std::string::npos);
  EXPECT_NE(error_of(external("weights/w.bin", "100", "16"), dir_.string()).find("offset"), std::string::npos);
  EXPECT_NE(error_of(external("weights/w.bin", "-4", "16"), dir_.string()).find("offset"), std::string::npos);
  EXPECT_FALSE(tensor_from_proto(external("weights/w.bin", "8", "16"), dir_.string()).ok());  // runs past the end
}

ir::TypeInfo kind(ir::TypeInfo::Kind k) {
  ir::TypeInfo t;
  t.kind = k;
  if (k != ir::TypeInfo::Kind::kTensor) {
    t.element = std::make_shared<ir::TypeInfo>();
    t.element->kind = ir::TypeInfo::Kind::kTensor;
    t.element->elem_type = DataType::kInt64;
  }
  return t;
}

TEST(ValuePb, TensorSequenceAndOptionalRoundTrip) {
  auto tensor_bytes = serialize_value_pb(Value(Tensor::from_vector<float>({2}, {1, 2})), "x");
  ASSERT_TRUE(tensor_bytes.ok());
  auto t = parse_value_pb(*tensor_bytes, kind(ir::TypeInfo::Kind::kTensor));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->name, "x");
  EXPECT_EQ(values<float>(t->value.tensor()), (std::vector<float>{1, 2}));

  Value seq = Value::sequence({Tensor::from_vector<int64_t>({1}, {5}), Tensor::from_vector<int64_t>({2}, {6, 7})},
                              DataType::kInt64);
  auto seq_bytes = serialize_value_pb(seq, "s");
  ASSERT_TRUE(seq_bytes.ok());
  auto s = parse_value_pb(*seq_bytes, kind(ir::TypeInfo::Kind::kSequence));
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->name, "s");
  ASSERT_TRUE(s->value.is_sequence());
  ASSERT_EQ(s->value.sequence_items().size(), 2u);
  EXPECT_EQ(values<int64_t>(s->value.sequence_items()[1]), (std::vector<int64_t>{6, 7}));

  // An empty sequence takes its element type from the declaration.
  auto empty_bytes = serialize_value_pb(Value::sequence({}, DataType::kInt64), "e");
  auto e = parse_value_pb(*empty_bytes, kind(ir::TypeInfo::Kind::kSequence));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->value.sequence_type(), DataType::kInt64);

  auto none_bytes = serialize_value_pb(Value(), "o");
  auto none = parse_value_pb(*none_bytes, kind(ir::TypeInfo::Kind::kOptional));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->value.is_none());
  EXPECT_EQ(none->name, "o");

  onnx::OptionalProto opt;
  opt.set_name("o");
  opt.set_elem_type(onnx::OptionalProto::TENSOR);
  tensor_to_proto(Tensor::from_vector<int64_t>({1}, {3}), "", opt.mutable_tensor_value());
  auto some = parse_value_pb(opt.SerializeAsString(), kind(ir::TypeInfo::Kind::kOptional));
  ASSERT_TRUE(some.ok());
  ASSERT_TRUE(some->value.is_tensor());
  EXPECT_EQ(some->value.tensor().data<int64_t>()[0], 3);

  onnx::OptionalProto opt_seq;
  opt_seq.set_elem_type(onnx::OptionalProto::SEQUENCE);
  opt_seq.mutable_sequence_value()->set_elem_type(onnx::SequenceProto::TENSOR);
  tensor_to_proto(Tensor::from_vector<int64_t>({1}, {4}), "", opt_seq.mutable_sequence_value()->add_tensor_values());
  auto some_seq = parse_value_pb(opt_seq.SerializeAsString(), kind(ir::TypeInfo::Kind::kOptional));
  ASSERT_TRUE(some_seq.ok());
  EXPECT_TRUE(some_seq->value.is_sequence());
}

TEST(ValuePb, CorruptBytesAreRejected) {
  for (auto k : {ir::TypeInfo::Kind::kTensor, ir::TypeInfo::Kind::kSequence, ir::TypeInfo::Kind::kOptional}) {
    auto v = parse_value_pb(std::string("\xFF\xFF\xFF\xFF garbage", 12), kind(k));
    EXPECT_FALSE(v.ok());
  }
  onnx::SequenceProto map_seq;
  map_seq.set_elem_type(onnx::SequenceProto::MAP);
  EXPECT_EQ(parse_value_pb(map_seq.SerializeAsString(), kind(ir::TypeInfo::Kind::kSequence)).status().code(),
            StatusCode::kUnimplemented);
  auto missing = read_value_pb("/nonexistent/input_0.pb", kind(ir::TypeInfo::Kind::kTensor));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/input_0.pb"), std::string::npos);
}

}  // namespace
}  // namespace kiln::onnx_io
