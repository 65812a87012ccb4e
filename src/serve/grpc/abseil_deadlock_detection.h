// gRPC locks abseil's Mutex on every call, many times. Debian 12 builds abseil without NDEBUG, so each
// of those locks also runs abseil's lock-order deadlock detection, which keeps a global graph of locks
// (GraphCycles::GetId / InsertEdge / RemoveNode): 7% of `kiln serve`'s CPU time under a gRPC load of
// tiny requests (perf, bench/serve/run.py tiny, 2026-12-07). A release build of abseil never runs it.
#pragma once

namespace kiln::serve::grpc_frontend {

// Turns abseil's deadlock detection off for the whole process, as a release build of abseil has it.
// Thread-safe; call it before starting gRPC servers or channels.
void skip_abseil_deadlock_detection();

}  // namespace kiln::serve::grpc_frontend
