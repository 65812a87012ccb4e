// Pad (constant, reflect, edge; Pad-1/2 attributes, Pad-11+ inputs) and Tile (Tile-1 tiles+axis inputs,
// Tile-6+ repeats). Both are "each output coordinate reads one input coordinate per axis" maps, so one
// gather routine serves them.
#include <cmath>

#include "kernels/ref/movement_util.h"

namespace kiln::ref {
namespace {

// maps[d][j] is the input coordinate read by output coordinate j of axis d, or -1 for "use the
// constant". `constant` holds one element of x's type (or is undefined where no -1 occurs).
Expected<Tensor> gather_by_axis_maps(const Tensor& x, const std::vector<std::vector<int64_t>>& maps,
                                     const Tensor& constant) {
  Shape out_shape;
  for (const auto& m : maps) out_shape.push_back(static_cast<int64_t>(m.size()));
  KILN_ASSIGN_OR_RETURN(Tensor out, make_output(x.dtype(), out_shape));
  if (out.size() == 0) return out;
  // Turn coordinates into element offsets of x once per axis.
  const std::vector<int64_t> strides = strides_of(x.shape());
  std::vector<std::vector<int64_t>> offs(maps.size());
  for (size_t d = 0; d < maps.size(); ++d) {
    offs[d].resize(maps[d].size());
    for (size_t j = 0; j < maps[d].size(); ++j) offs[d][j] = maps[d][j] < 0 ? -1 : maps[d][j] * strides[d];
  }
  KILN_RETURN_IF_ERROR(visit_storage(x.dtype(), [&](auto tag) -> Status {
    using U = typename decltype(tag)::type;
    const U* src = x.data<U>();
    const U fill = constant.defined() ? constant.data<U>()[0] : U{};
    U* dst = out.data<U>();
    const size_t r = maps.size();
    if (r == 0) {
      dst[0] = src[0];
      return Status::OK();
    }
    std::vector<size_t> pos(r, 0);
    // prefix[d]: offset from axes 0..d-1, or -1 if any of them reads the constant.
    std::vector<int64_t> prefix(r + 1, 0);
    auto refresh = [&](size_t from) {
      for (size_t d = from; d + 1 < r + 1 && d < r; ++d) {
        const int64_t o = offs[d][pos[d]];
        prefix[d + 1] = (prefix[d] < 0 || o < 0) ? -1 : prefix[d] + o;
      }
    };
    refresh(0);
    const int64_t total = out.size();
    const std::vector<int64_t>& last = offs[r - 1];
    const size_t inner = last.size();
    for (int64_t done = 0; done < total; done += static_cast<int64_t>(inner)) {
      const int64_t base = prefix[r - 1];
      for (size_t j = 0; j < inner; ++j) *dst++ = (base < 0 || last[j] < 0) ? fill : src[base + last[j]];
      // Advance the outer axes.
      size_t d = r - 1;
      while (d-- > 0) {
        if (++pos[d] < offs[d].size()) break;
        pos[d] = 0;
      }
      refresh(d == static_cast<size_t>(-1) ? 0 : d);
    }
    return Status::OK();
  }));
  return out;
}

// ---- Pad ----

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

// Output coordinates of one axis of size n padded by (before, after); negative pads crop.
Expected<std::vector<int64_t>> pad_axis_map(int64_t n, int64_t before, int64_t after, PadMode mode) {
  const int64_t lo = std::max<int64_t>(0, -before);
  const int64_t kept = n - lo - std::max<int64_t>(0, -after);  // input range left after cropping
  if (kept < 0) return Status::InvalidArgument("negative pads remove more than the whole dimension");
  const int64_t pb = std::max<int64_t>(0, before), pa = std::max<int64_t>(0, after);
  const int64_t out_n = kept + pb + pa;
  if (out_n > (int64_t{1} << 40)) return Status::InvalidArgument("pads are too large");
  if (kept == 0 && out_n > 0 && mode != PadMode::kConstant) {
    return Status::InvalidArgument("cannot pad an empty dimension in reflect, edge or wrap mode");
  }
  std::vector<int64_t> map(static_cast<size_t>(out_n));
  for (int64_t j = 0; j < out_n; ++j) {
    int64_t k = j - pb;  // coordinate within the kept range
    if (k < 0 || k >= kept) {
      switch (mode) {
        case PadMode::kConstant: k = -1; break;
        case PadMode::kEdge: k = std::clamp<int64_t>(k, 0, kept - 1); break;
        case PadMode::kWrap: k = ((k % kept) + kept) % kept; break;
        case PadMode::kReflect: {
          // Mirror without repeating the edge, as numpy's "reflect"; period 2*(kept-1).
          if (kept == 1) {
            k = 0;
          } else {
            const int64_t period = 2 * (kept - 1);
            k = ((k % period) + period) % period;
            if (k >= kept) k = period - k;
          }
          break;
        }
      }
    }
    map[static_cast<size_t>(j)] = k < 0 ? -1 : k + lo;
  }
  return map;
}

class PadKernel : public Kernel {
 public:
  // Pad-1/2: pads and value from attributes (attr_pads set); Pad-11+: from inputs.
  PadKernel(PadMode mode, bool from_attrs, std::vector<int64_t> attr_pads, float attr_value)
      : mode_(mode), from_attrs_(from_attrs), attr_pads_(std::move(attr_pads)), attr_value_(attr_value) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    const int64_t r = x.rank();
    std::vector<int64_t> pads = attr_pads_;
    Tensor constant;
    if (from_attrs_) {
      KILN_ASSIGN_OR_RETURN(constant, scalar_like(x.dtype(), attr_value_));
    } else {
      KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
      KILN_ASSIGN_OR_RETURN(pads, read_int_list(ctx.tensor(1), "pads"));
      if (ctx.has_input(2) && ctx.tensor(2).defined()) {
        const Tensor& c = ctx.tensor(2);
        if (c.dtype() != x.dtype()) return Status::InvalidArgument("constant_value must have the input's type");
        if (c.size() == 1) {
          constant = c;
        } else if (c.size() != 0) {
          return Status::InvalidArgument("constant_value must hold one element");
        }
      }
    }
    // Pad-18 axes input: pads then cover only those axes.
    std::vector<int64_t> axes;
    if (!from_attrs_ && ctx.has_input(3)) {
      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> a, read_int_list(ctx.tensor(3), "axes"));
      KILN_ASSIGN_OR_RETURN(axes, normalize_axes(a, r));
    } else {
      for (int64_t d = 0; d < r; ++d) axes.push_back(d);
    }
    const size_t na = axes.size();
    if (pads.size() != 2 * na) {
      return Status::InvalidArgument("pads has " + std::to_string(pads.size()) + " values, expected " +
                                     std::to_string(2 * na));
    }
    std::vector<int64_t> before(static_cast<size_t>(r), 0), after(static_cast<size_t>(r), 0);
    for (size_t i = 0; i < na; ++i) {
      before[static_cast<size_t>(axes[i])] = pads[i];
      after[static_cast<size_t>(axes[i])] = pads[i + na];
    }
    Shape out_shape;
    for (int64_t d = 0; d < r; ++d) {
      const size_t i = static_cast<size_t>(d);
      constexpr int64_t kLimit = int64_t{1} << 62;  // keeps -pad and the sums below from overflowing
      if (before[i] < -kLimit || before[i] > kLimit || after[i] < -kLimit || after[i] > kLimit) return Status::InvalidArgument("pads are too large");
      const int64_t n = x.dim(d) + before[i] + after[i];
      if (n < 0) return Status::InvalidArgument("negative pads remove more than the whole dimension");
      out_shape.push_back(n);
    }
    KILN_RETURN_IF_ERROR(check_output_size(x.dtype(), out_shape));
    std::vector<std::vector<int64_t>> maps;
    for (int64_t d = 0; d < r; ++d) {
      KILN_ASSIGN_OR_RETURN(auto m, pad_axis_map(x.dim(d), before[static_cast<size_t>(d)], after[static_cast<size_t>(d)], mode_));
      maps.push_back(std::move(m));
    }
    if (!constant.defined()) {
      KILN_ASSIGN_OR_RETURN(constant, make_output(x.dtype(), {}));  // zero / empty string
    }
    KILN_ASSIGN_OR_RETURN(Tensor out, gather_by_axis_maps(x, maps, constant));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  }

 private:
  // A scalar of dtype holding `v` (Pad-1/2's float `value` attribute).
  static Expected<Tensor> scalar_like(DataType dtype, float v) {
    Tensor t;
    KILN_RETURN_IF_ERROR(visit_type(NumericTypes{}, dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      t = Tensor::scalar<T>(convert_element<T>(v));
      return Status::OK();
    }));
    return t;
  }

  PadMode mode_;
  bool from_attrs_;
  std::vector<int64_t> attr_pads_;
  float attr_value_;
};

Expected<std::unique_ptr<Kernel>> make_pad(const KernelBuildContext& b) {
  const std::string m = b.node.attr_string("mode", "constant");
  PadMode mode;
  if (m == "constant") {
    mode = PadMode::kConstant;
  } else if (m == "reflect") {
    mode = PadMode::kReflect;
  } else if (m == "edge") {
    mode = PadMode::kEdge;
  } else if (m == "wrap") {
    mode = PadMode::kWrap;
  } else {
    return Status::InvalidArgument("unknown pad mode '" + m + "'");
  }
  if (b.opset >= 11) return std::unique_ptr<Kernel>(std::make_unique<PadKernel>(mode, false, std::vector<int64_t>{}, 0.0f));
  const char* name = b.opset < 2 ? "paddings" : "pads";
  if (!b.node.has_attr(name)) return Status::InvalidArgument(std::string("Pad needs the ") + name + " attribute");
  return std::unique_ptr<Kernel>(
      std::make_unique<PadKernel>(mode, true, b.node.attr_ints(name), b.node.attr_float("value", 0.0f)));
}

// ---- Tile ----

Status tile_with(KernelContext& ctx, const std::vector<int64_t>& repeats) {
  const Tensor& x = ctx.tensor(0);
  if (static_cast<int64_t>(repeats.size()) != x.rank()) {
    return Status::InvalidArgument("repeats has " + std::to_string(repeats.size()) + " values for an input of rank " +
                                   std::to_string(x.rank()));
  }
  Shape out_shape;
  for (int64_t d = 0; d < x.rank(); ++d) {
    const int64_t rep = repeats[static_cast<size_t>(d)];
    if (rep < 0) return Status::InvalidArgument("repeats must not be negative");
    int64_t out_n;
    if (__builtin_mul_overflow(rep, x.dim(d), &out_n)) return Status::InvalidArgument("tiled shape is too large");
    out_shape.push_back(out_n);
  }
  KILN_RETURN_IF_ERROR(check_output_size(x.dtype(), out_shape));
  std::vector<std::vector<int64_t>> maps;
  for (int64_t d = 0; d < x.rank(); ++d) {
    const int64_t rep = repeats[static_cast<size_t>(d)], n = x.dim(d);
    if (rep < 0) return Status::InvalidArgument("repeats must not be negative");
    int64_t out_n;
    if (__builtin_mul_overflow(rep, n, &out_n) || out_n > (int64_t{1} << 40)) {
      return Status::InvalidArgument("tiled shape is too large");
    }
    std::vector<int64_t> m(static_cast<size_t>(out_n));
    for (int64_t j = 0; j < out_n; ++j) m[static_cast<size_t>(j)] = j % n;
    maps.push_back(std::move(m));
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, gather_by_axis_maps(x, maps, Tensor()));
  ctx.set_output(0, std::move(out));
  return Status::OK();
}

Status tile6(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, read_int_list(ctx.tensor(1), "repeats"));
  return tile_with(ctx, repeats);
}

// Tile-1: scalar `tiles` copies along scalar `axis`.
Status tile1(KernelContext& ctx) {
  for (size_t i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
  const Tensor& x = ctx.tensor(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> tiles, read_int_values(ctx.tensor(1), "tiles"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axis, read_int_values(ctx.tensor(2), "axis"));
  if (tiles.size() != 1 || axis.size() != 1) return Status::InvalidArgument("tiles and axis must be scalars");
  KILN_ASSIGN_OR_RETURN(const int64_t a, normalize_axis(axis[0], x.rank()));
  std::vector<int64_t> repeats(static_cast<size_t>(x.rank()), 1);
  if (x.rank() == 0) return Status::InvalidArgument("cannot tile a scalar along an axis");
  repeats[static_cast<size_t>(a)] = tiles[0];
  return tile_with(ctx, repeats);
}

}  // namespace

KILN_REGISTER_KERNEL("", "Pad", 1, kMaxOpset, make_pad);
KILN_REGISTER_KERNEL("", "Tile", 6, kMaxOpset, stateless(tile6));
KILN_REGISTER_KERNEL("", "Tile", 1, 5, stateless(tile1));

}  // namespace kiln::ref
