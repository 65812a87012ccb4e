// The KServe v2 infer body codec: JSON and binary tensors of each datatype, request parameters, and
// every malformed-body error naming the input and the reason.
#include "serve/http/infer_codec.h"

#include <gtest/gtest.h>

#include <cstring>

namespace kiln::serve::http {
namespace {

const SystemSharedMemory kNoRegions;

Expected<DecodedInferRequest> decode(const std::string& json) {
  return decode_infer_request(json, std::nullopt, kNoRegions);
}

std::string error_of(const Expected<DecodedInferRequest>& r) { return r.ok() ? "" : r.status().message(); }

TEST(InferCodecTest, DecodesJsonTensorsOfEachKind) {
  auto r = decode(R"({"id": "a", "inputs": [
      {"name": "f", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2.5], [3, -4]]},
      {"name": "b", "shape": [2], "datatype": "BOOL", "data": [true, false]},
      {"name": "u", "shape": [1], "datatype": "UINT64", "data": [18446744073709551615]},
      {"name": "h", "shape": [1], "datatype": "FP16", "data": [0.5]},
      {"name": "s", "shape": [2], "datatype": "BYTES", "data": ["x", ""]}],
    "outputs": [{"name": "y", "parameters": {"binary_data": true}}],
    "parameters": {"binary_data_output": false, "timeout": 500}})");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->request.id, "a");
  ASSERT_EQ(r->request.inputs.size(), 5u);
  const Tensor& f = r->request.inputs[0].value.tensor();
  EXPECT_EQ(f.shape(), (Shape{2, 2}));
  EXPECT_EQ(f.data<float>()[1], 2.5f);
  EXPECT_EQ(f.data<float>()[3], -4.0f);
  EXPECT_FALSE(r->request.inputs[1].value.tensor().data<bool>()[1]);
  EXPECT_EQ(r->request.inputs[2].value.tensor().data<uint64_t>()[0], UINT64_MAX);
  EXPECT_EQ(static_cast<float>(r->request.inputs[3].value.tensor().data<Float16>()[0]), 0.5f);
  EXPECT_EQ(r->request.inputs[4].value.tensor().data<std::string>()[0], "x");
  EXPECT_EQ(r->request.requested_outputs, (std::vector<std::string>{"y"}));
  EXPECT_TRUE(r->binary_output.at("y"));
  EXPECT_EQ(r->timeout_us, 500);
}

TEST(InferCodecTest, DecodesBinarySections) {
  std::string header = R"({"inputs": [
      {"name": "x", "shape": [2], "datatype": "INT32", "parameters": {"binary_data_size": 8}},
      {"name": "s", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 11}}]})";
  std::string body = header;
  int32_t ints[2] = {7, -9};
  body.append(reinterpret_cast<const char*>(ints), 8);
  body += std::string("\x03\0\0\0abc", 7) + std::string("\0\0\0\0", 4);
  auto r = decode_infer_request(body, header.size(), kNoRegions);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->request.inputs[0].value.tensor().data<int32_t>()[1], -9);
  EXPECT_EQ(r->request.inputs[1].value.tensor().data<std::string>()[0], "abc");
  EXPECT_EQ(r->request.inputs[1].value.tensor().data<std::string>()[1], "");
}

TEST(InferCodecTest, RejectsMalformedBodies) {
  EXPECT_NE(error_of(decode("{")).find("malformed JSON"), std::string::npos);
  EXPECT_NE(error_of(decode("{}")).find("'inputs'"), std::string::npos);
  EXPECT_NE(error_of(decode(R"({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1]}]})"))
                .find("input 'x': shape [2] needs 2 elements, data has 1"),
            std::string::npos);
  EXPECT_NE(error_of(decode(R"({"inputs": [{"name": "x", "shape": [1], "datatype": "INT8", "data": [200]}]})"))
                .find("not a valid INT8"),
            std::string::npos);
  EXPECT_NE(error_of(decode(R"({"inputs": [{"name": "x", "shape": [1], "datatype": "BOOL", "data": [1]}]})"))
                .find("not a valid BOOL"),
            std::string::npos);
  EXPECT_NE(
      error_of(decode(R"({"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": []}]})")).find("shape"),
      std::string::npos);
  EXPECT_NE(error_of(decode(R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP8", "data": [1]}]})"))
                .find("unknown datatype 'FP8'"),
            std::string::npos);
  EXPECT_NE(error_of(decode(R"({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]})")).find("'name'"),
            std::string::npos);
  // Binary: size beyond the body, a mismatched size, an over-long BYTES element.
  std::string h =
      R"({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]})";
  EXPECT_NE(error_of(decode_infer_request(h + "1234", h.size(), kNoRegions)).find("exceeds the 4 bytes left"),
            std::string::npos);
  std::string h6 =
      R"({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 6}}]})";
  EXPECT_NE(error_of(decode_infer_request(h6 + "123456", h6.size(), kNoRegions)).find("needs 8 bytes"),
            std::string::npos);
  std::string hs =
      R"({"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 5}}]})";
  EXPECT_NE(error_of(decode_infer_request(hs + std::string("\x09\0\0\0a", 5), hs.size(), kNoRegions)).find("truncated"),
            std::string::npos);
  EXPECT_NE(error_of(decode_infer_request(h, h.size() + 1, kNoRegions)).find("exceeds the body"), std::string::npos);
}

// What other clients write: tritonclient's C++ library an empty "id" beside binary inputs, the KServe
// SDK "data": null beside an empty binary tensor and "parameters": null, and Triton's shared memory
// parameters (checked here against no registered region; tests/server/shared_memory_test.py uses real ones).
TEST(InferCodecTest, AcceptsNullsAndChecksSharedMemoryParameters) {
  const std::string h =
      R"({"id": "", "model_name": "m", "inputs": [{"name": "s", "shape": [0], "datatype": "BYTES", "data": null,)"
      R"( "parameters": {"binary_data_size": 0}}], "outputs": [{"name": "y", "parameters": null}]})";
  auto r = decode_infer_request(h, h.size(), kNoRegions);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->request.id, "");
  EXPECT_EQ(r->request.inputs[0].value.tensor().shape(), (Shape{0}));
  auto in = decode(R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32",)"
                   R"( "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 4}}]})");
  ASSERT_FALSE(in.ok());
  EXPECT_EQ(in.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(in.status().message(), "input 'x': system shared memory region 'r' is not registered");
  auto out = decode(R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],)"
                    R"( "outputs": [{"name": "y", "parameters": {"shared_memory_region": "r"}}]})");
  EXPECT_EQ(error_of(out), "output 'y': parameter 'shared_memory_region' needs 'shared_memory_byte_size'");
  auto size_only = decode(R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1],)"
                          R"( "parameters": {"shared_memory_byte_size": 4}}]})");
  EXPECT_EQ(error_of(size_only).rfind("input 'x': shared_memory_byte_size and shared_memory_offset need", 0), 0u);
  auto negative =
      decode(R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters":)"
             R"( {"shared_memory_region": "r", "shared_memory_byte_size": 4, "shared_memory_offset": -1}}]})");
  EXPECT_EQ(error_of(negative), "input 'x': parameter 'shared_memory_offset' must be an integer >= 0");
}

TEST(InferCodecTest, EncodesJsonAndBinaryOutputs) {
  InferenceResponse resp;
  resp.model = "m";
  resp.version = 3;
  resp.id = "r";
  resp.outputs.push_back({"y", Value(Tensor::from_vector<float>({2}, {0.1f, 2.0f}))});
  resp.outputs.push_back({"z", Value(Tensor::from_vector<int64_t>({1}, {-5}))});
  DecodedInferRequest req;
  auto json = encode_infer_response(resp, req);
  ASSERT_TRUE(json.ok());
  EXPECT_FALSE(json->header_length.has_value());
  EXPECT_EQ(json->body,
            R"({"model_name":"m","model_version":"3","id":"r","outputs":[{"name":"y","datatype":"FP32","shape":[2],)"
            R"("data":[0.1,2]},{"name":"z","datatype":"INT64","shape":[1],"data":[-5]}]})");
  req.binary_output["z"] = true;
  auto bin = encode_infer_response(resp, req);
  ASSERT_TRUE(bin.ok());
  ASSERT_TRUE(bin->header_length.has_value());
  EXPECT_EQ(bin->body.size(), *bin->header_length + 8);
  int64_t z = 0;
  std::memcpy(&z, bin->body.data() + *bin->header_length, 8);
  EXPECT_EQ(z, -5);
  EXPECT_NE(bin->body.find(R"("parameters":{"binary_data_size":8})"), std::string::npos);
}

}  // namespace
}  // namespace kiln::serve::http
