// Every fast kernel against its reference twin, on the cases of cases.h.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <initializer_list>
#include <thread>

#include "blocked_cases.h"
#include "cases.h"
#include "conv_depthwise_cases.h"
#include "eltwise_cases.h"
#include "exec/run_threads.h"
#include "kernels/reference_fallbacks.h"
#include "squeeze_excite_cases.h"
#include "stem_depthwise_cases.h"
#include "transformer_cases.h"

namespace kiln::ops_test {
namespace {

void check(const OpCase& c) {
  auto pair = build_pair(c);
  ASSERT_TRUE(pair.ok()) << c.name << ": " << pair.status().to_string();
  EXPECT_GT(pair->fast_priority, 0) << c.name << ": no fast kernel is registered";
  std::vector<Value> fast, ref;
  const int64_t fallbacks = reference_fallbacks();
  const Status fs = run_kernel(*pair->fast, c, &fast);
  if (c.expect_fast) {
    EXPECT_EQ(reference_fallbacks(), fallbacks) << c.name << ": the fast kernel ran its reference";
  }
  const Status rs = run_kernel(*pair->ref, c, &ref);
  ASSERT_TRUE(rs.ok()) << c.name << ": reference failed: " << rs.to_string();
  ASSERT_TRUE(fs.ok()) << c.name << ": fast kernel failed: " << fs.to_string();
  EXPECT_EQ(compare_outputs(c, fast, ref), "");
  // A second run hits the primitive cache and must agree too.
  std::vector<Value> again;
  ASSERT_TRUE(run_kernel(*pair->fast, c, &again).ok());
  EXPECT_EQ(compare_outputs(c, again, ref), "") << "(cached run)";
}

// `c` is bad input: the fast kernel fails with the reference's error, word for word.
void check_fails_like_the_reference(const OpCase& c) {
  auto pair = build_pair(c);
  ASSERT_TRUE(pair.ok()) << c.name;
  std::vector<Value> fast, ref;
  const Status fs = run_kernel(*pair->fast, c, &fast);
  const Status rs = run_kernel(*pair->ref, c, &ref);
  EXPECT_FALSE(fs.ok()) << c.name;
  EXPECT_EQ(fs.to_string(), rs.to_string()) << c.name;
}

void check_all(const std::vector<OpCase>& cases) {
  for (const OpCase& c : cases) {
    SCOPED_TRACE(c.name);
    check(c);
  }
}

// check_all on the cases `cases(threads)` gives, with the intra-op team set to each of `teams` in turn.
void check_on_teams(std::initializer_list<int> teams, const std::function<std::vector<OpCase>(int)>& cases) {
  const int saved = omp_get_max_threads();
  for (int threads : teams) {
    SCOPED_TRACE(threads);
    omp_set_num_threads(threads);
    check_all(cases(threads));
  }
  omp_set_num_threads(saved);
}

TEST(FastKernels, Conv) { check_all(conv_cases()); }
TEST(FastKernels, FusedConv) { check_all(fused_conv_cases()); }
TEST(FastKernels, ConvTranspose) { check_all(conv_transpose_cases()); }
TEST(FastKernels, ConvTransposeRandomGeometry) { check_all(conv_transpose_random_cases()); }
TEST(FastKernels, Gemm) { check_all(gemm_cases()); }
TEST(FastKernels, MatMul) { check_all(matmul_cases()); }
TEST(FastKernels, FusedMatMul) { check_all(fused_matmul_cases()); }
TEST(FastKernels, FusedGemm) { check_all(fused_gemm_cases()); }

// Weights packed once serve every M (batch), and a B that only has the constant's shape is not
// mistaken for it.
TEST(FastKernels, PackedWeightsServeEveryBatchAndOnlyTheConstant) {
  for (OpCase base : {fused_matmul_case("fused matmul", {1, 24}, {24, 40}, true, "Relu"),
                      gemm_case("gemm", {.a = {1, 24}, .b = {40, 24}, .c = {40}, .trans_b = true, .alpha = 0.5f})}) {
    SCOPED_TRACE(base.node.op_type);
    auto pair = build_pair(base);
    ASSERT_TRUE(pair.ok());
    for (int64_t m : {1, 7, 64, 1, 7}) {
      for (bool other_b : {false, true}) {
        OpCase c = base;
        c.inputs[0] = random_tensor({m, 24}, static_cast<uint64_t>(m));
        if (other_b) c.inputs[1] = random_tensor(c.inputs[1].shape(), 99);
        std::vector<Value> fast, ref;
        ASSERT_TRUE(run_kernel(*pair->fast, c, &fast).ok());
        ASSERT_TRUE(run_kernel(*pair->ref, c, &ref).ok());
        EXPECT_EQ(compare_outputs(c, fast, ref), "") << "M " << m << (other_b ? ", another B" : "");
      }
    }
  }
}
// A kernel that releases its constant weights (Kernel::releases_constant) computes the same with the
// weights input absent, as it reads once the plan has freed it: shapes it hands to the reference and
// layouts it packs later (Winograd) come from the packed copy.
TEST(FastKernels, ReleasedWeightsServeFromThePackedCopy) {
  int released = 0;
  for (const auto& cases :
       {conv_cases(), fused_conv_cases(), blocked_conv_cases(16), blocked_conv_cases(8), gemm_cases(), matmul_cases(),
        fused_matmul_cases(), fused_gemm_cases(), conv_transpose_cases()}) {
    for (const OpCase& c : cases) {
      SCOPED_TRACE(c.name);
      auto pair = build_pair(c);
      ASSERT_TRUE(pair.ok());
      if (!pair->fast->releases_constant(1)) continue;
      ++released;
      OpCase freed = c;
      freed.inputs[1] = Tensor();
      std::vector<Value> fast, ref;
      ASSERT_TRUE(run_kernel(*pair->fast, freed, &fast).ok());
      ASSERT_TRUE(run_kernel(*pair->ref, c, &ref).ok());
      EXPECT_EQ(compare_outputs(c, fast, ref), "");
    }
  }
  EXPECT_GT(released, 10);
}

// The fused blocks release both their weights (W and DW, W1 and W2: inputs 1 and 3) and compute the
// same with those inputs absent.
TEST(FastKernels, FusedBlocksServeReleasedWeightsFromTheirPackedCopies) {
  int released = 0;
  for (const auto& cases :
       {conv_depthwise_cases(16), conv_depthwise_cases(8), squeeze_excite_cases(16), squeeze_excite_cases(8)}) {
    for (const OpCase& c : cases) {
      SCOPED_TRACE(c.name);
      auto pair = build_pair(c);
      ASSERT_TRUE(pair.ok());
      if (!pair->fast->releases_constant(1) || !pair->fast->releases_constant(3)) continue;
      ++released;
      OpCase freed = c;
      freed.inputs[1] = Tensor();
      freed.inputs[3] = Tensor();
      std::vector<Value> fast, ref;
      ASSERT_TRUE(run_kernel(*pair->fast, freed, &fast).ok());
      ASSERT_TRUE(run_kernel(*pair->ref, c, &ref).ok());
      EXPECT_EQ(compare_outputs(c, fast, ref), "");
    }
  }
  EXPECT_GT(released, 16);
}

// A Winograd layer holds one copy of its weights in oneDNN's shape-dependent layout (F(2,3) on a small
// map at batch 1, F(4,3) elsewhere, blockings by batch): shapes that come later share it, replace it (a
// larger shape) or run direct, and each of them, in any order, computes what the reference does, from
// released weights too.
TEST(FastKernels, WinogradWeightsServeEveryShapeInAnyOrder) {
  const OpCase base = blocked_conv_case(
      "blocked resnet 3x3 64 relu",
      {.conv = {.x = {1, 64, 7, 7}, .w = {64, 64, 3, 3}, .pads = {1, 1, 1, 1}}, .activation = "Relu"});
  for (bool release : {false, true}) {
    auto pair = build_pair(base);
    ASSERT_TRUE(pair.ok());
    for (auto [n, hw] :
         {std::pair<int64_t, int64_t>{1, 7}, {1, 14}, {8, 14}, {1, 14}, {1, 7}, {2, 28}, {1, 56}, {3, 14}, {1, 7}}) {
      OpCase c = base;
      c.inputs[0] = random_blocked({n, 64, hw, hw}, static_cast<uint64_t>(n * hw), 16);
      OpCase freed = c;
      if (release) freed.inputs[1] = Tensor();
      std::vector<Value> fast, ref;
      ASSERT_TRUE(run_kernel(*pair->fast, freed, &fast).ok());
      ASSERT_TRUE(run_kernel(*pair->ref, c, &ref).ok());
      EXPECT_EQ(compare_outputs(c, fast, ref), "")
          << "batch " << n << ", " << hw << "x" << hw << (release ? ", released weights" : "");
    }
  }
}
// Batches that pick different Winograd slots (F(2,3) at batch 1, F(4,3) at 2-8, above 8),
// interleaved so that each slot's copy is made, shared and replaced while the others' entries stay
// cached, with a residual (the sum post-op in place) and released weights.
TEST(FastKernels, WinogradSlotsServeInterleavedBatches) {
  for (bool sum : {false, true}) {
    const OpCase base = blocked_conv_case(
        "blocked 3x3 64 slots",
        {.conv = {.x = {1, 64, 14, 14}, .w = {64, 64, 3, 3}, .pads = {1, 1, 1, 1}}, .activation = "Relu", .sum = sum});
    for (bool release : {false, true}) {
      auto pair = build_pair(base);
      ASSERT_TRUE(pair.ok());
      for (auto [n, hw] : {std::pair<int64_t, int64_t>{2, 14},
                           {1, 14},
                           {2, 14},
                           {1, 14},
                           {9, 14},
                           {1, 14},
                           {4, 14},
                           {1, 28},
                           {2, 28},
                           {1, 14},
                           {10, 7},
                           {8, 14},
                           {1, 14},
                           {2, 14},
                           {9, 14},
                           {1, 7}}) {
        OpCase c = base;
        c.inputs[0] = random_blocked({n, 64, hw, hw}, static_cast<uint64_t>(n * hw), 16);
        if (sum) c.inputs[3] = to_blocked(random_tensor({n, 64, hw, hw}, static_cast<uint64_t>(n + hw)), 16);
        OpCase freed = c;
        if (release) freed.inputs[1] = Tensor();
        std::vector<Value> fast, ref;
        ASSERT_TRUE(run_kernel(*pair->fast, freed, &fast).ok());
        ASSERT_TRUE(run_kernel(*pair->ref, c, &ref).ok());
        EXPECT_EQ(compare_outputs(c, fast, ref), "")
            << "batch " << n << ", " << hw << "x" << hw << (sum ? ", sum" : "") << (release ? ", released" : "");
      }
    }
  }
}
TEST(FastKernels, Pooling) { check_all(pool_cases()); }
TEST(FastKernels, BatchNormalization) { check_all(batch_norm_cases()); }
TEST(FastKernels, Softmax) { check_all(softmax_cases()); }
TEST(FastKernels, Unary) { check_all(unary_cases()); }
TEST(FastKernels, Binary) { check_all(binary_cases()); }
TEST(FastKernels, Concat) { check_all(concat_cases()); }
TEST(FastKernels, Pow) { check_all(pow_cases()); }
TEST(FastKernels, ReduceMean) { check_all(reduce_mean_cases()); }
TEST(FastKernels, Gelu) { check_all(gelu_cases()); }
TEST(FastKernels, Attention) { check_all(attention_cases()); }
TEST(FastKernels, LayerNormalization) { check_all(layer_norm_cases()); }
// The blocked kernels in each channel block (blocked_cases.h).
class BlockedKernels : public testing::TestWithParam<int64_t> {};
TEST_P(BlockedKernels, Conv) { check_all(blocked_conv_cases(GetParam())); }
TEST_P(BlockedKernels, Pooling) { check_all(blocked_pool_cases(GetParam())); }
TEST_P(BlockedKernels, Reorders) { check_all(blocked_reorder_cases(GetParam())); }
TEST_P(BlockedKernels, SqueezeExcite) { check_all(squeeze_excite_cases(GetParam())); }
// Inside another parallel region (a part of a run cut by rows runs its plan on one thread of one) the
// kernel runs alone and meets no barrier: threads that run it unequal times must not wait on each other
// (they did, and hung, when its barriers bound to the enclosing team).
TEST_P(BlockedKernels, SqueezeExciteInsideAnotherParallelRegion) {
  const OpCase c = squeeze_excite_team_cases(GetParam()).front();
  auto pair = build_pair(c);
  ASSERT_TRUE(pair.ok());
  std::vector<Value> ref;
  ASSERT_TRUE(run_kernel(*pair->ref, c, &ref).ok());
  std::vector<std::string> mismatches(2);
#pragma omp parallel num_threads(2)
  {
    const int t = omp_get_thread_num();
    for (int run = 0; run < 2 - t; ++run) {  // thread 0 twice, thread 1 once
      std::vector<Value> fast;
      const Status st = run_kernel(*pair->fast, c, &fast);
      const std::string diff = st.ok() ? compare_outputs(c, fast, ref) : st.to_string();
      if (!diff.empty()) mismatches[static_cast<size_t>(t)] = diff;
    }
  }
  EXPECT_EQ(mismatches[0], "");
  EXPECT_EQ(mismatches[1], "");
}
// On a team, squeeze-excite splits X's rows, then the reducing product by output, then computes each
// thread's gate and scaling: 2 and 3 threads, whatever the machine's core count.
TEST_P(BlockedKernels, SqueezeExciteOnATeam) {
  check_on_teams({2, 3}, [&](int) { return squeeze_excite_team_cases(GetParam()); });
}
TEST_P(BlockedKernels, SqueezeExciteConv) { check_all(squeeze_excite_conv_cases(GetParam())); }
// On a team of 2 and 3 threads: the gate's steps, the weights' scaling and the 1x1 units split.
TEST_P(BlockedKernels, SqueezeExciteConvOnATeam) {
  check_on_teams({2, 3}, [&](int) { return squeeze_excite_conv_cases(GetParam()); });
}
// The fused node lets go of what the two kernels it stands for let go of (W1, W2 and the projection's
// W, inputs 1, 3 and 5, where they take the node) and computes the same with those inputs absent,
// weights scaled or not.
TEST_P(BlockedKernels, SqueezeExciteConvServesReleasedWeights) {
  int released = 0;
  for (const OpCase& c : squeeze_excite_conv_cases(GetParam())) {
    SCOPED_TRACE(c.name);
    auto pair = build_pair(c);
    ASSERT_TRUE(pair.ok());
    OpCase freed = c;
    for (size_t i : {1, 3, 5}) {
      if (pair->fast->releases_constant(i)) freed.inputs[i] = Tensor();
    }
    if (!freed.inputs[1].defined() || !freed.inputs[5].defined()) ++released;
    std::vector<Value> fast, ref;
    ASSERT_TRUE(run_kernel(*pair->fast, freed, &fast).ok());
    ASSERT_TRUE(run_kernel(*pair->ref, c, &ref).ok());
    EXPECT_EQ(compare_outputs(c, fast, ref), "");
  }
  EXPECT_GT(released, 3);
}
// Random shapes around the fold's threshold, on teams of 1, 2 and 3 threads.
TEST_P(BlockedKernels, SqueezeExciteConvRandomShapes) {
  check_on_teams({1, 2, 3},
                 [&](int threads) { return squeeze_excite_conv_random_cases(GetParam(), 100 + threads, 40); });
}
// The fold's edges (squeeze_excite_conv_edge_cases), alone and on a team of 3.
TEST_P(BlockedKernels, SqueezeExciteConvEdges) {
  check_on_teams({1, 3}, [&](int) { return squeeze_excite_conv_edge_cases(GetParam()); });
}
// The kernel called from inside a parallel region (as a row part is) runs alone on each
// thread, several at once, and agrees with the reference.
TEST_P(BlockedKernels, SqueezeExciteConvInsideARegion) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(3);
  for (const OpCase& c : squeeze_excite_conv_random_cases(GetParam(), 7, 12)) {
    SCOPED_TRACE(c.name);
    auto pair = build_pair(c);
    ASSERT_TRUE(pair.ok());
    std::vector<Value> ref;
    ASSERT_TRUE(run_kernel(*pair->ref, c, &ref).ok());
    std::string errors[3];
#pragma omp parallel num_threads(3)
    {
      std::vector<Value> fast;
      const Status st = run_kernel(*pair->fast, c, &fast);
      errors[omp_get_thread_num()] = st.ok() ? compare_outputs(c, fast, ref) : st.to_string();
    }
    for (const std::string& e : errors) EXPECT_EQ(e, "");
  }
  omp_set_num_threads(saved);
}
// Bad inputs fail with the reference's error.
TEST_P(BlockedKernels, SqueezeExciteConvBadInputs) {
  const int64_t block = GetParam();
  SqueezeExciteConvSpec spec{.se = {.x = {2, 40, 9, 7}, .reduced = 10, .block = block}, .m = 40, .sum = true};
  OpCase good = squeeze_excite_conv_case("se conv bad inputs", spec);
  {
    OpCase c = good;  // Sum of another shape
    c.inputs[7] = to_blocked(random_tensor({2, 40, 9, 6}, 3), block);
    check_fails_like_the_reference(c);
  }
  {
    OpCase c = good;  // X with other channels
    c.inputs[0] = random_blocked({2, 56, 9, 7}, 4, block);
    check_fails_like_the_reference(c);
  }
  {
    OpCase c = good;  // X of rank 4
    c.inputs[0] = random_tensor({2, 40, 9, 7}, 5);
    check_fails_like_the_reference(c);
  }
}
TEST_P(BlockedKernels, PointwiseConv) { check_all(pointwise_conv_cases(GetParam())); }
// On a team of 2 and 3 threads, the pointwise kernel splits runs of pixels and groups of blocks.
TEST_P(BlockedKernels, PointwiseConvOnATeam) {
  check_on_teams({2, 3}, [&](int) { return pointwise_conv_cases(GetParam()); });
}
TEST_P(BlockedKernels, ConvDepthwise) { check_all(conv_depthwise_cases(GetParam())); }
TEST_P(BlockedKernels, StemDepthwise) { check_all(stem_depthwise_cases(GetParam())); }
// One image on a team of 2 and 3 threads: bands of rows, each computing its first stem rows again.
TEST_P(BlockedKernels, StemDepthwiseInBandsOnATeam) {
  check_on_teams({2, 3}, [&](int) { return stem_depthwise_team_cases(GetParam()); });
}
// At batch 1 on a team, the oneDNN kernel computes slices of the channels side by side; 2 and 3
// threads split 9 blocks evenly and not, whatever the machine's core count.
TEST_P(BlockedKernels, ConvDepthwiseInChannelPartsOnATeam) {
  check_on_teams({2, 3}, [&](int) { return conv_depthwise_channel_part_cases(GetParam()); });
}
// The vector kernel splits one image's rows into bands on a team of 2 and 3 threads.
TEST_P(BlockedKernels, ConvDepthwiseInBandsOnATeam) {
  check_on_teams({2, 3}, [&](int) { return conv_depthwise_band_cases(GetParam()); });
}
// The depthwise kernel with an input activation splits its planes over a team of 2 and 3 threads.
TEST_P(BlockedKernels, InputSwishDepthwiseOnATeam) {
  std::vector<OpCase> cases;
  for (BlockedConvSpec s : input_swish_depthwise_specs()) {
    s.block = GetParam();
    cases.push_back(blocked_conv_case(with_block("input swish depthwise " + shape_to_string(s.conv.x), s.block), s));
  }
  check_on_teams({2, 3}, [&](int) { return cases; });
}
// input_activation = Swish is the convolution of SiLU(X): the fast kernel and the reference against
// the same node without it, given SiLU(X) computed here (the depthwise kernel's shapes, a dense and a
// dilated convolution it does not take, and a plain-layout first convolution).
TEST_P(BlockedKernels, InputSwishIsTheConvolutionOfSiluX) {
  std::vector<BlockedConvSpec> specs = input_swish_reference_specs();
  for (const BlockedConvSpec& s : input_swish_depthwise_specs()) specs.push_back(s);
  for (BlockedConvSpec s : specs) {
    s.block = GetParam();
    const OpCase with = blocked_conv_case(with_block("input swish " + shape_to_string(s.conv.x), s.block), s);
    SCOPED_TRACE(with.name);
    BlockedConvSpec apart = s;
    apart.input_activation.clear();
    OpCase without = blocked_conv_case(with.name + " apart", apart);
    Tensor x = with.inputs[0].clone();
    float* v = x.data<float>();
    for (int64_t i = 0; i < x.size(); ++i) v[i] = v[i] / (1.0f + std::exp(-v[i]));
    without.inputs[0] = x;
    auto with_pair = build_pair(with);
    auto without_pair = build_pair(without);
    ASSERT_TRUE(with_pair.ok() && without_pair.ok());
    std::vector<Value> expected, fast, ref;
    ASSERT_TRUE(run_kernel(*without_pair->ref, without, &expected).ok());
    ASSERT_TRUE(run_kernel(*with_pair->fast, with, &fast).ok());
    ASSERT_TRUE(run_kernel(*with_pair->ref, with, &ref).ok());
    EXPECT_EQ(compare_outputs(with, ref, expected), "") << "(reference)";
    EXPECT_EQ(compare_outputs(with, fast, expected), "") << "(fast kernel)";
  }
}
// A window larger than the padded image (2x2 by 3x3, stride 2: C++ division would round the output
// size up to 1) fails as in the reference, naming the problem.
TEST_P(BlockedKernels, InputSwishDepthwiseOnTooSmallAnImageFailsLikeTheReference) {
  BlockedConvSpec s{
      .conv = {.x = {1, 16, 2, 2}, .w = {16, 1, 3, 3}, .group = 16, .strides = {2, 2}, .pads = {0, 0, 0, 0}},
      .input_activation = "Swish"};
  s.block = GetParam();
  check_fails_like_the_reference(blocked_conv_case("input swish depthwise 2x2", s));
}
// A 1x1 node with malformed window attributes, or an empty image, fails as in the reference, word for
// word: the 1x1 vector kernel leaves such nodes to the kernels below, and empty images to the reference.
TEST_P(BlockedKernels, PointwiseConvBadAttributesAndEmptyImagesFailLikeTheReference) {
  const BlockedConvSpec base{
      .conv = {{1, 40, 5, 5}, {24, 40, 1, 1}}, .activation = "Relu", .sum = true, .block = GetParam()};
  const std::vector<std::pair<std::string, std::vector<int64_t>>> bad = {
      {"kernel_shape", {3, 3}}, {"kernel_shape", {1}}, {"strides", {1}}, {"strides", {1, 1, 1}}, {"pads", {0, 0}}};
  for (const auto& [name, value] : bad) {
    OpCase c = blocked_conv_case("pointwise bad " + name, base);
    std::erase_if(c.node.attributes, [&name](const ir::Attribute& a) { return a.name == name; });
    c.node.attributes.push_back(attr_ints(name, value));
    SCOPED_TRACE(name + " " + shape_to_string(value));
    check_fails_like_the_reference(c);
  }
  for (const Shape& x : {Shape{1, 20, 0, 5}, Shape{1, 20, 5, 0}}) {
    BlockedConvSpec s = base;
    s.conv.x = x;
    SCOPED_TRACE(shape_to_string(x));
    check_fails_like_the_reference(blocked_conv_case("pointwise empty image", s));
  }
}
INSTANTIATE_TEST_SUITE_P(FastKernels, BlockedKernels, testing::ValuesIn(kChannelBlocks),
                         [](const testing::TestParamInfo<int64_t>& p) { return "Block" + std::to_string(p.param); });

// Inputs a fast kernel does not handle go to the reference: same answer, same error.
TEST(FastKernels, OtherTypesAndErrorsMatchTheReference) {
  OpCase c = conv_cases()[0];
  c.inputs[0] = Tensor::from_vector<double>({1, 1, 2, 2}, {1, 2, 3, 4});
  c.inputs[1] = Tensor::from_vector<double>({1, 1, 1, 1}, {2});
  c.inputs[2] = Tensor::from_vector<double>({1}, {0.5});
  auto pair = build_pair(c);
  ASSERT_TRUE(pair.ok());
  std::vector<Value> fast, ref;
  ASSERT_TRUE(run_kernel(*pair->fast, c, &fast).ok());
  ASSERT_TRUE(run_kernel(*pair->ref, c, &ref).ok());
  EXPECT_EQ(fast[0].tensor().data<double>()[3], 8.5);

  OpCase bad = conv_cases()[0];
  bad.inputs[1] = random_tensor({4, 5, 3, 3}, 1);  // channel mismatch
  bad.constant = {};
  auto bad_pair = build_pair(bad);
  ASSERT_TRUE(bad_pair.ok());
  const Status fs = run_kernel(*bad_pair->fast, bad, &fast);
  const Status rs = run_kernel(*bad_pair->ref, bad, &ref);
  EXPECT_FALSE(fs.ok());
  EXPECT_EQ(fs.to_string(), rs.to_string());
}

// The elementwise kernels hand bad inputs to the reference: the same error, word for word.
TEST(FastKernels, ElementwiseErrorsMatchTheReference) {
  std::vector<OpCase> bad;
  bad.push_back(binary_case("Add", {2, 3}, {4}));  // shapes do not broadcast
  OpCase mixed = binary_case("Mul", {2, 3}, {3});
  mixed.inputs[1] = Tensor::from_vector<double>({3}, {1, 2, 3});  // float * double
  bad.push_back(mixed);
  OpCase clip = unary_case("Clip", {4});
  clip.inputs.push_back(random_tensor({2}, 3));  // min is not a scalar
  bad.push_back(clip);
  OpCase missing = unary_case("Sigmoid", {4});
  missing.inputs = {Tensor()};  // no input
  bad.push_back(missing);
  for (const OpCase& c : bad) check_fails_like_the_reference(c);
}

// ConvTranspose inputs that do not fit fail with the reference's error, from both fast kernels (the
// product's, group 1, and the deconvolution's, group 2), with W given and with W freed by the plan.
TEST(FastKernels, ConvTransposeErrorsMatchTheReference) {
  std::vector<OpCase> bad;
  for (int64_t group : {1, 2}) {
    const std::string g = " group " + std::to_string(group);
    const ConvTransposeSpec ok{.x = {1, 8, 5, 5}, .w = {8, 4, 3, 3}, .group = group, .strides = {2, 2}};
    OpCase channels = conv_transpose_case("convT channel mismatch" + g, ok);
    channels.inputs[0] = random_tensor({1, 6, 5, 5}, 1);
    bad.push_back(channels);
    OpCase bias = conv_transpose_case("convT bias of another length" + g, ok);
    bias.inputs[2] = random_tensor({5}, 2);
    bad.push_back(bias);
    OpCase rank = conv_transpose_case("convT X of rank 5 for a 2-D W" + g, ok);
    rank.inputs[0] = random_tensor({1, 8, 5, 5, 2}, 3);
    bad.push_back(rank);
    ConvTransposeSpec lengths = ok;
    lengths.output_padding = {1};  // one value for two spatial dimensions
    bad.push_back(conv_transpose_case("convT output_padding length" + g, lengths));
    ConvTransposeSpec shrunk = ok;
    shrunk.output_shape = {0, 4};
    bad.push_back(conv_transpose_case("convT output_shape 0" + g, shrunk));
  }
  for (const OpCase& c : bad) {
    check_fails_like_the_reference(c);
    auto pair = build_pair(c);
    ASSERT_TRUE(pair.ok());
    if (!pair->fast->releases_constant(1)) continue;
    OpCase freed = c;
    freed.inputs[1] = Tensor();
    std::vector<Value> fast, ref;
    const Status fs = run_kernel(*pair->fast, freed, &fast);
    EXPECT_EQ(fs.to_string(), run_kernel(*pair->ref, c, &ref).to_string()) << c.name << " (W freed)";
  }
}

// Inputs that do not line up fail with the reference's error (for Attention, its composition's).
TEST(FastKernels, AttentionAndLayerNormErrorsMatchTheReference) {
  std::vector<OpCase> cases = {
      layer_norm_case("layernorm scale of higher rank", {.x = {2, 3, 8}, .scale = {1, 8}}),
      layer_norm_case("layernorm scale of another width", {.x = {2, 3, 8}, .scale = {7}}),
      layer_norm_case("skip layernorm mismatched skip",
                      {.x = {2, 3, 8}, .scale = {8}, .skip = true, .skip_shape = {3, 3, 8}}),
  };
  for (const AttentionSpec& spec :
       {AttentionSpec{.q = {1, 4, 2, 4}, .k = {1, 4, 2, 5}, .v = {1, 4, 2, 4}},
        AttentionSpec{.q = {1, 4, 2, 4}, .k = {1, 4, 2, 4}, .v = {1, 4, 2, 4}, .mask = {1, 1, 1, 4, 4}},
        AttentionSpec{.q = {4, 2, 4}, .k = {4, 2, 4}, .v = {4, 2, 4}}}) {
    cases.push_back(attention_case("bad attention", spec));
  }
  for (const OpCase& c : cases) check_fails_like_the_reference(c);
}

// More shapes than the primitive cache holds, from several threads at once, all still correct.
TEST(FastKernels, ManyShapesConcurrently) {
  OpCase base = conv_case("conv", {.x = {1, 4, 6, 6}, .w = {8, 4, 3, 3}, .pads = {1, 1, 1, 1}});
  auto pair = build_pair(base);
  ASSERT_TRUE(pair.ok());
  std::vector<std::thread> threads;
  std::vector<std::string> failures(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t size = 4; size < 28; ++size) {
        OpCase c = base;
        c.inputs[0] = random_tensor({1 + t % 2, 4, size, size + t}, static_cast<uint64_t>(size));
        std::vector<Value> fast, ref;
        if (!run_kernel(*pair->fast, c, &fast).ok() || !run_kernel(*pair->ref, c, &ref).ok()) {
          failures[static_cast<size_t>(t)] = "run failed";
          return;
        }
        const std::string diff = compare_outputs(c, fast, ref);
        if (!diff.empty()) failures[static_cast<size_t>(t)] = diff;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const std::string& f : failures) EXPECT_EQ(f, "");
}

// Threads running one MatMul kernel with packed weights at many batch sizes at once (more shapes
// than the primitive cache holds) all get the reference's answer.
TEST(FastKernels, PackedMatMulManyBatchesConcurrently) {
  const OpCase base = fused_matmul_case("fused matmul", {1, 32}, {32, 48}, true, "Gelu");
  auto pair = build_pair(base);
  ASSERT_TRUE(pair.ok());
  std::vector<std::thread> threads;
  std::vector<std::string> failures(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t m = 1; m < 24; ++m) {
        OpCase c = base;
        c.inputs[0] = random_tensor({1 + t % 2, m, 32}, static_cast<uint64_t>(m));
        std::vector<Value> fast, ref;
        if (!run_kernel(*pair->fast, c, &fast).ok() || !run_kernel(*pair->ref, c, &ref).ok()) {
          failures[static_cast<size_t>(t)] = "run failed";
          return;
        }
        const std::string diff = compare_outputs(c, fast, ref);
        if (!diff.empty()) failures[static_cast<size_t>(t)] = diff;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const std::string& f : failures) EXPECT_EQ(f, "");
}

// Results do not depend on the intra-op thread count beyond float rounding.
TEST(FastKernels, ThreadCountDoesNotChangeResults) {
  std::vector<OpCase> cases = {
      conv_case("conv", {.x = {2, 16, 20, 20}, .w = {32, 16, 3, 3}, .pads = {1, 1, 1, 1}}),
      gemm_case("gemm", {.a = {64, 128}, .b = {128, 96}, .c = {96}}), unary_case("Sigmoid", {4, 64, 56, 56}),
      binary_case("Mul", {4, 64, 56, 56}, {4, 64, 1, 1}), reduce_mean_case({256, 128, 64}, {-1}, 0),
      attention_case("attention",
                     {.q = {2, 64, 4, 16}, .k = {2, 64, 4, 16}, .v = {2, 64, 4, 16}, .mask = {2, 1, 1, 64}}),
      layer_norm_case("skip layernorm", {.x = {4, 96, 768}, .scale = {768}, .bias = {768}, .skip = true, .outputs = 2}),
      // Squeeze-excite splits its pooling and scaling passes across the team by rows of X.
      squeeze_excite_case("se batch 8", {.x = {8, 96, 56, 56}, .reduced = 4}),
      squeeze_excite_case("se batch 3", {.x = {3, 64, 56, 56}, .reduced = 4})};
  for (const OpCase& c : cases) {
    auto pair = build_pair(c);
    ASSERT_TRUE(pair.ok());
    std::vector<Value> one, two;
    {
      const ScopedRunThreads t(1);
      ASSERT_TRUE(run_kernel(*pair->fast, c, &one).ok());
    }
    {
      const ScopedRunThreads t(2);
      ASSERT_TRUE(run_kernel(*pair->fast, c, &two).ok());
    }
    EXPECT_EQ(compare_outputs(c, one, two), "") << c.name;
  }
}

}  // namespace
}  // namespace kiln::ops_test
