// Vectorized float32 ReduceMean over the last axis: the mean and variance of LayerNorm as exporters
// decompose it (ReduceMean, Sub, Pow 2, ReduceMean, Add, Sqrt, Div). Other axes, types and opsets
// that take axes as an input go to the reference kernel.
#include "kernels/vec/parallel_chunks.h"
#include "kernels/vec/reduce_loops.h"
#include "kernels/vec/reference_fallback.h"

namespace kiln::vec {
namespace {

// Rows are summed from memory once (memory-bound, like the binary ops): ~40 us per thread.
constexpr int64_t kReduceParallelGrain = 1 << 18;

class VecReduceMeanKernel : public Kernel {
 public:
  VecReduceMeanKernel(std::unique_ptr<Kernel> reference, std::vector<int64_t> axes, bool keepdims)
      : reference_(std::move(reference)), axes_(std::move(axes)), keepdims_(keepdims) {}

  Status run(KernelContext& ctx) const override {
    if (!is_float32_tensor(ctx, 0)) return reference_->run(ctx);
    const Tensor& x = ctx.tensor(0);
    const int64_t rank = x.rank();
    const bool last_axis_only = axes_.size() == 1 && rank >= 1 && (axes_[0] == -1 || axes_[0] == rank - 1);
    if (!last_axis_only || x.size() == 0) return reference_->run(ctx);
    const int64_t n = x.dim(rank - 1);
    const int64_t rows = x.size() / n;
    Shape shape = x.shape();
    if (keepdims_)
      shape.back() = 1;
    else
      shape.pop_back();
    Tensor y(DataType::kFloat32, std::move(shape), Tensor::Init::kUninitialized);
    const float* in = x.data<float>();
    float* out = y.data<float>();
    // Split by rows, each chunk at least a grain of input elements.
    for_each_chunk(rows, std::max<int64_t>(1, kReduceParallelGrain / n),
                   [&](int64_t begin, int64_t end) { row_means(in + begin * n, out + begin, end - begin, n); });
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> reference_;
  std::vector<int64_t> axes_;
  bool keepdims_;
};

Expected<std::unique_ptr<Kernel>> make_reduce_mean(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  // keepdims other than 0 or 1 is rejected by the reference factory above.
  return std::unique_ptr<Kernel>(std::make_unique<VecReduceMeanKernel>(std::move(reference), b.node.attr_ints("axes"),
                                                                       b.node.attr_int("keepdims", 1) != 0));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("", "ReduceMean", 1, kMaxOpset, kVecPriority, make_reduce_mean);

}  // namespace kiln::vec
