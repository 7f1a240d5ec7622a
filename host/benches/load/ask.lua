-- wrk script: POST /v1/ask with the sample statement (path in DJINN_STATEMENT).
local f = assert(io.open(os.getenv("DJINN_STATEMENT") or "examples/statement.csv", "r"))
local csv = f:read("*a")
f:close()
local function esc(s)
  return (s:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub('\n', '\\n'))
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"question":"How am I doing?","context":{"statement":{"csv":"' .. esc(csv) .. '"}}}'

local non200 = 0
response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("requests %d, errors %d, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000))
end
