// Resize (opsets 10, 11, 13) and Upsample (opsets 1, 7, 9): nearest, linear and cubic interpolation of
// N-D tensors.
//
// Each axis is planned independently: every output index along an axis gets a short list of taps
// (input index, weight), or is marked "outside" (tf_crop_and_resize samples beyond the input, which
// read extrapolation_value). Nearest copies one element per output element, so it serves every data type
// including strings; linear and cubic run separable passes in double, one axis at a time.
//
// The arithmetic follows the numpy reference of the ONNX test generators (resize.py) exactly, including
// two details that differ from ONNX Runtime: align_corners and tf_crop_and_resize divide by
// (scale * input_length - 1), the *unrounded* output length, and the sizes input is turned into the scale
// output_size / input_size before any coordinate is computed.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

enum class Mode { kNearest, kLinear, kCubic };
enum class Transform { kHalfPixel, kAsymmetric, kPytorchHalfPixel, kTfHalfPixelForNN, kAlignCorners, kTfCropAndResize };
// kSimple is the rule of Upsample and Resize-10, which predate nearest_mode (ONNX Runtime's choice, the de
// facto reference for such models): round up when downsampling, down otherwise.
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

struct ResizeAttrs {
  Mode mode = Mode::kNearest;
  Transform transform = Transform::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
};

struct Tap {
  int64_t index;
  double weight;
};

// How one axis maps output indices to input taps.
struct AxisPlan {
  int64_t in = 0;
  int64_t out = 0;
  std::vector<int64_t> begin;  // taps of output i are taps[begin[i] .. begin[i + 1])
  std::vector<Tap> taps;
  std::vector<char> outside;   // 1 where the output reads extrapolation_value
  bool identity = true;        // every output i reads input i with weight 1
};

// Cubic convolution weights for the four taps around a point at fraction `r` in (0, 1] past tap 1.
void cubic_coeffs(double r, double a, double c[4]) {
  c[0] = ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a;
  c[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
  c[2] = ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1;
  c[3] = ((a * ((1 - r) + 1) - 5 * a) * ((1 - r) + 1) + 8 * a) * ((1 - r) + 1) - 4 * a;
}

// The input coordinate sampled by output index x; nullopt when it lies outside a tf_crop_and_resize box.
std::optional<double> original_coordinate(const ResizeAttrs& a, double x, double scale, int64_t in, double roi_start,
                                          double roi_end) {
  const double out_len = scale * static_cast<double>(in);  // unrounded, as the reference computes it
  const double in_len = static_cast<double>(in);
  switch (a.transform) {
    case Transform::kHalfPixel:
      return (x + 0.5) / scale - 0.5;
    case Transform::kAsymmetric:
      return x / scale;
    case Transform::kPytorchHalfPixel:
      return out_len == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
    case Transform::kTfHalfPixelForNN:
      return (x + 0.5) / scale;
    case Transform::kAlignCorners:
      return out_len == 1 ? 0.0 : x * (in_len - 1) / (out_len - 1);
    case Transform::kTfCropAndResize: {
      double x_ori = out_len == 1 ? (roi_end - roi_start) * (in_len - 1) / 2
                                  : x * (roi_end - roi_start) * (in_len - 1) / (out_len - 1);
      x_ori += roi_start * (in_len - 1);
      if (x_ori < 0 || x_ori > in_len - 1) return std::nullopt;
      return x_ori;
    }
  }
  return 0.0;
}

AxisPlan plan_axis(const ResizeAttrs& a, int64_t in, int64_t out, double scale, double roi_start, double roi_end) {
  AxisPlan p;
  p.in = in;
  p.out = out;
  p.identity = in == out;
  p.begin.reserve(static_cast<size_t>(out) + 1);
  p.outside.assign(static_cast<size_t>(out), 0);
  auto clamp = [in](int64_t i) { return std::clamp<int64_t>(i, 0, in - 1); };
  for (int64_t x = 0; x < out; ++x) {
    p.begin.push_back(static_cast<int64_t>(p.taps.size()));
    const std::optional<double> coord = original_coordinate(a, static_cast<double>(x), scale, in, roi_start, roi_end);
    if (!coord || !std::isfinite(*coord)) {
      p.outside[static_cast<size_t>(x)] = 1;
      p.identity = false;
      continue;
    }
    const double x_ori = *coord;
    // The reference prefers the taps left of x_ori: an integral x_ori sits at fraction 1 past tap floor-1.
    const double fl = std::floor(x_ori);
    const bool integral = fl == x_ori;
    const double ratio = integral ? 1.0 : x_ori - fl;
    const int64_t base = static_cast<int64_t>(integral ? fl - 1 : fl);
    if (a.mode == Mode::kNearest) {
      bool take_ceil = true;  // integral coordinates take base + 1 == x_ori
      if (!integral) {
        switch (a.nearest) {
          case NearestMode::kRoundPreferFloor: take_ceil = ratio > 0.5; break;
          case NearestMode::kRoundPreferCeil: take_ceil = ratio >= 0.5; break;
          case NearestMode::kFloor: take_ceil = false; break;
          case NearestMode::kCeil: take_ceil = true; break;
          case NearestMode::kSimple: take_ceil = scale < 1; break;
        }
      }
      p.taps.push_back({clamp(take_ceil ? base + 1 : base), 1.0});
    } else {
      double c[4];
      int n = 2;
      if (a.mode == Mode::kLinear) {
        c[0] = 1 - ratio;
        c[1] = ratio;
      } else {
        n = 4;
        cubic_coeffs(ratio, a.cubic_a, c);
      }
      const int64_t first = base - n / 2 + 1;
      if (a.exclude_outside) {
        double sum = 0;
        for (int k = 0; k < n; ++k) {
          const int64_t i = first + k;
          if (i < 0 || i >= in) c[k] = 0;
          sum += c[k];
        }
        if (sum != 0) {
          for (int k = 0; k < n; ++k) c[k] /= sum;
        }
      }
      for (int k = 0; k < n; ++k) {
        if (c[k] != 0) p.taps.push_back({clamp(first + k), c[k]});
      }
    }
    const size_t b = static_cast<size_t>(p.begin.back());
    if (p.taps.size() - b != 1 || p.taps[b].index != x || p.taps[b].weight != 1.0) p.identity = false;
  }
  p.begin.push_back(static_cast<int64_t>(p.taps.size()));
  return p;
}

// Copies one input element per output element (nearest mode), bytewise so that it covers every
// fixed-size type; strings are assigned.
Status gather_nearest(const Tensor& x, const std::vector<AxisPlan>& plans, const ResizeAttrs& a, Tensor& y) {
  const size_t rank = plans.size();
  const std::vector<int64_t> in_strides = strides_of(x.shape());
  // Per axis, the input offset contribution of each output index (-1 when outside).
  std::vector<std::vector<int64_t>> offs(rank);
  for (size_t d = 0; d < rank; ++d) {
    offs[d].resize(static_cast<size_t>(plans[d].out));
    for (int64_t i = 0; i < plans[d].out; ++i) {
      offs[d][static_cast<size_t>(i)] =
          plans[d].outside[static_cast<size_t>(i)] ? -1 : plans[d].taps[static_cast<size_t>(plans[d].begin[static_cast<size_t>(i)])].index * in_strides[d];
    }
  }
  const bool is_string = x.dtype() == DataType::kString;
  const size_t esize = data_type_size(x.dtype());
  if (!is_string && esize == 0) return Status::Unimplemented("data type " + std::string(data_type_name(x.dtype())) + " is not supported");
  // The extrapolation value in the element type (numeric types only; strings get "").
  std::vector<unsigned char> fill(esize, 0);
  if (!is_string) {
    (void)visit_type(NumericTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T v = convert_element<T>(a.extrapolation);
      std::memcpy(fill.data(), &v, sizeof(T));
      return Status::OK();
    });
  }
  std::vector<int64_t> idx(rank, 0);
  const int64_t total = y.size();
  for (int64_t o = 0; o < total; ++o) {
    int64_t src = 0;
    bool outside = false;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t off = offs[d][static_cast<size_t>(idx[d])];
      if (off < 0) outside = true;
      src += off;
    }
    if (is_string) {
      y.data<std::string>()[o] = outside ? std::string() : x.data<std::string>()[src];
    } else {
      std::memcpy(static_cast<unsigned char*>(y.raw()) + o * esize,
                  outside ? fill.data() : static_cast<const unsigned char*>(x.raw()) + src * esize, esize);
    }
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < plans[d].out) break;
      idx[d] = 0;
    }
  }
  return Status::OK();
}

// Converts an interpolated value to the element type; integers truncate like numpy's astype and saturate
// so that cubic overshoot cannot overflow.
template <typename T>
T store(double v) {
  if constexpr (std::is_integral_v<T>) {
    if (std::isnan(v)) return T(0);
    const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
    const double hi = static_cast<double>(std::numeric_limits<T>::max());
    if (v <= lo) return std::numeric_limits<T>::lowest();
    if (v >= hi) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  } else {
    return T(static_cast<ComputeType<T>>(v));
  }
}

// Linear and cubic: separable passes in double, skipping axes that map identically.
template <typename T>
void interpolate(const Tensor& x, const std::vector<AxisPlan>& plans, double extrapolation, Tensor& y) {
  std::vector<double> cur(static_cast<size_t>(x.size()));
  const T* xs = x.data<T>();
  for (size_t i = 0; i < cur.size(); ++i) cur[i] = static_cast<double>(static_cast<ComputeType<T>>(xs[i]));
  Shape shape = x.shape();
  std::vector<double> next;
  for (size_t d = 0; d < plans.size(); ++d) {
    const AxisPlan& p = plans[d];
    if (p.identity) continue;
    int64_t outer = 1, inner = 1;
    for (size_t k = 0; k < d; ++k) outer *= shape[k];
    for (size_t k = d + 1; k < shape.size(); ++k) inner *= shape[k];
    next.assign(static_cast<size_t>(outer * p.out * inner), 0.0);
    for (int64_t o = 0; o < outer; ++o) {
      const double* src = cur.data() + o * p.in * inner;
      double* dst = next.data() + o * p.out * inner;
      for (int64_t i = 0; i < p.out; ++i) {
        double* row = dst + i * inner;
        if (p.outside[static_cast<size_t>(i)]) {
          std::fill(row, row + inner, extrapolation);
          continue;
        }
        for (int64_t t = p.begin[static_cast<size_t>(i)]; t < p.begin[static_cast<size_t>(i) + 1]; ++t) {
          const Tap& tap = p.taps[static_cast<size_t>(t)];
          const double* s = src + tap.index * inner;
          for (int64_t k = 0; k < inner; ++k) row[k] += tap.weight * s[k];
        }
      }
    }
    cur.swap(next);
    shape[d] = p.out;
  }
  T* ys = y.data<T>();
  for (size_t i = 0; i < cur.size(); ++i) ys[i] = store<T>(cur[i]);
}

class ResizeKernel : public Kernel {
 public:
  // `attr_scales`: Upsample-1/7 carry scales as attributes. `roi_input`, `scales_input`, `sizes_input`:
  // input positions, -1 when this version has no such input.
  ResizeKernel(ResizeAttrs attrs, std::vector<float> attr_scales, int roi_input, int scales_input, int sizes_input)
      : a_(attrs), attr_scales_(std::move(attr_scales)), roi_input_(roi_input), scales_input_(scales_input),
        sizes_input_(sizes_input) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    const int64_t rank = x.rank();
    std::vector<double> scales;
    std::vector<int64_t> sizes;
    if (!attr_scales_.empty() || scales_input_ < 0) {
      for (float s : attr_scales_) scales.push_back(s);
    } else {
      const Tensor& s = ctx.tensor(static_cast<size_t>(scales_input_));
      if (s.defined() && s.size() > 0) {
        if (s.rank() != 1) return Status::InvalidArgument("scales must be 1-D, got shape " + shape_to_string(s.shape()));
        KILN_RETURN_IF_ERROR(visit_type(FloatTypes{}, s.dtype(), [&](auto tag) {
          using S = typename decltype(tag)::type;
          for (int64_t i = 0; i < s.size(); ++i) scales.push_back(static_cast<double>(static_cast<float>(s.data<S>()[i])));
          return Status::OK();
        }));
      }
    }
    if (sizes_input_ >= 0 && ctx.has_input(static_cast<size_t>(sizes_input_))) {
      const Tensor& s = ctx.tensor(static_cast<size_t>(sizes_input_));
      if (s.defined() && s.size() > 0) {
        KILN_ASSIGN_OR_RETURN(sizes, read_int_list(s, "sizes"));
      }
    }
    if (!scales.empty() && !sizes.empty()) return Status::InvalidArgument("only one of scales and sizes may be given");
    if (scales.empty() && sizes.empty()) return Status::InvalidArgument("one of scales and sizes is required");
    const size_t given = scales.empty() ? sizes.size() : scales.size();
    if (static_cast<int64_t>(given) != rank) {
      return Status::InvalidArgument(std::string(scales.empty() ? "sizes" : "scales") + " has " + std::to_string(given) +
                                     " elements for an input of rank " + std::to_string(rank));
    }

    std::vector<double> roi;
    if (a_.transform == Transform::kTfCropAndResize) {
      if (roi_input_ < 0 || !ctx.tensor(static_cast<size_t>(roi_input_)).defined()) {
        return Status::InvalidArgument("tf_crop_and_resize needs the roi input");
      }
      const Tensor& r = ctx.tensor(static_cast<size_t>(roi_input_));
      if (r.size() != 2 * rank) {
        return Status::InvalidArgument("roi has " + std::to_string(r.size()) + " elements, expected " +
                                       std::to_string(2 * rank));
      }
      KILN_RETURN_IF_ERROR(visit_type(FloatTypes{}, r.dtype(), [&](auto tag) {
        using R = typename decltype(tag)::type;
        for (int64_t i = 0; i < r.size(); ++i) roi.push_back(static_cast<double>(static_cast<ComputeType<R>>(r.data<R>()[i])));
        return Status::OK();
      }));
    }

    Shape out_shape(static_cast<size_t>(rank));
    std::vector<AxisPlan> plans;
    std::vector<double> axis_scales;
    for (int64_t d = 0; d < rank; ++d) {
      const int64_t in = x.dim(d);
      double scale;
      int64_t out;
      if (!scales.empty()) {
        scale = scales[static_cast<size_t>(d)];
        if (!(scale > 0) || !std::isfinite(scale)) {
          return Status::InvalidArgument("scales must be positive and finite, got " + std::to_string(scale));
        }
        const double len = std::floor(scale * static_cast<double>(in));
        if (len > static_cast<double>(int64_t{1} << 40)) return Status::InvalidArgument("scales give an output too large");
        out = static_cast<int64_t>(len);
      } else {
        out = sizes[static_cast<size_t>(d)];
        if (out < 0) return Status::InvalidArgument("sizes must not be negative, got " + std::to_string(out));
        if (in == 0 && out > 0) return Status::InvalidArgument("cannot resize an empty axis to a non-empty one");
        scale = in == 0 ? 1.0 : static_cast<double>(out) / static_cast<double>(in);
      }
      if (in == 0 && out > 0) return Status::InvalidArgument("cannot resize an empty axis to a non-empty one");
      out_shape[static_cast<size_t>(d)] = out;
      axis_scales.push_back(scale);
    }
    // Allocate first: it rejects output sizes too large before the per-axis plans are built.
    KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::make(x.dtype(), out_shape));
    for (int64_t d = 0; d < rank && y.size() > 0; ++d) {
      const double r0 = roi.empty() ? 0.0 : roi[static_cast<size_t>(d)];
      const double r1 = roi.empty() ? 1.0 : roi[static_cast<size_t>(d + rank)];
      plans.push_back(plan_axis(a_, x.dim(d), out_shape[static_cast<size_t>(d)], axis_scales[static_cast<size_t>(d)], r0, r1));
    }
    if (y.size() > 0) {
      if (a_.mode == Mode::kNearest) {
        KILN_RETURN_IF_ERROR(gather_nearest(x, plans, a_, y));
      } else {
        KILN_RETURN_IF_ERROR(visit_type(NumericTypes{}, x.dtype(), [&](auto tag) {
          using T = typename decltype(tag)::type;
          interpolate<T>(x, plans, a_.extrapolation, y);
          return Status::OK();
        }));
      }
    }
    ctx.set_output(0, std::move(y));
    return Status::OK();
  }

 private:
  ResizeAttrs a_;
  std::vector<float> attr_scales_;
  int roi_input_, scales_input_, sizes_input_;
};

Expected<Mode> parse_mode(const std::string& s) {
  if (s == "nearest" || s == "NN") return Mode::kNearest;
  if (s == "linear" || s == "bilinear" || s == "BILINEAR") return Mode::kLinear;
  if (s == "cubic") return Mode::kCubic;
  return Status::InvalidArgument("unknown mode '" + s + "'");
}

Expected<std::unique_ptr<Kernel>> make_resize(const KernelBuildContext& b) {
  const ir::Node& n = b.node;
  ResizeAttrs a;
  KILN_ASSIGN_OR_RETURN(a.mode, parse_mode(n.attr_string("mode", "nearest")));
  if (b.opset < 11) {
    if (a.mode == Mode::kCubic) return Status::InvalidArgument("Resize-10 has no cubic mode");
    a.transform = Transform::kAsymmetric;
    a.nearest = NearestMode::kSimple;
    return std::unique_ptr<Kernel>(std::make_unique<ResizeKernel>(a, std::vector<float>{}, -1, 1, -1));
  }
  const std::string t = n.attr_string("coordinate_transformation_mode", "half_pixel");
  if (t == "half_pixel") a.transform = Transform::kHalfPixel;
  else if (t == "asymmetric") a.transform = Transform::kAsymmetric;
  else if (t == "pytorch_half_pixel") a.transform = Transform::kPytorchHalfPixel;
  else if (t == "tf_half_pixel_for_nn") a.transform = Transform::kTfHalfPixelForNN;
  else if (t == "align_corners") a.transform = Transform::kAlignCorners;
  else if (t == "tf_crop_and_resize") a.transform = Transform::kTfCropAndResize;
  else return Status::InvalidArgument("unknown coordinate_transformation_mode '" + t + "'");
  const std::string nm = n.attr_string("nearest_mode", "round_prefer_floor");
  if (nm == "round_prefer_floor") a.nearest = NearestMode::kRoundPreferFloor;
  else if (nm == "round_prefer_ceil") a.nearest = NearestMode::kRoundPreferCeil;
  else if (nm == "floor") a.nearest = NearestMode::kFloor;
  else if (nm == "ceil") a.nearest = NearestMode::kCeil;
  else return Status::InvalidArgument("unknown nearest_mode '" + nm + "'");
  a.cubic_a = n.attr_float("cubic_coeff_a", -0.75f);
  a.exclude_outside = n.attr_int("exclude_outside", 0) != 0;
  a.extrapolation = n.attr_float("extrapolation_value", 0.0f);
  return std::unique_ptr<Kernel>(std::make_unique<ResizeKernel>(a, std::vector<float>{}, 1, 2, 3));
}

Expected<std::unique_ptr<Kernel>> make_upsample(const KernelBuildContext& b) {
  const ir::Node& n = b.node;
  ResizeAttrs a;
  KILN_ASSIGN_OR_RETURN(a.mode, parse_mode(n.attr_string("mode", "nearest")));
  if (a.mode == Mode::kCubic) return Status::InvalidArgument("Upsample has no cubic mode");
  a.transform = Transform::kAsymmetric;
  a.nearest = NearestMode::kSimple;
  std::vector<float> scales;
  if (b.opset < 7) {
    // Upsample-1: 4-D NCHW with height_scale and width_scale.
    if (!n.has_attr("height_scale") || !n.has_attr("width_scale")) {
      return Status::InvalidArgument("Upsample-1 needs height_scale and width_scale");
    }
    scales = {1.0f, 1.0f, n.attr_float("height_scale", 1), n.attr_float("width_scale", 1)};
  } else if (b.opset < 9) {
    scales = n.attr_floats("scales");
    if (scales.empty()) return Status::InvalidArgument("Upsample-7 needs the scales attribute");
  }
  const int scales_input = scales.empty() ? 1 : -1;
  return std::unique_ptr<Kernel>(std::make_unique<ResizeKernel>(a, std::move(scales), -1, scales_input, -1));
}

}  // namespace

KILN_REGISTER_KERNEL("", "Resize", 10, kMaxOpset, make_resize);
KILN_REGISTER_KERNEL("", "Upsample", 1, kMaxOpset, make_upsample);

}  // namespace kiln::ref
