#include "serve/label_file.h"

#include <filesystem>
#include <fstream>

namespace kiln::serve {

Expected<std::vector<std::string>> read_label_file(const std::string& path) {
  std::error_code ec;
  // A config naming a file that is not there is a mistake in the repository, like a config output the
  // model lacks: InvalidArgument, where a file that cannot be read is IOError.
  if (!std::filesystem::is_regular_file(path, ec)) return Status::InvalidArgument("no label file " + path);
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot read label file " + path);
  std::vector<std::string> labels;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // written on Windows
    labels.push_back(std::move(line));
  }
  if (in.bad()) return Status::IOError("cannot read label file " + path);
  return labels;
}

Status read_output_labels(const std::string& model_dir, ModelConfig* config) {
  for (TensorConfig& out : config->outputs) {
    if (out.label_filename.empty()) continue;
    const std::string path = (std::filesystem::path(model_dir) / out.label_filename).string();
    auto labels = read_label_file(path);
    if (!labels.ok()) return labels.status().with_context("model '" + config->name + "' output '" + out.name + "'");
    out.labels = std::move(labels).value();
  }
  return Status::OK();
}

}  // namespace kiln::serve
