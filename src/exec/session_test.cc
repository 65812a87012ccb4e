// Session: loading checks, input validation, and concurrent runs, on small models built in memory.
#include "kiln/session.h"

#include <gtest/gtest.h>
#include <omp.h>
#include <onnx/onnx_pb.h>

#include <thread>

namespace kiln {
namespace {

void set_tensor_type(onnx::ValueInfoProto* vi, const std::string& name, int elem,
                     const std::vector<std::string>& dims) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* shape = tt->mutable_shape();
  for (const std::string& d : dims) {
    auto* dim = shape->add_dim();
    if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0]))) dim->set_dim_value(std::stoll(d));
    else if (!d.empty()) dim->set_dim_param(d);
  }
}

// y = Identity(x), z = Identity(w); x float[batch, 3], w float[batch] with a default.
onnx::ModelProto two_identities(int64_t opset = 13) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(opset);
  auto* g = m.mutable_graph();
  set_tensor_type(g->add_input(), "x", onnx::TensorProto::FLOAT, {"batch", "3"});
  set_tensor_type(g->add_input(), "w", onnx::TensorProto::FLOAT, {"batch"});
  set_tensor_type(g->add_output(), "y", onnx::TensorProto::FLOAT, {"batch", "3"});
  set_tensor_type(g->add_output(), "z", onnx::TensorProto::FLOAT, {"batch"});
  auto* init = g->add_initializer();
  init->set_name("w");
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(2);
  init->add_float_data(4);
  init->add_float_data(5);
  // Deliberately out of order: z's node first, then y's; both are independent.
  auto* n1 = g->add_node();
  n1->set_op_type("Identity");
  n1->add_input("w");
  n1->add_output("z");
  auto* n2 = g->add_node();
  n2->set_op_type("Identity");
  n2->add_input("x");
  n2->add_output("y");
  return m;
}

std::unique_ptr<Session> load(const onnx::ModelProto& m) {
  const std::string bytes = m.SerializeAsString();
  auto s = Session::load_from_bytes(bytes.data(), bytes.size());
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? std::move(s).value() : nullptr;
}

Status load_error(const onnx::ModelProto& m) {
  const std::string bytes = m.SerializeAsString();
  return Session::load_from_bytes(bytes.data(), bytes.size()).status();
}

TEST(Session, DescribesInputsAndOutputs) {
  auto s = load(two_identities());
  ASSERT_TRUE(s);
  ASSERT_EQ(s->inputs().size(), 2u);
  EXPECT_EQ(s->inputs()[0].type_string, "float[batch, 3]");
  EXPECT_EQ(s->inputs()[0].dims, (std::vector<int64_t>{-1, 3}));
  EXPECT_FALSE(s->inputs()[0].has_default);
  EXPECT_TRUE(s->inputs()[1].has_default);
  EXPECT_EQ(s->info().node_count, 2);
  EXPECT_EQ(s->info().parameter_count, 2);
  EXPECT_EQ(s->info().op_histogram.at("Identity"), 2);
}

TEST(Session, RunsWithDefaultsAndOverrides) {
  auto s = load(two_identities());
  ASSERT_TRUE(s);
  Tensor x = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = s->run({{"x", x}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].name, "y");
  EXPECT_EQ((*out)[0].value.tensor().data<float>()[5], 6);
  EXPECT_EQ((*out)[1].value.tensor().data<float>()[1], 5);  // the initializer's default
  auto overridden = s->run({{"x", x}, {"w", Tensor::from_vector<float>({2}, {7, 8})}});
  ASSERT_TRUE(overridden.ok());
  EXPECT_EQ((*overridden)[1].value.tensor().data<float>()[0], 7);
}

// The profiling hook reports every node of the main graph once, in execution order; no timing is checked.
TEST(Session, ReportsEachNodeToTheTimingHook) {
  auto s = load(two_identities());
  ASSERT_TRUE(s);
  std::vector<std::string> seen;
  RunOptions options;
  options.on_node_timed = [&](const NodeTiming& t) {
    EXPECT_GE(t.nanoseconds, 0);
    seen.push_back(std::string(t.op_type) + "(" + std::string(t.domain) + ")");
  };
  auto out = s->run({{"x", Tensor::from_vector<float>({1, 3}, {1, 2, 3})}}, options);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(seen, (std::vector<std::string>{"Identity()", "Identity()"}));
  EXPECT_EQ((*out)[0].value.tensor().data<float>()[2], 3);
}

TEST(Session, RejectsBadInputsWithNamedErrors) {
  auto s = load(two_identities());
  ASSERT_TRUE(s);
  Tensor good = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto message = [&](std::vector<NamedValue> in) { return s->run(in).status().message(); };
  EXPECT_NE(message({}).find("input 'x' (float[batch, 3]) is missing"), std::string::npos);
  EXPECT_NE(message({{"x", good}, {"q", good}}).find("no input named 'q'"), std::string::npos);
  EXPECT_NE(message({{"x", Tensor(DataType::kInt64, {2, 3})}}).find("expects data type float, got int64"),
            std::string::npos);
  EXPECT_NE(message({{"x", Tensor(DataType::kFloat32, {6})}}).find("expects rank 2"), std::string::npos);
  EXPECT_NE(message({{"x", Tensor(DataType::kFloat32, {2, 4})}}).find("dimension 1 to be 3"), std::string::npos);
  // batch = 2 from x, but w says 3.
  EXPECT_NE(message({{"x", good}, {"w", Tensor(DataType::kFloat32, {3})}}).find("batch = 3"), std::string::npos);
  EXPECT_NE(message({{"x", good}, {"x", good}}).find("given twice"), std::string::npos);
}

TEST(Session, RejectsUnsupportedModels) {
  EXPECT_NE(load_error(two_identities(18)).message().find("opset 18 of domain ai.onnx is not supported"),
            std::string::npos);
  onnx::ModelProto unknown_op = two_identities();
  unknown_op.mutable_graph()->mutable_node(0)->set_op_type("NoSuchOp");
  EXPECT_NE(load_error(unknown_op).message().find("operator NoSuchOp is not supported"), std::string::npos);
  onnx::ModelProto unknown_domain = two_identities();
  unknown_domain.mutable_graph()->mutable_node(0)->set_domain("com.example");
  EXPECT_NE(load_error(unknown_domain).message().find("domain 'com.example' is not imported"), std::string::npos);
  onnx::ModelProto dangling = two_identities();
  dangling.mutable_graph()->mutable_node(1)->set_input(0, "nowhere");
  EXPECT_NE(load_error(dangling).message().find("input 'nowhere' is not produced"), std::string::npos);
  onnx::ModelProto cycle = two_identities();
  cycle.mutable_graph()->mutable_node(0)->set_input(0, "y");
  cycle.mutable_graph()->mutable_node(1)->set_input(0, "z");
  EXPECT_NE(load_error(cycle).message().find("cycle"), std::string::npos);
}

TEST(Session, RejectsCorruptBytes) {
  const std::string bytes = two_identities().SerializeAsString();
  for (size_t cut : {size_t{1}, bytes.size() / 2, bytes.size() - 1}) {
    auto s = Session::load_from_bytes(bytes.data(), cut);
    EXPECT_FALSE(s.ok()) << "cut at " << cut;
  }
  const std::string junk = "this is not an onnx model";
  EXPECT_FALSE(Session::load_from_bytes(junk.data(), junk.size()).ok());
  auto missing = Session::load("/nonexistent/model.onnx");
  EXPECT_EQ(missing.status().code(), StatusCode::kIOError);
  EXPECT_NE(missing.status().message().find("/nonexistent/model.onnx"), std::string::npos);
}

TEST(Session, OutputLargerThanMemoryIsAnErrorNotACrash) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  set_tensor_type(g->add_input(), "shape", onnx::TensorProto::INT64, {"3"});
  set_tensor_type(g->add_output(), "y", onnx::TensorProto::FLOAT, {});
  auto* n = g->add_node();
  n->set_op_type("ConstantOfShape");
  n->set_name("fill");
  n->add_input("shape");
  n->add_output("y");
  auto s = load(m);
  ASSERT_TRUE(s);
  auto out = s->run({{"shape", Tensor::from_vector<int64_t>({3}, {1 << 20, 1 << 20, 1 << 20})}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted) << out.status().to_string();
  EXPECT_NE(out.status().message().find("ConstantOfShape node 'fill'"), std::string::npos);
}

// The warm-up run at load feeds zeros; a model that rejects them (here: zeros are no valid shape for
// Reshape) still loads, and runs on real inputs.
TEST(Session, LoadsWhenTheWarmUpRunFails) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  set_tensor_type(g->add_input(), "x", onnx::TensorProto::FLOAT, {"6"});
  set_tensor_type(g->add_input(), "shape", onnx::TensorProto::INT64, {"2"});
  set_tensor_type(g->add_output(), "y", onnx::TensorProto::FLOAT, {});
  auto* n = g->add_node();
  n->set_op_type("Reshape");
  n->add_input("x");
  n->add_input("shape");
  n->add_output("y");
  auto s = load(m);
  ASSERT_TRUE(s);
  auto out = s->run({{"x", Tensor::from_vector<float>({6}, {1, 2, 3, 4, 5, 6})},
                     {"shape", Tensor::from_vector<int64_t>({2}, {2, 3})}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].value.tensor().shape(), (Shape{2, 3}));
}

TEST(Session, ConcurrentRunsAreIndependent) {
  auto s = load(two_identities());
  ASSERT_TRUE(s);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        Tensor x = Tensor::from_vector<float>({1, 3}, {float(t), float(i), 0});
        auto out = s->run({{"x", x}});
        if (!out.ok() || (*out)[0].value.tensor().data<float>()[0] != float(t) ||
            (*out)[0].value.tensor().data<float>()[1] != float(i)) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(Session, RunOptionsCapTheTeamOfOneRun) {
  const std::string bytes = two_identities().SerializeAsString();
  SessionOptions options;
  options.intra_op_threads = 4;
  auto s = Session::load_from_bytes(bytes.data(), bytes.size(), options);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  // The hook runs on the run's thread inside its threading scope, where OpenMP's thread count is the team's.
  std::vector<int> teams;
  RunOptions run;
  run.intra_op_threads = 1;
  run.on_node_timed = [&teams](const NodeTiming&) { teams.push_back(omp_get_max_threads()); };
  auto out = (*s)->run({{"x", Tensor::from_vector<float>({1, 3}, {1, 2, 3})}}, run);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].value.tensor().data<float>()[2], 3.0f);
  ASSERT_FALSE(teams.empty());
  for (int t : teams) EXPECT_EQ(t, 1);
}

}  // namespace
}  // namespace kiln
