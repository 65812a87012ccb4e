#include "exec/independent_rows.h"

#include <set>
#include <unordered_map>

namespace kiln {

namespace {

// How an operator treats its first input's rows, when it keeps them apart.
enum class RowOp {
  kNone,        // may mix rows, or unknown: a row value may not reach it
  kSameShape,   // Y's rows are X's (input 0), other inputs are weights or same-shaped row values
  kElementwise, // every input broadcast together; rows stay apart if no input but row values spans axis 0
  kConcat,      // along an axis other than 0
  kFlatten,     // at an axis other than 0: [N, ...] -> [N, rest]
  kGemm,        // A [N, K] times constant B, no transA
  kMatMul,      // A [..., N, K] (rows first) times a B of no higher rank that is not a row value
  kSoftmax,     // over an axis other than 0
};

RowOp row_op(const ir::Node& n) {
  static const std::set<std::string> same_shape_onnx = {
      "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Clip", "Elu", "Selu", "Celu",
      "Softplus", "Softsign", "Exp", "Log", "Sqrt", "Abs", "Neg", "Erf", "Gelu", "Identity", "Dropout", "Cast",
      "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Mish", "Not", "IsNaN", "IsInf", "Conv", "ConvTranspose",
      "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "BatchNormalization",
      "InstanceNormalization", "LRN"};
  static const std::set<std::string> same_shape_kiln = {"BlockedConv",
                                                        "BlockedConvDepthwise",
                                                        "BlockedStemDepthwise",
                                                        "BlockedSqueezeExcite",
                                                        "BlockedSqueezeExciteConv",
                                                        "BlockedMaxPool",
                                                        "BlockedAveragePool",
                                                        "BlockedGlobalAveragePool",
                                                        "ReorderToBlocked",
                                                        "ReorderFromBlocked",
                                                        "FusedConv",
                                                        "FusedConvTranspose",
                                                        "Swish",
                                                        "Gelu"};
  static const std::set<std::string> elementwise = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum",
                                                    "Mean", "PRelu", "Equal", "Greater", "Less", "And", "Or"};
  if (n.domain == "kiln") {
    if (same_shape_kiln.count(n.op_type)) return RowOp::kSameShape;
    if (n.op_type == "FusedGemm") return n.attr_int("transA", 0) == 0 ? RowOp::kGemm : RowOp::kNone;
    if (n.op_type == "FusedMatMul") return RowOp::kMatMul;
    return RowOp::kNone;
  }
  if (!n.domain.empty() && n.domain != "ai.onnx") return RowOp::kNone;
  if (same_shape_onnx.count(n.op_type)) return RowOp::kSameShape;
  if (elementwise.count(n.op_type)) return RowOp::kElementwise;
  if (n.op_type == "Concat") return n.attr_int("axis", 0) > 0 ? RowOp::kConcat : RowOp::kNone;
  if (n.op_type == "Flatten") return n.attr_int("axis", 1) > 0 ? RowOp::kFlatten : RowOp::kNone;
  if (n.op_type == "Gemm") return n.attr_int("transA", 0) == 0 ? RowOp::kGemm : RowOp::kNone;
  if (n.op_type == "MatMul") return RowOp::kMatMul;
  // Opset 13's default axis is -1, which is 0 for a rank-1 tensor: only a positive axis is surely apart.
  if (n.op_type == "Softmax" || n.op_type == "LogSoftmax") return n.attr_int("axis", -1) > 0 ? RowOp::kSoftmax : RowOp::kNone;
  return RowOp::kNone;
}

// The input of a kiln node that is a residual of Y's shape (a row value, unlike its weights): Sum of
// kiln.BlockedConv (3) and of kiln.BlockedSqueezeExciteConv (7); none elsewhere.
std::optional<size_t> residual_input(const ir::Node& n) {
  if (n.domain != "kiln") return std::nullopt;
  if (n.op_type == "BlockedConv") return 3;
  if (n.op_type == "BlockedSqueezeExciteConv") return 7;
  return std::nullopt;
}

bool has_subgraph(const ir::Node& n) {
  for (const ir::Attribute& a : n.attributes) {
    if (a.g || !a.graphs.empty()) return true;
  }
  return false;
}

class Analysis {
 public:
  explicit Analysis(const ir::Graph& g) : g_(g) {}

  std::optional<IndependentRows> run() {
    IndependentRows rows;
    for (const ir::ValueInfo& in : g_.inputs) {
      const bool is_row = !g_.initializers.count(in.name) && batch_first(in, &rows.symbol);
      rows.row_input.push_back(is_row);
      if (is_row) rank_[in.name] = static_cast<int>(in.type.shape->size());
    }
    if (rows.symbol.empty()) return std::nullopt;
    for (const ir::Node& n : g_.nodes) {
      if (!node_keeps_rows_apart(n)) return std::nullopt;
    }
    for (const ir::ValueInfo& out : g_.outputs) {
      if (!rank_.count(out.name)) return std::nullopt;  // an output that does not carry the rows
    }
    return rows;
  }

 private:
  // True for a tensor input whose first dimension is the batch symbol, the same for every such input.
  bool batch_first(const ir::ValueInfo& in, std::string* symbol) {
    if (in.type.kind != ir::TypeInfo::Kind::kTensor || !in.type.shape || in.type.shape->empty()) return false;
    const ir::Dim& d0 = in.type.shape->front();
    if (d0.is_fixed() || d0.symbol.empty()) return false;
    if (symbol->empty()) *symbol = d0.symbol;
    return d0.symbol == *symbol;
  }

  bool is_row(const std::string& v) const { return rank_.count(v) > 0; }
  int rank_of(const std::string& v) const {
    auto it = rank_.find(v);
    return it == rank_.end() ? -1 : it->second;
  }
  const Tensor* constant(const std::string& v) const {
    auto it = g_.initializers.find(v);
    return it == g_.initializers.end() ? nullptr : &it->second;
  }

  // A constant broadcast against row values of rank `rows_rank` never spans axis 0: a lower rank, or
  // the same rank with a first dimension of 1.
  static bool stays_off_axis0(const Tensor& c, int rows_rank) {
    if (c.rank() == 0) return true;
    if (rows_rank < 0) return false;
    return c.rank() < rows_rank || (c.rank() == rows_rank && c.dim(0) == 1);
  }

  bool node_keeps_rows_apart(const ir::Node& n) {
    for (const std::string& in : n.inputs) {
      if (poisoned_.count(in)) return false;
    }
    bool reads_rows = false;
    for (const std::string& in : n.inputs) reads_rows = reads_rows || (!in.empty() && is_row(in));
    if (!reads_rows) return true;  // computed from constants and other inputs alone: the same in every part
    if (has_subgraph(n) || n.outputs.empty()) return false;
    const RowOp op = row_op(n);
    const std::string& x = n.inputs[0];
    int out_rank = -1;
    switch (op) {
      case RowOp::kNone:
        return false;
      case RowOp::kSameShape:
      case RowOp::kSoftmax:
        if (!is_row(x)) return false;
        for (size_t i = 1; i < n.inputs.size(); ++i) {
          // Weights, never rows; but a residual of Y's shape.
          const bool residual = residual_input(n) == i;
          if (!n.inputs[i].empty() && is_row(n.inputs[i]) && !residual) return false;
        }
        out_rank = rank_of(x);
        if (n.domain == "kiln" && n.op_type != "ReorderFromBlocked" && n.op_type != "FusedConv" &&
            n.op_type != "FusedConvTranspose" && n.op_type != "Swish" && n.op_type != "Gelu") {
          out_rank = 5;  // blocked [N, C/B, H, W, B]
        }
        if (n.op_type == "ReorderFromBlocked") out_rank = 4;
        break;
      case RowOp::kElementwise:
        for (const std::string& in : n.inputs) {
          if (in.empty()) continue;
          if (is_row(in)) {
            // Row values of different ranks would broadcast one's rows along another axis of the other.
            if (rank_of(in) < 1 || (out_rank >= 0 && rank_of(in) != out_rank)) return false;
            out_rank = rank_of(in);
            continue;
          }
          const Tensor* c = constant(in);
          if (c == nullptr) return false;  // a computed value of unknown shape might span axis 0
        }
        for (const std::string& in : n.inputs) {
          if (in.empty() || is_row(in)) continue;
          if (!stays_off_axis0(*constant(in), out_rank)) return false;
        }
        break;
      case RowOp::kConcat:
        for (const std::string& in : n.inputs) {
          if (!is_row(in)) return false;
        }
        out_rank = rank_of(x);
        break;
      case RowOp::kFlatten:
        if (!is_row(x)) return false;
        out_rank = 2;
        break;
      case RowOp::kGemm:
        if (!is_row(x) || rank_of(x) != 2) return false;
        for (size_t i = 1; i < n.inputs.size(); ++i) {
          if (!n.inputs[i].empty() && constant(n.inputs[i]) == nullptr) return false;
        }
        if (n.inputs.size() > 2 && !n.inputs[2].empty() && !stays_off_axis0(*constant(n.inputs[2]), 2)) return false;
        out_rank = 2;
        break;
      case RowOp::kMatMul: {
        const Tensor* b = n.inputs.size() > 1 ? constant(n.inputs[1]) : nullptr;
        if (!is_row(x) || rank_of(x) < 2 || b == nullptr || b->rank() > rank_of(x)) return false;
        // B's leading (batch) dims broadcast against A's: of B's own rank, they would pair row i of A
        // with B[i], unless that first dim is 1. A matrix B has none.
        if (b->rank() > 2 && b->rank() == rank_of(x) && b->dim(0) != 1) return false;
        for (size_t i = 2; i < n.inputs.size(); ++i) {
          if (!n.inputs[i].empty() && constant(n.inputs[i]) == nullptr) return false;  // FusedMatMul's bias
        }
        out_rank = rank_of(x);
        break;
      }
    }
    // Only the first output carries rows (Dropout's mask, MaxPool's indices would too, but are not
    // read in the graphs this serves); a later reader of another output sees a value of no kind and
    // the graph is not split.
    rank_[n.outputs[0]] = out_rank;
    for (size_t i = 1; i < n.outputs.size(); ++i) {
      if (!n.outputs[i].empty()) poisoned_.insert(n.outputs[i]);
    }
    return true;
  }

  const ir::Graph& g_;
  std::unordered_map<std::string, int> rank_;  // row values and their ranks (-1: unknown)
  std::set<std::string> poisoned_;             // secondary outputs of row nodes
};

}  // namespace

std::optional<IndependentRows> independent_rows(const ir::Graph& graph) { return Analysis(graph).run(); }

}  // namespace kiln
