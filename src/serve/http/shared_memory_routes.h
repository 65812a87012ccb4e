// Triton's shared-memory extension endpoints over HTTP (docs/protocol.md, "Shared memory"):
//   GET  /v2/systemsharedmemory[/region/{r}]/status       -> [{"name","key","offset","byte_size"}, ...]
//   POST /v2/systemsharedmemory/region/{r}/register       {"key": s, "offset": n, "byte_size": n} -> {}
//   POST /v2/systemsharedmemory[/region/{r}]/unregister   -> {}
// and the same paths under /v2/cudasharedmemory, where kiln (CPU only) registers nothing: the status
// lists none, unregistering has nothing to do, registering fails and names system shared memory.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "serve/http/http_server.h"
#include "serve/shared_memory/system_shared_memory.h"

namespace kiln::serve::http {

// Answers a request whose split path `p` starts with "v2", "systemsharedmemory" or "cudasharedmemory".
// `body` is the request body (the register request's JSON); `target` the raw path, for messages.
HttpResponse shared_memory_route(SystemSharedMemory& shared_memory, const std::vector<std::string>& p, bool get,
                                 bool post, std::string_view target, std::string_view body);

}  // namespace kiln::serve::http
