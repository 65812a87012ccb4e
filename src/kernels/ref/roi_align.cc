// RoiAlign (opsets 10, 16): average or max pooling of bilinearly sampled points over regions of a 4-D
// feature map, as in Mask R-CNN.
//
// Follows the Caffe2 / ONNX Runtime algorithm that defines the operator: a regular grid of
// sampling_ratio (or ceil(bin size)) points per bin; points more than one pixel outside the map count
// as zero; coordinates in (-1, 0] are clamped to 0. coordinate_transformation_mode "half_pixel" (the
// opset-16 default) shifts box coordinates by half a pixel; "output_half_pixel" (the only behavior of
// opset 10) does not, and forces boxes to be at least one pixel wide. Max mode takes, per point, the
// largest of the four weighted corner values, then the largest over the bin's points, as ONNX Runtime
// and the ONNX reference do.
#include <algorithm>
#include <cmath>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

struct RoiAlignAttrs {
  bool max_mode = false;
  int64_t out_h = 1, out_w = 1;
  int64_t sampling_ratio = 0;
  double spatial_scale = 1.0;
  bool half_pixel = true;
};

// Bilinear sampling weights of one point: four corner offsets and weights, or none outside the map.
struct Sample {
  bool valid = false;
  int64_t off[4] = {0, 0, 0, 0};
  double w[4] = {0, 0, 0, 0};
};

Sample sample_at(double y, double x, int64_t h, int64_t w) {
  Sample s;
  if (y < -1.0 || y > static_cast<double>(h) || x < -1.0 || x > static_cast<double>(w)) return s;
  y = std::max(y, 0.0);
  x = std::max(x, 0.0);
  int64_t y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(x), y1, x1;
  if (y0 >= h - 1) {
    y0 = y1 = h - 1;
    y = static_cast<double>(y0);
  } else {
    y1 = y0 + 1;
  }
  if (x0 >= w - 1) {
    x0 = x1 = w - 1;
    x = static_cast<double>(x0);
  } else {
    x1 = x0 + 1;
  }
  const double ly = y - static_cast<double>(y0), lx = x - static_cast<double>(x0), hy = 1 - ly, hx = 1 - lx;
  s.valid = true;
  s.off[0] = y0 * w + x0;
  s.off[1] = y0 * w + x1;
  s.off[2] = y1 * w + x0;
  s.off[3] = y1 * w + x1;
  s.w[0] = hy * hx;
  s.w[1] = hy * lx;
  s.w[2] = ly * hx;
  s.w[3] = ly * lx;
  return s;
}

class RoiAlignKernel : public Kernel {
 public:
  explicit RoiAlignKernel(RoiAlignAttrs a) : a_(a) {}

  Status run(KernelContext& ctx) const override {
    for (size_t i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    const Tensor& x = ctx.tensor(0);
    const Tensor& rois = ctx.tensor(1);
    const Tensor& batch_indices = ctx.tensor(2);
    if (x.rank() != 4) return Status::InvalidArgument("X must be 4-D [N, C, H, W], got " + shape_to_string(x.shape()));
    if (rois.rank() != 2 || rois.dim(1) != 4) {
      return Status::InvalidArgument("rois must have shape [num_rois, 4], got " + shape_to_string(rois.shape()));
    }
    const int64_t num_rois = rois.dim(0);
    if (batch_indices.rank() != 1 || batch_indices.dim(0) != num_rois) {
      return Status::InvalidArgument("batch_indices must have shape [" + std::to_string(num_rois) + "], got " +
                                     shape_to_string(batch_indices.shape()));
    }
    KILN_ASSIGN_OR_RETURN(const std::vector<int64_t> batch, read_int_list(batch_indices, "batch_indices"));
    const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
    for (int64_t b : batch) {
      if (b < 0 || b >= n) {
        return Status::InvalidArgument("batch index " + std::to_string(b) + " is out of range for batch size " + std::to_string(n));
      }
    }
    std::vector<double> boxes(static_cast<size_t>(rois.size()));
    KILN_RETURN_IF_ERROR(visit_type(FloatTypes{}, rois.dtype(), [&](auto tag) {
      using R = typename decltype(tag)::type;
      for (int64_t i = 0; i < rois.size(); ++i) boxes[static_cast<size_t>(i)] = static_cast<double>(static_cast<ComputeType<R>>(rois.data<R>()[i]));
      return Status::OK();
    }));
    Tensor y(x.dtype(), {num_rois, c, a_.out_h, a_.out_w});
    Status st = visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xs = x.data<T>();
      T* ys = y.data<T>();
      std::vector<Sample> samples;
      for (int64_t r = 0; r < num_rois; ++r) {
        const double offset = a_.half_pixel ? 0.5 : 0.0;
        const double* box = &boxes[static_cast<size_t>(r * 4)];
        const double x_start = box[0] * a_.spatial_scale - offset, y_start = box[1] * a_.spatial_scale - offset;
        const double x_end = box[2] * a_.spatial_scale - offset, y_end = box[3] * a_.spatial_scale - offset;
        double roi_w = x_end - x_start, roi_h = y_end - y_start;
        if (!a_.half_pixel) {
          roi_w = std::max(roi_w, 1.0);
          roi_h = std::max(roi_h, 1.0);
        }
        if (!std::isfinite(roi_w) || !std::isfinite(roi_h)) return Status::InvalidArgument("roi " + std::to_string(r) + " is not finite");
        const double bin_h = roi_h / static_cast<double>(a_.out_h), bin_w = roi_w / static_cast<double>(a_.out_w);
        const double gh = a_.sampling_ratio > 0 ? static_cast<double>(a_.sampling_ratio) : std::ceil(bin_h);
        const double gw = a_.sampling_ratio > 0 ? static_cast<double>(a_.sampling_ratio) : std::ceil(bin_w);
        if (std::fabs(gh * gw) > double(int64_t{1} << 24)) {
          return Status::InvalidArgument("roi " + std::to_string(r) + " needs too many sampling points");
        }
        const int64_t grid_h = static_cast<int64_t>(gh), grid_w = static_cast<int64_t>(gw);
        const double count = static_cast<double>(std::max<int64_t>(grid_h * grid_w, 1));
        const T* base_in = xs + batch[static_cast<size_t>(r)] * c * h * w;
        for (int64_t ph = 0; ph < a_.out_h; ++ph) {
          for (int64_t pw = 0; pw < a_.out_w; ++pw) {
            // The sampling points of this bin, shared by all channels.
            samples.clear();
            for (int64_t iy = 0; iy < grid_h; ++iy) {
              const double yy = y_start + static_cast<double>(ph) * bin_h + (static_cast<double>(iy) + 0.5) * bin_h / static_cast<double>(grid_h);
              for (int64_t ix = 0; ix < grid_w; ++ix) {
                const double xx = x_start + static_cast<double>(pw) * bin_w + (static_cast<double>(ix) + 0.5) * bin_w / static_cast<double>(grid_w);
                samples.push_back(sample_at(yy, xx, h, w));
              }
            }
            for (int64_t ch = 0; ch < c; ++ch) {
              const T* in = base_in + ch * h * w;
              double acc = 0;
              bool first = true;
              for (const Sample& s : samples) {
                if (!s.valid) {  // a point outside the map contributes zero
                  if (a_.max_mode) {
                    acc = first ? 0.0 : std::max(acc, 0.0);
                    first = false;
                  }
                  continue;
                }
                double v[4];
                for (int k = 0; k < 4; ++k) v[k] = s.w[k] * static_cast<double>(static_cast<ComputeType<T>>(in[s.off[k]]));
                if (a_.max_mode) {
                  const double m = std::max(std::max(v[0], v[1]), std::max(v[2], v[3]));
                  acc = first ? m : std::max(acc, m);
                  first = false;
                } else {
                  acc += v[0] + v[1] + v[2] + v[3];
                }
              }
              if (!a_.max_mode) acc /= count;
              ys[((r * c + ch) * a_.out_h + ph) * a_.out_w + pw] = T(static_cast<ComputeType<T>>(acc));
            }
          }
        }
      }
      return Status::OK();
    });
    KILN_RETURN_IF_ERROR(st);
    ctx.set_output(0, std::move(y));
    return Status::OK();
  }

 private:
  RoiAlignAttrs a_;
};

Expected<std::unique_ptr<Kernel>> make_roi_align(const KernelBuildContext& b) {
  const ir::Node& n = b.node;
  RoiAlignAttrs a;
  const std::string mode = n.attr_string("mode", "avg");
  if (mode == "max") a.max_mode = true;
  else if (mode != "avg") return Status::InvalidArgument("mode must be avg or max, got '" + mode + "'");
  a.out_h = n.attr_int("output_height", 1);
  a.out_w = n.attr_int("output_width", 1);
  if (a.out_h <= 0 || a.out_w <= 0 || a.out_h > (int64_t{1} << 20) || a.out_w > (int64_t{1} << 20)) {
    return Status::InvalidArgument("output_height and output_width must be positive");
  }
  a.sampling_ratio = n.attr_int("sampling_ratio", 0);
  if (a.sampling_ratio < 0) return Status::InvalidArgument("sampling_ratio must not be negative");
  a.spatial_scale = n.attr_float("spatial_scale", 1.0f);
  if (b.opset < 16) {
    a.half_pixel = false;
  } else {
    const std::string t = n.attr_string("coordinate_transformation_mode", "half_pixel");
    if (t == "half_pixel") a.half_pixel = true;
    else if (t == "output_half_pixel") a.half_pixel = false;
    else return Status::InvalidArgument("unknown coordinate_transformation_mode '" + t + "'");
  }
  return std::unique_ptr<Kernel>(std::make_unique<RoiAlignKernel>(a));
}

}  // namespace

KILN_REGISTER_KERNEL("", "RoiAlign", 10, kMaxOpset, make_roi_align);

}  // namespace kiln::ref
