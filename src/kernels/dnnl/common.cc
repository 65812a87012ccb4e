#include "kernels/dnnl/common.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "core/buffer_pool.h"
#include "kernels/blocked_conv_attrs.h"

namespace kiln::dnnl_kernels {

// oneDNN's process-wide primitive cache keeps 1024 primitives (with their JIT code, ~48 KiB each) by
// default, so a stream of new input shapes grew resident memory by ~48 MiB over 1,000 shapes
// (exec/session_memory_test.cc). The kernels keep the primitives they run in their own ShapeCaches;
// oneDNN's cache only spares re-creating one, so a small one is enough.
constexpr int kOneDnnPrimitiveCacheCapacity = 16;

const dnnl::engine& cpu_engine() {
  static const dnnl::engine* engine = [] {
    dnnl::set_primitive_cache_capacity(kOneDnnPrimitiveCacheCapacity);
    return new dnnl::engine(dnnl::engine::kind::cpu, 0);  // never destroyed
  }();
  return *engine;
}

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

OwnedMemory owned_memory(const dnnl::memory::desc& md) {
  const size_t bytes = md.get_size();
  std::shared_ptr<void> pages(allocate_block(bytes), [bytes](void* p) { free_block(p, bytes); });
  if (!pages) throw dnnl::error(dnnl_out_of_memory, "no memory for a oneDNN buffer");
  dnnl::memory memory(md, cpu_engine(), pages.get());
  return {std::move(pages), std::move(memory)};
}

void* thread_buffer(ScratchSlot slot, size_t bytes) {
  void* p = thread_scratch(slot, bytes);
  if (p == nullptr) throw dnnl::error(dnnl_out_of_memory, "cannot allocate a buffer");
  return p;
}

dnnl::memory::dims to_dims(const Shape& shape) { return dnnl::memory::dims(shape.begin(), shape.end()); }

dnnl::memory::desc plain_desc(const dnnl::memory::dims& dims) {
  dnnl::memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

dnnl::memory::format_tag blocked_tag(int64_t block) {
  switch (block) {
    case 8:
      return dnnl::memory::format_tag::nChw8c;
    case 16:
      return dnnl::memory::format_tag::nChw16c;
    default:
      return dnnl::memory::format_tag::undef;
  }
}

dnnl::memory::desc blocked_desc(const dnnl::memory::dims& dims, int64_t block) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, blocked_tag(block));
}

dnnl::memory wrap(const dnnl::memory::desc& md, const void* data) {
  return dnnl::memory(md, cpu_engine(), const_cast<void*>(data));
}

dnnl::primitive_attr base_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

namespace {

// A scratchpad of at least `bytes` in a buffer of the calling thread that only grows, as one memory
// object made when the buffer grows: a primitive uses the bytes it needs from the start of it, and a
// seen size then creates nothing (creating a memory allocates). The buffer is an allocate_block (a
// large one in huge pages, so growing it for a new shape costs few page faults). Throws dnnl::error.
const dnnl::memory& thread_scratchpad(size_t bytes) {
  struct Buffer {
    void* data = nullptr;
    size_t bytes = 0;
    ~Buffer() { free_block(data, bytes); }
  };
  thread_local Buffer buffer;
  thread_local dnnl::memory memory;
  thread_local size_t capacity = 0;
  if (capacity < bytes) {
    // At least kMappedBlockBytes, so the buffer is always a page-aligned mapping (as it was when it came
    // from aligned_alloc(4096)); pages a primitive never touches cost nothing.
    const size_t rounded = std::max(kMappedBlockBytes, (bytes + 4095) / 4096 * 4096);
    memory = dnnl::memory();
    capacity = 0;
    free_block(buffer.data, buffer.bytes);
    buffer.data = allocate_block(rounded);
    buffer.bytes = buffer.data != nullptr ? rounded : 0;
    if (buffer.data == nullptr) throw dnnl::error(dnnl_out_of_memory, "cannot allocate the scratchpad");
    const dnnl::memory::desc md({static_cast<dnnl::memory::dim>(rounded)}, dnnl::memory::data_type::u8,
                                dnnl::memory::format_tag::a);
    memory = dnnl::memory(md, cpu_engine(), buffer.data);
    capacity = rounded;
  }
  return memory;
}

}  // namespace

void execute(const dnnl::primitive& p, std::unordered_map<int, dnnl::memory>& args, size_t scratchpad_bytes) {
  if (scratchpad_bytes > 0) args[DNNL_ARG_SCRATCHPAD] = thread_scratchpad(scratchpad_bytes);
  p.execute(thread_stream(), args);
  thread_stream().wait();
}

void execute(const dnnl::primitive& p, ExecArgs& args, size_t scratchpad_bytes) {
  if (scratchpad_bytes > 0) args.add(DNNL_ARG_SCRATCHPAD, thread_scratchpad(scratchpad_bytes));
  dnnl::error::wrap_c_api(dnnl_primitive_execute(p.get(), thread_stream().get(), args.size(), args.data()),
                          "could not execute a primitive");
  thread_stream().wait();
}

Expected<std::unique_ptr<Kernel>> build_reference(const KernelBuildContext& b) {
  const KernelRegistration* reg =
      KernelRegistry::global().find_below(b.node.domain, b.node.op_type, b.opset, kDnnlPriority);
  if (reg == nullptr) return Status::Unimplemented("no reference kernel for " + b.node.op_type);
  return reg->factory(b);
}

bool all_float32_nonempty(const KernelContext& ctx, std::initializer_list<size_t> inputs) {
  for (size_t i : inputs) {
    if (!ctx.has_input(i)) continue;
    if (!ctx.input(i).is_tensor()) return false;
    const Tensor& t = ctx.tensor(i);
    if (t.dtype() != DataType::kFloat32 || t.size() == 0) return false;
  }
  return true;
}

void append_activation(const FusedActivation& act, dnnl::post_ops* ops) {
  using dnnl::algorithm;
  const auto& p = act.params;
  if (act.op == "Relu") {
    ops->append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
  } else if (act.op == "LeakyRelu") {
    ops->append_eltwise(1.f, algorithm::eltwise_relu, p[0], 0.f);
  } else if (act.op == "Clip") {
    ops->append_eltwise(1.f, algorithm::eltwise_clip_v2, p[0], p[1]);
  } else if (act.op == "Sigmoid") {
    ops->append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f);
  } else if (act.op == "HardSigmoid") {
    // oneDNN 2.6 has no hardsigmoid: clip(alpha * x + beta, 0, 1).
    ops->append_eltwise(1.f, algorithm::eltwise_linear, p[0], p[1]);
    ops->append_eltwise(1.f, algorithm::eltwise_clip_v2, 0.f, 1.f);
  } else if (act.op == "HardSwish") {
    // oneDNN's hardswish is x * relu6(x + 3) / 6, which is ONNX's x * clip(x / 6 + 0.5, 0, 1).
    ops->append_eltwise(1.f, algorithm::eltwise_hardswish, 0.f, 0.f);
  } else if (act.op == "Tanh") {
    ops->append_eltwise(1.f, algorithm::eltwise_tanh, 0.f, 0.f);
  } else if (act.op == "Gelu") {
    ops->append_eltwise(1.f, algorithm::eltwise_gelu_erf, 0.f, 0.f);
  } else if (act.op == kSwish) {  // kiln.BlockedConv's SiLU: x * sigmoid(1 * x)
    ops->append_eltwise(1.f, algorithm::eltwise_swish, 1.f, 0.f);
  }
}

}  // namespace kiln::dnnl_kernels
