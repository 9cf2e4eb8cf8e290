"""What the benchmarks share: stopping a server they started, and wrk's side of a load (its Lua report and the
parsing of it). The load scripts end with ``WRK_REPORT``: it counts each thread's answers by HTTP status and
prints one ``RESULT {json}`` line that ``wrk_result`` reads."""

import json
import signal
import subprocess

WRK_REPORT = """
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses")) do counts[code] = (counts[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(counts) do table.insert(parts, string.format('"%s": %d', code, n)) end
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
    .. '"statuses": {%s}}\\n', summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(parts, ", ")))
end
"""


def wrk_result(stdout: str, stderr: str = "", returncode: int = 0) -> dict:
    """wrk's RESULT line, with requests/s and ``errors``: socket errors, timeouts and answers other than 2xx/3xx."""
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if returncode or not lines:
        raise SystemExit(f"wrk failed ({returncode}):\n{stdout}\n{stderr}")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    bad = sum(n for code, n in result["statuses"].items() if not 200 <= int(code) < 400)
    result["errors"] = bad + result["connect"] + result["read"] + result["write"] + result["timeout"]
    return result


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
