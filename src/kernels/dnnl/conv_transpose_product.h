// ConvTranspose as a matrix product and col2im, for two spatial dimensions, group 1 and a constant W:
// per image, oneDNN's matmul computes col = W^T X ([M * kh * kw, C] x [C, H * W]), one row per output
// channel and kernel tap, and vec::col2im adds each row into the output pixels its tap lands on, with
// the bias.
//
// oneDNN's own deconvolution runs its backward-data convolution kernels, which are slow where the
// output has few channels (they pad them to blocks of 16: DCGAN's last layer, 64 -> 3 channels, ran at
// 15 GFLOP/s) and on small images; its matmul runs near the FMA peak on these shapes, and col2im is a
// few vector adds per output element. An input of one pixel (a latent vector) makes the product a
// matrix-vector one per image: the images then go in as the rows of one product X W.
#pragma once

#include <memory>
#include <optional>

#include "kernels/dnnl/packed_weights.h"
#include "kernels/kernel.h"
#include "kernels/ref/window.h"
#include "kernels/vec/unary_loops.h"

namespace kiln::dnnl_kernels {

// True when the product computes ConvTranspose nodes with these attributes and this constant W.
bool conv_transpose_product_applies(const ref::ConvTransposeAttrs& attrs, const Tensor& w);

// W^T packed for the product (the plain W let go), or null when oneDNN cannot pack it.
std::unique_ptr<PackedWeights> pack_transposed_weights(const Tensor& w);

// The kernel over weights from pack_transposed_weights, applying `activation` (kiln.FusedConvTranspose's)
// to the output planes as col2im writes them. `reference` computes what the product does not take:
// other types, an X of another rank, a W given at run time.
std::unique_ptr<Kernel> make_conv_transpose_product(std::unique_ptr<Kernel> reference, ref::ConvTransposeAttrs attrs,
                                                    std::unique_ptr<PackedWeights> wt,
                                                    std::optional<vec::UnaryFn> activation);

}  // namespace kiln::dnnl_kernels
