"""A tiny Docker Engine API client (unix or tcp), standard library only."""

import http.client
import io
import json
import socket
import urllib.parse

from .util import LabError, die


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def api(url, method, path, body=None, headers=None, timeout=10.0):
    """One request; (status, body bytes)."""
    if url.startswith("unix://"):
        conn = _UnixConnection(url[len("unix://"):], timeout)
    elif url.startswith("tcp://"):
        host, port = url[len("tcp://"):].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    else:
        raise LabError("unsupported docker host url %s" % url)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def api_json(url, method, path, body=None, timeout=10.0, ok=(200, 201, 204)):
    headers = {}
    if body is not None and not isinstance(body, (bytes, io.IOBase)):
        body = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    status, data = api(url, method, path, body=body, headers=headers, timeout=timeout)
    if status not in ok:
        detail = data.decode(errors="replace").strip()
        die("docker API %s %s on %s: %d %s" % (method, path, url, status, detail))
    return json.loads(data) if data.strip() else None


def ping(url, timeout=2.0):
    try:
        status, _data = api(url, "GET", "/_ping", timeout=timeout)
        return status == 200
    except (OSError, http.client.HTTPException):
        return False


def image_present(url, image):
    try:
        status, _unused = api(url, "GET", "/images/%s/json" % urllib.parse.quote(image, safe=":/"), timeout=10)
    except (OSError, http.client.HTTPException):
        return False
    return status == 200


def import_image(url, image, tar, changes, timeout=600):
    """docker import: tar is bytes or (file-like, size)."""
    repo, tag = image.rsplit(":", 1)
    query = [("fromSrc", "-"), ("repo", repo), ("tag", tag)] + [("changes", c) for c in changes]
    path = "/images/create?" + urllib.parse.urlencode(query)
    headers = {"Content-Type": "application/x-tar"}
    try:
        if isinstance(tar, bytes):
            status, data = api(url, "POST", path, body=tar, headers=headers, timeout=timeout)
        else:
            reader, size = tar
            headers["Content-Length"] = str(size)
            status, data = api(url, "POST", path, body=reader, headers=headers, timeout=timeout)
    except (BrokenPipeError, ConnectionResetError) as e:
        die("importing %s into %s: the daemon closed the connection (%s); an invalid --change? %s"
            % (image, url, e, changes))
    text = data.decode(errors="replace")
    if status != 200 or '"error"' in text:
        die("importing %s into %s failed: %d %s" % (image, url, status, text.strip()[-500:]))
