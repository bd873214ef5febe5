-- wrk script for bench/soak.sh: every connection cycles through the mixed load below, and the
-- run counts answers by status class (5xx must stay 0; 401/429 from the login are expected).
local cookie = os.getenv("SOAK_COOKIE")
local asset = os.getenv("SOAK_ASSET")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  s2, s3, s4, s5 = 0, 0, 0, 0
  local https = { ["X-Forwarded-Proto"] = "https" }
  local function with(extra)
    local h = { ["X-Forwarded-Proto"] = "https" }
    for k, v in pairs(extra) do h[k] = v end
    return h
  end
  requests = {
    wrk.format("GET", "/health", https),
    wrk.format("GET", "/api/health", https),
    wrk.format("GET", "/api/session", with({ Cookie = cookie })),
    wrk.format("GET", "/api/me", with({ Cookie = cookie })),
    wrk.format("POST", "/api/auth/login", with({ ["Content-Type"] = "application/json" }),
      '{"email":"soak@example.com","password":"not the password"}'),
    wrk.format("GET", "/", with({ ["Accept-Encoding"] = "gzip, br" })),
    wrk.format("GET", asset, with({ ["Accept-Encoding"] = "gzip, br" })),
  }
  i = 0
end

function request()
  i = i % #requests + 1
  return requests[i]
end

function response(status, headers, body)
  if status >= 500 then s5 = s5 + 1
  elseif status >= 400 then s4 = s4 + 1
  elseif status >= 300 then s3 = s3 + 1
  else s2 = s2 + 1 end
end

function done(summary, latency, requests)
  local t = { 0, 0, 0, 0 }
  for _, thread in ipairs(threads) do
    t[1] = t[1] + thread:get("s2"); t[2] = t[2] + thread:get("s3")
    t[3] = t[3] + thread:get("s4"); t[4] = t[4] + thread:get("s5")
  end
  io.write(string.format("status 2xx=%d 3xx=%d 4xx=%d 5xx=%d socket_errors=%d\n", t[1], t[2], t[3], t[4],
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("latency p50=%.2fms p95=%.2fms p99=%.2fms\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
