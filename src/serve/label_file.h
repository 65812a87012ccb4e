// Triton's label files: the class names of a classification output, named by the output's
// label_filename in config.pbtxt and kept in the model's folder, one label a line.
#pragma once

#include <string>
#include <vector>

#include "kiln/status.h"
#include "serve/model_config.h"

namespace kiln::serve {

// The lines of `path`, in order (line i names class index i; a trailing "\r" is dropped, an empty line
// is a class without a label). InvalidArgument naming the file when there is none, IOError when it
// cannot be read.
Expected<std::vector<std::string>> read_label_file(const std::string& path);

// Reads the label file of every output of `config` that names one, relative to `model_dir`. Errors
// name the model, the output and the file (as read_label_file's).
Status read_output_labels(const std::string& model_dir, ModelConfig* config);

}  // namespace kiln::serve
