// Session memory over many input shapes: whatever is kept per shape (recycled buffers, oneDNN
// primitives) must stay bounded, so a server fed ever new shapes does not grow without end. Measures
// resident memory; times nothing.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <fstream>
#include <thread>
#include <vector>

#include <unistd.h>

#include "exec/run_threads.h"
#include "kiln/session.h"

namespace kiln {
namespace {

void set_tensor_type(onnx::ValueInfoProto* vi, const std::string& name, const std::string& rows, int64_t cols) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param(rows);
  tt->mutable_shape()->add_dim()->set_dim_value(cols);
}

// y = Relu(MatMul(x, W) + b): x float[n, 64], a oneDNN MatMul whose primitive depends on n.
std::unique_ptr<Session> load_dense_layer() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  set_tensor_type(g->add_input(), "x", "n", 64);
  set_tensor_type(g->add_output(), "y", "n", 64);
  auto* w = g->add_initializer();
  w->set_name("W");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(64);
  w->add_dims(64);
  for (int i = 0; i < 64 * 64; ++i) w->add_float_data(static_cast<float>(i % 7) * 0.01f);
  auto* b = g->add_initializer();
  b->set_name("b");
  b->set_data_type(onnx::TensorProto::FLOAT);
  b->add_dims(64);
  for (int i = 0; i < 64; ++i) b->add_float_data(0.5f);
  auto node = [&](const char* op, std::vector<std::string> in, const char* out) {
    auto* n = g->add_node();
    n->set_op_type(op);
    for (const auto& i : in) n->add_input(i);
    n->add_output(out);
  };
  node("MatMul", {"x", "W"}, "xw");
  node("Add", {"xw", "b"}, "xwb");
  node("Relu", {"xwb"}, "y");
  const std::string bytes = m.SerializeAsString();
  auto s = Session::load_from_bytes(bytes.data(), bytes.size());
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? std::move(s).value() : nullptr;
}

// Resident set of this process in bytes (/proc/self/statm's second field, in pages).
size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

bool run_rows(const Session& s, int64_t rows) {
  Tensor x(DataType::kFloat32, {rows, 64});
  for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = static_cast<float>(i % 13) - 6;
  auto out = s.run({{"x", x}});
  return out.ok() && (*out)[0].value.tensor().dim(0) == rows;
}

TEST(SessionMemory, ResidentMemoryStaysBoundedOverAThousandInputShapes) {
  auto s = load_dense_layer();
  ASSERT_TRUE(s);
  // Row counts 1000..1999: every shape is new, and every working set is of similar size, so growth
  // can only come from what is kept per shape.
  for (int64_t rows = 1000; rows < 1010; ++rows) ASSERT_TRUE(run_rows(*s, rows));
  const size_t after_ten = resident_bytes();
  for (int64_t rows = 1010; rows < 2000; ++rows) ASSERT_TRUE(run_rows(*s, rows));
  const size_t after_thousand = resident_bytes();
  // In the XML report (--gtest_output=xml), for docs/execution.md.
  RecordProperty("resident_kib_after_10_shapes", static_cast<int>(after_ten / 1024));
  RecordProperty("resident_kib_after_1000_shapes", static_cast<int>(after_thousand / 1024));
  EXPECT_LE(static_cast<double>(after_thousand), 1.2 * static_cast<double>(after_ten))
      << "resident set grew from " << after_ten / 1024 << " KiB after 10 shapes to " << after_thousand / 1024
      << " KiB after 1000";
}

// Runs from several threads at once: each run's intra-op team comes out of the process's core budget.
// A run that started alone may hold every core until its next node, so at any instant the runs hold at
// most the cores plus one thread per other run; between nodes they give back the excess (CoreBudget
// tests check that step by step, deterministically).
TEST(SessionMemory, ConcurrentRunsShareTheCores) {
  auto s = load_dense_layer();
  ASSERT_TRUE(s);
  const int cores = CoreBudget::process().cores();
  constexpr int kThreads = 4;
  std::atomic<int> failures{0};
  std::atomic<int> too_many{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      RunOptions options;
      // Called inside the run, while its threads are held from the budget.
      options.on_node_timed = [&](const NodeTiming&) {
        if (CoreBudget::process().in_use() > cores + kThreads - 1) ++too_many;
      };
      for (int i = 0; i < 50; ++i) {
        Tensor x(DataType::kFloat32, {8, 64});
        if (!s->run({{"x", x}}, options).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(too_many.load(), 0);
  EXPECT_EQ(CoreBudget::process().in_use(), 0);  // every run gave its threads back
}

}  // namespace
}  // namespace kiln
