// ConvTranspose: the gradient of Conv with respect to its input. Per (image, group) a GEMM of the
// transposed weights with the input gives one column per input position and kernel tap; col2im then
// scatter-adds those columns into the output.
#include "kernels/ref/gemm.h"
#include "kernels/ref/window.h"

namespace kiln::ref {
namespace {

// Floor division (numpy's //), for pad arithmetic that may go negative.
int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }

class ConvTransposeKernel : public Kernel {
 public:
  ConvTransposeKernel(WindowAttrs attrs, int64_t group, std::vector<int64_t> output_padding,
                      std::vector<int64_t> output_shape)
      : attrs_(std::move(attrs)),
        group_(group),
        output_padding_(std::move(output_padding)),
        output_shape_(std::move(output_shape)) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& x = ctx.tensor(0);
    const Tensor& w = ctx.tensor(1);
    if (w.dtype() != x.dtype()) return Status::InvalidArgument("X and W have different data types");
    KILN_ASSIGN_OR_RETURN(WindowGeometry g, geometry(x, w));
    const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(1) * group_;
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
      const int64_t Cg = C / group_, Mg = M / group_;
      const int64_t in_size = g.in_size(), out_size = g.out_size(), ks = g.kernel_size();
      const int64_t rows = Mg * ks;  // one row per (output channel, kernel tap) of a group
      // Per group, W_g is [Cg, Mg * ks]; the GEMM needs its transpose.
      std::vector<std::vector<Acc>> wt(static_cast<size_t>(group_));
      for (int64_t gi = 0; gi < group_; ++gi) {
        wt[static_cast<size_t>(gi)] = transpose_matrix(wv.data() + gi * Cg * rows, Cg, rows);
      }
      const auto tables = tap_tables(g.in, g.out, g);
      std::vector<Acc> col(static_cast<size_t>(rows * in_size));
      std::vector<Acc> acc(static_cast<size_t>(y.size()), Acc(0));
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t gi = 0; gi < group_; ++gi) {
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
  // Resolves output size and begin padding per spatial dimension. WindowGeometry's `in` is X's
  // spatial shape and `out` Y's.
  Expected<WindowGeometry> geometry(const Tensor& x, const Tensor& w) const {
    if (x.rank() < 3) return Status::InvalidArgument("X must have rank >= 3, got " + shape_to_string(x.shape()));
    if (w.rank() != x.rank()) {
      return Status::InvalidArgument("W " + shape_to_string(w.shape()) + " must have the rank of X " +
                                     shape_to_string(x.shape()));
    }
    if (w.dim(0) != x.dim(1)) {
      return Status::InvalidArgument("X has " + std::to_string(x.dim(1)) + " channels but W " +
                                     shape_to_string(w.shape()) + " expects " + std::to_string(w.dim(0)));
    }
    if (x.dim(1) % group_ != 0) {
      return Status::InvalidArgument("input channels " + std::to_string(x.dim(1)) + " are not divisible by group " +
                                     std::to_string(group_));
    }
    const size_t nd = static_cast<size_t>(x.rank() - 2);
    const std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
    if (!attrs_.kernel_shape.empty() && attrs_.kernel_shape != kernel) {
      return Status::InvalidArgument("kernel_shape " + shape_to_string(attrs_.kernel_shape) + " does not match W " +
                                     shape_to_string(w.shape()));
    }
    auto check_len = [&](const std::vector<int64_t>& v, size_t n, const char* what) -> Status {
      if (!v.empty() && v.size() != n) {
        return Status::InvalidArgument(std::string(what) + " " + shape_to_string(v) + " do not match " +
                                       std::to_string(nd) + " spatial dimensions");
      }
      return Status::OK();
    };
    KILN_RETURN_IF_ERROR(check_len(attrs_.strides, nd, "strides"));
    KILN_RETURN_IF_ERROR(check_len(attrs_.dilations, nd, "dilations"));
    KILN_RETURN_IF_ERROR(check_len(attrs_.pads, 2 * nd, "pads"));
    KILN_RETURN_IF_ERROR(check_len(output_padding_, nd, "output_padding"));
    std::vector<int64_t> requested = output_shape_;
    if (requested.size() == nd + 2) requested.erase(requested.begin(), requested.begin() + 2);  // full shape given
    KILN_RETURN_IF_ERROR(check_len(requested, nd, "output_shape"));

    WindowGeometry g;
    g.in.assign(x.shape().begin() + 2, x.shape().end());
    g.kernel = kernel;
    g.stride = attrs_.strides.empty() ? std::vector<int64_t>(nd, 1) : attrs_.strides;
    g.dilation = attrs_.dilations.empty() ? std::vector<int64_t>(nd, 1) : attrs_.dilations;
    g.pad_begin.assign(nd, 0);
    g.pad_end.assign(nd, 0);
    g.out.assign(nd, 0);
    for (size_t d = 0; d < nd; ++d) {
      const int64_t in = g.in[d], s = g.stride[d];
      const int64_t op = output_padding_.empty() ? 0 : output_padding_[d];
      const int64_t natural = s * (in - 1) + op + (kernel[d] - 1) * g.dilation[d] + 1;  // size before padding
      const bool same = attrs_.auto_pad == AutoPad::kSameUpper || attrs_.auto_pad == AutoPad::kSameLower;
      if (!requested.empty() || same) {
        // The output size is given (or in * stride for SAME); the padding is what makes it fit.
        g.out[d] = requested.empty() ? in * s : requested[d];
        const int64_t total = natural - g.out[d];
        if (attrs_.auto_pad == AutoPad::kSameUpper) {
          g.pad_begin[d] = floor_div(total, 2);
        } else {
          g.pad_begin[d] = total - floor_div(total, 2);
        }
        g.pad_end[d] = total - g.pad_begin[d];
      } else {
        if (attrs_.auto_pad == AutoPad::kNotSet && !attrs_.pads.empty()) {
          g.pad_begin[d] = attrs_.pads[d];
          g.pad_end[d] = attrs_.pads[d + nd];
        }
        g.out[d] = natural - g.pad_begin[d] - g.pad_end[d];
      }
      if (g.out[d] < 0 || (g.out[d] == 0 && in > 0)) {
        return Status::InvalidArgument("output size " + std::to_string(g.out[d]) + " in spatial dim " +
                                       std::to_string(d) + " is not positive");
      }
    }
    return g;
  }

  WindowAttrs attrs_;
  int64_t group_;
  std::vector<int64_t> output_padding_;
  std::vector<int64_t> output_shape_;
};

Expected<std::unique_ptr<Kernel>> make_conv_transpose(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(WindowAttrs attrs, parse_window_attrs(b.node));
  const int64_t group = b.node.attr_int("group", 1);
  if (group < 1) return Status::InvalidArgument("group must be positive, got " + std::to_string(group));
  std::vector<int64_t> output_padding = b.node.attr_ints("output_padding");
  for (int64_t p : output_padding) {
    if (p < 0) return Status::InvalidArgument("output_padding must be non-negative");
  }
  std::vector<int64_t> output_shape = b.node.attr_ints("output_shape");
  for (int64_t s : output_shape) {
    if (s < 0) return Status::InvalidArgument("output_shape must be non-negative");
  }
  return std::unique_ptr<Kernel>(std::make_unique<ConvTransposeKernel>(
      std::move(attrs), group, std::move(output_padding), std::move(output_shape)));
}

}  // namespace

KILN_REGISTER_KERNEL("", "ConvTranspose", 1, kMaxOpset, make_conv_transpose);

}  // namespace kiln::ref
