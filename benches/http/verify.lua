-- wrk script of the HTTP load test (benches/http/run.sh).
--
--   wrk ... -s verify.lua http://127.0.0.1:PORT -- MODE SESSIONS ORIGIN
--
-- MODE       bare | bare-session | verify
-- SESSIONS   a file of lines "sid=<cookie value><TAB>fa_<factor id>", one per
--            logged-in (pending) user
-- ORIGIN     the Origin header to send (http://127.0.0.1:PORT: same origin)
--
-- Every request is a POST with a JSON body, Content-Type: application/json,
-- Origin (same origin) and Sec-Fetch-Site: same-origin, as a browser sends
-- them (they pass mfa_core::http::csrf_check). The requests rotate over the
-- sessions:
--   bare          POST /bare          {}              expects 200
--   bare-session  POST /bare-session  {} + cookie     expects 200
--   verify        POST /mfa/verify    a TOTP verify of the pending login with
--                 a wrong 6-digit code, + cookie      expects 422 invalid_code
-- Any other answer is counted as unexpected and reported by done(), as are
-- answers with "Connection: close" (a server closing keep-alive connections
-- would measure TCP set-up, not the endpoint).

-- A well-formed code no user is expected to have: a match (about 1 in 10^5
-- per user and 30 s window) would complete that login and show up as
-- unexpected 200/409 answers.
local WRONG_CODE = "000000"

local requests = {}
local next_request = 0
local expected_status = 200
local expected_body = nil

-- Per-thread counters, read by done() through thread:get().
expected_count = 0
unexpected_count = 0
unexpected_statuses = {}
closed_count = 0

function init(args)
   local mode, sessions, origin = args[1], args[2], args[3]
   if mode == nil or sessions == nil or origin == nil then
      error("usage: wrk ... -s verify.lua URL -- bare|bare-session|verify SESSIONS ORIGIN")
   end
   local path, body_for
   if mode == "bare" then
      path = "/bare"
      body_for = function(_) return "{}" end
   elseif mode == "bare-session" then
      path = "/bare-session"
      body_for = function(_) return "{}" end
   elseif mode == "verify" then
      path = "/mfa/verify"
      expected_status = 422
      expected_body = '"error":"invalid_code"'
      body_for = function(factor)
         return string.format('{"method":"totp","factor_id":"%s","code":"%s"}', factor, WRONG_CODE)
      end
   else
      error("unknown mode " .. mode)
   end
   for line in io.lines(sessions) do
      local cookie, factor = line:match("^(%S+)\t(%S+)$")
      if cookie then
         local headers = {
            ["Content-Type"] = "application/json",
            ["Origin"] = origin,
            ["Sec-Fetch-Site"] = "same-origin",
         }
         if mode ~= "bare" then
            headers["Cookie"] = cookie
         end
         requests[#requests + 1] = wrk.format("POST", path, headers, body_for(factor))
      end
   end
   if #requests == 0 then
      error("no sessions in " .. sessions)
   end
end

function request()
   next_request = next_request % #requests + 1
   return requests[next_request]
end

function response(status, headers, body)
   if status == expected_status and (expected_body == nil or string.find(body, expected_body, 1, true)) then
      expected_count = expected_count + 1
   else
      unexpected_count = unexpected_count + 1
      unexpected_statuses[status] = (unexpected_statuses[status] or 0) + 1
   end
   local connection = headers["connection"] or headers["Connection"]
   if connection and string.lower(connection) == "close" then
      closed_count = closed_count + 1
   end
end

local threads = {}

function setup(thread)
   threads[#threads + 1] = thread
end

function done(summary, latency, _)
   local ok, bad, closed, detail = 0, 0, 0, {}
   for _, t in ipairs(threads) do
      ok = ok + t:get("expected_count")
      bad = bad + t:get("unexpected_count")
      closed = closed + t:get("closed_count")
      for status, count in pairs(t:get("unexpected_statuses")) do
         detail[#detail + 1] = status .. ":" .. count
      end
   end
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_s=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d "
         .. "expected=%d unexpected=%d unexpected_statuses=%s connection_close=%d "
         .. "errors_connect=%d errors_read=%d errors_write=%d errors_timeout=%d\n",
      summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      ok, bad, (#detail > 0) and table.concat(detail, ",") or "none", closed,
      e.connect, e.read, e.write, e.timeout))
end
