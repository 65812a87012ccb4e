// `kiln run MODEL -i NAME=FILE ... [-o DIR] [--format npy|pb] [--profile]`: runs a model once.
//
// Inputs are .npy files or ONNX TensorProto / SequenceProto / OptionalProto .pb files. An input given
// without NAME= goes to the model input its .pb names, else to the next model input that has no
// default and is not given yet. Outputs are written to DIR (as <name>.npy, or output_K.pb in the ONNX
// test-data layout that `kiln test` reads), or summarized on stdout. --profile then prints the kernel time
// per operator type of that one run (a first run: it includes any one-time work kernels do on first use).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "commands.h"
#include "ir/graph.h"
#include "kiln/session.h"
#include "onnx/npy.h"
#include "onnx/tensor_proto.h"
#include "op_profile.h"

namespace fs = std::filesystem;

namespace kiln::cli {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// Prints one "error: ..." line and returns the exit code.
int fail(int code, const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return code;
}

ir::TypeInfo type_of(const IoInfo& io) {
  ir::TypeInfo tensor;
  tensor.kind = ir::TypeInfo::Kind::kTensor;
  tensor.elem_type = io.dtype;
  if (io.kind != IoInfo::Kind::kSequence && io.kind != IoInfo::Kind::kOptional) return tensor;
  ir::TypeInfo t;
  t.kind = io.kind == IoInfo::Kind::kSequence ? ir::TypeInfo::Kind::kSequence : ir::TypeInfo::Kind::kOptional;
  t.element = std::make_shared<ir::TypeInfo>(tensor);
  return t;
}

std::string input_names(const Session& s) {
  std::string out;
  for (const IoInfo& io : s.inputs()) out += (out.empty() ? "" : ", ") + io.name;
  return out.empty() ? "none" : out;
}

const IoInfo* find_input(const Session& s, const std::string& name) {
  for (const IoInfo& io : s.inputs()) {
    if (io.name == name) return &io;
  }
  return nullptr;
}

bool has_extension(const std::string& path, const char* ext) { return fs::path(path).extension() == ext; }

// One -i argument.
struct InputSpec {
  std::string name;  // "" when given as FILE only
  std::string file;
};

Expected<InputSpec> parse_spec(const Session& s, const std::string& arg) {
  const size_t eq = arg.find('=');
  std::error_code ec;
  // "NAME=FILE", unless the text before '=' is no input name and the whole argument is a file.
  if (eq == std::string::npos || (!find_input(s, arg.substr(0, eq)) && fs::is_regular_file(arg, ec))) {
    return InputSpec{"", arg};
  }
  if (eq == 0 || eq + 1 == arg.size()) {
    return Status::InvalidArgument("-i '" + arg + "': expected NAME=FILE or FILE");
  }
  return InputSpec{arg.substr(0, eq), arg.substr(eq + 1)};
}

// Reads one input file; `decl` (may be null) is the model input it is expected to feed, whose type
// says which protobuf message a .pb holds.
Expected<onnx_io::NamedValueFromFile> read_input(const std::string& file, const IoInfo* decl) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return Status::NotFound(file + ": no such file");
  if (has_extension(file, ".npy")) {
    KILN_ASSIGN_OR_RETURN(Tensor t, onnx_io::read_npy(file));
    return onnx_io::NamedValueFromFile{"", Value(std::move(t))};
  }
  if (has_extension(file, ".pb")) return onnx_io::read_value_pb(file, decl ? type_of(*decl) : ir::TypeInfo{});
  return Status::InvalidArgument(file + ": unknown input file type (expected .npy or .pb)");
}

// Resolves every -i argument to a named value, in the order the model declares its inputs.
Expected<std::vector<NamedValue>> gather_inputs(const Session& s, const std::vector<std::string>& args) {
  std::vector<InputSpec> specs;
  for (const std::string& a : args) {
    KILN_ASSIGN_OR_RETURN(InputSpec spec, parse_spec(s, a));
    specs.push_back(std::move(spec));
  }
  std::map<std::string, std::string> given;  // input name -> file that feeds it
  std::vector<NamedValue> out;
  auto bind = [&](const std::string& name, const std::string& file, Value v) -> Status {
    auto [it, inserted] = given.emplace(name, file);
    if (!inserted) return Status::InvalidArgument("input '" + name + "' is given twice (" + it->second + " and " + file + ")");
    out.push_back(NamedValue{name, std::move(v)});
    return Status::OK();
  };
  // Explicit names first, so that positional files skip the inputs they fill.
  for (const InputSpec& spec : specs) {
    if (spec.name.empty()) continue;
    const IoInfo* decl = find_input(s, spec.name);
    if (!decl) {
      return Status::NotFound("-i " + spec.name + "=" + spec.file + ": the model has no input named '" + spec.name +
                              "' (inputs: " + input_names(s) + ")");
    }
    auto v = read_input(spec.file, decl);
    if (!v.ok()) return v.status().with_context("input '" + spec.name + "'");
    KILN_RETURN_IF_ERROR(bind(spec.name, spec.file, std::move(v->value)));
  }
  auto next_free = [&]() -> const IoInfo* {
    for (const IoInfo& io : s.inputs()) {
      if (!io.has_default && !given.count(io.name)) return &io;
    }
    return nullptr;
  };
  for (const InputSpec& spec : specs) {
    if (!spec.name.empty()) continue;
    const IoInfo* decl = next_free();
    auto v = read_input(spec.file, decl);
    if (!v.ok()) return v.status();
    // A .pb that names a model input feeds that input (re-read if it expects another kind of value).
    if (const IoInfo* named = v->name.empty() ? nullptr : find_input(s, v->name)) {
      if (named != decl && (!decl || named->kind != decl->kind)) {
        v = read_input(spec.file, named);
        if (!v.ok()) return v.status();
      }
      decl = named;
    }
    if (!decl) {
      return Status::InvalidArgument(spec.file + ": too many inputs; every model input is already given (inputs: " +
                                     input_names(s) + ")");
    }
    KILN_RETURN_IF_ERROR(bind(decl->name, spec.file, std::move(v->value)));
  }
  return out;
}

// "<name>" with characters outside [A-Za-z0-9._-] replaced, safe as a file name in DIR.
std::string file_stem(const std::string& name, size_t index) {
  std::string s = name;
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  }
  if (s.empty() || s == "." || s == "..") s = "output_" + std::to_string(index);
  return s;
}

Status write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return Status::IOError("cannot create " + path.string());
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) return Status::IOError("cannot write " + path.string());
  return Status::OK();
}

std::string describe(const Value& v) {
  if (v.is_none()) return "none (empty optional)";
  if (v.is_sequence()) {
    return "sequence of " + std::to_string(v.sequence_items().size()) + " " +
           std::string(data_type_name(v.sequence_type())) + " tensors";
  }
  return std::string(data_type_name(v.tensor().dtype())) + " " + shape_to_string(v.tensor().shape());
}

Status write_outputs(const std::vector<NamedValue>& outputs, const std::string& dir, const std::string& format) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir, ec)) return Status::IOError("cannot create output folder " + dir);
  std::set<std::string> used;
  for (size_t k = 0; k < outputs.size(); ++k) {
    const NamedValue& o = outputs[k];
    fs::path path;
    if (format == "pb") {
      path = fs::path(dir) / ("output_" + std::to_string(k) + ".pb");
      KILN_ASSIGN_OR_RETURN(std::string bytes, onnx_io::serialize_value_pb(o.value, o.name));
      KILN_RETURN_IF_ERROR(write_bytes(path, bytes));
    } else {
      if (!o.value.is_tensor()) {
        return Status::InvalidArgument("output '" + o.name + "' is a " + describe(o.value) +
                                       ", which .npy cannot hold; use --format pb");
      }
      std::string stem = file_stem(o.name, k);
      if (!used.insert(stem).second) stem.append("_").append(std::to_string(k));  // names that sanitize alike
      used.insert(stem);
      path = fs::path(dir) / (stem + ".npy");
      KILN_RETURN_IF_ERROR(onnx_io::write_npy(path.string(), o.value.tensor()));
    }
    std::cout << "wrote " << path.string() << " (" << o.name << ": " << describe(o.value) << ")\n";
  }
  return Status::OK();
}

// Element i as text.
std::string element(const Tensor& t, int64_t i) {
  char buf[64];
  auto num = [&](double v) {
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return std::string(buf);
  };
  switch (t.dtype()) {
    case DataType::kFloat32: return num(t.data<float>()[i]);
    case DataType::kFloat64: return num(t.data<double>()[i]);
    case DataType::kFloat16: return num(t.data<Float16>()[i]);
    case DataType::kBFloat16: return num(t.data<BFloat16>()[i]);
    case DataType::kComplex64: return "(" + num(t.data<float>()[2 * i]) + "," + num(t.data<float>()[2 * i + 1]) + "j)";
    case DataType::kComplex128:
      return "(" + num(t.data<double>()[2 * i]) + "," + num(t.data<double>()[2 * i + 1]) + "j)";
    case DataType::kInt8: return std::to_string(t.data<int8_t>()[i]);
    case DataType::kInt16: return std::to_string(t.data<int16_t>()[i]);
    case DataType::kInt32: return std::to_string(t.data<int32_t>()[i]);
    case DataType::kInt64: return std::to_string(t.data<int64_t>()[i]);
    case DataType::kUInt8: return std::to_string(t.data<uint8_t>()[i]);
    case DataType::kUInt16: return std::to_string(t.data<uint16_t>()[i]);
    case DataType::kUInt32: return std::to_string(t.data<uint32_t>()[i]);
    case DataType::kUInt64: return std::to_string(t.data<uint64_t>()[i]);
    case DataType::kBool: return t.data<bool>()[i] ? "true" : "false";
    case DataType::kString: {
      const std::string& s = t.data<std::string>()[i];
      return "\"" + (s.size() > 40 ? s.substr(0, 40) + "..." : s) + "\"";
    }
    case DataType::kUndefined: break;
  }
  return "?";
}

double as_double(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: return t.data<float>()[i];
    case DataType::kFloat64: return t.data<double>()[i];
    case DataType::kFloat16: return t.data<Float16>()[i];
    case DataType::kBFloat16: return t.data<BFloat16>()[i];
    default: return 0;
  }
}

void print_tensor(const Tensor& t, const std::string& indent) {
  const int64_t n = t.size();
  const int64_t shown = std::min<int64_t>(n, 8);
  std::cout << indent << "values:";
  for (int64_t i = 0; i < shown; ++i) std::cout << (i ? ", " : " ") << element(t, i);
  if (n > shown) std::cout << ", ... (" << n << " in all)";
  std::cout << "\n";
  // A classifier's scores: [C] or [N, C] floats; report the top class of each row.
  const bool floating = t.dtype() == DataType::kFloat32 || t.dtype() == DataType::kFloat64 ||
                        t.dtype() == DataType::kFloat16 || t.dtype() == DataType::kBFloat16;
  if (!floating || (t.rank() != 1 && t.rank() != 2) || t.dim(t.rank() - 1) <= 1) return;
  const int64_t classes = t.dim(t.rank() - 1);
  const int64_t rows = t.rank() == 2 ? t.dim(0) : 1;
  std::cout << indent << "argmax:";
  for (int64_t r = 0; r < rows && r < 8; ++r) {
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c) {
      if (as_double(t, r * classes + c) > as_double(t, r * classes + best)) best = c;
    }
    std::cout << (r ? ", " : " ") << best;
  }
  if (rows > 8) std::cout << ", ... (" << rows << " rows)";
  std::cout << "\n";
}

void print_outputs(const std::vector<NamedValue>& outputs) {
  for (const NamedValue& o : outputs) {
    std::cout << o.name << ": " << describe(o.value) << "\n";
    if (o.value.is_tensor()) print_tensor(o.value.tensor(), "  ");
    if (o.value.is_sequence()) {
      const auto& items = o.value.sequence_items();
      for (size_t i = 0; i < items.size() && i < 8; ++i) {
        std::cout << "  [" << i << "] " << describe(Value(items[i])) << "\n";
        print_tensor(items[i], "    ");
      }
    }
  }
}

int run(const RunCommandOptions& options) {
  auto session = Session::load(options.model);
  if (!session.ok()) return fail(kExitError, session.status().message());
  const Session& s = **session;
  auto inputs = gather_inputs(s, options.inputs);
  if (!inputs.ok()) {
    const bool usage = inputs.status().message().rfind("-i '", 0) == 0;
    return fail(usage ? kExitUsage : kExitError, inputs.status().message());
  }
  OpProfile profile;
  const RunOptions run_options = options.profile ? profile.run_options() : RunOptions();
  const auto start = std::chrono::steady_clock::now();
  auto outputs = s.run(*inputs, run_options);
  const double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!outputs.ok()) return fail(kExitError, outputs.status().message());
  if (options.output_dir.empty()) {
    print_outputs(*outputs);
  } else {
    Status st = write_outputs(*outputs, options.output_dir, options.format);
    if (!st.ok()) return fail(kExitError, st.message());
  }
  if (options.profile) {
    std::cout << "\nprofile of this run:\n";
    profile.print(std::cout, wall_ms, 1, static_cast<size_t>(options.profile_nodes));
  }
  return 0;
}

}  // namespace

int run_command(const RunCommandOptions& options) {
  // Errors are Status values; this only keeps an out-of-memory exception from aborting the process.
  try {
    return run(options);
  } catch (const std::exception& e) {
    return fail(kExitError, e.what());
  }
}

}  // namespace kiln::cli
