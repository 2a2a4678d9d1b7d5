-- POST a NewWorkItemVersionComplete with a unique eventId per request; report latency as JSON.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end

function init(args)
  token = os.getenv("BENCH_TOKEN") or ""
  api = os.getenv("BENCH_API") or "http://127.0.0.1:1/HdaApi/rest/v1.1"
  run = os.getenv("BENCH_RUN") or "0"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
end

function request()
  counter = counter + 1
  local event = string.format("bench-%s-%d-%d", run, id, counter)
  local body = string.format(
    '{"eventId":"%s","eventType":"NewWorkItemVersionComplete","createdDate":"2026-11-29T10:00:00.0000000Z",' ..
    '"createdBy":{"id":"c955a8fa","loginName":"bench@example.com","accountType":"UserAccount"},' ..
    '"data":{"workItemId":"wi-%s","workItemVersionId":"v-%s","workItemName":"Bench",' ..
    '"documents":[{"id":"d-%s","name":"Contract","url":"%s/workitems/wi-%s/documents/d-%s/content"}]}}',
    event, event, event, event, api, event, event)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'WRK_JSON {"requests": %d, "seconds": %.3f, "errors": %d, "non2xx": %d, "p50_ms": %.3f, "p99_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, errors, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
