// Einsum and Det.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "kernels/ref/gemm.h"

namespace kiln::ref {
namespace {

// ---------------------------------------------------------------------------------------------------
// Einsum. The equation is parsed once; at run time every label gets a size and each input a stride
// per label (repeated labels in one input add their strides, which walks the diagonal; broadcast
// ellipsis dimensions of size 1 get stride 0). The result sums the product of the inputs over every
// assignment of the labels not in the output.

// Labels are letters; ellipsis dimensions become labels kEllipsisBase + j (j counted from the left of
// the widest ellipsis, so narrower ones align to the right, numpy style).
constexpr int kEllipsisBase = 256;

struct EinsumTerm {
  std::vector<int> labels;   // letters, with one kEllipsisMarker where "..." appears
  bool has_ellipsis = false;
};
constexpr int kEllipsisMarker = -1;

Expected<EinsumTerm> parse_term(const std::string& s) {
  EinsumTerm t;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == ' ') continue;
    if (c == '.') {
      if (t.has_ellipsis || s.compare(i, 3, "...") != 0) return Status::InvalidArgument("malformed ellipsis in '" + s + "'");
      t.has_ellipsis = true;
      t.labels.push_back(kEllipsisMarker);
      i += 2;
    } else if (std::isalpha(static_cast<unsigned char>(c))) {
      t.labels.push_back(static_cast<unsigned char>(c));
    } else {
      return Status::InvalidArgument(std::string("invalid character '") + c + "' in equation");
    }
  }
  return t;
}

class EinsumKernel : public Kernel {
 public:
  EinsumKernel(std::vector<EinsumTerm> inputs, bool explicit_output, EinsumTerm output)
      : inputs_(std::move(inputs)), explicit_output_(explicit_output), output_(std::move(output)) {}

  Status run(KernelContext& ctx) const override {
    if (ctx.num_inputs() != inputs_.size()) {
      return Status::InvalidArgument("equation names " + std::to_string(inputs_.size()) + " inputs, got " +
                                     std::to_string(ctx.num_inputs()));
    }
    DataType dtype = DataType::kUndefined;
    int64_t ell_rank = 0;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
      const Tensor& t = ctx.tensor(i);
      if (i == 0) dtype = t.dtype();
      if (t.dtype() != dtype) return Status::InvalidArgument("inputs have different data types");
      const int64_t explicit_labels = static_cast<int64_t>(inputs_[i].labels.size()) - (inputs_[i].has_ellipsis ? 1 : 0);
      if (inputs_[i].has_ellipsis ? t.rank() < explicit_labels : t.rank() != explicit_labels) {
        return Status::InvalidArgument("input " + std::to_string(i) + " " + shape_to_string(t.shape()) +
                                       " does not match its subscripts");
      }
      if (inputs_[i].has_ellipsis) ell_rank = std::max(ell_rank, t.rank() - explicit_labels);
    }
    // Sizes of every label, and each input's per-dimension labels.
    std::map<int, int64_t> size;
    std::vector<std::vector<int>> dim_labels(inputs_.size());
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const Tensor& t = ctx.tensor(i);
      const int64_t explicit_labels = static_cast<int64_t>(inputs_[i].labels.size()) - (inputs_[i].has_ellipsis ? 1 : 0);
      const int64_t my_ell = t.rank() - explicit_labels;
      for (int l : inputs_[i].labels) {
        if (l == kEllipsisMarker) {
          for (int64_t j = 0; j < my_ell; ++j) dim_labels[i].push_back(kEllipsisBase + static_cast<int>(ell_rank - my_ell + j));
        } else {
          dim_labels[i].push_back(l);
        }
      }
      for (size_t d = 0; d < dim_labels[i].size(); ++d) {
        const int l = dim_labels[i][d];
        const int64_t n = t.dim(static_cast<int64_t>(d));
        auto it = size.find(l);
        if (it == size.end() || it->second == 1) {
          size[l] = (it != size.end() && n == 1) ? it->second : n;
        } else if (n != it->second && !(l >= kEllipsisBase && n == 1)) {
          return Status::InvalidArgument("subscript dimension sizes differ: " + std::to_string(n) + " vs " +
                                         std::to_string(it->second));
        }
      }
    }
    // Output labels.
    std::vector<int> out_labels;
    if (explicit_output_) {
      for (int l : output_.labels) {
        if (l == kEllipsisMarker) {
          for (int64_t j = 0; j < ell_rank; ++j) out_labels.push_back(kEllipsisBase + static_cast<int>(j));
        } else {
          if (!size.count(l)) return Status::InvalidArgument("output subscript does not appear in the inputs");
          out_labels.push_back(l);
        }
      }
    } else {
      std::map<int, int> count;
      for (const auto& dl : dim_labels)
        for (int l : dl) ++count[l];
      for (int64_t j = 0; j < ell_rank; ++j) out_labels.push_back(kEllipsisBase + static_cast<int>(j));
      for (const auto& [l, c] : count) {
        if (l < kEllipsisBase && c == 1) out_labels.push_back(l);
      }
    }
    // All labels: output first, then the summed ones.
    std::vector<int> all = out_labels;
    for (const auto& [l, n] : size) {
      if (std::find(all.begin(), all.end(), l) == all.end()) all.push_back(l);
    }
    const size_t nl = all.size();
    std::vector<int64_t> extent(nl);
    for (size_t k = 0; k < nl; ++k) extent[k] = size[all[k]];
    std::vector<std::vector<int64_t>> stride(inputs_.size(), std::vector<int64_t>(nl, 0));
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const Tensor& t = ctx.tensor(i);
      const std::vector<int64_t> st = strides_of(t.shape());
      for (size_t d = 0; d < dim_labels[i].size(); ++d) {
        const size_t k = static_cast<size_t>(std::find(all.begin(), all.end(), dim_labels[i][d]) - all.begin());
        // A size-1 ellipsis dimension broadcasts against a larger one: stride 0.
        if (t.dim(static_cast<int64_t>(d)) == 1 && extent[k] != 1) continue;
        stride[i][k] += st[d];
      }
    }
    Shape out_shape;
    for (size_t k = 0; k < out_labels.size(); ++k) out_shape.push_back(extent[k]);
    KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::make(dtype, out_shape));
    return visit_type(NumericTypes{}, dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = AccType<T>;
      int64_t total = 1;
      for (int64_t e : extent) total *= e;
      const int64_t out_size = y.size();
      const int64_t inner = out_size == 0 ? 0 : total / out_size;  // summed assignments per output
      std::vector<A> acc(static_cast<size_t>(out_size), A(0));
      std::vector<int64_t> idx(nl, 0), off(inputs_.size(), 0);
      for (int64_t p = 0; p < total; ++p) {
        A prod = A(1);
        for (size_t i = 0; i < inputs_.size(); ++i) prod *= static_cast<A>(ctx.tensor(i).data<T>()[off[i]]);
        acc[static_cast<size_t>(p / inner)] += prod;
        for (size_t k = nl; k-- > 0;) {
          for (size_t i = 0; i < inputs_.size(); ++i) off[i] += stride[i][k];
          if (++idx[k] < extent[k]) break;
          for (size_t i = 0; i < inputs_.size(); ++i) off[i] -= stride[i][k] * extent[k];
          idx[k] = 0;
        }
      }
      for (int64_t j = 0; j < out_size; ++j) y.data<T>()[j] = static_cast<T>(acc[static_cast<size_t>(j)]);
      ctx.set_output(0, Value(std::move(y)));
      return Status::OK();
    });
  }

 private:
  std::vector<EinsumTerm> inputs_;
  bool explicit_output_;
  EinsumTerm output_;
};

Expected<std::unique_ptr<Kernel>> make_einsum(const KernelBuildContext& b) {
  const std::string eq = b.node.attr_string("equation");
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<EinsumTerm> inputs;
  size_t start = 0;
  while (true) {
    const size_t comma = lhs.find(',', start);
    KILN_ASSIGN_OR_RETURN(EinsumTerm t, parse_term(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    inputs.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  EinsumTerm output;
  if (arrow != std::string::npos) {
    KILN_ASSIGN_OR_RETURN(output, parse_term(eq.substr(arrow + 2)));
    std::vector<int> seen;
    for (int l : output.labels) {
      if (std::find(seen.begin(), seen.end(), l) != seen.end()) {
        return Status::InvalidArgument("output subscript repeats in '" + eq + "'");
      }
      seen.push_back(l);
    }
  }
  return std::unique_ptr<Kernel>(
      std::make_unique<EinsumKernel>(std::move(inputs), arrow != std::string::npos, std::move(output)));
}

// ---------------------------------------------------------------------------------------------------
// Det: determinants of the trailing square matrices, by LU decomposition with partial pivoting.

Status det(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  const Tensor& x = ctx.tensor(0);
  if (x.rank() < 2 || x.dim(x.rank() - 1) != x.dim(x.rank() - 2)) {
    return Status::InvalidArgument("X must be [*, M, M], got " + shape_to_string(x.shape()));
  }
  const int64_t n = x.dim(x.rank() - 1);
  const Shape out_shape(x.shape().begin(), x.shape().end() - 2);
  Tensor y(x.dtype(), out_shape);
  return visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = AccType<T>;
    std::vector<A> m(static_cast<size_t>(n * n));
    for (int64_t b = 0; b < y.size(); ++b) {
      for (int64_t i = 0; i < n * n; ++i) m[static_cast<size_t>(i)] = static_cast<A>(x.data<T>()[b * n * n + i]);
      A d = 1;
      for (int64_t c = 0; c < n && d != A(0); ++c) {
        int64_t piv = c;
        for (int64_t r = c + 1; r < n; ++r) {
          if (std::fabs(m[static_cast<size_t>(r * n + c)]) > std::fabs(m[static_cast<size_t>(piv * n + c)])) piv = r;
        }
        if (m[static_cast<size_t>(piv * n + c)] == A(0)) {
          d = 0;
          break;
        }
        if (piv != c) {
          for (int64_t k = 0; k < n; ++k) std::swap(m[static_cast<size_t>(c * n + k)], m[static_cast<size_t>(piv * n + k)]);
          d = -d;
        }
        const A pv = m[static_cast<size_t>(c * n + c)];
        d *= pv;
        for (int64_t r = c + 1; r < n; ++r) {
          const A f = m[static_cast<size_t>(r * n + c)] / pv;
          for (int64_t k = c; k < n; ++k) m[static_cast<size_t>(r * n + k)] -= f * m[static_cast<size_t>(c * n + k)];
        }
      }
      y.data<T>()[b] = static_cast<T>(d);
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  });
}

}  // namespace

KILN_REGISTER_KERNEL("", "Einsum", 12, kMaxOpset, make_einsum);
KILN_REGISTER_KERNEL("", "Det", 11, kMaxOpset, stateless(det));

}  // namespace kiln::ref
