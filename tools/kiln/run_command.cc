#include <iostream>

#include "commands.h"

namespace kiln::cli {

int run_command(const RunOptions& options) {
  std::cerr << "error: kiln run is being built\n";
  return 1;
}

}  // namespace kiln::cli
