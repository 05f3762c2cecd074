-- wrk pacing: each connection waits `delay_ms` between requests, so
-- C connections give at most C * 1000 / delay_ms requests per second
-- (an open-loop rate wrk 4 lacks). Set by WRK_DELAY_MS.
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "20")
function delay()
  return delay_ms
end
