// GridSample (opset 16): samples a 4-D input [N, C, H, W] at the normalized (x, y) locations of a grid
// [N, H_out, W_out, 2], with the semantics of PyTorch's grid_sample (which the operator was defined from):
// nearest rounds half to even, bicubic uses A = -0.75 and applies the padding mode to every one of its
// 16 taps, bilinear and nearest apply it to the sampling coordinate.
//
// Every output location becomes a list of taps (flat spatial offset, weight); taps that fall in zero
// padding are simply absent. Numeric types accumulate the taps in double; nearest has at most one tap
// of weight 1, so it copies elements and serves every data type, strings and booleans included.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

enum class Interp { kBilinear, kNearest, kBicubic };
enum class Padding { kZeros, kBorder, kReflection };

struct Tap {
  int64_t offset;  // y * W + x
  double weight;
};

class GridSampleKernel : public Kernel {
 public:
  GridSampleKernel(Interp mode, Padding padding, bool align_corners)
      : mode_(mode), padding_(padding), align_corners_(align_corners) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& x = ctx.tensor(0);
    const Tensor& grid = ctx.tensor(1);
    if (x.rank() != 4) return Status::InvalidArgument("X must be 4-D [N, C, H, W], got " + shape_to_string(x.shape()));
    if (grid.rank() != 4 || grid.dim(3) != 2 || grid.dim(0) != x.dim(0)) {
      return Status::InvalidArgument("grid must have shape [N, H_out, W_out, 2] with N = " + std::to_string(x.dim(0)) +
                                     ", got " + shape_to_string(grid.shape()));
    }
    const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
    const int64_t oh = grid.dim(1), ow = grid.dim(2);
    std::vector<double> g(static_cast<size_t>(grid.size()));
    KILN_RETURN_IF_ERROR(visit_type(FloatTypes{}, grid.dtype(), [&](auto tag) {
      using G = typename decltype(tag)::type;
      for (int64_t i = 0; i < grid.size(); ++i) g[static_cast<size_t>(i)] = static_cast<double>(static_cast<ComputeType<G>>(grid.data<G>()[i]));
      return Status::OK();
    }));
    Tensor y(x.dtype(), {n, c, oh, ow});
    if (y.size() == 0) {
      ctx.set_output(0, std::move(y));
      return Status::OK();
    }
    // Taps of every output location of one batch item, shared by its channels.
    std::vector<int64_t> begin(static_cast<size_t>(oh * ow) + 1);
    std::vector<Tap> taps;
    for (int64_t b = 0; b < n; ++b) {
      taps.clear();
      for (int64_t p = 0; p < oh * ow; ++p) {
        begin[static_cast<size_t>(p)] = static_cast<int64_t>(taps.size());
        const double gx = g[static_cast<size_t>((b * oh * ow + p) * 2)], gy = g[static_cast<size_t>((b * oh * ow + p) * 2 + 1)];
        add_taps(gx, gy, h, w, &taps);
      }
      begin.back() = static_cast<int64_t>(taps.size());
      KILN_RETURN_IF_ERROR(write_batch(x, b, begin, taps, y));
    }
    ctx.set_output(0, std::move(y));
    return Status::OK();
  }

 private:
  // Normalized [-1, 1] to pixel coordinates.
  double unnormalize(double v, int64_t size) const {
    const double s = static_cast<double>(size);
    return align_corners_ ? (v + 1) / 2 * (s - 1) : ((v + 1) * s - 1) / 2;
  }

  static double reflect(double v, double twice_low, double twice_high) {
    if (twice_low == twice_high) return 0;
    const double lo = twice_low / 2, span = (twice_high - twice_low) / 2;
    v = std::fabs(v - lo);
    const double extra = std::fmod(v, span);
    const double flips = std::floor(v / span);
    return std::fmod(flips, 2) == 0 ? extra + lo : span - extra + lo;
  }

  // Applies border or reflection padding to a pixel coordinate (zeros padding leaves it alone).
  double pad(double v, int64_t size) const {
    const double hi = static_cast<double>(size - 1);
    if (padding_ == Padding::kBorder) return std::clamp(v, 0.0, hi);
    if (padding_ == Padding::kReflection) {
      v = align_corners_ ? reflect(v, 0, 2 * hi) : reflect(v, -1, 2 * static_cast<double>(size) - 1);
      return std::clamp(v, 0.0, hi);
    }
    return v;
  }

  void add_taps(double gx, double gy, int64_t h, int64_t w, std::vector<Tap>* taps) const {
    if (!std::isfinite(gx) || !std::isfinite(gy)) return;  // NaN and infinity sample nothing
    double px = unnormalize(gx, w), py = unnormalize(gy, h);
    auto push = [&](int64_t ix, int64_t iy, double weight) {
      if (ix >= 0 && ix < w && iy >= 0 && iy < h && weight != 0) taps->push_back({iy * w + ix, weight});
    };
    if (mode_ == Interp::kBicubic) {
      const double x0 = std::floor(px), y0 = std::floor(py);
      double cx[4], cy[4];
      cubic_coeffs(px - x0, cx);
      cubic_coeffs(py - y0, cy);
      for (int j = 0; j < 4; ++j) {
        for (int i = 0; i < 4; ++i) {
          // Each tap is padded on its own; a padded coordinate truncates toward zero like PyTorch's.
          const double tx = pad(x0 - 1 + i, w), ty = pad(y0 - 1 + j, h);
          if (std::fabs(tx) > 1e15 || std::fabs(ty) > 1e15) continue;
          push(static_cast<int64_t>(tx), static_cast<int64_t>(ty), cx[i] * cy[j]);
        }
      }
      return;
    }
    px = pad(px, w);
    py = pad(py, h);
    if (std::fabs(px) > 1e15 || std::fabs(py) > 1e15) return;  // far outside: only zero padding gets here
    if (mode_ == Interp::kNearest) {
      push(static_cast<int64_t>(std::nearbyint(px)), static_cast<int64_t>(std::nearbyint(py)), 1.0);
      return;
    }
    const double x0 = std::floor(px), y0 = std::floor(py);
    const double fx = px - x0, fy = py - y0;
    const int64_t ix = static_cast<int64_t>(x0), iy = static_cast<int64_t>(y0);
    push(ix, iy, (1 - fx) * (1 - fy));
    push(ix + 1, iy, fx * (1 - fy));
    push(ix, iy + 1, (1 - fx) * fy);
    push(ix + 1, iy + 1, fx * fy);
  }

  static void cubic_coeffs(double t, double c[4]) {
    constexpr double A = -0.75;
    auto conv1 = [](double v) { return ((A + 2) * v - (A + 3)) * v * v + 1; };
    auto conv2 = [](double v) { return ((A * v - 5 * A) * v + 8 * A) * v - 4 * A; };
    c[0] = conv2(t + 1);
    c[1] = conv1(t);
    c[2] = conv1(1 - t);
    c[3] = conv2(2 - t);
  }

  Status write_batch(const Tensor& x, int64_t b, const std::vector<int64_t>& begin, const std::vector<Tap>& taps,
                     Tensor& y) const {
    const int64_t c = x.dim(1), plane_in = x.dim(2) * x.dim(3), plane_out = static_cast<int64_t>(begin.size()) - 1;
    if (mode_ == Interp::kNearest) {
      // At most one tap of weight 1: copy, or leave the zero (empty string, false) the output starts with.
      const bool is_string = x.dtype() == DataType::kString;
      const size_t esize = data_type_size(x.dtype());
      if (!is_string && esize == 0) return Status::Unimplemented("data type " + std::string(data_type_name(x.dtype())) + " is not supported");
      for (int64_t ch = 0; ch < c; ++ch) {
        const int64_t in_base = (b * c + ch) * plane_in, out_base = (b * c + ch) * plane_out;
        for (int64_t p = 0; p < plane_out; ++p) {
          if (begin[static_cast<size_t>(p)] == begin[static_cast<size_t>(p) + 1]) continue;
          const int64_t src = in_base + taps[static_cast<size_t>(begin[static_cast<size_t>(p)])].offset;
          if (is_string) {
            y.data<std::string>()[out_base + p] = x.data<std::string>()[src];
          } else {
            std::memcpy(static_cast<unsigned char*>(y.raw()) + (out_base + p) * esize,
                        static_cast<const unsigned char*>(x.raw()) + src * esize, esize);
          }
        }
      }
      return Status::OK();
    }
    return visit_type(NumericTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xs = x.data<T>();
      T* ys = y.data<T>();
      for (int64_t ch = 0; ch < c; ++ch) {
        const T* in = xs + (b * c + ch) * plane_in;
        T* out = ys + (b * c + ch) * plane_out;
        for (int64_t p = 0; p < plane_out; ++p) {
          double acc = 0;
          for (int64_t t = begin[static_cast<size_t>(p)]; t < begin[static_cast<size_t>(p) + 1]; ++t) {
            const Tap& tap = taps[static_cast<size_t>(t)];
            acc += tap.weight * static_cast<double>(static_cast<ComputeType<T>>(in[tap.offset]));
          }
          if constexpr (std::is_integral_v<T>) {
            // Round to nearest and saturate (bicubic overshoots); a plain cast of an out-of-range double is undefined.
            acc = std::nearbyint(acc);
            acc = std::clamp(acc, static_cast<double>(std::numeric_limits<T>::lowest()), static_cast<double>(std::numeric_limits<T>::max()));
            out[p] = acc >= static_cast<double>(std::numeric_limits<T>::max()) ? std::numeric_limits<T>::max() : static_cast<T>(acc);
          } else {
            out[p] = T(static_cast<ComputeType<T>>(acc));
          }
        }
      }
      return Status::OK();
    });
  }

  Interp mode_;
  Padding padding_;
  bool align_corners_;
};

Expected<std::unique_ptr<Kernel>> make_grid_sample(const KernelBuildContext& b) {
  const ir::Node& n = b.node;
  const std::string m = n.attr_string("mode", "bilinear");
  Interp mode;
  if (m == "bilinear") mode = Interp::kBilinear;
  else if (m == "nearest") mode = Interp::kNearest;
  else if (m == "bicubic") mode = Interp::kBicubic;
  else return Status::InvalidArgument("unknown mode '" + m + "'");
  const std::string p = n.attr_string("padding_mode", "zeros");
  Padding padding;
  if (p == "zeros") padding = Padding::kZeros;
  else if (p == "border") padding = Padding::kBorder;
  else if (p == "reflection") padding = Padding::kReflection;
  else return Status::InvalidArgument("unknown padding_mode '" + p + "'");
  return std::unique_ptr<Kernel>(std::make_unique<GridSampleKernel>(mode, padding, n.attr_int("align_corners", 0) != 0));
}

}  // namespace

KILN_REGISTER_KERNEL("", "GridSample", 16, kMaxOpset, make_grid_sample);

}  // namespace kiln::ref
