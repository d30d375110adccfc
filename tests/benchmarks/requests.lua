-- wrk script: every request is drawn at random from a request file written by the benchmark.
--
--   wrk ... -s tests/benchmarks/requests.lua http://127.0.0.1:PORT -- REQUEST_FILE
--
-- One request per line, fields separated by tabs:
--   METHOD <TAB> PATH <TAB> BODY ("-" for none) <TAB> Header-Name: value <TAB> ...
-- All requests are formatted once per thread in init(); request() only picks one.
-- done() prints one machine-readable line, "WRK_RESULT k=v ...", which the Python side parses
-- (latencies in microseconds, exact rather than wrk's rounded text).

local requests = {}
local count = 0

function init(args)
  local path = args[1]
  local file = assert(io.open(path, "r"), "cannot open request file " .. tostring(path))
  for line in file:lines() do
    if line ~= "" then
      local fields = {}
      for field in string.gmatch(line, "[^\t]+") do
        fields[#fields + 1] = field
      end
      local headers = {}
      for i = 4, #fields do
        local name, value = string.match(fields[i], "^([^:]+):%s*(.*)$")
        headers[name] = value
      end
      local body = fields[3]
      if body == "-" then body = nil end
      count = count + 1
      requests[count] = wrk.format(fields[1], fields[2], headers, body)
    end
  end
  file:close()
  assert(count > 0, "no requests in " .. path)
  -- A different sequence per thread (os.time() alone would give every thread the same one).
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  if count == 1 then return requests[1] end
  return requests[math.random(count)]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d " ..
    "p50=%d p90=%d p99=%d max=%d mean=%.1f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
