// Stopping a run early, as kernels see it: RunOptions::deadline and RunOptions::cancelled reach a
// kernel through the frame it runs in, so a kernel that iterates (Loop, Scan) can stop between
// iterations without knowing which run it belongs to.
#pragma once

#include "kiln/status.h"

namespace kiln {

class Frame;

// OK while the run that `frame` belongs to may go on; DeadlineExceeded once its deadline has passed,
// Cancelled once its cancellation flag is set. The message names only the reason; callers add where
// (the iteration, the node). A null frame, or a run without either option, is always OK and costs a
// pointer test. Defined in exec/, which knows frames.
Status check_run_stop(const Frame* frame);

}  // namespace kiln
