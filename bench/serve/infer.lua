-- wrk script: POSTs one KServe v2 infer request over and over, then prints a JSON summary line.
--
--   wrk -t1 -c8 -d10s --latency -s bench/serve/infer.lua http://127.0.0.1:8000/v2/models/M/infer -- BODY [HEADER_LENGTH]
--
-- BODY is a file holding the whole request body: a JSON request, or for the binary tensor data
-- extension the JSON header followed by the raw tensor bytes, in which case HEADER_LENGTH is the
-- header's length in bytes and goes out as Inference-Header-Content-Length.
--
-- The last line of output is
--   {"requests": N, "errors": E, "non_2xx": S, "socket_errors": K, "duration_s": D, "rps": R,
--    "p50_ms": ..., "p90_ms": ..., "p99_ms": ..., "max_ms": ...}
-- requests: responses received (wrk counts a response whatever its status); non_2xx: those with
-- status 400 and up (wrk's own count: kiln answers nothing in 1xx or 3xx to an infer request);
-- socket_errors: connect, read, write and timeout errors. rps counts only good responses. The
-- percentiles are wrk's, over every response. No response() callback is defined: it would make wrk
-- hand every response to Lua and measure Lua rather than the server.

init = function(args)
  if args[1] == nil then
    error("usage: wrk ... -s infer.lua URL -- BODY_FILE [HEADER_LENGTH]")
  end
  local f = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  if args[2] ~= nil then
    wrk.headers["Inference-Header-Content-Length"] = args[2]
    wrk.headers["Content-Type"] = "application/octet-stream"
  else
    wrk.headers["Content-Type"] = "application/json"
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  local seconds = summary.duration / 1e6
  local good = summary.requests - e.status
  io.write(string.format(
    '{"requests": %d, "errors": %d, "non_2xx": %d, "socket_errors": %d, "duration_s": %.3f, "rps": %.1f, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, e.status + socket_errors, e.status, socket_errors, seconds, good / seconds,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
