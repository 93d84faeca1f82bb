-- wrk script: infer.lua's request, plus each request's own latency as a closed-loop client sees it
-- (answer minus send, CLOCK_MONOTONIC through LuaJIT's ffi), uncorrected: wrk 4 corrects its own
-- histogram for coordinated omission after the run (stats_correct back-fills a long sample with
-- samples at the mean interval), this prints what was measured. One connection per thread, so
-- that each thread's sends and answers alternate. Run from the repository root:
--   wrk -t1 -c1 -d6s -s bench/serve/raw-latency.lua http://127.0.0.1:PORT
dofile("bench/serve/infer.lua")

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } gb_timespec;
int clock_gettime(int clock, gb_timespec* ts);
]]
local ts = ffi.new("gb_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e3 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local sent_at = nil
raw = {} -- this thread's latencies in ms (read by done() through thread:get)

function request()
  sent_at = now_ms()
  return wrk.format()
end

function response(status, headers, body)
  if sent_at then
    raw[#raw + 1] = now_ms() - sent_at
    sent_at = nil
  end
end

local infer_done = done
function done(summary, latency, requests)
  infer_done(summary, latency, requests) -- wrk's own (corrected) percentiles
  local all = {}
  for _, t in ipairs(threads) do
    for _, v in ipairs(t:get("raw")) do all[#all + 1] = v end
  end
  table.sort(all)
  if #all == 0 then return end
  local function pct(p) return all[math.max(1, math.ceil(#all * p / 100))] end
  io.write(string.format("raw requests: %d\n", #all))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("raw latency p%g: %.3f ms\n", p, pct(p)))
  end
  io.write(string.format("raw latency max: %.3f ms\n", all[#all]))
end
