"""A small JSON client for riskapp's /api/v1/ over urllib, with a multipart upload streamed from disk."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any


class ApiError(Exception):
    """An HTTP error answer (status, detail) or no answer at all (status 0)."""

    def __init__(self, status: int, detail: str, body: Any = None):
        super().__init__(f"{status}: {detail}" if status else detail)
        self.status, self.detail, self.body = status, detail, body


class _Multipart:
    """A file-like multipart/form-data body: the fields, then the file read from disk in chunks."""

    def __init__(self, fields: dict[str, str], file_field: str, path: str):
        self.boundary = uuid.uuid4().hex
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items()
        )
        filename = os.path.basename(path).replace('"', "_")
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._parts = [head, None, f"\r\n--{self.boundary}--\r\n".encode()]
        self._file = open(path, "rb")  # noqa: SIM115 - closed when the body has been read
        self.length = len(head) + os.path.getsize(path) + len(self._parts[2])
        self.content_type = f"multipart/form-data; boundary={self.boundary}"

    def read(self, size: int = -1) -> bytes:
        size = 1 << 20 if size is None or size < 0 else size
        while self._parts:
            part = self._parts[0]
            if part is None:
                chunk = self._file.read(size)
                if chunk:
                    return chunk
                self._file.close()
                self._parts.pop(0)
                continue
            self._parts.pop(0)
            if part:
                return part
        return b""

    def close(self) -> None:
        self._file.close()


class Api:
    def __init__(self, url: str, token: str, timeout: float = 60.0):
        self.base = url.rstrip("/") + "/api/v1/"
        self.token = token
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        url = urllib.parse.urljoin(self.base, path)
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - the URL the user gave
        request.add_header("Authorization", f"Token {self.token}")
        request.add_header("Accept", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                data = response.read()
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            detail = parsed.get("detail") if isinstance(parsed, dict) and "detail" in parsed else None
            raise ApiError(error.code, str(detail or parsed or raw[:200] or error.reason), parsed) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ApiError(0, f"cannot reach {url}: {reason}") from None
        return json.loads(data) if data else None

    def get(self, path: str, **query: Any) -> Any:
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        return self._request("GET", path)

    def post(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        body = json.dumps(payload or {}).encode()
        return self._request("POST", path, body, {"Content-Type": "application/json"})

    def upload(self, path: str, file_path: str, fields: dict[str, Any]) -> Any:
        body = _Multipart({k: str(v) for k, v in fields.items() if v not in (None, "")}, "file", file_path)
        try:
            headers = {"Content-Type": body.content_type, "Content-Length": str(body.length)}
            return self._request("POST", path, body, headers)
        finally:
            body.close()
