#include "kernels/dnnl/unary_primitive.h"

#include <string>

namespace kiln::dnnl_kernels {

Expected<std::shared_ptr<const UnaryPrimitiveCache::Entry>> UnaryPrimitiveCache::make_entry(
    const std::function<dnnl::primitive_desc()>& make_desc) {
  auto entry = std::make_shared<Entry>();
  try {
    const dnnl::primitive_desc pd = make_desc();
    entry->primitive = dnnl::primitive(pd);
    entry->scratchpad = pd.scratchpad_desc().get_size();
  } catch (const dnnl::error&) {
    entry->unsupported = true;
  }
  return std::shared_ptr<const Entry>(std::move(entry));
}

Expected<Tensor> UnaryPrimitiveCache::execute_entry(const Entry& e, const dnnl::memory::desc& md, const Tensor& x,
                                                    const char* op) {
  if (e.unsupported) return Tensor();
  // The primitive writes every element.
  Tensor y(DataType::kFloat32, x.shape(), Tensor::Init::kUninitialized);
  try {
    const dnnl::memory src = wrap(md, x.raw());
    const dnnl::memory dst = wrap(md, y.raw());
    ExecArgs args;
    args.add(DNNL_ARG_SRC, src);
    args.add(DNNL_ARG_DST, dst);
    execute(e.primitive, args, e.scratchpad);
  } catch (const dnnl::error& err) {
    return Status::Internal(std::string("oneDNN ") + op + " failed: " + err.what());
  }
  return y;
}

}  // namespace kiln::dnnl_kernels
