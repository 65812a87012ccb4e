// Keeps CNN activations in the blocked channel layout (kernels/blocked_layout.h: [N, ceil(C/B), H, W,
// B], oneDNN's nChw8c or nChw16c, B = PassContext::channel_block; none when that is 0) between
// operators that run well on it, instead of reordering around every convolution. The rewrite, in the
// nodes' topological order:
//
//   2-D Conv / kiln.FusedConv with constant weights, group 1 or depthwise  -> kiln.BlockedConv
//       (its X: the blocked form of the input; or, for a first layer with C <= 4, the plain input
//        itself, which oneDNN reads directly; else a kiln.ReorderToBlocked of it)
//   MaxPool (no Indices), AveragePool, GlobalAveragePool on a blocked X    -> kiln.Blocked<op>
//   Relu, LeakyRelu, Sigmoid, Tanh, HardSigmoid, HardSwish, Clip (constant bounds) on a blocked X,
//   Add, Mul, Sub whose operands are blocked values of one channel count or constant float scalars,
//   Concat along channels of blocked values whose channel counts are multiples of B
//       -> the same ONNX node on the blocked tensors (elementwise ops broadcast the same way on
//          [N, Cb, H, W, B] as on [N, C, H, W]; Concat's axis 1 becomes the block axis)
//   anything else reading a blocked value, and every graph output    -> reads a kiln.ReorderFromBlocked
//
// Padding lanes: BlockedConv's weights for them are zero, so they only need to stay finite; every op
// admitted maps finite lanes to finite lanes (Div is left out: 0/0). Only channel counts (from the
// weights) are needed, so the batch and image sizes stay dynamic.
#include <map>
#include <optional>
#include <set>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_layout.h"
#include "opt/pass.h"

namespace kiln::opt {
namespace {

// A first-layer convolution with at most this many input channels reads plain X (oneDNN has a direct
// kernel for it; blocking 3 channels into 16 would waste 13/16 of the reads, into 8 5/8).
constexpr int64_t kMaxPlainInputChannels = 4;

// Indices of graph.nodes, producers first (the input order when it already is one).
std::vector<size_t> topological_order(const ir::Graph& graph) {
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const std::string& o : graph.nodes[i].outputs) {
      if (!o.empty()) producer[o] = i;
    }
  }
  std::vector<int> state(graph.nodes.size(), 0);  // 0 new, 1 visiting, 2 done
  std::vector<size_t> order;
  std::vector<std::pair<size_t, size_t>> stack;  // (node, next input to look at)
  for (size_t root = 0; root < graph.nodes.size(); ++root) {
    if (state[root]) continue;
    stack.push_back({root, 0});
    state[root] = 1;
    while (!stack.empty()) {
      auto& [i, next] = stack.back();
      const ir::Node& n = graph.nodes[i];
      if (next < n.inputs.size()) {
        auto p = producer.find(n.inputs[next++]);
        if (p != producer.end() && state[p->second] == 0) {
          state[p->second] = 1;
          stack.push_back({p->second, 0});
        }
        continue;
      }
      state[i] = 2;
      order.push_back(i);
      stack.pop_back();
    }
  }
  return order;
}

bool is_unary_elementwise(const ir::Node& n) {
  static const std::set<std::string> kOps = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Clip"};
  return n.domain.empty() && kOps.count(n.op_type) > 0;
}

bool is_binary_elementwise(const ir::Node& n) {
  return n.domain.empty() && (n.op_type == "Add" || n.op_type == "Mul" || n.op_type == "Sub");
}

bool is_pool(const ir::Node& n) {
  return n.domain.empty() && (n.op_type == "MaxPool" || n.op_type == "AveragePool" || n.op_type == "GlobalAveragePool");
}

class BlockedLayoutRewrite {
 public:
  BlockedLayoutRewrite(const ir::Graph& graph, int64_t opset, int64_t block)
      : graph_(graph),
        uses_(value_uses(graph)),
        opset_(opset),
        block_(block),
        suffix_("/nchw" + std::to_string(block) + "c") {
    for (const auto& [name, t] : graph.initializers) taken_.insert(name);
    for (const ir::ValueInfo& v : graph.inputs) taken_.insert(v.name);
    for (const ir::Node& n : graph.nodes) taken_.insert(n.outputs.begin(), n.outputs.end());
  }

  // The rewritten node list, or nothing when no node changes.
  std::optional<std::vector<ir::Node>> run() {
    bool changed = false;
    for (size_t i : topological_order(graph_)) {
      const ir::Node& n = graph_.nodes[i];
      if (convert(n)) {
        changed = true;
      } else {
        for (const std::string& in : n.inputs) make_plain(in);
        out_.push_back(n);
      }
    }
    if (!changed) return std::nullopt;
    return std::move(out_);
  }

 private:
  struct Blocked {
    std::string name;  // the blocked tensor's value name
    int64_t channels;
  };

  bool convert(const ir::Node& n) {
    if ((n.domain.empty() && n.op_type == "Conv") || (n.domain == "kiln" && n.op_type == "FusedConv")) {
      return convert_conv(n);
    }
    if (n.outputs.size() != 1 || n.outputs[0].empty() || n.inputs.empty()) return false;
    auto x = blocked_.find(n.inputs[0]);
    if (is_pool(n)) {
      if (x == blocked_.end() || !pool_ok(n)) return false;
      ir::Node b = n;
      b.domain = "kiln";
      b.op_type = "Blocked" + n.op_type;
      b.inputs = {x->second.name};
      emit_blocked(std::move(b), x->second.channels);
      return true;
    }
    if (is_unary_elementwise(n)) {
      if (x == blocked_.end()) return false;
      for (size_t i = 1; i < n.inputs.size(); ++i) {
        if (!n.inputs[i].empty() && !is_float_scalar_constant(n.inputs[i])) return false;
      }
      ir::Node b = n;
      b.inputs[0] = x->second.name;
      emit_blocked(std::move(b), x->second.channels);
      return true;
    }
    if (is_binary_elementwise(n) && n.inputs.size() == 2) {
      int64_t channels = -1;
      ir::Node b = n;
      for (std::string& in : b.inputs) {
        auto it = blocked_.find(in);
        if (it != blocked_.end()) {
          if (channels >= 0 && channels != it->second.channels) return false;
          channels = it->second.channels;
          in = it->second.name;
        } else if (!is_float_scalar_constant(in)) {
          return false;
        }
      }
      if (channels < 0) return false;
      emit_blocked(std::move(b), channels);
      return true;
    }
    if (n.domain.empty() && n.op_type == "Concat") {
      const int64_t axis = n.attr_int("axis", opset_ < 4 ? 1 : 0);
      if (axis != 1 && axis != -3) return false;
      int64_t channels = 0;
      ir::Node b = n;
      for (std::string& in : b.inputs) {
        auto it = blocked_.find(in);
        if (it == blocked_.end() || it->second.channels % block_ != 0) return false;
        channels += it->second.channels;
        in = it->second.name;
      }
      std::erase_if(b.attributes, [](const ir::Attribute& a) { return a.name == "axis"; });
      b.attributes.push_back(ir::Attribute::of_int("axis", 1));
      emit_blocked(std::move(b), channels);
      return true;
    }
    return false;
  }

  bool convert_conv(const ir::Node& n) {
    if (n.inputs.size() < 2 || n.inputs.size() > 3 || n.outputs.size() != 1 || n.outputs[0].empty()) return false;
    const Tensor* w = constant_value(graph_, uses_, n.inputs[1]);
    if (w == nullptr || w->dtype() != DataType::kFloat32 || w->rank() != 4 || w->size() == 0) return false;
    const int64_t group = n.attr_int("group", 1);
    const int64_t c = w->dim(1) * group, m = w->dim(0);
    if (!(group == 1 || (group == c && m == c))) return false;  // grouped convs stay plain
    ir::Node b = n;
    b.domain = "kiln";
    b.op_type = "BlockedConv";
    auto x = blocked_.find(n.inputs[0]);
    if (x != blocked_.end()) {
      if (x->second.channels != c) return false;
      b.inputs[0] = x->second.name;
    } else if (c <= kMaxPlainInputChannels && group == 1) {
      b.attributes.push_back(ir::Attribute::of_string(kInputLayoutAttr, "plain"));
      b.attributes.push_back(ir::Attribute::of_int(kChannelBlockAttr, block_));
    } else {
      ir::Node reorder;
      reorder.domain = "kiln";
      reorder.op_type = "ReorderToBlocked";
      reorder.name = n.inputs[0] + "/to_" + suffix_.substr(1);
      reorder.inputs = {n.inputs[0]};
      reorder.outputs = {new_name(n.inputs[0] + suffix_)};
      reorder.attributes.push_back(ir::Attribute::of_int(kChannelBlockAttr, block_));
      blocked_[n.inputs[0]] = {reorder.outputs[0], c};
      plain_.insert(n.inputs[0]);
      b.inputs[0] = reorder.outputs[0];
      out_.push_back(std::move(reorder));
    }
    emit_blocked(std::move(b), m);
    return true;
  }

  bool pool_ok(const ir::Node& n) const {
    if (n.op_type == "GlobalAveragePool") return true;
    return n.attr_ints("kernel_shape").size() == 2;
  }

  bool is_float_scalar_constant(const std::string& name) const {
    const Tensor* t = constant_value(graph_, uses_, name);
    return t != nullptr && t->dtype() == DataType::kFloat32 && t->size() == 1 && t->rank() <= 4;
  }

  // Appends `b` (whose output still has the plain node's name) writing a fresh blocked value instead.
  void emit_blocked(ir::Node b, int64_t channels) {
    const std::string plain = b.outputs[0];
    b.outputs[0] = new_name(plain + suffix_);
    blocked_[plain] = {b.outputs[0], channels};
    out_.push_back(std::move(b));
    // Graph outputs and names a subgraph reads keep their plain value.
    if (uses_.pinned.count(plain)) make_plain(plain);
  }

  // Makes the plain value `name` exist, if it is only blocked so far.
  void make_plain(const std::string& name) {
    auto it = blocked_.find(name);
    if (it == blocked_.end() || plain_.count(name)) return;
    ir::Node r;
    r.domain = "kiln";
    r.op_type = "ReorderFromBlocked";
    r.name = name + "/from_" + suffix_.substr(1);
    r.inputs = {it->second.name};
    r.outputs = {name};
    r.attributes.push_back(ir::Attribute::of_int("channels", it->second.channels));
    out_.push_back(std::move(r));
    plain_.insert(name);
  }

  std::string new_name(const std::string& base) {
    for (int i = 0;; ++i) {
      std::string name = base + (i == 0 ? "" : "_" + std::to_string(i));
      if (taken_.insert(name).second) return name;
    }
  }

  const ir::Graph& graph_;
  const ValueUses uses_;
  const int64_t opset_;
  const int64_t block_;                    // channels per block
  const std::string suffix_;               // of blocked value names: "/nchw16c"
  std::set<std::string> taken_;            // every value name, old and new
  std::map<std::string, Blocked> blocked_;  // plain name -> its blocked form
  std::set<std::string> plain_;            // blocked values whose plain form exists too
  std::vector<ir::Node> out_;
};

}  // namespace

Expected<bool> convert_to_blocked_layout(ir::Graph& graph, const PassContext& ctx) {
  auto opset = ctx.opsets.find("");
  if (opset == ctx.opsets.end() || ctx.channel_block < 1) return false;
  std::optional<std::vector<ir::Node>> nodes = BlockedLayoutRewrite(graph, opset->second, ctx.channel_block).run();
  if (!nodes) return false;
  graph.nodes = std::move(*nodes);
  return true;
}

}  // namespace kiln::opt
