-- wrk script: POST one small OIP v2 JSON inference (the null model takes FP32 of any shape) on
-- every keep-alive request. Usage: wrk -t2 -c64 -d10s -s bench/serve/infer.lua http://127.0.0.1:PORT
wrk.method = "POST"
wrk.path = "/v2/models/synthetic/infer"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs":[{"name":"input","datatype":"FP32","shape":[1,4],"data":[0.1,0.2,0.3,0.4]}],"outputs":[{"name":"top1"}]}'

-- wrk counts responses with a status of 400 or more in errors.status.
function done(summary, latency, requests)
  io.write(string.format("responses 400 or above: %d\n", summary.errors.status))
  for _, p in pairs({50, 90, 99, 99.9}) do
    io.write(string.format("latency p%g: %.3f ms\n", p, latency:percentile(p) / 1000))
  end
end
