// RunOptions::deadline and RunOptions::cancelled: a Loop of endless trip count stops with
// DeadlineExceeded or Cancelled naming the Loop node, whether its body has nodes (the executor's check
// between nodes stops it) or is empty (only the Loop kernel's check between iterations can: without
// it, the EmptyBody cases would never return). The assertions hold whenever the stop happens.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <limits>
#include <thread>

#include "kiln/session.h"

namespace kiln {
namespace {

void set_tensor_type(onnx::ValueInfoProto* vi, const std::string& name, int elem, const std::vector<int64_t>& dims) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

// y = Loop(M = INT64_MAX, cond = "", x) with a body that computes acc + 1 (or, `empty_body`, passes acc
// through): as good as endless.
onnx::ModelProto endless_loop(bool empty_body) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  set_tensor_type(g->add_input(), "x", onnx::TensorProto::FLOAT, {1});
  set_tensor_type(g->add_output(), "y", onnx::TensorProto::FLOAT, {1});
  auto* trip = g->add_initializer();
  trip->set_name("M");
  trip->set_data_type(onnx::TensorProto::INT64);
  trip->add_int64_data(std::numeric_limits<int64_t>::max());
  auto* loop = g->add_node();
  loop->set_name("endless");
  loop->set_op_type("Loop");
  loop->add_input("M");
  loop->add_input("");
  loop->add_input("x");
  loop->add_output("y");
  auto* attr = loop->add_attribute();
  attr->set_name("body");
  attr->set_type(onnx::AttributeProto::GRAPH);
  auto* body = attr->mutable_g();
  body->set_name("body");
  set_tensor_type(body->add_input(), "i", onnx::TensorProto::INT64, {});
  set_tensor_type(body->add_input(), "cond_in", onnx::TensorProto::BOOL, {});
  set_tensor_type(body->add_input(), "acc", onnx::TensorProto::FLOAT, {1});
  set_tensor_type(body->add_output(), "cond_in", onnx::TensorProto::BOOL, {});
  if (empty_body) {
    set_tensor_type(body->add_output(), "acc", onnx::TensorProto::FLOAT, {1});
  } else {
    set_tensor_type(body->add_output(), "acc_out", onnx::TensorProto::FLOAT, {1});
    auto* one = body->add_initializer();
    one->set_name("one");
    one->set_data_type(onnx::TensorProto::FLOAT);
    one->add_float_data(1);
    auto* add = body->add_node();
    add->set_name("step");
    add->set_op_type("Add");
    add->add_input("acc");
    add->add_input("one");
    add->add_output("acc_out");
  }
  return m;
}

std::unique_ptr<Session> load(const onnx::ModelProto& m) {
  const std::string bytes = m.SerializeAsString();
  SessionOptions options;
  options.optimize = false;  // keep the model exactly as written
  options.warm_up = false;   // a warm-up would spin the endless Loop until its own time limit
  auto s = Session::load_from_bytes(bytes.data(), bytes.size(), options);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? std::move(s).value() : nullptr;
}

std::vector<NamedValue> one_input() { return {{"x", Value(Tensor::scalar<float>(0).reshaped({1}))}}; }

class EndlessLoop : public ::testing::TestWithParam<bool> {};

TEST_P(EndlessLoop, StopsAtTheDeadline) {
  auto s = load(endless_loop(GetParam()));
  ASSERT_TRUE(s);
  RunOptions options;
  options.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  auto out = s->run(one_input(), options);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kDeadlineExceeded) << out.status().to_string();
  // Usually "... before iteration N"; on a loaded machine the deadline may pass before the Loop node
  // starts, and the executor's check stops the run there instead. Either way the Loop is named.
  EXPECT_NE(out.status().message().find("'endless'"), std::string::npos) << out.status().message();
}

TEST_P(EndlessLoop, StopsWhenAnotherThreadCancels) {
  auto s = load(endless_loop(GetParam()));
  ASSERT_TRUE(s);
  std::atomic<bool> cancelled{false};
  RunOptions options;
  options.cancelled = &cancelled;
  std::thread canceller([&cancelled] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    cancelled = true;
  });
  auto out = s->run(one_input(), options);
  canceller.join();
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kCancelled) << out.status().to_string();
  EXPECT_NE(out.status().message().find("'endless'"), std::string::npos) << out.status().message();
}

TEST_P(EndlessLoop, StopsWhenCancelWhenSaysSo) {
  auto s = load(endless_loop(GetParam()));
  ASSERT_TRUE(s);
  // Asked before every node and iteration: the hundredth time it answers yes, and the Loop stops there.
  int asked = 0;
  RunOptions options;
  options.cancel_when = [&asked] { return ++asked >= 100; };
  auto out = s->run(one_input(), options);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kCancelled) << out.status().to_string();
  EXPECT_EQ(asked, 100);
}

INSTANTIATE_TEST_SUITE_P(RunStop, EndlessLoop, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "EmptyBody" : "BodyWithNodes"; });

TEST(RunStop, AlreadyCancelledRunComputesNothing) {
  auto s = load(endless_loop(false));
  ASSERT_TRUE(s);
  const std::atomic<bool> cancelled{true};
  RunOptions options;
  options.cancelled = &cancelled;
  auto out = s->run(one_input(), options);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kCancelled);
  // Stopped before the Loop node itself ran, so no iteration is named.
  EXPECT_EQ(out.status().message().find("iteration"), std::string::npos) << out.status().message();
}

TEST(RunStop, UnsetFlagAndFarDeadlineChangeNothing) {
  onnx::ModelProto m = endless_loop(false);
  m.mutable_graph()->mutable_initializer(0)->set_int64_data(0, 3);  // three iterations: y = x + 3
  auto s = load(m);
  ASSERT_TRUE(s);
  const std::atomic<bool> cancelled{false};
  RunOptions options;
  options.cancelled = &cancelled;
  options.deadline = std::chrono::steady_clock::now() + std::chrono::hours(1);
  auto out = s->run(one_input(), options);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].value.tensor().data<float>()[0], 3.0f);
}

}  // namespace
}  // namespace kiln
