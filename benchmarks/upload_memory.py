"""Peak memory of the web server while it receives a large model upload.

Starts gunicorn (one sync worker, as in production) on a private data directory, signs in, and
streams multipart uploads of 1 MiB and 1 GiB to the model upload view over a real HTTP
connection. Reports the worker's peak resident memory (VmHWM) before and after each upload, and
the growth as a fraction of the file size: a streaming upload grows by a few MiB whatever the
file size, a buffered one by the whole file.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024**2
SIZES = {"1 MiB": MiB, "1 GiB": 1024 * MiB}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _vm_hwm_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))


def _worker_pid(master: int) -> int:
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


class Session:
    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def _headers(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def _keep_cookies(self, response) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            name, value = header.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value

    def request(self, method: str, path: str, body=None, headers=None, length=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        connection.putrequest(method, path)
        for key, value in {**self._headers(), **(headers or {})}.items():
            connection.putheader(key, value)
        if length is not None:
            connection.putheader("Content-Length", str(length))
        connection.endheaders()
        if body is not None:
            for chunk in body:
                connection.send(chunk)
        response = connection.getresponse()
        response.read()
        self._keep_cookies(response)
        connection.close()
        return response

    def form(self, path: str, fields: dict[str, str]):
        body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": self.cookies["csrftoken"]}).encode()
        return self.request(
            "POST",
            path,
            [body],
            {"Content-Type": "application/x-www-form-urlencoded", "Referer": f"http://127.0.0.1:{self.port}{path}"},
            len(body),
        )


def _multipart(fields: dict[str, str], file_path: Path, boundary: str):
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="upload"; filename="{file_path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def chunks():
        yield head
        with file_path.open("rb") as handle:
            while chunk := handle.read(MiB):
                yield chunk
        yield tail

    return chunks(), len(head) + file_path.stat().st_size + len(tail)


def run() -> list[dict]:
    data_dir = Path(tempfile.mkdtemp(prefix="riskapp-bench-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"DEBUG": "1", "RISKAPP_DATA_DIR": str(data_dir), "RISKAPP_UPLOAD_MAX_BYTES": str(2 * 1024 * MiB)})
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    password = secrets.token_urlsafe(12)
    subprocess.run(
        [
            python,
            "manage.py",
            "shell",
            "-v",
            "0",
            "-c",
            "from django.contrib.auth.models import User; from riskapp.projects.services import project_create;"
            f"u = User.objects.create_user('bench', password='{password}');"
            "project_create(user=u, name='bench', risk_appetite='low')",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    server = subprocess.Popen(
        [
            python,
            "-m",
            "gunicorn",
            "riskapp.wsgi:application",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "600",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = []
    try:
        session = Session(port)
        for _ in range(100):
            try:
                session.request("GET", "/accounts/login/")
                break
            except OSError:
                time.sleep(0.2)
        session.form("/accounts/login/", {"username": "bench", "password": password})
        worker = _worker_pid(server.pid)
        session.request("GET", "/projects/1/models/")  # warm the worker up before measuring
        for label, size in SIZES.items():
            path = data_dir / f"upload-{size}.bin"
            with path.open("wb") as out:
                block = os.urandom(MiB)
                for _ in range(size // MiB):
                    out.write(block)
            fields = {
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
                "name": label,
                "version": "1",
                "role": "other",
                "architecture": "",
                "input_min": "0",
                "input_max": "1",
            }
            boundary = secrets.token_hex(16)
            body, length = _multipart(fields, path, boundary)
            before = _vm_hwm_kib(worker)
            started = time.perf_counter()
            response = session.request(
                "POST",
                "/projects/1/models/upload/",
                body,
                {
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                    "Referer": f"http://127.0.0.1:{port}/projects/1/models/",
                },
                length,
            )
            seconds = time.perf_counter() - started
            after = _vm_hwm_kib(worker)
            path.unlink()
            results.append(
                {
                    "upload": label,
                    "status": response.status,
                    "seconds": seconds,
                    "peak_before_mib": before / 1024,
                    "peak_after_mib": after / 1024,
                    "growth_mib": (after - before) / 1024,
                    "growth_per_file_size": (after - before) * 1024 / size,
                }
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        subprocess.run(["rm", "-rf", str(data_dir)], check=False)
    return results


def main() -> None:
    print("Web worker peak memory (VmHWM) while receiving a model upload (gunicorn, 1 sync worker)")
    print(
        f"{'upload':>8} {'HTTP':>5} {'seconds':>8} {'MB/s':>7} {'peak before':>12} {'peak after':>11} "
        f"{'growth':>8} {'growth / file size':>19}"
    )
    for row in run():
        size = SIZES[row["upload"]]
        print(
            f"{row['upload']:>8} {row['status']:>5} {row['seconds']:>8.1f} {size / MiB / row['seconds']:>7.0f} "
            f"{row['peak_before_mib']:>9.0f} MiB {row['peak_after_mib']:>7.0f} MiB {row['growth_mib']:>5.0f} MiB "
            f"{row['growth_per_file_size']:>19.4f}"
        )


if __name__ == "__main__":
    main()
