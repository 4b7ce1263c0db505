-- wrk script: sends prepared, signed Twilio webhooks and checks every response.
--
-- wrk -s bench/check.lua URL -- REQUESTS PATH EXPECTED
--   REQUESTS  file of "signature<TAB>body" lines, one call each, sent in order
--   PATH      the request path (with its query)
--   EXPECTED  file holding the exact TwiML every response must carry
--
-- A response whose status is not 200 or whose body differs from EXPECTED counts as bad;
-- `done` prints one JSON line that run.py reads. When the calls run out, the list starts
-- again (counted as `wrapped`): run.py sizes the files so that it does not happen.

local prepared, expected, index, threads = {}, "", 0, {}
bad, wrapped = 0, 0  -- globals: `done` reads them from each thread

function setup(thread)
  table.insert(threads, thread)
end

local function slurp(name)
  local file = assert(io.open(name, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

function init(args)
  local path = args[2]
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    local headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Twilio-Signature"] = line:sub(1, tab - 1),
    }
    prepared[#prepared + 1] = wrk.format("POST", path, headers, line:sub(tab + 1))
  end
  expected = slurp(args[3])
end

function request()
  index = index + 1
  if index > #prepared then
    index, wrapped = 1, wrapped + 1
  end
  return prepared[index]
end

function response(status, headers, body)
  if status ~= 200 or body ~= expected then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad, total_wrapped = 0, 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
    total_wrapped = total_wrapped + thread:get("wrapped")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bad": %d, "wrapped": %d, ' ..
    '"errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, total_bad, total_wrapped,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
