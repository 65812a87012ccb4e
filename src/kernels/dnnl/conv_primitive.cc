#include "kernels/dnnl/conv_primitive.h"

#include <algorithm>
#include <vector>

namespace kiln::dnnl_kernels {

std::optional<ConvGeometry> conv_geometry(const ref::WindowAttrs& attrs, int64_t group, const Shape& x, const Shape& w,
                                          bool has_bias) {
  if (x.size() != w.size() || x.size() < 3) return std::nullopt;
  if (w[1] * group != x[1] || w[0] % group != 0) return std::nullopt;
  const std::vector<int64_t> kernel(w.begin() + 2, w.end());
  if (!attrs.kernel_shape.empty() && attrs.kernel_shape != kernel) return std::nullopt;
  auto g = ref::forward_geometry(attrs, Shape(x.begin() + 2, x.end()), kernel);
  if (!g.ok() || g->out_size() == 0) return std::nullopt;
  ConvGeometry s;
  s.src = to_dims(x);
  s.weights = to_dims(w);
  if (group > 1) {
    s.weights[0] /= group;
    s.weights.insert(s.weights.begin(), group);
  }
  s.bias = {w[0]};
  s.has_bias = has_bias;
  s.dst = {x[0], w[0]};
  append_window(*g, &s);
  return s;
}

Shape nominal_input_shape(const Shape& w, int64_t group) {
  Shape x{1, w[1] * group};
  for (size_t d = 2; d < w.size(); ++d) x.push_back(std::max<int64_t>(32, w[d] * 4));
  return x;
}

bool is_ref_impl(const dnnl::primitive_desc_base& pd) {
  return std::string(pd.impl_info_str()).find("ref") != std::string::npos;
}

bool is_slow_grouped_impl(const dnnl::primitive_desc_base& pd, int64_t group) {
  return is_ref_impl(pd) || (group > 1 && std::string(pd.impl_info_str()).find("gemm") != std::string::npos);
}

dnnl::primitive_attr conv_attr(dnnl::post_ops ops, const FusedActivation& act) {
  dnnl::primitive_attr attr = base_attr();
  append_activation(act, &ops);
  attr.set_post_ops(ops);
  return attr;
}

dnnl::memory reordered(dnnl::memory from, const dnnl::memory::desc& md) {
  dnnl::memory to(md, cpu_engine());
  dnnl::reorder(from, to).execute(thread_stream(), from, to);
  thread_stream().wait();
  return to;
}

}  // namespace kiln::dnnl_kernels
