-- wrk script for bench/serve_run.sh: POSTs the file BODY (env) with CONTENT_TYPE and, for v2
-- binary requests, the Inference-Header-Content-Length HLEN; counts non-2xx answers.
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"
local hlen = os.getenv("HLEN")
if hlen and hlen ~= "" then wrk.headers["Inference-Header-Content-Length"] = hlen end
