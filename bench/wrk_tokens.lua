-- wrk script: rotate through a file of bearer tokens (one per line), one request string per token
-- built once in init(); done() prints one machine-readable BENCH line (latencies in microseconds).
-- Usage: wrk -t1 -c32 -d8s -s bench/wrk_tokens.lua http://127.0.0.1:PORT/bench -- TOKENFILE
local reqs = {}
local i = 0

function init(args)
  local file = args[1]
  if file then
    for line in io.lines(file) do
      if #line > 0 then
        reqs[#reqs + 1] = wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. line })
      end
    end
  end
  if #reqs == 0 then reqs[1] = wrk.format("GET") end
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d status_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d p50_us=%d p99_us=%d mean_us=%.1f max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
