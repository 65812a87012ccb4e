#include "exec/team_threads.h"

#include <omp.h>

namespace kiln {

void release_team_threads() {
  if (omp_in_parallel()) return;
  // Fails (-1) only for a thread inside a region, excluded above; nothing to report either way.
  (void)omp_pause_resource_all(omp_pause_soft);
}

}  // namespace kiln
