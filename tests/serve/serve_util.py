"""Starts `tandem serve` on a free loopback port and talks to it with urllib and curl."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


class Server:
    """A `tandem serve` child process; stop() sends SIGTERM and waits (kills after a bound)."""

    def __init__(self, tandem, args, startup_s=60):
        self.proc = subprocess.Popen([tandem, "serve", "--host", "127.0.0.1", "--rest_api_port", "0"] + args,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr_lines = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.port = None
        deadline = time.time() + startup_s
        timer = threading.Timer(startup_s, self.proc.kill)
        timer.start()
        try:
            for line in self.proc.stdout:
                m = re.search(r"listening on [^ ]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    break
        finally:
            timer.cancel()
        if self.port is None or time.time() > deadline:
            self.proc.kill()
            raise RuntimeError("tandem serve did not start: " + "".join(self.stderr_lines))
        self.base = f"http://127.0.0.1:{self.port}"

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rest = self.proc.stdout.read()
        return self.proc.returncode, rest

    def request(self, path, body=None, method=None, headers=None, timeout=30):
        """(status, headers, body bytes); body: dict (sent as JSON), str or bytes."""
        data = body
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        req = urllib.request.Request(self.base + path, data=data, method=method or ("POST" if data is not None else "GET"),
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json(self, path, body=None, **kw):
        status, _, data = self.request(path, body, **kw)
        return status, json.loads(data)

    def curl(self, *args):
        """curl's stdout for these arguments against this server (paths start with /)."""
        args = [a.replace("BASE", self.base) for a in args]
        r = subprocess.run(["curl", "-s", "--max-time", "30"] + args, capture_output=True, timeout=60)
        return r.stdout.decode()


def make_models(out_dir):
    subprocess.run([sys.executable, os.path.join(HERE, "make_models.py"), out_dir], check=True)
