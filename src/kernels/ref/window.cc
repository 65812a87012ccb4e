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
  if (!a.strides.empty() && a.strides.size() != nd) {
    return Status::InvalidArgument("strides " + list_to_string(a.strides) + " do not match " + std::to_string(nd) +
                                   " spatial dimensions");
  }
  if (!a.dilations.empty() && a.dilations.size() != nd) {
    return Status::InvalidArgument("dilations " + list_to_string(a.dilations) + " do not match " + std::to_string(nd) +
                                   " spatial dimensions");
  }
  if (!a.pads.empty() && a.pads.size() != 2 * nd) {
    return Status::InvalidArgument("pads " + list_to_string(a.pads) + " do not match " + std::to_string(nd) +
                                   " spatial dimensions");
  }
  WindowGeometry g;
  g.in.assign(in_spatial.begin(), in_spatial.end());
  g.kernel = kernel;
  g.stride = a.strides.empty() ? std::vector<int64_t>(nd, 1) : a.strides;
  g.dilation = a.dilations.empty() ? std::vector<int64_t>(nd, 1) : a.dilations;
  g.pad_begin.assign(nd, 0);
  g.pad_end.assign(nd, 0);
  g.out.assign(nd, 0);
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

}  // namespace kiln::ref
