-- The authenticated scenarios: the benchmark's get-by-id and GraphQL requests, each sent by the
-- customer it reads, with that customer's token (role `customer`, claim `customer_id`), so the
-- rule `id = claim:customer_id` (and on invoices `customer_id = claim:customer_id`) filters every
-- statement. Tokens come from TOKENS (one per line, line i for customer i).
--   SCENARIO=get-by-id : GET  /customers/{id}
--   SCENARIO=graphql   : POST /graphql getCustomerById(id) { email, address, invoices }
-- done() prints the same RESULT line as ../shared/bench/wrk/scenarios.lua.

local scenario = os.getenv("SCENARIO") or "get-by-id"
local seed = tonumber(os.getenv("SEED") or "4242")
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  table.insert(tokens, line)
end

local gql = "query($id: ID!) { getCustomerById(id: $id) { id name "
  .. "email { address } address { city country } invoices { number status issuedAt } } }"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  math.randomseed(seed + (tid or 0) * 7919)
  non2xx = 0
end

function request()
  local id = math.random(1, #tokens)
  local headers = { ["Authorization"] = "Bearer " .. tokens[id] }
  if scenario == "get-by-id" then
    return wrk.format("GET", "/customers/" .. id, headers)
  end
  headers["Content-Type"] = "application/json"
  local body = string.format('{"query":"%s","variables":{"id":%d}}', gql, id)
  return wrk.format("POST", "/graphql", headers, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
  end
  local e = summary.errors
  local sock = e.connect + e.read + e.write + e.timeout
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT scenario=%s requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d sock_err=%d timeouts=%d\n",
    scenario, summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, bad, sock, e.timeout))
end
