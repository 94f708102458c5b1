#!/usr/bin/python3
"""The demo page (web/demo) in headless Chromium.

    /usr/bin/python3 web/test/test_page.py WEB_DIR ARTIFACT_DIR

Serves WEB_DIR on a free loopback port (a server thread in this process, stopped at the end),
opens demo/index.html?test=1 (the page classifies its first test image by itself and writes
the result into #result), with the float32 model and with &model=int8, and checks:
- the page finished (body data-state="done"), its top class and its ten logits equal the native
  `tandem-lite run` on the same image (web/test/demo_expected.json, gen_demo.py) within 1e-5,
  for both models;
- no console error or warning (the page records them in #console-errors under ?test=1), no
  uncaught exception or failed load in Chromium's log, no failed request at the server;
- a screenshot at phone width (ARTIFACT_DIR/demo_phone.png) is a PNG of the window's size.
"""
import functools
import html
import http.server
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading

CHROMIUM = "chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=60000"]
PHONE = (390, 844)


class Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
                      ".json": "application/json", ".tlite": "application/octet-stream"}
    failures = []

    def log_message(self, fmt, *args):
        pass

    def log_error(self, fmt, *args):
        Quiet.failures.append(fmt % args)


def chromium(url, extra, profile):
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    if p.returncode != 0:
        sys.exit(f"chromium exited with {p.returncode}:\n{p.stderr[-3000:]}")
    return p.stdout, p.stderr


def console_errors(stderr):
    # Chromium logs every page console message as "...:INFO:CONSOLE:line] "text", source: url"
    # whatever its level; the page's own record (#console-errors) has the levels. From the log:
    # uncaught exceptions and failed loads, which the browser itself reports.
    return [line for line in stderr.splitlines()
            if ":CONSOLE" in line and re.search(r"Uncaught|Failed to load|Refused to", line)]


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG")
    return struct.unpack(">II", head[16:24])


def check_page(dom, model, top, logits, index):
    """What one --dump-dom shows against the native run; returns the failures."""
    failures = []
    recorded = re.search(r'<pre id="console-errors"[^>]*>([^<]*)</pre>', dom)
    if recorded is None:
        failures.append(f"{model}: the page has no #console-errors record")
    elif recorded.group(1).strip():
        failures.append(f"{model}: console errors on the page:\n  " + html.unescape(recorded.group(1)).strip())
    state = re.search(r'<body[^>]*data-state="([a-z]+)"', dom)
    if not state or state.group(1) != "done":
        status = re.search(r'id="status"[^>]*>([^<]*)<', dom)
        failures.append(f"{model}: page state {state.group(1) if state else 'missing'}; status: "
                        f"{html.unescape(status.group(1)) if status else '?'}")
        return failures
    m = re.search(r'<pre id="result"[^>]*>([^<]*)</pre>', dom)
    result = json.loads(html.unescape(m.group(1)))
    if result["model"] != model:
        failures.append(f"the page ran {result['model']}, expected {model}")
    if result["index"] != index:
        failures.append(f"{model}: first example is test image {result['index']}, expected {index}")
    if result["top"] != top:
        failures.append(f"{model}: top class {result['top']}, native {top}")
    diff = max(abs(a - b) for a, b in zip(result["logits"], logits))
    if len(result["logits"]) != len(logits) or diff > 1e-5:
        failures.append(f"{model}: logits differ from the native run: max |diff| {diff}")
    elif not failures:
        print(f"page, {model}: test image {result['index']}, top class {result['top']}, "
              f"logits within {diff:.2e} of the native run")
    return failures


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    web, art = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.makedirs(art, exist_ok=True)
    for f in ("dist/tandem_lite.mjs", "dist/tandem_lite.wasm", "demo/cnn.tlite", "demo/cnn_int8.tlite", "demo/examples.json"):
        if not os.path.exists(os.path.join(web, f)):
            sys.exit(f"missing {os.path.join(web, f)} (make wasm builds web/dist)")
    with open(os.path.join(web, "test", "demo_expected.json")) as f:
        expected = json.load(f)["examples"][0]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=web))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/demo/index.html?test=1"
    failures = []
    try:
        with tempfile.TemporaryDirectory() as profile:
            dom, log = chromium(url, ["--dump-dom"], profile)
            dom8, log8 = chromium(url + "&model=int8", ["--dump-dom"], profile)
            shot = os.path.join(art, "demo_phone.png")
            if os.path.exists(shot):
                os.remove(shot)
            _, log2 = chromium(url, [f"--screenshot={shot}", f"--window-size={PHONE[0]},{PHONE[1]}",
                                     "--hide-scrollbars"], profile)
    finally:
        server.shutdown()
        server.server_close()

    with open(os.path.join(art, "demo_dom.html"), "w") as f:
        f.write(dom)
    with open(os.path.join(art, "demo_dom_int8.html"), "w") as f:
        f.write(dom8)
    errors = console_errors(log) + console_errors(log8) + console_errors(log2)
    if errors:
        failures.append("console errors:\n  " + "\n  ".join(errors))
    if Quiet.failures:
        failures.append("failed requests: " + "; ".join(Quiet.failures))
    for page, model, key in ((dom, "cnn.tlite", ""), (dom8, "cnn_int8.tlite", "int8_")):
        failures += check_page(page, model, expected[key + "top"], expected[key + "logits"], expected["index"])
    if not os.path.exists(shot):
        failures.append("no screenshot written")
    else:
        size = png_size(shot)
        if size != PHONE:
            failures.append(f"screenshot is {size}, expected {PHONE}")
        elif os.path.getsize(shot) < 10000:
            failures.append(f"screenshot is only {os.path.getsize(shot)} bytes (a blank page?)")
        else:
            print(f"screenshot {shot}: {size[0]}x{size[1]}, {os.path.getsize(shot)} bytes")
    if failures:
        print("FAIL\n" + "\n".join(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
