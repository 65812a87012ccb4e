// The in-memory graph kiln imports models into, and the optimizer and planner work on.
//
// It mirrors ONNX's GraphProto closely (values are named by strings, nodes list their input and output
// names, an empty input name means "omitted optional input") but owns converted tensors and no protobuf.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/tensor.h"

namespace kiln::ir {

struct Graph;

// One dimension of a declared shape: a fixed size, a named symbol ("batch"), or unknown (-1, no name).
struct Dim {
  int64_t value = -1;
  std::string symbol;
  bool is_fixed() const { return value >= 0; }
};

// A declared type (ONNX TypeProto): a tensor with element type and optional shape, or a sequence /
// optional wrapping another type.
struct TypeInfo {
  enum class Kind { kUnknown, kTensor, kSequence, kOptional, kMap, kSparseTensor };
  Kind kind = Kind::kUnknown;
  DataType elem_type = DataType::kUndefined;   // tensors only
  std::optional<std::vector<Dim>> shape;       // tensors only; nullopt = rank unknown
  std::shared_ptr<TypeInfo> element;           // sequence and optional only

  std::string to_string() const;  // "float[batch, 3, 224, 224]", "seq(int64[?])"
};

struct ValueInfo {
  std::string name;
  TypeInfo type;
};

struct Attribute {
  enum class Type { kUndefined, kFloat, kInt, kString, kTensor, kGraph, kFloats, kInts, kStrings, kTensors,
                    kGraphs, kTypeInfo, kTypeInfos };
  std::string name;
  Type type = Type::kUndefined;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;
  TypeInfo type_info;

  // Typed constructors, for passes that create nodes and for tests.
  static Attribute of_int(std::string name, int64_t v);
  static Attribute of_ints(std::string name, std::vector<int64_t> v);
  static Attribute of_float(std::string name, float v);
  static Attribute of_floats(std::string name, std::vector<float> v);
  static Attribute of_string(std::string name, std::string v);
  static Attribute of_strings(std::string name, std::vector<std::string> v);
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" for the default ONNX domain
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<Attribute> attributes;

  // "Conv 'conv1'" or "Conv (node 3)": how errors name this node.
  std::string describe() const;

  const Attribute* find_attr(const std::string& attr_name) const;
  bool has_attr(const std::string& attr_name) const { return find_attr(attr_name) != nullptr; }
  // Typed attribute reads; return `fallback` (or empty) when the attribute is absent.
  int64_t attr_int(const std::string& attr_name, int64_t fallback) const;
  float attr_float(const std::string& attr_name, float fallback) const;
  std::string attr_string(const std::string& attr_name, const std::string& fallback = "") const;
  std::vector<int64_t> attr_ints(const std::string& attr_name) const;
  std::vector<float> attr_floats(const std::string& attr_name) const;
  std::vector<std::string> attr_strings(const std::string& attr_name) const;
  const Tensor* attr_tensor(const std::string& attr_name) const;
  const Graph* attr_graph(const std::string& attr_name) const;

  // Number of inputs actually given (trailing empty names do not count).
  size_t num_present_inputs() const;
};

struct Graph {
  std::string name;
  std::vector<Node> nodes;
  std::vector<ValueInfo> inputs;   // formal inputs; some may also have an initializer (a default)
  std::vector<ValueInfo> outputs;
  std::vector<ValueInfo> value_infos;
  std::map<std::string, Tensor> initializers;
  // Sparse initializers are densified at import and stored in `initializers`.
};

// Everything a ModelProto says that kiln keeps.
struct Model {
  int64_t ir_version = 0;
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  int64_t model_version = 0;
  std::string doc_string;
  std::map<std::string, int64_t> opsets;  // domain ("" = ai.onnx) -> version
  std::map<std::string, std::string> metadata;
  Graph graph;
  std::string source;  // file path, or "<bytes>"; used to name the model in errors
};

}  // namespace kiln::ir
