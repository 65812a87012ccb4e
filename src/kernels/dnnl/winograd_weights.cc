#include "kernels/dnnl/winograd_weights.h"

#include <cstring>
#include <vector>

#include "core/buffer_pool.h"
#include "kernels/dnnl/common.h"

namespace kiln::dnnl_kernels {
namespace {

constexpr int kR = 3;            // kernel size
constexpr int kMaxAlpha = 6;     // tile size of F(4,3)
constexpr int kMaxOcBlock = 64;  // what the tile buffers hold; oneDNN's float32 layouts use 16

// oneDNN's weight transform matrices G (alpha x 3) for F(2,3) and F(4,3).
constexpr float kG2x3[4][kR] = {{1.0f, 0.0f, 0.0f}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0.0f, 0.0f, 1.0f}};
constexpr float kG4x3[6][kR] = {{1.13777777777778f, 0.f, 0.f},
                                {-0.688403361344538f, -0.430252100840336f, -0.26890756302521f},
                                {-0.688403361344538f, 0.430252100840336f, -0.26890756302521f},
                                {0.119514472455649f, 0.179271708683473f, 0.26890756302521f},
                                {0.119514472455649f, -0.179271708683473f, 0.26890756302521f},
                                {0.f, 0.f, 1.f}};

// Where the oc_block run of tile element (u_h, u_w), input channel `c` and output block `ob` starts.
struct WinogradLayout {
  dnnl_wino_desc_t d;
  int64_t nb_oc, nb_ic;
  int64_t offset(int64_t u_h, int64_t u_w, int64_t c, int64_t ob) const {
    const int64_t a = d.alpha, icb = d.ic_block, ocb = d.oc_block;
    const int64_t ib = c / icb, i = c % icb;
    switch (d.wino_format) {
      case dnnl_wino_wei_aaOio:
        return ((((u_h * a + u_w) * nb_oc + ob) * nb_ic + ib) * icb + i) * ocb;
      case dnnl_wino_wei_aaOBiOo: {
        const int64_t oc2 = d.oc2_block, occ = ob / oc2, ob2 = ob % oc2;
        return (((((u_h * a + u_w) * (nb_oc / oc2) + occ) * nb_ic + ib) * icb + i) * oc2 + ob2) * ocb;
      }
      default: {  // dnnl_wino_wei_OBaaIBOIio
        const int64_t oc2 = d.oc2_block, ic2 = d.ic2_block;
        const int64_t occ = ob / oc2, ob2 = ob % oc2, icc = ib / ic2, ib2 = ib % ic2;
        return (((((((occ * a + u_h) * a + u_w) * (nb_ic / ic2) + icc) * oc2 + ob2) * ic2 + ib2) * icb + i)) * ocb;
      }
    }
  }
};

}  // namespace

bool transform_winograd_weights(const float* oihw, int64_t oc, int64_t ic, const dnnl::memory::desc& md, void* out) {
  const dnnl_memory_desc_t& m = md.data;
  if (m.format_kind != dnnl_format_kind_wino || m.data_type != dnnl_f32) return false;
  const dnnl_wino_desc_t& d = m.format_desc.wino_desc;
  const bool f23 = d.alpha == 4 && (d.wino_format == dnnl_wino_wei_aaOio || d.wino_format == dnnl_wino_wei_aaOBiOo);
  const bool f43 = d.alpha == 6 && d.wino_format == dnnl_wino_wei_OBaaIBOIio;
  if (!(f23 || f43) || d.r != kR || d.adj_scale != 1.f) return false;
  if (d.oc_block <= 0 || d.oc_block > kMaxOcBlock || d.ic_block <= 0 || d.oc2_block <= 0 || d.ic2_block <= 0)
    return false;
  if (d.oc < oc || d.ic < ic || d.oc % d.oc_block != 0 || d.ic % d.ic_block != 0) return false;
  const WinogradLayout layout{d, d.oc / d.oc_block, d.ic / d.ic_block};
  if (layout.nb_oc % d.oc2_block != 0) return false;
  if (f43 && layout.nb_ic % d.ic2_block != 0) return false;
  const int64_t tile_floats = int64_t{d.alpha} * d.alpha * d.oc * d.ic;
  if (static_cast<size_t>(tile_floats) * sizeof(float) > md.get_size()) return false;

  const int a = d.alpha, ocb = d.oc_block;
  const float* g = f43 ? &kG4x3[0][0] : &kG2x3[0][0];
  float* dst = static_cast<float*>(out);
  // Whatever the layout holds past the tiles (nothing for float32) reads as zeros.
  std::memset(dst + tile_floats, 0, md.get_size() - static_cast<size_t>(tile_floats) * sizeof(float));
  float w[kR][kR][kMaxOcBlock];
  float half[kR][kMaxAlpha][kMaxOcBlock];  // w G^T: [kernel row][tile column][o]
  for (int64_t ob = 0; ob < layout.nb_oc; ++ob) {
    for (int64_t c = 0; c < d.ic; ++c) {
      // The block's weights, output channel innermost; zeros past the real channels.
      for (int o = 0; o < ocb; ++o) {
        const int64_t oo = ob * ocb + o;
        const bool real = oo < oc && c < ic;
        const float* k = oihw + (oo * ic + c) * kR * kR;
        for (int y = 0; y < kR; ++y) {
          for (int x = 0; x < kR; ++x) w[y][x][o] = real ? k[y * kR + x] : 0.f;
        }
      }
      // Sums from 0 in oneDNN's order, so every float rounds the same.
      for (int y = 0; y < kR; ++y) {
        for (int j = 0; j < a; ++j) {
          for (int o = 0; o < ocb; ++o) {
            float s = 0.f;
            for (int x = 0; x < kR; ++x) s += w[y][x][o] * g[j * kR + x];
            half[y][j][o] = s;
          }
        }
      }
      for (int i = 0; i < a; ++i) {
        for (int j = 0; j < a; ++j) {
          float* run = dst + layout.offset(i, j, c, ob);
          for (int o = 0; o < ocb; ++o) {
            float t = 0.f;
            for (int k = 0; k < kR; ++k) t += g[i * kR + k] * half[k][j][o];
            run[o] = t;
          }
        }
      }
    }
  }
  return true;
}

WinogradCopy make_winograd_copy(const float* oihw, int64_t oc, int64_t ic, const dnnl::memory::desc& md) {
  OwnedMemory owned = owned_memory(md);
  if (!transform_winograd_weights(oihw, oc, ic, md, owned.pages.get())) {
    // oneDNN reorders into Winograd layouts only from plain OIHW.
    dnnl::memory plain = wrap(plain_desc({oc, ic, 3, 3}), oihw);
    dnnl::reorder(plain, owned.memory).execute(thread_stream(), plain, owned.memory);
    thread_stream().wait();
  }
  return owned;
}

}  // namespace kiln::dnnl_kernels
