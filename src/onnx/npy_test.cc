#include "onnx/npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <filesystem>

#include "onnx/tensor_proto.h"

namespace kiln::onnx_io {
namespace {

// Fixtures written by numpy (tests/data/npy/make_fixtures.py documents how).
std::string fixture(const std::string& name) { return std::string(KILN_TEST_DATA_DIR) + "/npy/" + name; }

Tensor read_ok(const std::string& name) {
  auto t = read_npy(fixture(name));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? *t : Tensor();
}

template <typename T>
std::vector<T> values(const Tensor& t) {
  const T* p = t.data<T>();
  return std::vector<T>(p, p + t.size());
}

// The .npy preamble and header numpy writes for `dict` (version 1.0, padded to 64 bytes).
std::string npy_bytes(const std::string& dict, const std::string& data) {
  std::string d = dict;
  d.append((64 - (10 + d.size() + 1) % 64) % 64, ' ');
  d.push_back('\n');
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(d.size() & 0xFF));
  out.push_back(static_cast<char>(d.size() >> 8));
  return out + d + data;
}

std::string error_of(const std::string& bytes) {
  auto t = parse_npy(bytes, "x.npy");
  EXPECT_FALSE(t.ok());
  if (t.ok()) return "";
  const std::string msg = t.status().message();
  EXPECT_EQ(msg.rfind("x.npy: ", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  return msg;
}

TEST(NpyRead, NumpyFixtures) {
  Tensor f32 = read_ok("f32_2x3.npy");
  EXPECT_EQ(f32.dtype(), DataType::kFloat32);
  EXPECT_EQ(f32.shape(), (Shape{2, 3}));
  EXPECT_EQ(values<float>(f32), (std::vector<float>{0, 0.5, 1, 1.5, 2, 2.5}));

  Tensor f16 = read_ok("f16_4.npy");
  EXPECT_EQ(f16.dtype(), DataType::kFloat16);
  EXPECT_EQ(float(f16.data<Float16>()[0]), 0.5f);
  EXPECT_EQ(float(f16.data<Float16>()[1]), -2.0f);
  EXPECT_EQ(float(f16.data<Float16>()[2]), 65504.0f);
  EXPECT_TRUE(std::isinf(float(f16.data<Float16>()[3])));

  Tensor u8 = read_ok("u8_scalar.npy");
  EXPECT_EQ(u8.dtype(), DataType::kUInt8);
  EXPECT_EQ(u8.rank(), 0);
  EXPECT_EQ(u8.data<uint8_t>()[0], 200);

  EXPECT_EQ(values<int8_t>(read_ok("i8_3.npy")), (std::vector<int8_t>{-128, 0, 127}));
  EXPECT_EQ(values<uint64_t>(read_ok("u64_2.npy")), (std::vector<uint64_t>{0, UINT64_MAX}));
  EXPECT_EQ(values<bool>(read_ok("bool_4.npy")), (std::vector<bool>{true, false, false, true}));

  Tensor c64 = read_ok("c64_2.npy");
  EXPECT_EQ(c64.dtype(), DataType::kComplex64);
  EXPECT_EQ(c64.data<float>()[0], 1.0f);
  EXPECT_EQ(c64.data<float>()[1], 2.0f);
  EXPECT_EQ(c64.data<float>()[3], -3.5f);

  Tensor empty = read_ok("empty_0x3.npy");
  EXPECT_EQ(empty.dtype(), DataType::kInt64);
  EXPECT_EQ(empty.shape(), (Shape{0, 3}));

  EXPECT_EQ(values<int16_t>(read_ok("v2_i16_3.npy")), (std::vector<int16_t>{1, -1, 7}));
  EXPECT_EQ(values<float>(read_ok("v3_f32_2.npy")), (std::vector<float>{3, 4}));
}

TEST(NpyRead, BigEndianIsConverted) {
  EXPECT_EQ(values<int32_t>(read_ok("i32_be_3.npy")), (std::vector<int32_t>{1, -2, 300000}));
  EXPECT_EQ(values<double>(read_ok("f64_be_2.npy")), (std::vector<double>{1.5, -0.25}));
  EXPECT_EQ(values<std::string>(read_ok("unicode_be_2.npy")), (std::vector<std::string>{"ab", "\xCE\xA9"}));
}

TEST(NpyRead, FortranOrderIsConvertedToC) {
  Tensor t = read_ok("f64_fortran_2x3.npy");
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(values<double>(t), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  Tensor s = read_ok("unicode_fortran_2x2.npy");
  EXPECT_EQ(values<std::string>(s), (std::vector<std::string>{"a", "b", "c", "d"}));
  // Rank 3 in fortran order: element (i, j, k) sits at i + 2*j + 6*k in the file.
  std::string data;
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) data.push_back(static_cast<char>(100 * i + 10 * j + k));
  auto r3 = parse_npy(npy_bytes("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3, 4), }", data), "r3");
  ASSERT_TRUE(r3.ok()) << r3.status().to_string();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(r3->data<uint8_t>()[i * 12 + j * 4 + k], 100 * i + 10 * j + k);
}

TEST(NpyRead, StringsBecomeUtf8) {
  Tensor u = read_ok("unicode_2x2.npy");
  EXPECT_EQ(u.dtype(), DataType::kString);
  EXPECT_EQ(values<std::string>(u), (std::vector<std::string>{"a", "h\xC3\xA9llo", "", "\xE6\x97\xA5\xE6\x9C\xAC"}));
  EXPECT_EQ(values<std::string>(read_ok("bytes_3.npy")), (std::vector<std::string>{"ab", "", "xyz"}));
}

TEST(NpyRead, ObjectArraysAreRefused) {
  auto t = read_npy(fixture("object.npy"));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("object array"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("object.npy"), std::string::npos);
}

TEST(NpyRead, MissingFileNamesThePath) {
  auto t = read_npy("/nonexistent/in.npy");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("/nonexistent/in.npy"), std::string::npos);
}

// Writing what numpy wrote reproduces the file byte for byte (same header text and padding).
TEST(NpyWrite, MatchesNumpyBytes) {
  for (const char* name : {"f32_2x3.npy", "f16_4.npy", "u8_scalar.npy", "i8_3.npy", "u64_2.npy", "bool_4.npy",
                           "c64_2.npy", "empty_0x3.npy", "unicode_2x2.npy"}) {
    std::string original;
    ASSERT_TRUE(read_file(fixture(name), &original).ok());
    auto written = serialize_npy(read_ok(name));
    ASSERT_TRUE(written.ok()) << name;
    EXPECT_EQ(*written, original) << name;
  }
}

template <typename T>
void expect_round_trip(const std::vector<T>& v, Shape shape) {
  Tensor t = Tensor::from_vector<T>(shape, v);
  auto bytes = serialize_npy(t);
  ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
  if (t.dtype() != DataType::kString) {
    EXPECT_EQ(bytes->size() % 64, t.bytes() % 64) << "data starts at a 64-byte boundary";
  }
  auto back = parse_npy(*bytes, "rt.npy");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->dtype(), data_type_of<T>);
  EXPECT_EQ(back->shape(), shape);
  EXPECT_EQ(values<T>(*back), v);
}

TEST(NpyWrite, RoundTripsEveryDtype) {
  expect_round_trip<float>({1.5f, -2, 3e30f, 0, 5, 6}, {2, 3});
  expect_round_trip<double>({1e300, -0.0}, {2});
  expect_round_trip<int8_t>({-128, 127}, {2, 1});
  expect_round_trip<int16_t>({-32768, 32767}, {2});
  expect_round_trip<int32_t>({INT32_MIN, 7}, {1, 2});
  expect_round_trip<int64_t>({INT64_MIN, INT64_MAX, 0}, {3});
  expect_round_trip<uint8_t>({0, 255}, {2});
  expect_round_trip<uint16_t>({0, 65535}, {2});
  expect_round_trip<uint32_t>({0, UINT32_MAX}, {2});
  expect_round_trip<uint64_t>({UINT64_MAX}, {});
  expect_round_trip<bool>({true, false, true}, {3});
  expect_round_trip<std::string>({"plain", "", "h\xC3\xA9", "\xF0\x9F\x98\x80"}, {2, 2});
  expect_round_trip<int32_t>({}, {0, 5});

  Tensor h = Tensor::from_vector<Float16>({2}, {Float16(0.333f), Float16(-7.0f)});
  auto hb = parse_npy(*serialize_npy(h), "h.npy");
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(hb->dtype(), DataType::kFloat16);
  EXPECT_EQ(hb->data<Float16>()[0].bits, h.data<Float16>()[0].bits);
  EXPECT_EQ(hb->data<Float16>()[1].bits, h.data<Float16>()[1].bits);

  Tensor c(DataType::kComplex128, {1});
  c.data<double>()[0] = 1.25;
  c.data<double>()[1] = -8;
  auto cb = parse_npy(*serialize_npy(c), "c.npy");
  ASSERT_TRUE(cb.ok());
  EXPECT_EQ(cb->dtype(), DataType::kComplex128);
  EXPECT_EQ(cb->data<double>()[0], 1.25);
  EXPECT_EQ(cb->data<double>()[1], -8);
}

TEST(NpyWrite, BFloat16BecomesFloat32Losslessly) {
  Tensor b = Tensor::from_vector<BFloat16>({3}, {BFloat16(1.5f), BFloat16(-3.140625f), BFloat16(1e38f)});
  auto bytes = serialize_npy(b);
  ASSERT_TRUE(bytes.ok());
  EXPECT_NE(bytes->find("'<f4'"), std::string::npos);
  auto back = parse_npy(*bytes, "b.npy");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->dtype(), DataType::kFloat32);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(back->data<float>()[i], float(b.data<BFloat16>()[i]));
}

TEST(NpyWrite, NonUtf8StringsBecomeBytes) {
  Tensor s = Tensor::from_vector<std::string>({2}, {"ok", std::string("\xFF\x01", 2)});
  auto bytes = serialize_npy(s);
  ASSERT_TRUE(bytes.ok());
  EXPECT_NE(bytes->find("'|S2'"), std::string::npos);
  auto back = parse_npy(*bytes, "s.npy");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(values<std::string>(*back), (std::vector<std::string>{"ok", std::string("\xFF\x01", 2)}));
}

TEST(NpyWrite, LargeHeaderUsesVersion2) {
  // numpy switches to version 2.0 when the header does not fit a 16-bit length.
  Tensor t(DataType::kUInt8, Shape(30000, 1));
  auto bytes = serialize_npy(t);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ((*bytes)[6], 2);
  EXPECT_EQ(bytes->size() % 64, 1u);
  // kiln reads at most 64 dimensions, and says so.
  auto back = parse_npy(*bytes, "x.npy");
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.status().message().find("more than 64 dimensions"), std::string::npos);
  EXPECT_EQ((*serialize_npy(Tensor(DataType::kUInt8, {0})))[6], 1);
}

TEST(NpyWrite, WriteAndReadFile) {
  const std::string path = (std::filesystem::temp_directory_path() / "kiln_npy_test.npy").string();
  Tensor t = Tensor::from_vector<float>({2}, {1, 2});
  ASSERT_TRUE(write_npy(path, t).ok());
  auto back = read_npy(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(values<float>(*back), (std::vector<float>{1, 2}));
  std::filesystem::remove(path);
  EXPECT_FALSE(write_npy("/nonexistent/dir/out.npy", t).ok());
}

TEST(NpyCorrupt, EveryMalformedFileIsAOneLineError) {
  const std::string good = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", std::string(48, '\0'));
  ASSERT_TRUE(parse_npy(good, "x.npy").ok());

  EXPECT_NE(error_of("").find("bad magic"), std::string::npos);
  EXPECT_NE(error_of("PK\x03\x04 not numpy at all").find("bad magic"), std::string::npos);
  EXPECT_NE(error_of(good.substr(0, 9)).find("bad magic"), std::string::npos);  // too short for a preamble
  EXPECT_NE(error_of(good.substr(0, 40)).find("truncated"), std::string::npos);
  EXPECT_NE(error_of(std::string("\x93NUMPY\x04\x00", 8) + good.substr(8)).find("version 4.0"), std::string::npos);
  EXPECT_NE(error_of(std::string("\x93NUMPY\x02\x00\x05\x00", 10)).find("truncated"), std::string::npos);

  // Data size: the message names the shape, dtype, expected and actual bytes.
  EXPECT_EQ(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", std::string(20, '\0'))),
            "x.npy: header declares shape (3, 4) of <f4 = 48 bytes, file has 20");
  EXPECT_NE(error_of(good + "extra").find("file has 53"), std::string::npos);

  auto header_error = [&](const std::string& dict) { return error_of(npy_bytes(dict, std::string(48, '\0'))); };
  EXPECT_NE(header_error("not a dict").find("'{'"), std::string::npos);
  EXPECT_NE(header_error("{'descr': '<f4', 'shape': (3, 4), }").find("lacks"), std::string::npos);
  EXPECT_NE(header_error("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (3, 4), }").find("True or False"),
            std::string::npos);
  EXPECT_NE(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': [3, 4], }").find("tuple"), std::string::npos);
  EXPECT_NE(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'x': 1}").find("unexpected key"),
            std::string::npos);
  EXPECT_NE(header_error("{'descr': '<f4, 'fortran_order': False, 'shape': (3, 4), }").find("after the value of 'descr'"), std::string::npos);
  EXPECT_NE(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)").find("','"), std::string::npos);
  EXPECT_NE(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (3 4), }").find("')'"), std::string::npos);
  EXPECT_NE(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (3, x), }").find("non-integer"),
            std::string::npos);
  EXPECT_NE(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } junk").find("after"),
            std::string::npos);
  EXPECT_NE(header_error("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }").find("structured"),
            std::string::npos);
  EXPECT_NE(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (3, -4), }").find("negative"),
            std::string::npos);
  EXPECT_NE(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }").find("overflows"),
            std::string::npos);
  // Dims whose product overflows 64 bits must not wrap around to a small size.
  EXPECT_NE(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 3), }")
                .find("more than 2^64"),
            std::string::npos);
  EXPECT_NE(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }")
                .find("more than 2^64"),
            std::string::npos);
  for (const char* descr : {"<f3", "<x4", "f4", "<", "<f", "<f16", "|V8", "<M8", "<U0", "<f4444444444"}) {
    EXPECT_NE(header_error(std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (3, 4), }")
                  .find("dtype"),
              std::string::npos)
        << descr;
  }
  // A unicode element holding a value that is not a code point.
  EXPECT_NE(error_of(npy_bytes("{'descr': '<U1', 'fortran_order': False, 'shape': (1,), }", std::string("\0\0\x11\0", 4)))
                .find("invalid code point"),
            std::string::npos);
}

TEST(NpyCorrupt, HugeZeroSizedShapesDoNotAllocate) {
  // An empty array with enormous other dims is valid for numpy; kiln must not allocate for the dims.
  auto t = parse_npy(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1000000000000), }", ""), "z");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->size(), 0);
}

TEST(NpyCorrupt, BoolBytesAreNormalized) {
  auto t = parse_npy(npy_bytes("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", std::string("\x00\x07", 2)), "b");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(values<bool>(*t), (std::vector<bool>{false, true}));
}

}  // namespace
}  // namespace kiln::onnx_io
