// LayerNormalization (ONNX opset 17, and kiln.LayerNormalization below it) and
// kiln.SkipLayerNormalization, float32, normalizing contiguous rows: the dims from `axis` on.
// Written here rather than on oneDNN's layer_normalization so that the residual Add of
// SkipLayerNormalization happens in the same pass over each row.
//
// The rows run on kernels/vec's loops (vec/layer_norm_loops.h: per row in L1, sum = a + b, a shifted
// mean, the two-pass variance, y), at the CPU's widest vector width; rows are spread over the run's
// OpenMP team when there are enough of them to pay for it.
//
// Handled by the reference instead: other types, Scale/Bias that broadcast rather than match the
// normalized shape, the Mean/InvStdDev outputs, skip inputs of different shapes, empty tensors.
#include <omp.h>

#include <algorithm>

#include "kernels/dnnl/common.h"
#include "kernels/vec/layer_norm_loops.h"

namespace kiln::dnnl_kernels {
namespace {

// Below this many elements one thread does all rows. Low, although a row of 768 takes only ~0.2 us:
// the input was just written by a MatMul on the whole team, and one thread reading all of it takes
// the other cores' part from their caches. bert_base, 2 threads, batch 1 (128 rows): its 25 nodes took
// 2.1-2.2 ms with a threshold of 2^18 (one thread), 1.2 ms with this one, and 1.3 on 1 thread.
constexpr int64_t kParallelElements = int64_t{1} << 14;
constexpr int64_t kRowsPerTask = 8;

// True if `p` holds exactly the normalized shape's elements in order: its shape is the normalized
// shape's, or a suffix of it with only 1s left out (a higher rank is the reference's error).
bool matches_normalized_shape(const Tensor& p, const Shape& x, int64_t axis) {
  const int64_t norm_rank = static_cast<int64_t>(x.size()) - axis;
  if (p.rank() > norm_rank) return false;
  for (int64_t d = 0; d < p.rank(); ++d) {
    if (p.dim(d) != x[static_cast<size_t>(static_cast<int64_t>(x.size()) - p.rank() + d)]) return false;
  }
  return p.size() == shape_size(Shape(x.begin() + axis, x.end()));
}

class FastLayerNormKernel : public Kernel {
 public:
  FastLayerNormKernel(std::unique_ptr<Kernel> reference, bool skip, int64_t axis, float epsilon)
      : reference_(std::move(reference)), skip_(skip), axis_(axis), epsilon_(epsilon) {}

  Status run(KernelContext& ctx) const override {
    // Inputs: [A, B,] Scale, Bias.
    const size_t first_param = skip_ ? 2 : 1;
    const size_t outputs = skip_ ? 2 : 1;  // SkipLayerNormalization's Sum; LayerNormalization has no Mean here
    if (ctx.num_outputs() > outputs || !ctx.has_input(0) || !ctx.has_input(first_param) ||
        (skip_ && !ctx.has_input(1)) || !all_float32_nonempty(ctx, {0, 1, 2, 3})) {
      return reference_->run(ctx);
    }
    const Tensor& a = ctx.tensor(0);
    const Tensor* b = skip_ ? &ctx.tensor(1) : nullptr;
    const Tensor& scale = ctx.tensor(first_param);
    const Tensor* bias = ctx.has_input(first_param + 1) ? &ctx.tensor(first_param + 1) : nullptr;
    const int64_t axis = axis_ < 0 ? axis_ + a.rank() : axis_;
    if (axis < 0 || axis >= a.rank() || (b != nullptr && b->shape() != a.shape()) ||
        !matches_normalized_shape(scale, a.shape(), axis) ||
        (bias && !matches_normalized_shape(*bias, a.shape(), axis))) {
      return reference_->run(ctx);
    }
    const int64_t n = shape_size(Shape(a.shape().begin() + axis, a.shape().end()));
    const int64_t rows = a.size() / n;
    // Every row of y (and of sum) is written whole.
    Tensor y(DataType::kFloat32, a.shape(), Tensor::Init::kUninitialized);
    Tensor sum;
    if (skip_ && ctx.num_outputs() > 1) sum = Tensor(DataType::kFloat32, a.shape(), Tensor::Init::kUninitialized);
    vec::LayerNormRows all;
    all.a = a.data<float>();
    all.b = b ? b->data<float>() : nullptr;
    all.scale = scale.data<float>();
    all.bias = bias ? bias->data<float>() : nullptr;
    all.y = y.data<float>();
    all.sum = sum.defined() ? sum.data<float>() : nullptr;
    all.rows = rows;
    all.n = n;
    all.epsilon = epsilon_;
    const int64_t tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
    const int threads = a.size() < kParallelElements || omp_in_parallel()
                            ? 1
                            : static_cast<int>(std::min<int64_t>(omp_get_max_threads(), tasks));
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t first = t * kRowsPerTask;
      vec::layer_norm_rows(all.slice(first, std::min(kRowsPerTask, rows - first)));
    }
    ctx.set_output(0, Value(std::move(y)));
    if (sum.defined()) ctx.set_output(1, Value(std::move(sum)));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> reference_;
  bool skip_;
  int64_t axis_;
  float epsilon_;
};

KernelFactory make_layer_norm(bool skip) {
  return [skip](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    // The reference validates the attributes (stash_type), so a bad node fails the same way here.
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
    return std::unique_ptr<Kernel>(std::make_unique<FastLayerNormKernel>(
        std::move(reference), skip, b.node.attr_int("axis", -1), b.node.attr_float("epsilon", 1e-5f)));
  };
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("", "LayerNormalization", 17, kMaxOpset, kDnnlPriority, make_layer_norm(false));
KILN_REGISTER_KERNEL_PRIORITY("kiln", "LayerNormalization", 1, 1, kDnnlPriority, make_layer_norm(false));
KILN_REGISTER_KERNEL_PRIORITY("kiln", "SkipLayerNormalization", 1, 1, kDnnlPriority, make_layer_norm(true));

}  // namespace kiln::dnnl_kernels
