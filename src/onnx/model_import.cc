#include "onnx/model_import.h"

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "onnx/tensor_proto.h"

namespace kiln::onnx_io {
namespace {

std::string normalize_domain(const std::string& domain) { return domain == "ai.onnx" ? "" : domain; }

// Graphs are imported from a mutable proto so that each initializer's bytes can be freed as soon as
// they are copied into a Tensor: the weights then exist once at a time, not twice (bert_base: 420 MB).
Expected<ir::Graph> import_graph(onnx::GraphProto& g, const std::string& base_dir, int depth);

// Frees the element storage of a TensorProto already converted (clear() would keep the capacity).
void release_tensor_data(onnx::TensorProto* tp) {
  std::string().swap(*tp->mutable_raw_data());
  google::protobuf::RepeatedField<float>().Swap(tp->mutable_float_data());
  google::protobuf::RepeatedField<int32_t>().Swap(tp->mutable_int32_data());
  google::protobuf::RepeatedField<int64_t>().Swap(tp->mutable_int64_data());
  google::protobuf::RepeatedField<double>().Swap(tp->mutable_double_data());
}

Expected<ir::Attribute> import_attribute(onnx::AttributeProto& a, const std::string& base_dir, int depth) {
  using T = ir::Attribute::Type;
  ir::Attribute out;
  out.name = a.name();
  auto type = a.type();
  if (type == onnx::AttributeProto::UNDEFINED) {
    // IR version 1 models leave the type out; infer it from the field that is set.
    if (a.has_f()) type = onnx::AttributeProto::FLOAT;
    else if (a.has_i()) type = onnx::AttributeProto::INT;
    else if (a.has_s()) type = onnx::AttributeProto::STRING;
    else if (a.has_t()) type = onnx::AttributeProto::TENSOR;
    else if (a.has_g()) type = onnx::AttributeProto::GRAPH;
    else if (a.floats_size()) type = onnx::AttributeProto::FLOATS;
    else if (a.ints_size()) type = onnx::AttributeProto::INTS;
    else if (a.strings_size()) type = onnx::AttributeProto::STRINGS;
  }
  switch (type) {
    case onnx::AttributeProto::FLOAT: out.type = T::kFloat; out.f = a.f(); break;
    case onnx::AttributeProto::INT: out.type = T::kInt; out.i = a.i(); break;
    case onnx::AttributeProto::STRING: out.type = T::kString; out.s = a.s(); break;
    case onnx::AttributeProto::TENSOR: {
      out.type = T::kTensor;
      KILN_ASSIGN_OR_RETURN(out.t, tensor_from_proto(a.t(), base_dir));
      break;
    }
    case onnx::AttributeProto::SPARSE_TENSOR: {
      out.type = T::kTensor;
      KILN_ASSIGN_OR_RETURN(out.t, tensor_from_sparse_proto(a.sparse_tensor(), base_dir));
      break;
    }
    case onnx::AttributeProto::GRAPH: {
      out.type = T::kGraph;
      KILN_ASSIGN_OR_RETURN(ir::Graph g, import_graph(*a.mutable_g(), base_dir, depth + 1));
      out.g = std::make_shared<ir::Graph>(std::move(g));
      break;
    }
    case onnx::AttributeProto::FLOATS: out.type = T::kFloats; out.floats.assign(a.floats().begin(), a.floats().end()); break;
    case onnx::AttributeProto::INTS: out.type = T::kInts; out.ints.assign(a.ints().begin(), a.ints().end()); break;
    case onnx::AttributeProto::STRINGS: out.type = T::kStrings; out.strings.assign(a.strings().begin(), a.strings().end()); break;
    case onnx::AttributeProto::TENSORS:
      out.type = T::kTensors;
      for (const auto& tp : a.tensors()) {
        KILN_ASSIGN_OR_RETURN(Tensor t, tensor_from_proto(tp, base_dir));
        out.tensors.push_back(std::move(t));
      }
      break;
    case onnx::AttributeProto::GRAPHS:
      out.type = T::kGraphs;
      for (auto& gp : *a.mutable_graphs()) {
        KILN_ASSIGN_OR_RETURN(ir::Graph g, import_graph(gp, base_dir, depth + 1));
        out.graphs.push_back(std::make_shared<ir::Graph>(std::move(g)));
      }
      break;
    case onnx::AttributeProto::TYPE_PROTO: out.type = T::kTypeInfo; out.type_info = type_from_proto(a.tp()); break;
    default:
      return Status::Unimplemented("attribute '" + a.name() + "' has unsupported type " + std::to_string(type));
  }
  return out;
}

Expected<ir::Graph> import_graph(onnx::GraphProto& g, const std::string& base_dir, int depth) {
  // Nested subgraphs are bounded so that a hostile file cannot exhaust the stack.
  if (depth > 64) return Status::Corruption("subgraphs nested more than 64 deep");
  ir::Graph out;
  out.name = g.name();
  for (auto& tp : *g.mutable_initializer()) {
    auto t = tensor_from_proto(tp, base_dir);
    if (!t.ok()) return t.status().with_context("initializer '" + tp.name() + "'");
    out.initializers[tp.name()] = std::move(t).value();
    release_tensor_data(&tp);
  }
  for (const auto& sp : g.sparse_initializer()) {
    KILN_ASSIGN_OR_RETURN(Tensor t, tensor_from_sparse_proto(sp, base_dir));
    out.initializers[sp.values().name()] = std::move(t);
  }
  auto import_infos = [](const auto& protos, std::vector<ir::ValueInfo>* infos) {
    for (const auto& vi : protos) infos->push_back(ir::ValueInfo{vi.name(), type_from_proto(vi.type())});
  };
  import_infos(g.input(), &out.inputs);
  import_infos(g.output(), &out.outputs);
  import_infos(g.value_info(), &out.value_infos);
  out.nodes.reserve(static_cast<size_t>(g.node_size()));
  for (auto& np : *g.mutable_node()) {
    ir::Node n;
    n.name = np.name();
    n.op_type = np.op_type();
    n.domain = normalize_domain(np.domain());
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (auto& ap : *np.mutable_attribute()) {
      auto a = import_attribute(ap, base_dir, depth);
      if (!a.ok()) return a.status().with_context(n.describe());
      n.attributes.push_back(std::move(a).value());
    }
    out.nodes.push_back(std::move(n));
  }
  return out;
}

Status parse_failed(const std::string& source) {
  return Status::Corruption(source + ": not a valid ONNX model (protobuf parse failed; truncated or not ONNX?)");
}

Status too_large(const std::string& source) {
  return Status::ResourceExhausted(source + ": model files over 2 GiB must keep weights in external data");
}

// The model in `proto`, whose tensors are emptied as they are imported.
Expected<ir::Model> import_model_proto(onnx::ModelProto& proto, const std::string& base_dir,
                                       const std::string& source) {
  if (!proto.has_graph()) return Status::Corruption(source + ": not a valid ONNX model (no graph)");
  ir::Model m;
  m.source = source;
  m.ir_version = proto.ir_version();
  m.producer_name = proto.producer_name();
  m.producer_version = proto.producer_version();
  m.domain = proto.domain();
  m.model_version = proto.model_version();
  m.doc_string = proto.doc_string();
  for (const auto& op : proto.opset_import()) m.opsets[normalize_domain(op.domain())] = op.version();
  // Models before IR version 3 carry no opset_import and mean opset 1.
  if (proto.opset_import_size() == 0) m.opsets[""] = 1;
  for (const auto& kv : proto.metadata_props()) m.metadata[kv.key()] = kv.value();
  auto graph = import_graph(*proto.mutable_graph(), base_dir, 0);
  if (!graph.ok()) return graph.status().with_context(source);
  m.graph = std::move(graph).value();
  return m;
}

}  // namespace

Expected<ir::Model> import_model_bytes(const void* data, size_t size, const std::string& base_dir,
                                       const std::string& source) {
  if (size > static_cast<size_t>(std::numeric_limits<int>::max())) return too_large(source);
  onnx::ModelProto proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return parse_failed(source);
  return import_model_proto(proto, base_dir, source);
}

Expected<ir::Model> import_model_file(const std::string& path) {
  // Parsed straight from the file rather than from a copy of it in memory: the copy would be one more
  // instance of every weight at the load peak (bert_base: 1.26 GB peak RSS with it).
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Status::IOError(path + " is a folder, not a file");
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::IOError("cannot open " + path);
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > static_cast<uintmax_t>(std::numeric_limits<int>::max())) return too_large(path);
  onnx::ModelProto proto;
  if (!proto.ParseFromIstream(&f)) {
    if (f.bad()) return Status::IOError("cannot read " + path);
    return parse_failed(path);
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return import_model_proto(proto, dir, path);
}

}  // namespace kiln::onnx_io
