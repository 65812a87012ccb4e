// make_random_inputs: shapes from declared inputs, --dims, and the value recipe ort_bench.js mirrors.
#include "random_inputs.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

namespace kiln::cli {
namespace {

void add_input(onnx::GraphProto* g, const std::string& name, int elem, const std::vector<std::string>& dims,
               bool as_output) {
  auto* vi = as_output ? g->add_output() : g->add_input();
  vi->set_name(as_output ? name + "_out" : name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  for (const std::string& d : dims) {
    auto* dim = tt->mutable_shape()->add_dim();
    if (std::isdigit(static_cast<unsigned char>(d[0])))
      dim->set_dim_value(std::stoll(d));
    else
      dim->set_dim_param(d);
  }
}

// x float[batch, 3] and ids int64[batch, sequence], each passed through an Identity.
std::unique_ptr<Session> two_inputs() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  for (const auto& [name, elem, dims] :
       {std::tuple{"x", int{onnx::TensorProto::FLOAT}, std::vector<std::string>{"batch", "3"}},
        std::tuple{"ids", int{onnx::TensorProto::INT64}, std::vector<std::string>{"batch", "sequence"}}}) {
    add_input(g, name, elem, dims, false);
    add_input(g, name, elem, dims, true);
    auto* n = g->add_node();
    n->set_op_type("Identity");
    n->add_input(name);
    n->add_output(std::string(name) + "_out");
  }
  const std::string bytes = m.SerializeAsString();
  auto s = Session::load_from_bytes(bytes.data(), bytes.size());
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? std::move(s).value() : nullptr;
}

TEST(RandomInputs, SizesBatchAndNamedDims) {
  auto s = two_inputs();
  ASSERT_TRUE(s);
  auto in = make_random_inputs(*s, 4, {{"sequence", 7}});
  ASSERT_TRUE(in.ok()) << in.status().to_string();
  ASSERT_EQ(in->size(), 2u);
  EXPECT_EQ((*in)[0].value.tensor().shape(), (Shape{4, 3}));
  EXPECT_EQ((*in)[1].value.tensor().shape(), (Shape{4, 7}));
  auto ran = s->run(*in);  // the session accepts what was made
  EXPECT_TRUE(ran.ok()) << ran.status().to_string();
}

TEST(RandomInputs, FollowsTheSharedRecipe) {
  auto s = two_inputs();
  ASSERT_TRUE(s);
  auto a = make_random_inputs(*s, 2, {{"sequence", 5}});
  auto b = make_random_inputs(*s, 2, {{"sequence", 5}});
  ASSERT_TRUE(a.ok() && b.ok());
  const Tensor& x = (*a)[0].value.tensor();
  // xorshift32 from 42: the first draw is 11355432, so x[0] = 11355432 / 2^32 * 2 - 1.
  EXPECT_FLOAT_EQ(x.data<float>()[0], static_cast<float>(11355432.0 / 4294967296.0 * 2.0 - 1.0));
  for (int64_t i = 0; i < x.size(); ++i) {
    EXPECT_GE(x.data<float>()[i], -1.0f);
    EXPECT_LT(x.data<float>()[i], 1.0f);
    EXPECT_EQ(x.data<float>()[i], (*b)[0].value.tensor().data<float>()[i]);  // same seed, same values
  }
  const Tensor& ids = (*a)[1].value.tensor();
  for (int64_t i = 0; i < ids.size(); ++i) {
    EXPECT_GE(ids.data<int64_t>()[i], 0);
    EXPECT_LT(ids.data<int64_t>()[i], static_cast<int64_t>(kRandomIdRange));
  }
}

TEST(RandomInputs, NamesWhatIsMissingOrUnknown) {
  auto s = two_inputs();
  ASSERT_TRUE(s);
  auto missing = make_random_inputs(*s, 1, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--dims sequence=N"), std::string::npos) << missing.status().message();
  auto unknown = make_random_inputs(*s, 1, {{"sequence", 3}, {"seq", 3}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("no dimension named 'seq'"), std::string::npos);
}

TEST(RandomInputs, ParsesDims) {
  auto ok = parse_dims({"sequence=128", "heads=12"});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->at("sequence"), 128);
  EXPECT_EQ(ok->at("heads"), 12);
  for (const char* bad : {"sequence", "=3", "a=", "a=0", "a=-2", "a=3x"}) {
    EXPECT_FALSE(parse_dims({bad}).ok()) << bad;
  }
}

}  // namespace
}  // namespace kiln::cli
