// The kiln.BlockedSqueezeExciteConv operator: a squeeze-and-excitation block and the 1x1 convolution
// that reads it, on the blocked layout (kernels/blocked_layout.h). Shared by its reference and vector
// kernels and by the graph pass that creates it (opt/fuse_squeeze_excite_projection.cc).
//
//   kiln.BlockedSqueezeExciteConv(X, W1, B1?, W2, B2?, W, B?, Sum?) -> Z
//     X, W1, B1, W2, B2   kiln.BlockedSqueezeExcite's inputs (blocked_squeeze_excite_attrs.h)
//     W [M, C, 1, 1], B [M], Sum (Z's shape): the 1x1 convolution, as kiln.BlockedConv takes them
//     Z    blocked [N, ceil(M/B), H, W, B]
//   Attributes: kiln.BlockedSqueezeExcite's (reduce_ and expand_activation with their params); every
//   other one is the convolution's (kiln.BlockedConv's: 1x1, stride 1, no padding, group 1).
//
//   Z = activation(BlockedConv(BlockedSqueezeExcite(X, W1, B1, W2, B2), W, B) + Sum)
//
// EfficientNet's projection after each squeeze-excite block. Since the gate g scales X per image and
// channel, Conv(X * g, W) = Conv(X, W * g): where W (C x M) is smaller than X (C x H x W), scaling
// the weights saves the pass that scales X (vec/blocked_squeeze_excite_conv.cc).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "kernels/blocked_conv_attrs.h"
#include "kernels/kernel.h"

namespace kiln {

// The inputs of the two nodes the fused node stands for: the squeeze-excite block reads inputs
// [0, kSqueezeExciteInputs), the convolution its output and inputs kConvW, kConvB and kConvSum.
inline constexpr size_t kSqueezeExciteInputs = 5;
inline constexpr size_t kConvW = 5, kConvB = 6, kConvSum = 7;

namespace squeeze_excite_conv_detail {
inline std::string input_name(const ir::Node& n, size_t i) { return i < n.inputs.size() ? n.inputs[i] : ""; }
inline bool is_squeeze_excite_attr(const ir::Attribute& a) {
  return a.name.starts_with("reduce_activation") || a.name.starts_with("expand_activation");
}
}  // namespace squeeze_excite_conv_detail

// The kiln.BlockedSqueezeExcite node `fused` stands for (its inputs' names, its activations).
inline ir::Node squeeze_excite_node_of(const ir::Node& fused) {
  using namespace squeeze_excite_conv_detail;
  ir::Node se;
  se.domain = "kiln";
  se.op_type = "BlockedSqueezeExcite";
  se.name = fused.name;
  for (size_t i = 0; i < kSqueezeExciteInputs; ++i) se.inputs.push_back(input_name(fused, i));
  se.outputs = {fused.name + "/squeeze_excite"};
  for (const ir::Attribute& a : fused.attributes) {
    if (is_squeeze_excite_attr(a)) se.attributes.push_back(a);
  }
  return se;
}

// The kiln.BlockedConv node `fused` stands for: 1x1, reading the squeeze-excite block's output.
inline ir::Node projection_node_of(const ir::Node& fused) {
  using namespace squeeze_excite_conv_detail;
  ir::Node conv;
  conv.domain = "kiln";
  conv.op_type = "BlockedConv";
  conv.name = fused.name;
  conv.inputs = {fused.name + "/squeeze_excite", input_name(fused, kConvW), input_name(fused, kConvB),
                 input_name(fused, kConvSum)};
  while (conv.inputs.back().empty()) conv.inputs.pop_back();
  conv.outputs = fused.outputs;
  for (const ir::Attribute& a : fused.attributes) {
    if (!is_squeeze_excite_attr(a)) conv.attributes.push_back(a);
  }
  return conv;
}

// Runs the fused node as the two kernels it stands for, one after the other: how its reference
// computes it, and its vector kernel the calls it does not take.
class SqueezeExciteThenConv : public Kernel {
 public:
  SqueezeExciteThenConv(std::unique_ptr<Kernel> squeeze_excite, std::unique_ptr<Kernel> conv)
      : squeeze_excite_(std::move(squeeze_excite)), conv_(std::move(conv)) {}

  // Whatever the two kernels let go of, built with the fused node's constants.
  bool releases_constant(size_t i) const override {
    if (i < kSqueezeExciteInputs) return squeeze_excite_->releases_constant(i);
    return i >= kConvW && i <= kConvSum && conv_->releases_constant(i - kConvW + 1);
  }

  Status run(KernelContext& ctx) const override {
    auto optional = [&ctx](size_t i) { return ctx.has_input(i) ? &ctx.input(i) : nullptr; };
    std::vector<Value> mid(1), out(1);
    std::vector<const Value*> se_in;
    for (size_t i = 0; i < kSqueezeExciteInputs; ++i) se_in.push_back(optional(i));
    KernelContext se_ctx(se_in, &mid, ctx.frame());
    KILN_RETURN_IF_ERROR(squeeze_excite_->run(se_ctx));
    std::vector<const Value*> conv_in{&mid[0], optional(kConvW), optional(kConvB), optional(kConvSum)};
    KernelContext conv_ctx(conv_in, &out, ctx.frame());
    KILN_RETURN_IF_ERROR(conv_->run(conv_ctx));
    ctx.set_output(0, std::move(out[0]));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> squeeze_excite_, conv_;
};

}  // namespace kiln
