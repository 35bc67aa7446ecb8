-- wrk script for scripts/load-test.sh: POSTs one photo ($PHOTO) to /v1/captions and counts answers by status.
-- Prints one line "RESULT key=value ..." that load-test.sh turns into a table row.
local f = assert(io.open(os.getenv("PHOTO"), "rb"))
local photo = f:read("*a")
f:close()

wrk.method = "POST"
wrk.path = "/v1/captions"
wrk.body = photo
wrk.headers["Content-Type"] = "image/jpeg"

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; busy = 0; other = 0 end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 elseif status == 503 then busy = busy + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local o, b, x = 0, 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("busy"); x = x + t:get("other") end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f ok_per_s=%.2f p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f ok=%d busy503=%d other=%d connect_errors=%d read_errors=%d other_socket_errors=%d\n",
    summary.requests, seconds, o / seconds, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, o, b, x, e.connect, e.read, e.write + e.timeout))
end
