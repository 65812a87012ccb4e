// The subcommands of the `kiln` tool. Each returns the process exit code and prints errors as one line
// on stderr.
#pragma once

#include <string>
#include <vector>

namespace kiln::cli {

struct InspectOptions {
  std::string model;
};
int inspect_command(const InspectOptions& options);

struct RunOptions {
  std::string model;
  std::vector<std::string> inputs;  // NAME=FILE or FILE
  std::string output_dir;           // "" = print a summary
  std::string format = "npy";       // npy | pb
};
int run_command(const RunOptions& options);

struct TestOptions {
  std::vector<std::string> paths;
  std::string expected_failures;  // file listing cases expected to fail, with reasons
  std::string filter;             // only cases whose id contains this
  bool quiet = false;             // print failures and the summary only
};
int test_command(const TestOptions& options);

}  // namespace kiln::cli
