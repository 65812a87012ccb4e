// NonMaxSuppression (opsets 10, 11): greedy per-(batch, class) box selection by score and IoU.
//
// Follows ONNX Runtime's rules where the spec is silent: a box is a candidate when its score is strictly
// above score_threshold, candidates are visited by descending score (ties: lower box index first), a
// candidate is suppressed when its IoU with a selected box is strictly above iou_threshold, and a box of
// zero area never suppresses anything.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

struct Box {
  double y1, x1, y2, x2;  // normalized so that y1 <= y2 and x1 <= x2
  double area() const { return (y2 - y1) * (x2 - x1); }
};

Box make_box(const double* c, bool center_point) {
  if (center_point) {  // [x_center, y_center, width, height]
    const double hw = c[2] / 2, hh = c[3] / 2;
    return {c[1] - hh, c[0] - hw, c[1] + hh, c[0] + hw};
  }
  // [y1, x1, y2, x2], any diagonal pair of corners.
  return {std::min(c[0], c[2]), std::min(c[1], c[3]), std::max(c[0], c[2]), std::max(c[1], c[3])};
}

bool suppresses(const Box& a, const Box& b, double iou_threshold) {
  const double area_a = a.area(), area_b = b.area();
  if (area_a <= 0 || area_b <= 0) return false;
  const double ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  const double iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  if (ih <= 0 || iw <= 0) return false;
  const double inter = ih * iw;
  return inter / (area_a + area_b - inter) > iou_threshold;
}

// Reads a float tensor of any floating type into doubles.
Status read_doubles(const Tensor& t, std::vector<double>* out, const char* what) {
  out->resize(static_cast<size_t>(t.size()));
  return visit_type(FloatTypes{}, t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = t.data<T>();
    for (int64_t i = 0; i < t.size(); ++i) (*out)[static_cast<size_t>(i)] = static_cast<double>(static_cast<ComputeType<T>>(p[i]));
    return Status::OK();
  }).with_context(what);
}

class NmsKernel : public Kernel {
 public:
  explicit NmsKernel(bool center_point) : center_point_(center_point) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& boxes_t = ctx.tensor(0);
    const Tensor& scores_t = ctx.tensor(1);
    if (boxes_t.rank() != 3 || boxes_t.dim(2) != 4) {
      return Status::InvalidArgument("boxes must have shape [batch, boxes, 4], got " + shape_to_string(boxes_t.shape()));
    }
    if (scores_t.rank() != 3) {
      return Status::InvalidArgument("scores must have shape [batch, classes, boxes], got " + shape_to_string(scores_t.shape()));
    }
    const int64_t batches = boxes_t.dim(0), num_boxes = boxes_t.dim(1), classes = scores_t.dim(1);
    if (scores_t.dim(0) != batches || scores_t.dim(2) != num_boxes) {
      return Status::InvalidArgument("scores shape " + shape_to_string(scores_t.shape()) + " does not match boxes shape " +
                                     shape_to_string(boxes_t.shape()));
    }
    int64_t max_out = 0;
    if (ctx.has_input(2) && ctx.tensor(2).defined() && ctx.tensor(2).size() > 0) {
      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> v, read_int_list(ctx.tensor(2).reshaped({ctx.tensor(2).size()}), "max_output_boxes_per_class"));
      if (v.size() != 1) return Status::InvalidArgument("max_output_boxes_per_class must hold one element");
      max_out = std::max<int64_t>(v[0], 0);
    }
    double iou_threshold = 0;
    if (ctx.has_input(3) && ctx.tensor(3).defined() && ctx.tensor(3).size() > 0) {
      KILN_ASSIGN_OR_RETURN(iou_threshold, read_scalar(ctx.tensor(3), "iou_threshold"));
      if (!(iou_threshold >= 0 && iou_threshold <= 1)) {
        return Status::InvalidArgument("iou_threshold must be in [0, 1], got " + std::to_string(iou_threshold));
      }
    }
    bool has_score_threshold = false;
    double score_threshold = 0;
    if (ctx.has_input(4) && ctx.tensor(4).defined() && ctx.tensor(4).size() > 0) {
      KILN_ASSIGN_OR_RETURN(score_threshold, read_scalar(ctx.tensor(4), "score_threshold"));
      has_score_threshold = true;
    }

    std::vector<double> coords, scores;
    KILN_RETURN_IF_ERROR(read_doubles(boxes_t, &coords, "boxes"));
    KILN_RETURN_IF_ERROR(read_doubles(scores_t, &scores, "scores"));

    std::vector<int64_t> selected;  // triples
    std::vector<Box> boxes(static_cast<size_t>(num_boxes));
    std::vector<int64_t> order;
    std::vector<int64_t> kept;
    for (int64_t b = 0; b < batches && max_out > 0; ++b) {
      for (int64_t i = 0; i < num_boxes; ++i) {
        boxes[static_cast<size_t>(i)] = make_box(&coords[static_cast<size_t>((b * num_boxes + i) * 4)], center_point_);
      }
      for (int64_t c = 0; c < classes; ++c) {
        const double* s = &scores[static_cast<size_t>((b * classes + c) * num_boxes)];
        order.clear();
        for (int64_t i = 0; i < num_boxes; ++i) {
          // NaN scores are never candidates (they would also break the sort order).
          if (!std::isnan(s[i]) && (!has_score_threshold || s[i] > score_threshold)) order.push_back(i);
        }
        std::stable_sort(order.begin(), order.end(), [s](int64_t l, int64_t r) { return s[l] > s[r]; });
        kept.clear();
        for (int64_t i : order) {
          if (static_cast<int64_t>(kept.size()) >= max_out) break;
          bool drop = false;
          for (int64_t k : kept) {
            if (suppresses(boxes[static_cast<size_t>(k)], boxes[static_cast<size_t>(i)], iou_threshold)) {
              drop = true;
              break;
            }
          }
          if (drop) continue;
          kept.push_back(i);
          selected.insert(selected.end(), {b, c, i});
        }
      }
    }
    const int64_t n = static_cast<int64_t>(selected.size() / 3);
    ctx.set_output(0, Tensor::from_vector<int64_t>({n, 3}, selected));
    return Status::OK();
  }

 private:
  bool center_point_;
};

Expected<std::unique_ptr<Kernel>> make_nms(const KernelBuildContext& b) {
  const int64_t cpb = b.node.attr_int("center_point_box", 0);
  if (cpb != 0 && cpb != 1) return Status::InvalidArgument("center_point_box must be 0 or 1");
  return std::unique_ptr<Kernel>(std::make_unique<NmsKernel>(cpb == 1));
}

}  // namespace

KILN_REGISTER_KERNEL("", "NonMaxSuppression", 10, kMaxOpset, make_nms);

}  // namespace kiln::ref
