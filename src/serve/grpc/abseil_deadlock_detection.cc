#include "serve/grpc/abseil_deadlock_detection.h"

#include <absl/synchronization/mutex.h>

namespace kiln::serve::grpc_frontend {

void skip_abseil_deadlock_detection() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); }

}  // namespace kiln::serve::grpc_frontend
