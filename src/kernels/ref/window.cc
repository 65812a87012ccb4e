// Sliding-window geometry shared by the convolution and pooling kernels (see window.h).
#include "kernels/ref/window.h"

#include <new>
#include <optional>

namespace kiln::ref {
namespace {

// Window sizes come from a model's attributes: a product past int64 is refused like an allocation
// that cannot succeed (the executor reports it as ResourceExhausted naming the node).
int64_t product(const std::vector<int64_t>& v) {
  const std::optional<int64_t> p = checked_shape_size(v);
  if (!p) throw std::bad_alloc();
  return *p;
}

// No real network pads, strides or dilates by anything near this; larger values only serve to
// overflow the size arithmetic.
constexpr int64_t kMaxWindowValue = int64_t{1} << 31;

std::string list_to_string(const std::vector<int64_t>& v) { return shape_to_string(v); }

// The geometry's input, kernel, strides and dilations (the defaults where absent), with the padding and
// output sizes zero, for the caller to resolve.
WindowGeometry unresolved_geometry(const WindowAttrs& a, std::vector<int64_t> in, const std::vector<int64_t>& kernel) {
  const size_t nd = in.size();
  WindowGeometry g;
  g.in = std::move(in);
  g.kernel = kernel;
  g.stride = a.strides.empty() ? std::vector<int64_t>(nd, 1) : a.strides;
  g.dilation = a.dilations.empty() ? std::vector<int64_t>(nd, 1) : a.dilations;
  g.pad_begin.assign(nd, 0);
  g.pad_end.assign(nd, 0);
  g.out.assign(nd, 0);
  return g;
}

// An attribute of `n` values (or none: the default) for nd spatial dimensions.
Status check_length(const std::vector<int64_t>& v, size_t n, size_t nd, const char* what) {
  if (v.empty() || v.size() == n) return Status::OK();
  return Status::InvalidArgument(std::string(what) + " " + list_to_string(v) + " do not match " + std::to_string(nd) +
                                 " spatial dimensions");
}

}  // namespace

int64_t WindowGeometry::in_size() const { return product(in); }
int64_t WindowGeometry::out_size() const { return product(out); }
int64_t WindowGeometry::kernel_size() const { return product(kernel); }

Expected<WindowAttrs> parse_window_attrs(const ir::Node& node) {
  WindowAttrs a;
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET" || auto_pad.empty()) {
    a.auto_pad = AutoPad::kNotSet;
  } else if (auto_pad == "VALID") {
    a.auto_pad = AutoPad::kValid;
  } else if (auto_pad == "SAME_UPPER") {
    a.auto_pad = AutoPad::kSameUpper;
  } else if (auto_pad == "SAME_LOWER") {
    a.auto_pad = AutoPad::kSameLower;
  } else {
    return Status::InvalidArgument("unknown auto_pad '" + auto_pad + "'");
  }
  a.kernel_shape = node.attr_ints("kernel_shape");
  a.strides = node.attr_ints("strides");
  a.pads = node.attr_ints("pads");
  a.dilations = node.attr_ints("dilations");
  a.ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  for (int64_t k : a.kernel_shape) {
    if (k <= 0 || k > kMaxWindowValue) {
      return Status::InvalidArgument("kernel_shape " + list_to_string(a.kernel_shape) +
                                     " must be positive and at most 2^31");
    }
  }
  for (int64_t s : a.strides) {
    if (s <= 0 || s > kMaxWindowValue) {
      return Status::InvalidArgument("strides " + list_to_string(a.strides) + " must be positive and at most 2^31");
    }
  }
  for (int64_t d : a.dilations) {
    if (d <= 0 || d > kMaxWindowValue) {
      return Status::InvalidArgument("dilations " + list_to_string(a.dilations) + " must be positive and at most 2^31");
    }
  }
  for (int64_t p : a.pads) {
    if (p < 0 || p > kMaxWindowValue) {
      return Status::InvalidArgument("pads " + list_to_string(a.pads) + " must be non-negative and at most 2^31");
    }
  }
  if (a.pads.size() % 2 != 0) return Status::InvalidArgument("pads must have an even number of values");
  return a;
}

Expected<WindowGeometry> forward_geometry(const WindowAttrs& a, const Shape& in_spatial,
                                          const std::vector<int64_t>& kernel) {
  const size_t nd = in_spatial.size();
  if (nd == 0) return Status::InvalidArgument("input needs at least one spatial dimension");
  if (kernel.size() != nd) {
    return Status::InvalidArgument("kernel " + list_to_string(kernel) + " does not match " + std::to_string(nd) +
                                   " spatial dimensions");
  }
  KILN_RETURN_IF_ERROR(check_length(a.strides, nd, nd, "strides"));
  KILN_RETURN_IF_ERROR(check_length(a.dilations, nd, nd, "dilations"));
  KILN_RETURN_IF_ERROR(check_length(a.pads, 2 * nd, nd, "pads"));
  WindowGeometry g = unresolved_geometry(a, std::vector<int64_t>(in_spatial.begin(), in_spatial.end()), kernel);
  for (size_t d = 0; d < nd; ++d) {
    if (kernel[d] <= 0) return Status::InvalidArgument("kernel " + list_to_string(kernel) + " must be positive");
    const int64_t in = g.in[d], s = g.stride[d];
    const int64_t ek = (kernel[d] - 1) * g.dilation[d] + 1;  // dilated kernel extent
    switch (a.auto_pad) {
      case AutoPad::kSameUpper:
      case AutoPad::kSameLower: {
        g.out[d] = (in + s - 1) / s;
        const int64_t total = std::max<int64_t>(0, (g.out[d] - 1) * s + ek - in);
        const int64_t small = total / 2, large = total - total / 2;
        g.pad_begin[d] = a.auto_pad == AutoPad::kSameUpper ? small : large;
        g.pad_end[d] = a.auto_pad == AutoPad::kSameUpper ? large : small;
        break;
      }
      case AutoPad::kValid:
      case AutoPad::kNotSet: {
        if (a.auto_pad == AutoPad::kNotSet && !a.pads.empty()) {
          g.pad_begin[d] = a.pads[d];
          g.pad_end[d] = a.pads[d + nd];
        }
        const int64_t span = in + g.pad_begin[d] + g.pad_end[d] - ek;
        if (span < 0) {
          return Status::InvalidArgument("kernel extent " + std::to_string(ek) + " exceeds padded input size " +
                                         std::to_string(in + g.pad_begin[d] + g.pad_end[d]) + " in spatial dim " +
                                         std::to_string(d));
        }
        g.out[d] = (a.ceil_mode ? (span + s - 1) / s : span / s) + 1;
        // With ceil_mode the last window must still start inside the input or its begin padding.
        if (a.ceil_mode && (g.out[d] - 1) * s >= in + g.pad_begin[d]) --g.out[d];
        break;
      }
    }
  }
  return g;
}

std::vector<std::vector<int64_t>> tap_tables(const std::vector<int64_t>& grid, const std::vector<int64_t>& image,
                                             const WindowGeometry& g) {
  std::vector<std::vector<int64_t>> tables(grid.size());
  for (size_t d = 0; d < grid.size(); ++d) {
    auto& t = tables[d];
    t.resize(static_cast<size_t>(g.kernel[d] * grid[d]));
    for (int64_t k = 0; k < g.kernel[d]; ++k) {
      for (int64_t p = 0; p < grid[d]; ++p) {
        const int64_t c = p * g.stride[d] - g.pad_begin[d] + k * g.dilation[d];
        t[static_cast<size_t>(k * grid[d] + p)] = (c >= 0 && c < image[d]) ? c : -1;
      }
    }
  }
  return tables;
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }

Expected<ConvTransposeAttrs> parse_conv_transpose_attrs(const ir::Node& node) {
  ConvTransposeAttrs attrs;
  KILN_ASSIGN_OR_RETURN(attrs.window, parse_window_attrs(node));
  attrs.group = node.attr_int("group", 1);
  if (attrs.group < 1) return Status::InvalidArgument("group must be positive, got " + std::to_string(attrs.group));
  attrs.output_padding = node.attr_ints("output_padding");
  for (int64_t p : attrs.output_padding) {
    if (p < 0) return Status::InvalidArgument("output_padding must be non-negative");
  }
  attrs.output_shape = node.attr_ints("output_shape");
  for (int64_t s : attrs.output_shape) {
    if (s < 0) return Status::InvalidArgument("output_shape must be non-negative");
  }
  return attrs;
}

Expected<WindowGeometry> conv_transpose_geometry(const ConvTransposeAttrs& attrs, const Shape& x, const Shape& w) {
  const WindowAttrs& a = attrs.window;
  if (x.size() < 3) return Status::InvalidArgument("X must have rank >= 3, got " + shape_to_string(x));
  if (w.size() != x.size()) {
    return Status::InvalidArgument("W " + shape_to_string(w) + " must have the rank of X " + shape_to_string(x));
  }
  if (w[0] != x[1]) {
    return Status::InvalidArgument("X has " + std::to_string(x[1]) + " channels but W " + shape_to_string(w) +
                                   " expects " + std::to_string(w[0]));
  }
  if (x[1] % attrs.group != 0) {
    return Status::InvalidArgument("input channels " + std::to_string(x[1]) + " are not divisible by group " +
                                   std::to_string(attrs.group));
  }
  const size_t nd = x.size() - 2;
  const std::vector<int64_t> kernel(w.begin() + 2, w.end());
  if (!a.kernel_shape.empty() && a.kernel_shape != kernel) {
    return Status::InvalidArgument("kernel_shape " + shape_to_string(a.kernel_shape) + " does not match W " +
                                   shape_to_string(w));
  }
  KILN_RETURN_IF_ERROR(check_length(a.strides, nd, nd, "strides"));
  KILN_RETURN_IF_ERROR(check_length(a.dilations, nd, nd, "dilations"));
  KILN_RETURN_IF_ERROR(check_length(a.pads, 2 * nd, nd, "pads"));
  KILN_RETURN_IF_ERROR(check_length(attrs.output_padding, nd, nd, "output_padding"));
  std::vector<int64_t> requested = attrs.output_shape;
  if (requested.size() == nd + 2) requested.erase(requested.begin(), requested.begin() + 2);  // full shape given
  KILN_RETURN_IF_ERROR(check_length(requested, nd, nd, "output_shape"));

  WindowGeometry g = unresolved_geometry(a, std::vector<int64_t>(x.begin() + 2, x.end()), kernel);
  for (size_t d = 0; d < nd; ++d) {
    const int64_t in = g.in[d], s = g.stride[d];
    const int64_t op = attrs.output_padding.empty() ? 0 : attrs.output_padding[d];
    const int64_t natural = s * (in - 1) + op + (kernel[d] - 1) * g.dilation[d] + 1;  // size before padding
    const bool same = a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower;
    if (!requested.empty() || same) {
      // The output size is given (or in * stride for SAME); the padding is what makes it fit.
      g.out[d] = requested.empty() ? in * s : requested[d];
      const int64_t total = natural - g.out[d];
      if (a.auto_pad == AutoPad::kSameUpper) {
        g.pad_begin[d] = floor_div(total, 2);
      } else {
        g.pad_begin[d] = total - floor_div(total, 2);
      }
      g.pad_end[d] = total - g.pad_begin[d];
    } else {
      if (a.auto_pad == AutoPad::kNotSet && !a.pads.empty()) {
        g.pad_begin[d] = a.pads[d];
        g.pad_end[d] = a.pads[d + nd];
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

}  // namespace kiln::ref
