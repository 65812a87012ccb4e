#include "kernels/dnnl/conv_transpose_product.h"

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>

#include "kernels/dnnl/common.h"
#include "kernels/vec/col2im.h"
#include "kernels/vec/parallel_chunks.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;

// W^T as oneDNN's [1, M * kh * kw, C] over ONNX's W [C, M, kh, kw] in place.
memory::desc transposed_weights_desc(const Shape& w) {
  const int64_t c = w[0], rows = w[1] * w[2] * w[3];
  return memory::desc({1, rows, c}, memory::data_type::f32, memory::dims{rows * c, 1, rows});
}

struct ProductEntry {
  dnnl::matmul product;
  memory weights;  // W^T in the layout the product picked
  size_t scratchpad = 0;
  bool use_reference = false;
  // An input of one pixel: one product X W ([N, C] x [C, M * k]) for all images, whose rows are the
  // images' columns. Otherwise a product W^T X per chunk of `chunk` images, their X side by side as
  // [C, chunk * H * W] (so the chunk reads W^T once).
  bool one_pixel = false;
  int64_t chunk = 1;
  memory::desc images;                     // the product's X operand
  memory::desc col;                        // its result
  size_t col_bytes = 0, images_bytes = 0;  // the product's result, and a chunk's X side by side
  std::optional<vec::Col2Im> col2im;
};

// The images one product takes: the most that divide the batch and keep the product's result within
// kColumnsBytes (it stays in cache for col2im), so that W^T, often the largest operand, is read once per
// chunk rather than once per image (DCGAN's 512 -> 256 layer: 8.4 MB of W^T against 256 KB of
// result per image).
constexpr int64_t kColumnsBytes = int64_t{2} << 20;
int64_t images_per_product(int64_t images, int64_t col_elements_per_image) {
  const int64_t most = std::max<int64_t>(1, kColumnsBytes / (col_elements_per_image * 4));
  for (int64_t k = std::min(images, most); k > 1; --k) {
    if (images % k == 0) return k;
  }
  return 1;
}

// Output elements per thread below which col2im stays on the calling thread (parallel_chunks.h).
constexpr int64_t kCol2ImGrain = int64_t{1} << 14;

class ConvTransposeProduct : public Kernel {
 public:
  ConvTransposeProduct(std::unique_ptr<Kernel> reference, ref::ConvTransposeAttrs attrs,
                       std::unique_ptr<PackedWeights> wt)
      : reference_(std::move(reference)), attrs_(std::move(attrs)), wt_(std::move(wt)) {}

  bool releases_constant(size_t i) const override { return i == 1 && wt_->released(); }

  Status run(KernelContext& ctx) const override {
    if (!all_float32_nonempty(ctx, {0, 2})) return fallback(ctx);
    // W reads as absent once the plan freed it; any other W than the constant goes to the reference.
    if (ctx.tensor(1).defined() && !wt_->stand_for(ctx.tensor(1))) return fallback(ctx);
    const Tensor& x = ctx.tensor(0);
    if (x.rank() != 4) return fallback(ctx);
    auto g = ref::conv_transpose_geometry(attrs_, x.shape(), wt_->shape());
    if (!g.ok() || g->out_size() == 0) return fallback(ctx);  // the reference names the problem
    const int64_t m = wt_->shape()[1];
    const bool has_bias = ctx.has_input(2);
    if (has_bias && (ctx.tensor(2).rank() != 1 || ctx.tensor(2).dim(0) != m)) return fallback(ctx);
    ShapeKey key;
    key.add(x.shape());
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const ProductEntry> e, cache_.get(key, [&] { return make_entry(x, *g); }));
    if (e->use_reference) return fallback(ctx);
    const int64_t n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3), out_plane = g->out_size();
    Tensor y(DataType::kFloat32, {n, m, g->out[0], g->out[1]}, Tensor::Init::kUninitialized);
    const float* bias = has_bias ? ctx.tensor(2).data<float>() : nullptr;
    try {
      float* col = static_cast<float*>(thread_buffer(ThreadBuffer::kColumns, e->col_bytes));
      const memory col_memory(e->col, cpu_engine(), col);
      auto multiply = [&](const float* images) {
        ExecArgs args;
        const memory b = wrap(e->images, images);
        args.add(DNNL_ARG_SRC, e->one_pixel ? b : e->weights);
        args.add(DNNL_ARG_WEIGHTS, e->one_pixel ? e->weights : b);
        args.add(DNNL_ARG_DST, col_memory);
        execute(e->product, args, e->scratchpad);
      };
      auto scatter = [&](float* out, int64_t planes) {
        vec::for_each_row_chunk(planes, out_plane, kCol2ImGrain,
                                [&](int64_t begin, int64_t end) { e->col2im->run(col, bias, out, begin, end); });
      };
      if (e->one_pixel) {
        multiply(x.data<float>());
        scatter(y.data<float>(), n * m);
      } else {
        float* side_by_side =
            e->chunk > 1 ? static_cast<float*>(thread_buffer(ThreadBuffer::kImages, e->images_bytes)) : nullptr;
        for (int64_t i = 0; i < n; i += e->chunk) {
          const float* images = x.data<float>() + i * c * hw;
          if (side_by_side != nullptr) {
            for (int64_t ch = 0; ch < c; ++ch) {
              for (int64_t j = 0; j < e->chunk; ++j) {
                std::copy_n(images + (j * c + ch) * hw, hw, side_by_side + (ch * e->chunk + j) * hw);
              }
            }
            images = side_by_side;
          }
          multiply(images);
          scatter(y.data<float>() + i * m * out_plane, e->chunk * m);
        }
      }
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN matmul for ConvTranspose failed: ") + err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  Status fallback(KernelContext& ctx) const { return run_reference(*reference_, ctx, 1, wt_.get()); }

  // W as [C, M * k], the weights of the one-pixel product, packed from W^T on first use (only a
  // node that sees one-pixel inputs holds this second copy). Throws dnnl::error.
  const PackedWeights& row_weights() const {
    std::call_once(rows_once_, [this] {
      const Tensor w = wt_->unpack();
      const int64_t c = w.dim(0), rows = w.dim(1) * w.dim(2) * w.dim(3);
      auto packed = std::make_unique<PackedWeights>(w, plain_desc({c, rows}), w);
      const dnnl::matmul::primitive_desc pd(
          dnnl::matmul::desc(plain_desc({1, c}),
                             memory::desc({c, rows}, memory::data_type::f32, memory::format_tag::any),
                             plain_desc({1, rows})),
          base_attr(), cpu_engine());
      packed->in_layout(pd.weights_desc());
      packed->release_source();
      rows_ = std::move(packed);
    });
    if (!rows_) throw dnnl::error(dnnl_runtime_error, "the one-pixel weights could not be packed");
    return *rows_;
  }

  Expected<std::shared_ptr<const ProductEntry>> make_entry(const Tensor& x, const ref::WindowGeometry& g) const {
    auto e = std::make_shared<ProductEntry>();
    const Shape& w = wt_->shape();
    const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3), rows = w[1] * w[2] * w[3];
    e->one_pixel = h * wd == 1;
    int64_t columns = e->one_pixel ? n : h * wd;
    try {
      std::optional<dnnl::matmul::primitive_desc> pd;
      if (e->one_pixel) {
        e->images = plain_desc({n, c});
        e->col = plain_desc({n, rows});
        pd.emplace(dnnl::matmul::desc(e->images,
                                      memory::desc({c, rows}, memory::data_type::f32, memory::format_tag::any), e->col),
                   base_attr(), cpu_engine());
      } else {
        e->chunk = images_per_product(n, rows * h * wd);
        columns = e->chunk * h * wd;
        e->images = plain_desc({1, c, columns});
        e->col = plain_desc({1, rows, columns});
        pd.emplace(dnnl::matmul::desc(memory::desc({1, rows, c}, memory::data_type::f32, memory::format_tag::any),
                                      e->images, e->col),
                   base_attr(), cpu_engine());
      }
      if (std::string(pd->impl_info_str()).find("ref") != std::string::npos) {
        e->use_reference = true;
        return std::shared_ptr<const ProductEntry>(std::move(e));
      }
      e->product = dnnl::matmul(*pd);
      e->scratchpad = pd->scratchpad_desc().get_size();
      e->weights = e->one_pixel ? row_weights().in_layout(pd->weights_desc()) : wt_->in_layout(pd->src_desc());
    } catch (const dnnl::error&) {
      e = std::make_shared<ProductEntry>();
      e->use_reference = true;  // oneDNN has no product for this shape
      return std::shared_ptr<const ProductEntry>(std::move(e));
    }
    e->col_bytes = static_cast<size_t>(rows * columns) * sizeof(float);
    e->images_bytes = static_cast<size_t>(c * columns) * sizeof(float);
    e->col2im.emplace(vec::Col2ImGeometry{.channels = w[1],
                                          .in_h = h,
                                          .in_w = wd,
                                          .out_h = g.out[0],
                                          .out_w = g.out[1],
                                          .kernel_h = w[2],
                                          .kernel_w = w[3],
                                          .stride_h = g.stride[0],
                                          .stride_w = g.stride[1],
                                          .dilation_h = g.dilation[0],
                                          .dilation_w = g.dilation[1],
                                          .pad_top = g.pad_begin[0],
                                          .pad_left = g.pad_begin[1],
                                          .row_stride = e->one_pixel ? 1 : columns,
                                          .image_stride = e->one_pixel ? rows : h * wd});
    return std::shared_ptr<const ProductEntry>(std::move(e));
  }

  std::unique_ptr<Kernel> reference_;
  ref::ConvTransposeAttrs attrs_;
  std::unique_ptr<PackedWeights> wt_;
  mutable std::once_flag rows_once_;
  mutable std::unique_ptr<PackedWeights> rows_;
  ShapeCache<ProductEntry> cache_;
};

}  // namespace

bool conv_transpose_product_applies(const ref::ConvTransposeAttrs& attrs, const Tensor& w) {
  return attrs.group == 1 && w.dtype() == DataType::kFloat32 && w.rank() == 4 && w.size() > 0;
}

std::unique_ptr<PackedWeights> pack_transposed_weights(const Tensor& w) {
  try {
    // Packed for a 16x16 image (the layout hardly depends on it; another is made when a shape asks).
    auto wt = std::make_unique<PackedWeights>(w, transposed_weights_desc(w.shape()), w);
    const int64_t rows = w.dim(1) * w.dim(2) * w.dim(3);
    const dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(memory::desc({1, rows, w.dim(0)}, memory::data_type::f32, memory::format_tag::any),
                           plain_desc({1, w.dim(0), 256}), plain_desc({1, rows, 256})),
        base_attr(), cpu_engine());
    wt->in_layout(pd.src_desc());
    wt->release_source();
    return wt;
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

std::unique_ptr<Kernel> make_conv_transpose_product(std::unique_ptr<Kernel> reference, ref::ConvTransposeAttrs attrs,
                                                    std::unique_ptr<PackedWeights> wt) {
  return std::make_unique<ConvTransposeProduct>(std::move(reference), std::move(attrs), std::move(wt));
}

}  // namespace kiln::dnnl_kernels
