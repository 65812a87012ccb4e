// kiln.BlockedConv, the reference (the operator is described in kernels/blocked_conv_attrs.h): brings
// X (and Sum) to the plain layout, runs the reference kernels of the nodes the fused node replaced
// (the input activation, Conv, Add, the activation; Swish as Sigmoid and Mul), and blocks the result. Slow by design: it is
// the oracle the oneDNN kernel is tested against, and its fallback.
#include <string>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_layout.h"
#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

// The opset the inner nodes are built at: Conv, Add and every activation have today's semantics there.
constexpr int64_t kInnerOpset = 14;

Expected<std::unique_ptr<Kernel>> build_inner(const ir::Node& node) { return build_reference_of(node, kInnerOpset); }

ir::Node simple_node(const std::string& op, const std::string& name, std::vector<ir::Attribute> attrs = {}) {
  ir::Node n;
  n.op_type = op;
  n.name = name;
  n.attributes = std::move(attrs);
  return n;
}

// Runs `k` on `inputs` and returns its first output.
Expected<Value> run_inner(const Kernel& k, const std::vector<const Value*>& inputs, const Frame* frame) {
  std::vector<Value> out(1);
  KernelContext ctx(inputs, &out, frame);
  KILN_RETURN_IF_ERROR(k.run(ctx));
  return std::move(out[0]);
}

// Checks that `t` is blocked float32 holding `channels` channels in blocks of `block`.
Status check_blocked(const Tensor& t, const char* what, int64_t channels, int64_t block) {
  if (t.dtype() != DataType::kFloat32) return Status::InvalidArgument(std::string("input ") + what + " must be float32");
  if (t.rank() < 4 || block < 1 || channel_block_of(t.shape()) != block ||
      t.dim(1) != channel_blocks(channels, block)) {
    return Status::InvalidArgument(std::string("input ") + what + " has shape " + shape_to_string(t.shape()) +
                                   ", expected a blocked [N, " +
                                   std::to_string(block < 1 ? 0 : channel_blocks(channels, block)) + ", spatial..., " +
                                   std::to_string(block) + "] for " + std::to_string(channels) + " channels");
  }
  return Status::OK();
}

class BlockedConvReference : public Kernel {
 public:
  // `plain_block`: Y's block when X is plain; else Y takes X's.
  BlockedConvReference(bool plain_input, int64_t plain_block, int64_t group, std::unique_ptr<Kernel> conv,
                       std::unique_ptr<Kernel> add, std::unique_ptr<Kernel> act, std::unique_ptr<Kernel> mul,
                       std::vector<float> clip_bounds, std::unique_ptr<Kernel> input_sigmoid,
                       std::unique_ptr<Kernel> input_mul)
      : plain_input_(plain_input),
        plain_block_(plain_block),
        group_(group),
        conv_(std::move(conv)),
        add_(std::move(add)),
        act_(std::move(act)),
        mul_(std::move(mul)),
        clip_bounds_(std::move(clip_bounds)),
        input_sigmoid_(std::move(input_sigmoid)),
        input_mul_(std::move(input_mul)) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& w = ctx.tensor(1);
    if (w.rank() < 3) return Status::InvalidArgument("input W has rank " + std::to_string(w.rank()) + ", expected >= 3");
    const Frame* frame = ctx.frame();
    Value x = ctx.input(0);
    const int64_t block = plain_input_ ? plain_block_ : channel_block_of(ctx.tensor(0).shape());
    if (!plain_input_) {
      KILN_RETURN_IF_ERROR(check_blocked(ctx.tensor(0), "X", w.dim(1) * group_, block));
      x = Value(from_blocked(ctx.tensor(0), w.dim(1) * group_));
    }
    if (input_sigmoid_) {  // input_activation Swish: x * sigmoid(x)
      KILN_ASSIGN_OR_RETURN(Value s, run_inner(*input_sigmoid_, {&x}, frame));
      KILN_ASSIGN_OR_RETURN(x, run_inner(*input_mul_, {&x, &s}, frame));
    }
    std::vector<const Value*> conv_in{&x, &ctx.input(1), ctx.has_input(2) ? &ctx.input(2) : nullptr};
    KILN_ASSIGN_OR_RETURN(Value y, run_inner(*conv_, conv_in, frame));
    if (ctx.has_input(3)) {
      KILN_RETURN_IF_ERROR(require_tensor(ctx, 3));
      KILN_RETURN_IF_ERROR(check_blocked(ctx.tensor(3), "Sum", w.dim(0), block));
      const Value sum(from_blocked(ctx.tensor(3), w.dim(0)));
      KILN_ASSIGN_OR_RETURN(y, run_inner(*add_, {&y, &sum}, frame));
    }
    if (act_) {
      std::vector<Value> bounds;  // Clip's min and max
      for (float v : clip_bounds_) bounds.emplace_back(Tensor::scalar<float>(v));
      std::vector<const Value*> act_in{&y};
      for (const Value& b : bounds) act_in.push_back(&b);
      KILN_ASSIGN_OR_RETURN(Value a, run_inner(*act_, act_in, frame));
      if (mul_) {
        KILN_ASSIGN_OR_RETURN(y, run_inner(*mul_, {&y, &a}, frame));  // Swish: x * sigmoid(x)
      } else {
        y = std::move(a);
      }
    }
    if (y.tensor().dtype() != DataType::kFloat32) return Status::InvalidArgument("BlockedConv computes float32 only");
    ctx.set_output(0, Value(to_blocked(y.tensor(), block)));
    return Status::OK();
  }

 private:
  bool plain_input_;
  int64_t plain_block_;
  int64_t group_;
  std::unique_ptr<Kernel> conv_, add_, act_, mul_;  // add_: when Sum may be given; act_, mul_: may be null
  std::vector<float> clip_bounds_;
  std::unique_ptr<Kernel> input_sigmoid_, input_mul_;  // with input_activation Swish, else null
};

Expected<std::unique_ptr<Kernel>> make_blocked_conv(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(FusedActivation act, parse_blocked_conv_activation(b.node));
  const std::string layout = b.node.attr_string(kInputLayoutAttr, "blocked");
  if (layout != "blocked" && layout != "plain") {
    return Status::InvalidArgument("attribute input_layout is '" + layout + "', expected blocked or plain");
  }
  const int64_t group = b.node.attr_int("group", 1);
  if (group < 1) return Status::InvalidArgument("attribute group must be >= 1");
  const int64_t plain_block = b.node.attr_int(kChannelBlockAttr, kDefaultChannelBlock);
  if (plain_block < 1) return Status::InvalidArgument("attribute channel_block must be >= 1");
  KILN_RETURN_IF_ERROR(check_blocked_conv_input_activation(b.node));
  std::unique_ptr<Kernel> input_sigmoid, input_mul;
  if (blocked_conv_input_swish(b.node)) {
    KILN_ASSIGN_OR_RETURN(input_sigmoid, build_inner(simple_node("Sigmoid", b.node.name)));
    KILN_ASSIGN_OR_RETURN(input_mul, build_inner(simple_node("Mul", b.node.name)));
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> conv, build_inner(inner_conv_node(b.node)));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> add, build_inner(simple_node("Add", b.node.name)));
  std::unique_ptr<Kernel> act_kernel, mul;
  std::vector<float> clip_bounds;
  if (!act.op.empty()) {
    std::vector<ir::Attribute> attrs;
    if (act.op == "LeakyRelu") attrs.push_back(ir::Attribute::of_float("alpha", act.params[0]));
    if (act.op == "HardSigmoid") {
      attrs.push_back(ir::Attribute::of_float("alpha", act.params[0]));
      attrs.push_back(ir::Attribute::of_float("beta", act.params[1]));
    }
    if (act.op == "Clip") clip_bounds = act.params;
    const std::string op = act.op == kSwish ? "Sigmoid" : act.op;
    KILN_ASSIGN_OR_RETURN(act_kernel, build_inner(simple_node(op, b.node.name, std::move(attrs))));
    if (act.op == kSwish) {
      KILN_ASSIGN_OR_RETURN(mul, build_inner(simple_node("Mul", b.node.name)));
    }
  }
  return std::unique_ptr<Kernel>(
      std::make_unique<BlockedConvReference>(layout == "plain", plain_block, group, std::move(conv), std::move(add),
                                             std::move(act_kernel), std::move(mul), std::move(clip_bounds),
                                             std::move(input_sigmoid), std::move(input_mul)));
}

}  // namespace

KILN_REGISTER_KERNEL("kiln", "BlockedConv", 1, 1, make_blocked_conv);

}  // namespace kiln::ref
