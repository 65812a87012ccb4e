"""The servers the load benchmark measures: `kiln serve` and, as the ceiling of HTTP on this machine,
nginx answering a static body. Both run as child processes of the benchmark on loopback ports, in
temporary folders, and are stopped by it; nothing is installed as a service.
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request


def pinned(cpus, argv):
    """argv run on the given CPUs (a taskset list such as "1"), or as it is when cpus is empty."""
    return (["taskset", "-c", cpus] + argv) if cpus else argv


def free_port():
    """A loopback port free right now (for nginx, which cannot be told to pick one and say which)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KilnServer:
    """`kiln serve` on ephemeral loopback ports; the ports are read from its banner."""

    def __init__(self, kiln, repository, threads, cpus="", extra=()):
        argv = [kiln, "serve", "--model-repository", repository, "--address", "127.0.0.1", "--http-port", "0",
                "--grpc-port", "0", "--metrics-port", "0", "--threads", str(threads), *extra]
        self.proc = subprocess.Popen(pinned(cpus, argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.log = []
        ports = {}
        deadline = time.time() + 300  # loading resnet18 twice, with warm-up runs, on a busy machine
        while len(ports) < 3:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("kiln serve exited before listening:\n" + "".join(self.log))
            self.log.append(line)
            m = re.match(r"(HTTP|gRPC|metrics).* listening on .*:(\d+)", line)
            if m:
                ports[m.group(1)] = int(m.group(2))
            if time.time() > deadline:
                raise RuntimeError("kiln serve did not print its ports in time:\n" + "".join(self.log))
        self.http_port, self.grpc_port, self.metrics_port = ports["HTTP"], ports["gRPC"], ports["metrics"]
        # Keep reading its output so a full pipe never blocks the server.
        self.reader = threading.Thread(target=lambda: self.log.extend(self.proc.stdout), daemon=True)
        self.reader.start()

    def metrics(self):
        """{(name, model): value} for the per-model counters, and {(name, ""): value} for the rest."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            m = re.match(r'^([a-z_]+)(?:\{([^}]*)\})? ([0-9.eE+-]+)$', line)
            if m:
                model = re.search(r'model="([^"]*)"', m.group(2) or "")
                values[(m.group(1), model.group(1) if model else "")] = float(m.group(3))
        return values

    def settled_metrics(self):
        """Metrics once no request is in flight (a load generator stopped mid-request leaves some)."""
        deadline = time.time() + 30
        while True:
            values = self.metrics()
            if values.get(("kiln_inflight_requests", ""), 0) == 0 or time.time() > deadline:
                return values
            time.sleep(0.05)

    def stop(self):
        """SIGTERM, as an operator would; returns the exit code (0 when it drained cleanly)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.reader.join(timeout=5)
        return code


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 1000000000;
    keepalive_timeout 60s;
    client_max_body_size 64m;
    default_type application/json;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 '{body}'; }}
    }}
}}
"""


class StaticNginx:
    """nginx answering every request, POST included, with `body` (status 200, application/json): the
    fastest an HTTP/1.1 server on this machine answers a request of this size. One process (no master,
    one worker), with its own prefix, config and logs in a temporary folder, on a free loopback port."""

    def __init__(self, nginx, body, cpus=""):
        if "'" in body or "\\" in body:
            raise ValueError("the static body must not contain ' or \\ (nginx string quoting)")
        self.dir = tempfile.TemporaryDirectory(prefix="kiln-nginx-")
        prefix = self.dir.name
        self.port = free_port()
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(prefix=prefix, port=self.port, body=body))
        self.proc = subprocess.Popen(pinned(cpus, [nginx, "-p", prefix, "-c", conf, "-e", f"{prefix}/error.log"]),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("nginx did not start: " + open(f"{prefix}/error.log").read())
                time.sleep(0.05)

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)  # graceful: finish the requests in hand
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.dir.cleanup()
