// ConvTranspose: the gradient of Conv with respect to its input. Per (image, group) a GEMM of the
// transposed weights with the input gives one column per input position and kernel tap; col2im then
// scatter-adds those columns into the output.
#include "kernels/ref/gemm.h"
#include "kernels/ref/window.h"

namespace kiln::ref {
namespace {

class ConvTransposeKernel : public Kernel {
 public:
  explicit ConvTransposeKernel(ConvTransposeAttrs attrs) : attrs_(std::move(attrs)) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& x = ctx.tensor(0);
    const Tensor& w = ctx.tensor(1);
    if (w.dtype() != x.dtype()) return Status::InvalidArgument("X and W have different data types");
    KILN_ASSIGN_OR_RETURN(WindowGeometry g, conv_transpose_geometry(attrs_, x.shape(), w.shape()));
    const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(1) * attrs_.group;
    const Tensor* bias = nullptr;
    if (ctx.has_input(2) && ctx.input(2).is_tensor()) {
      bias = &ctx.tensor(2);
      if (bias->dtype() != x.dtype() || bias->rank() != 1 || bias->dim(0) != M) {
        return Status::InvalidArgument("B " + shape_to_string(bias->shape()) + " must be a 1-D tensor of " +
                                       std::to_string(M) + " elements of X's type");
      }
    }
    Shape out_shape{N, M};
    out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
    KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::make(x.dtype(), out_shape));
    return visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using Acc = AccType<T>;
      const std::vector<Acc> xv = to_acc<Acc>(x.data<T>(), x.size());
      const std::vector<Acc> wv = to_acc<Acc>(w.data<T>(), w.size());
      const int64_t Cg = C / attrs_.group, Mg = M / attrs_.group;
      const int64_t in_size = g.in_size(), out_size = g.out_size(), ks = g.kernel_size();
      const int64_t rows = Mg * ks;  // one row per (output channel, kernel tap) of a group
      // Per group, W_g is [Cg, Mg * ks]; the GEMM needs its transpose.
      std::vector<std::vector<Acc>> wt(static_cast<size_t>(attrs_.group));
      for (int64_t gi = 0; gi < attrs_.group; ++gi) {
        wt[static_cast<size_t>(gi)] = transpose_matrix(wv.data() + gi * Cg * rows, Cg, rows);
      }
      const auto tables = tap_tables(g.in, g.out, g);
      std::vector<Acc> col(static_cast<size_t>(rows * in_size));
      std::vector<Acc> acc(static_cast<size_t>(y.size()), Acc(0));
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t gi = 0; gi < attrs_.group; ++gi) {
          std::fill(col.begin(), col.end(), Acc(0));
          gemm_accumulate<Acc>(rows, in_size, Cg, wt[static_cast<size_t>(gi)].data(), Cg,
                               xv.data() + (n * C + gi * Cg) * in_size, in_size, col.data(), in_size);
          for (int64_t m = 0; m < Mg; ++m) {
            Acc* ym = acc.data() + (n * M + gi * Mg + m) * out_size;
            const Acc* cm = col.data() + m * ks * in_size;
            for_each_tap(g.in, g.out, g.kernel, tables,
                         [&](int64_t k, int64_t p, int64_t o) { ym[o] += cm[k * in_size + p]; });
          }
        }
      }
      store_with_channel_bias<T, Acc>(acc, bias, M, out_size, &y);
      ctx.set_output(0, Value(std::move(y)));
      return Status::OK();
    });
  }

 private:
  ConvTransposeAttrs attrs_;
};

Expected<std::unique_ptr<Kernel>> make_conv_transpose(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(ConvTransposeAttrs attrs, parse_conv_transpose_attrs(b.node));
  return std::unique_ptr<Kernel>(std::make_unique<ConvTransposeKernel>(std::move(attrs)));
}

}  // namespace

KILN_REGISTER_KERNEL("", "ConvTranspose", 1, kMaxOpset, make_conv_transpose);

}  // namespace kiln::ref
