-- Replays pre-signed HTTP requests with wrk, each exactly once, and records every answer.
--
-- Environment (set by bench/webhooks):
--   BENCH_DIR    folder holding requests-<n>.bin (one per wrk thread, n from 1) and
--                receiving done-<n> markers, results.txt and summary.txt
--   BENCH_CYCLE  "1": start over when the requests run out (only for the no-op baseline)
-- requests-<n>.bin is a sequence of "<byte length>\n<raw HTTP/1.1 request>".
--
-- Each connection sends its next request only after the previous answer. Once a thread has
-- handed out all its requests, delay() parks its connections (nothing more is sent); when the
-- last answer arrives the thread stops and writes done-<n>, so the driver can end wrk without
-- waiting for -d. Answers are matched to requests by the webhook id echoed in the body.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } kb_timespec;
  int clock_gettime(int clk_id, kb_timespec *tp);
]]
local ts = ffi.new("kb_timespec")

local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local dir = os.getenv("BENCH_DIR")
-- BENCH_CYCLE=1 (baseline, equal-duration runs): start over when the requests run out.
local cycle = os.getenv("BENCH_CYCLE") == "1"
local PARK_MS = 3600 * 1000

-- main state: give each thread its number and keep them for done()
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

-- thread state; globals, so that done() can read them with thread:get()
local requests = {}
local total, reserved = 0, 0
issued, answered, extra = 0, 0, 0
statuses = {}
answers = {}   -- webhook id -> "202:scheduled" or "202:recorded,200:recorded" ...
unmatched = 0  -- answers without a webhook id in the body
first_us, last_us = 0, 0
finished = 0
local filler = nil

function init(args)
  local path = string.format("%s/requests-%d.bin", dir, id)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    requests[#requests + 1] = data:sub(nl + 1, nl + len)
    pos = nl + len + 1
  end
  total = #requests
  if total == 0 then
    finished = 1
    local marker = io.open(string.format("%s/done-%d", dir, id), "w")
    marker:write("done\n")
    marker:close()
    wrk.thread:stop()
  end
end

function delay()
  if reserved < total or (cycle and total > 0) then
    reserved = reserved + 1
    return 0
  end
  return PARK_MS
end

function request()
  filler = filler or wrk.format("GET", "/healthz")
  if reserved == 0 then
    -- wrk calls request() once before the run to check the script: send nothing for it
    return filler
  end
  if issued >= reserved then
    -- not a reserved slot (a reconnect): never repeat a webhook, send a harmless GET instead
    extra = extra + 1
    return filler
  end
  issued = issued + 1
  if first_us == 0 then
    first_us = now_us()
  end
  return requests[(issued - 1) % total + 1]
end

function response(status, headers, body)
  answered = answered + 1
  last_us = now_us()
  statuses[status] = (statuses[status] or 0) + 1
  local wid = body and body:match('"webhook_id"%s*:%s*"([^"]+)"')
  if wid then
    local outcome = body:match('"outcome"%s*:%s*"([^"]+)"') or "-"
    local entry = status .. ":" .. outcome
    local seen = answers[wid]
    answers[wid] = seen and (seen .. "," .. entry) or entry
  else
    unmatched = unmatched + 1
  end
  if not cycle and answered >= total then
    finished = 1
    local f = io.open(string.format("%s/done-%d", dir, id), "w")
    f:write("done\n")
    f:close()
    wrk.thread:stop()
  end
end

-- main state again, after all threads have stopped
function done(summary, latency, requests_)
  local out = assert(io.open(dir .. "/results.txt", "w"))
  local s = assert(io.open(dir .. "/summary.txt", "w"))
  local first, last, sent, got, nomatch, fin, more = nil, 0, 0, 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    local t_first = thread:get("first_us")
    if t_first and t_first > 0 and (first == nil or t_first < first) then
      first = t_first
    end
    local t_last = thread:get("last_us") or 0
    if t_last > last then
      last = t_last
    end
    sent = sent + (thread:get("issued") or 0)
    got = got + (thread:get("answered") or 0)
    nomatch = nomatch + (thread:get("unmatched") or 0)
    fin = fin + (thread:get("finished") or 0)
    more = more + (thread:get("extra") or 0)
    for code, n in pairs(thread:get("statuses") or {}) do
      s:write(string.format("status %s %d\n", code, n))
    end
    for wid, codes in pairs(thread:get("answers") or {}) do
      out:write(wid, " ", codes, "\n")
    end
  end
  out:close()
  s:write(string.format("threads %d\n", #threads))
  s:write(string.format("threads_finished %d\n", fin))
  s:write(string.format("extra %d\n", more))
  s:write(string.format("sent %d\n", sent))
  s:write(string.format("answered %d\n", got))
  s:write(string.format("unmatched %d\n", nomatch))
  s:write(string.format("active_us %d\n", (first and last > first) and (last - first) or 0))
  s:write(string.format("wrk_duration_us %d\n", summary.duration))
  s:write(string.format("wrk_requests %d\n", summary.requests))
  for _, k in ipairs({ "connect", "read", "write", "status", "timeout" }) do
    s:write(string.format("error_%s %d\n", k, summary.errors[k]))
  end
  s:write(string.format("latency_mean_us %.1f\n", latency.mean))
  s:write(string.format("latency_max_us %d\n", latency.max))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    s:write(string.format("latency_p%s_us %d\n", tostring(p), latency:percentile(p)))
  end
  s:close()
end
