// config.pbtxt parsing: the fields kiln reads, unknown fields ignored, errors naming file and field.
#include "serve/model_config.h"

#include <gtest/gtest.h>

#include "serve/model_repository.h"

namespace kiln::serve {
namespace {

TEST(ModelConfigTest, ParsesTritonConfig) {
  const char* text = R"pb(
    name: "resnet"  # a comment
    platform: "onnxruntime_onnx"
    max_batch_size: 8 input
    [ {
      name: "x"
      data_type: TYPE_FP32
      dims: [ 3, -1 ]
    }] output
    [ {
      name: "y",
      data_type: TYPE_INT64,
      dims: [ 10 ]
    }
      , { name: "z" data_type: TYPE_STRING dims: 1 }]
    dynamic_batching {
      preferred_batch_size: [ 4, 8 ]
      max_queue_delay_microseconds: 100
    } instance_group
    [ { count: 2 kind: KIND_CPU }
      , { count: 1 }]
    version_policy: { specific { versions: [ 1, 3 ] } }
    optimization {
      execution_accelerators {
        cpu_execution_accelerator:
        [ { name: "x" }]
      }
    }
  )pb";
  auto c = parse_model_config(text, "config.pbtxt");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->name, "resnet");
  EXPECT_EQ(c->max_batch_size, 8);
  EXPECT_TRUE(c->max_batch_size_set);
  ASSERT_EQ(c->inputs.size(), 1u);
  EXPECT_EQ(c->inputs[0].dtype, DataType::kFloat32);
  EXPECT_EQ(c->inputs[0].dims, (std::vector<int64_t>{3, -1}));
  ASSERT_EQ(c->outputs.size(), 2u);
  EXPECT_EQ(c->outputs[1].dtype, DataType::kString);
  EXPECT_EQ(c->outputs[1].dims, (std::vector<int64_t>{1}));
  EXPECT_TRUE(c->dynamic_batching);
  EXPECT_EQ(c->preferred_batch_sizes, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(c->max_queue_delay_us, 100);
  EXPECT_EQ(c->instance_count, 3);
  EXPECT_EQ(c->version_policy.kind, VersionPolicy::Kind::kSpecific);
  EXPECT_EQ(c->version_policy.versions, (std::vector<int64_t>{1, 3}));
}

TEST(ModelConfigTest, ReadsAnOutputsLabelFilename) {
  auto c = parse_model_config(R"pb(output
                                   [ { name: "y" label_filename: "labels.txt" }
                                     , { name: "z" }])pb", "c");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->outputs[0].label_filename, "labels.txt");
  EXPECT_EQ(c->outputs[1].label_filename, "");
  auto bad = parse_model_config("output { name: \"y\" label_filename: { } }", "c");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "c: output 'y': label_filename: expected a quoted file name");
}

TEST(ModelConfigTest, DefaultsWhenEmpty) {
  auto c = parse_model_config("", "config.pbtxt");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->max_batch_size_set);
  EXPECT_FALSE(c->dynamic_batching);
  EXPECT_EQ(c->instance_count, 1);
  EXPECT_EQ(c->version_policy.kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(c->version_policy.num_versions, 1);
}

TEST(ModelConfigTest, ErrorsNameFileLineAndField) {
  auto bad_syntax = parse_model_config("name: \"a\"\nmax_batch_size 8", "m/config.pbtxt");
  ASSERT_FALSE(bad_syntax.ok());
  EXPECT_NE(bad_syntax.status().message().find("m/config.pbtxt:2"), std::string::npos) << bad_syntax.status().message();
  auto bad_int = parse_model_config("max_batch_size: \"eight\"", "c");
  ASSERT_FALSE(bad_int.ok());
  EXPECT_NE(bad_int.status().message().find("max_batch_size"), std::string::npos);
  auto bad_type = parse_model_config("input { name: \"x\" data_type: TYPE_FP99 }", "c");
  ASSERT_FALSE(bad_type.ok());
  EXPECT_NE(bad_type.status().message().find("TYPE_FP99"), std::string::npos);
  EXPECT_FALSE(parse_model_config("platform: \"tensorflow_savedmodel\"", "c").ok());
  EXPECT_FALSE(parse_model_config("dynamic_batching { ", "c").ok());
  EXPECT_FALSE(parse_model_config("name: \"unterminated", "c").ok());
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "a {";
  EXPECT_FALSE(parse_model_config(deep, "c").ok());
}

TEST(ModelConfigTest, VersionPolicies) {
  VersionPolicy latest;
  latest.num_versions = 2;
  EXPECT_EQ(select_versions(latest, {3, 1, 7}), (std::vector<int64_t>{3, 7}));
  VersionPolicy all;
  all.kind = VersionPolicy::Kind::kAll;
  EXPECT_EQ(select_versions(all, {3, 1}), (std::vector<int64_t>{1, 3}));
  VersionPolicy specific;
  specific.kind = VersionPolicy::Kind::kSpecific;
  specific.versions = {1, 9};
  EXPECT_EQ(select_versions(specific, {3, 1}), (std::vector<int64_t>{1}));
  EXPECT_TRUE(select_versions(VersionPolicy{}, {}).empty());
}

}  // namespace
}  // namespace kiln::serve
