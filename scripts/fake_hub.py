#!/usr/bin/env python3
"""A local stand-in for the Hugging Face hub, for tests (standard library only).

Serves the repositories found under --root as ROOT/ORG/NAME/<files> with the endpoints and headers that
huggingface_hub and SwiftCapHub use:

  GET  /api/models/ORG/NAME/revision/REV   {"id", "sha", "siblings": [{"rfilename"}], "private"}
  GET  /api/models/ORG/NAME/tree/REV       [{"type": "file", "path", "size", "oid", "lfs": {"oid", "size", "pointerSize"}}]
                                           (paged with `Link: <...>; rel="next"` when a page size is set)
  HEAD/GET /ORG/NAME/resolve/REV/PATH      small files: 200, ETag "<git blob id>", X-Repo-Commit;
                                           LFS files: 302 to http://LFS_HOST:PORT/_lfs/ORG/NAME/<sha256> with
                                           X-Linked-Etag "<sha256>", X-Linked-Size, ETag, X-Repo-Commit
  GET  /_lfs/ORG/NAME/SHA256                the bytes, with Range (206 + Content-Range) support

REV is "main" or the repository's commit (a sha1 of its file list). Files with a weights extension
(.safetensors .bin .pt .pth .onnx .gguf .msgpack .h5) or over 1 MiB are LFS files.

Test controls (never part of the real hub):
  POST /_control {"rules": [{"match": REGEX on the path, "method": "GET"|"HEAD"|null, "times": N,
                   "status": CODE, "headers": {...}} | {..., "drop_after": BYTES} | {..., "corrupt": true}
                   | {..., "stall_after": BYTES, "stall_seconds": S}],
                  "page_size": N}
  POST /_reset   clears rules and the log (and rescans --root)
  GET  /_log     [{"method", "path", "range", "auth": bool (an Authorization header came), "host"}]
Private repositories (--private ORG/NAME) answer 401 unless `Authorization: Bearer <--token>` is sent.
The first line on stdout is "PORT <n>".
"""
import argparse
import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit, parse_qs

LFS_EXT = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".gguf", ".msgpack", ".h5")


class Repo:
    def __init__(self, repo_id, folder):
        self.id = repo_id
        self.files = {}
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(filenames):
                if f.startswith("."):
                    continue
                full = os.path.join(dirpath, f)
                rel = os.path.relpath(full, folder).replace(os.sep, "/")
                data = open(full, "rb").read()
                oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                lfs = rel.endswith(LFS_EXT) or len(data) > (1 << 20)
                self.files[rel] = {"data": data, "oid": oid, "sha256": hashlib.sha256(data).hexdigest() if lfs else None}
        h = hashlib.sha1()
        for rel in sorted(self.files):
            h.update(f"{rel}\0{self.files[rel]['oid']}\n".encode())
        self.commit = h.hexdigest()


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.rules = []
            self.log = []
            self.page_size = None
            self.repos = {}
            root = self.args.root
            for org in sorted(os.listdir(root)):
                if not os.path.isdir(os.path.join(root, org)):
                    continue
                for name in sorted(os.listdir(os.path.join(root, org))):
                    folder = os.path.join(root, org, name)
                    if os.path.isdir(folder):
                        self.repos[f"{org}/{name}"] = Repo(f"{org}/{name}", folder)

    def take_rule(self, method, path):
        with self.lock:
            for r in self.rules:
                if r.get("times", 1) <= 0:
                    continue
                if r.get("method") and r["method"] != method:
                    continue
                if not re.search(r["match"], path):
                    continue
                r["times"] = r.get("times", 1) - 1
                return dict(r)
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1"

    def log_message(self, fmt, *a):  # quiet
        pass

    @property
    def state(self):
        return self.server.state

    def send(self, status, body=b"", headers=None, head=False):
        self.send_response(status)
        hdrs = {"Content-Length": str(len(body))}
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def send_json(self, status, obj, headers=None, head=False):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        self.send(status, json.dumps(obj).encode(), h, head)

    def error(self, status, code=None, message="", headers=None, head=False):
        h = dict(headers or {})
        if code:
            h["X-Error-Code"] = code
        h["X-Error-Message"] = message
        self.send_json(status, {"error": message}, h, head)

    def authorized(self, repo):
        if repo.id not in self.state.args.private:
            return True
        return self.headers.get("Authorization") == f"Bearer {self.state.args.token}"

    def do_HEAD(self):
        self.handle_request("HEAD")

    def do_GET(self):
        self.handle_request("GET")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        if path == "/_control":
            cfg = json.loads(body or b"{}")
            with self.state.lock:
                self.state.rules.extend(cfg.get("rules", []))
                if "page_size" in cfg:
                    self.state.page_size = cfg["page_size"]
            return self.send_json(200, {"ok": True})
        if path == "/_reset":
            self.state.reset()
            return self.send_json(200, {"ok": True})
        self.error(404, None, "no such endpoint")

    def handle_request(self, method):
        url = urlsplit(self.path)
        path = unquote(url.path)
        if path == "/_log":
            with self.state.lock:
                log = list(self.state.log)
            return self.send_json(200, log)
        with self.state.lock:
            self.state.log.append({"method": method, "path": path, "range": self.headers.get("Range"),
                                   "auth": "Authorization" in self.headers, "host": self.headers.get("Host")})
        head = method == "HEAD"
        rule = self.state.take_rule(method, path)
        if rule and "status" in rule:
            return self.error(rule["status"], rule.get("code"), rule.get("message", f"injected {rule['status']}"),
                              rule.get("headers"), head)

        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(revision|tree)/([^/]+)(/.*)?", path)
        if m:
            return self.api(m.group(1), m.group(2), m.group(3), parse_qs(url.query), head)
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m:
            return self.resolve(m.group(1), m.group(2), m.group(3), head, rule)
        m = re.fullmatch(r"/_lfs/([^/]+/[^/]+)/([0-9a-f]{64})", path)
        if m:
            return self.lfs(m.group(1), m.group(2), head, rule)
        self.error(404, None, "no such endpoint", head=head)

    def repo_or_error(self, repo_id, rev, head):
        repo = self.state.repos.get(repo_id)
        if repo is None:
            self.error(404, "RepoNotFound", f"Repository {repo_id} not found", head=head)
            return None
        if not self.authorized(repo):
            self.error(401, None, "Invalid credentials in Authorization header", head=head)
            return None
        if rev not in ("main", repo.commit):
            self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head=head)
            return None
        return repo

    def api(self, repo_id, kind, rev, query, head):
        repo = self.repo_or_error(repo_id, unquote(rev), head)
        if repo is None:
            return
        if kind == "revision":
            return self.send_json(200, {"id": repo.id, "modelId": repo.id, "sha": repo.commit, "private": repo.id in self.state.args.private,
                                        "siblings": [{"rfilename": p} for p in sorted(repo.files)]}, head=head)
        entries = []
        for p in sorted(repo.files):
            f = repo.files[p]
            e = {"type": "file", "oid": f["oid"], "size": len(f["data"]), "path": p}
            if f["sha256"]:
                e["lfs"] = {"oid": f["sha256"], "size": len(f["data"]), "pointerSize": 134}
            entries.append(e)
        headers = {}
        ps = self.state.page_size
        if ps:
            start = int(query.get("cursor", ["0"])[0])
            if start + ps < len(entries):
                nxt = f"http://{self.headers.get('Host')}/api/models/{repo.id}/tree/{rev}?recursive=true&cursor={start + ps}"
                headers["Link"] = f'<{nxt}>; rel="next"'
            entries = entries[start:start + ps]
        self.send_json(200, entries, headers, head)

    def resolve(self, repo_id, rev, file, head, rule):
        repo = self.repo_or_error(repo_id, rev, head)
        if repo is None:
            return
        f = repo.files.get(file)
        if f is None:
            return self.error(404, "EntryNotFound", f"{file} does not exist", {"X-Repo-Commit": repo.commit}, head)
        headers = {"X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes"}
        if f["sha256"]:
            host = self.state.args.lfs_host or self.headers.get("Host", "").split(":")[0]
            port = self.server.server_address[1]
            headers.update({"ETag": f'"{f["oid"]}"', "X-Linked-Etag": f'"{f["sha256"]}"', "X-Linked-Size": str(len(f["data"])),
                            "Location": f"http://{host}:{port}/_lfs/{repo.id}/{f['sha256']}"})
            return self.send(302, b"", headers, head)
        headers["ETag"] = f'"{f["oid"]}"'
        self.body(f["data"], headers, head, rule)

    def lfs(self, repo_id, sha, head, rule):
        repo = self.state.repos.get(repo_id)
        data = None
        if repo:
            for f in repo.files.values():
                if f["sha256"] == sha:
                    data = f["data"]
        if data is None:
            return self.error(404, None, "no such object", head=head)
        self.body(data, {"ETag": f'"{sha}"', "Accept-Ranges": "bytes"}, head, rule)

    def body(self, data, headers, head, rule):
        if rule and rule.get("corrupt") and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        status, start = 200, 0
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
            if not m or int(m.group(1)) >= len(data):
                return self.error(416, None, "range not satisfiable", {"Content-Range": f"bytes */{len(data)}"}, head)
            start = int(m.group(1))
            status = 206
            headers = dict(headers, **{"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
        part = data[start:]
        if rule and "stall_after" in rule and not head:
            n = int(rule["stall_after"])
            self.send_response(status)
            self.send_header("Content-Length", str(len(part)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(part[:n])
            self.wfile.flush()
            time.sleep(float(rule.get("stall_seconds", 30)))
            try:
                self.wfile.write(part[n:])
            except OSError:
                pass
            return
        if rule and "drop_after" in rule and not head:
            n = int(rule["drop_after"])
            self.send_response(status)
            self.send_header("Content-Length", str(len(part)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(part[:n])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send(status, part, headers, head)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default=None)
    ap.add_argument("--private", action="append", default=[])
    ap.add_argument("--lfs-host", default="localhost",
                    help="host name in LFS redirects (default localhost: another host than 127.0.0.1, as a CDN is)")
    args = ap.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
