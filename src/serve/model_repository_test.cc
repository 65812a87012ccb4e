// ModelRepository and ModelVersion on a repository written to a temporary folder: config completion,
// version policies, request validation messages, inference through the scheduler, explicit
// load/unload, and a broken model reported without stopping the others.
#include "serve/model_repository.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <future>

namespace kiln::serve {
namespace {

namespace fs = std::filesystem;

// y = Identity(x), x and y float[batch, 2].
std::string identity_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  for (auto [vi, name] : {std::pair{g->add_input(), "x"}, std::pair{g->add_output(), "y"}}) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_param("batch");
    tt->mutable_shape()->add_dim()->set_dim_value(2);
  }
  auto* n = g->add_node();
  n->set_op_type("Identity");
  n->add_input("x");
  n->add_output("y");
  return m.SerializeAsString();
}

void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("kiln_repo_test_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    write(root_ / "auto" / "1" / "model.onnx", identity_model());
    write(root_ / "auto" / "3" / "model.onnx", identity_model());
    write(root_ / "pinned" / "1" / "model.onnx", identity_model());
    write(root_ / "pinned" / "config.pbtxt",
          "name: \"pinned\" max_batch_size: 0 input [{ name: \"x\" data_type: TYPE_FP32 dims: [3, 2] }]\n"
          "version_policy: { all {} }");
    write(root_ / "broken" / "1" / "model.onnx", "not a model");
  }
  void TearDown() override { fs::remove_all(root_); }

  RepositoryOptions options(ModelControlMode mode) {
    RepositoryOptions o;
    o.root = root_.string();
    o.mode = mode;
    return o;
  }

  fs::path root_;
  ServeMetrics metrics_;
};

Expected<InferenceResponse> infer(ModelVersion& mv, InferenceRequest req) {
  auto p = std::make_shared<std::promise<Expected<InferenceResponse>>>();
  auto f = p->get_future();
  Status st = mv.submit(std::move(req), [p](Expected<InferenceResponse> r) { p->set_value(std::move(r)); });
  if (!st.ok()) return st;
  return f.get();
}

InferenceRequest request(Shape shape) {
  InferenceRequest r;
  Tensor x(DataType::kFloat32, shape);
  for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = static_cast<float>(i);
  r.inputs.push_back({"x", Value(x)});
  return r;
}

TEST_F(ModelRepositoryTest, LoadsAllAndReportsTheBrokenOne) {
  ModelRepository repo(options(ModelControlMode::kNone), &metrics_);
  auto failures = repo.load_all();
  ASSERT_TRUE(failures.ok());
  ASSERT_EQ(failures->size(), 1u);
  EXPECT_NE((*failures)[0].message().find("model 'broken' version 1"), std::string::npos) << (*failures)[0].message();
  EXPECT_FALSE(repo.ready());  // strict readiness: a model that failed to load makes the server unready
  EXPECT_EQ(repo.find("broken", 0).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(repo.find("nope", 0).status().code(), StatusCode::kNotFound);

  // No config: latest version only, batching inferred from the dynamic first dim.
  auto latest = repo.find("auto", 0);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ((*latest)->version(), 3);
  EXPECT_EQ(repo.find("auto", 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*latest)->config().max_batch_size, kDefaultMaxBatchSize);
  EXPECT_EQ((*latest)->config().inputs[0].dims, (std::vector<int64_t>{-1, 2}));

  // A config that pins the dynamic dim to 3 and disables batching.
  auto pinned = repo.find("pinned", 1);
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ((*pinned)->config().inputs[0].dims, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ((*pinned)->config().outputs[0].dims, (std::vector<int64_t>{-1, 2}));
}

TEST_F(ModelRepositoryTest, InfersAndValidates) {
  ModelRepository repo(options(ModelControlMode::kNone), &metrics_);
  ASSERT_TRUE(repo.load_all().ok());
  auto mv = repo.find("auto", 0);
  ASSERT_TRUE(mv.ok());
  auto out = infer(**mv, request({2, 2}));
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->model, "auto");
  EXPECT_EQ(out->version, 3);
  EXPECT_EQ(out->outputs[0].value.tensor().data<float>()[3], 3.0f);

  EXPECT_EQ(infer(**mv, request({2, 3})).status().message(),
            "model 'auto' input 'x': expected shape [-1, 2], got [2, 3]");
  EXPECT_NE(infer(**mv, request({5, 2})).status().message().find("exceeds max_batch_size 4"), std::string::npos);
  InferenceRequest wrong_name = request({1, 2});
  wrong_name.inputs[0].name = "q";
  EXPECT_EQ(infer(**mv, wrong_name).status().message(), "model 'auto': unknown input 'q'");
  InferenceRequest wrong_type;
  wrong_type.inputs.push_back({"x", Value(Tensor(DataType::kInt32, {1, 2}))});
  EXPECT_EQ(infer(**mv, wrong_type).status().message(), "model 'auto' input 'x': expected datatype FP32, got INT32");
  EXPECT_EQ(infer(**mv, InferenceRequest{}).status().message(), "model 'auto': missing input 'x'");
  InferenceRequest bad_output = request({1, 2});
  bad_output.requested_outputs = {"nope"};
  EXPECT_EQ(infer(**mv, bad_output).status().message(), "model 'auto': unknown output 'nope'");

  auto pinned = repo.find("pinned", 0);
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ(infer(**pinned, request({2, 2})).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(infer(**pinned, request({3, 2})).ok());
}

TEST_F(ModelRepositoryTest, ExplicitLoadAndUnload) {
  ModelRepository repo(options(ModelControlMode::kExplicit), &metrics_);
  EXPECT_EQ(repo.find("auto", 0).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(repo.load("auto").ok());
  EXPECT_TRUE(repo.find("auto", 0).ok());
  EXPECT_TRUE(repo.load("auto").ok());  // reload swaps in new versions
  EXPECT_EQ(repo.load("ghost").code(), StatusCode::kNotFound);
  EXPECT_EQ(repo.load("../etc").code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(repo.load("broken").ok());
  auto index = repo.index();
  ASSERT_EQ(index.size(), 3u);
  EXPECT_EQ(index[0].name, "auto");
  EXPECT_EQ(index[0].state, "READY");
  EXPECT_EQ(index[1].name, "broken");
  EXPECT_EQ(index[1].state, "UNAVAILABLE");
  EXPECT_FALSE(index[1].reason.empty());
  EXPECT_TRUE(repo.unload("auto").ok());
  EXPECT_EQ(repo.unload("auto").code(), StatusCode::kNotFound);
  EXPECT_EQ(repo.find("auto", 0).status().code(), StatusCode::kNotFound);
}

TEST_F(ModelRepositoryTest, ClassificationNamesClassesFromTheLabelFile) {
  const std::string config = "max_batch_size: 4 output [{ name: \"y\" label_filename: \"labels.txt\" }]";
  write(root_ / "labeled" / "1" / "model.onnx", identity_model());
  write(root_ / "labeled" / "config.pbtxt", config);
  write(root_ / "labeled" / "labels.txt", "cat\r\ndog\n");
  write(root_ / "unlabeled" / "1" / "model.onnx", identity_model());
  write(root_ / "unlabeled" / "config.pbtxt", config);
  ModelRepository repo(options(ModelControlMode::kExplicit), &metrics_);
  ASSERT_TRUE(repo.load("labeled").ok());
  auto mv = repo.find("labeled", 0);
  ASSERT_TRUE(mv.ok());
  EXPECT_EQ((*mv)->config().outputs[0].labels, (std::vector<std::string>{"cat", "dog"}));
  InferenceRequest req = request({2, 2});  // rows [0, 1] and [2, 3]
  req.classification = {{"y", 2}};
  auto out = infer(**mv, std::move(req));
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  const Tensor& top = out->outputs[0].value.tensor();
  EXPECT_EQ(
      std::vector<std::string>(top.data<std::string>(), top.data<std::string>() + top.size()),
      (std::vector<std::string>{"1.000000000:1:dog", "0.000000000:0:cat", "3.000000000:1:dog", "2.000000000:0:cat"}));

  const Status missing = repo.load("unlabeled");
  EXPECT_EQ(missing.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.message(),
            "model 'unlabeled' output 'y': no label file " + (root_ / "unlabeled" / "labels.txt").string());
}

TEST_F(ModelRepositoryTest, ModeNoneRefusesLoadAndUnload) {
  ModelRepository repo(options(ModelControlMode::kNone), &metrics_);
  EXPECT_EQ(repo.load("auto").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(repo.unload("auto").code(), StatusCode::kFailedPrecondition);
}

TEST_F(ModelRepositoryTest, ShutdownMakesModelsUnavailable) {
  ModelRepository repo(options(ModelControlMode::kNone), &metrics_);
  ASSERT_TRUE(repo.load_all().ok());
  auto mv = repo.find("auto", 0);
  ASSERT_TRUE(mv.ok());
  repo.shutdown();
  EXPECT_FALSE(repo.ready());
  EXPECT_EQ(repo.find("auto", 0).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(infer(**mv, request({1, 2})).status().code(), StatusCode::kUnavailable);
}

TEST_F(ModelRepositoryTest, PollFollowsTheFolder) {
  fs::remove_all(root_ / "broken");
  fs::remove_all(root_ / "pinned");
  ModelRepository repo(options(ModelControlMode::kPoll), &metrics_);
  ASSERT_TRUE(repo.load_all().ok());
  EXPECT_TRUE(repo.poll().empty());  // nothing changed
  EXPECT_EQ(repo.load("auto").code(), StatusCode::kFailedPrecondition);

  write(root_ / "auto" / "4" / "model.onnx", identity_model());
  auto report = repo.poll();
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0], "model 'auto' loaded");
  EXPECT_EQ((*repo.find("auto", 0))->version(), 4);

  write(root_ / "auto" / "5" / "model.onnx", "garbage");
  report = repo.poll();
  ASSERT_EQ(report.size(), 1u);
  EXPECT_NE(report[0].find("model 'auto' version 5"), std::string::npos) << report[0];
  EXPECT_EQ((*repo.find("auto", 0))->version(), 4);  // the old version keeps serving
  EXPECT_TRUE(repo.ready());
  EXPECT_TRUE(repo.poll().empty());  // a failed load is retried only when the files change again

  write(root_ / "fresh" / "1" / "model.onnx", identity_model());
  fs::remove_all(root_ / "auto");
  report = repo.poll();
  ASSERT_EQ(report.size(), 2u);
  EXPECT_EQ(report[0], "model 'fresh' loaded");
  EXPECT_EQ(report[1], "model 'auto' unloaded: its folder is gone");
  EXPECT_EQ(repo.find("auto", 0).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace kiln::serve
