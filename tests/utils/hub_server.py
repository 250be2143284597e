"""A small Hugging Face Hub-compatible HTTP server for offline push/pull tests.

It implements what `huggingface_hub` (with `HF_HUB_DISABLE_XET=1`) and `datasets` call to create a repository,
upload a folder (preupload, LFS batch and upload, commit), and read it back (repository info, refs, tree,
paths-info, resolve with ranges). Repositories live in memory; every commit is a full snapshot.

    with HubServer() as hub:
        env = hub.env(cache_dir)  # HF_ENDPOINT, HF_HUB_DISABLE_XET=1, a dummy HF_TOKEN, HF_HOME
        subprocess.run([...], env=env)
"""

import base64
import hashlib
import json
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

LFS_SUFFIXES = (".parquet", ".safetensors", ".bin", ".faiss", ".npy", ".gz", ".pt")
LFS_MIN_SIZE = 10_000


def git_blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class Repo:
    def __init__(self, repo_type: str, repo_id: str, private: bool):
        self.repo_type, self.repo_id, self.private = repo_type, repo_id, private
        self.branches: dict[str, dict[str, tuple[bytes, str | None]]] = {"main": {}}  # path -> (content, lfs oid)
        self.heads: dict[str, str] = {"main": hashlib.sha1(f"init {repo_id}".encode()).hexdigest()}
        self.snapshots: dict[str, dict[str, tuple[bytes, str | None]]] = {self.heads["main"]: {}}  # commit -> files

    def resolve(self, revision: str) -> tuple[dict, str] | None:
        """(files, commit) of a branch name or a commit id, or None."""
        revision = unquote(revision)
        if revision in self.branches:
            return self.branches[revision], self.heads[revision]
        if revision in self.snapshots:
            return self.snapshots[revision], revision
        return None


class HubServer:
    """Start with `with HubServer() as hub:`; `hub.url` is the endpoint, `hub.requests` logs what was called."""

    def __init__(self):
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.unhandled: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(_Handler):
            hub = server

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def env(self, home: str, base: dict | None = None) -> dict:
        """Environment for a client process: this endpoint, no Xet, a dummy token, its own cache, online."""
        import os

        env = dict(base if base is not None else os.environ)
        for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_CACHE",
                    "HF_DATASETS_CACHE"):
            env.pop(key, None)
        env.update(HF_ENDPOINT=self.url, HF_HUB_DISABLE_XET="1", HF_TOKEN="hf_dummy_token_for_tests", HF_HOME=home,
                   HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
        return env

    def files(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[(repo_type, repo_id)]
        return {path: content for path, (content, _) in repo.branches[revision].items()}


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    # ------------------------------------------------------------------------------------------------ helpers

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload, headers: dict | None = None, content_type="application/json"):
        self._send(status, json.dumps(payload).encode(), headers, content_type)

    def _error(self, status: int, message: str):
        self._json(status, {"error": message}, {"X-Error-Message": message})

    def _repo(self, repo_type: str, repo_id: str) -> Repo | None:
        return self.hub.repos.get((repo_type, repo_id))

    def _entries(self, files: dict) -> list[dict]:
        entries, folders = [], set()
        for path, (content, oid) in sorted(files.items()):
            entry = {"type": "file", "path": path, "size": len(content), "oid": git_blob_sha(content)}
            if oid:
                entry["lfs"] = {"oid": oid, "size": len(content), "pointerSize": 130}
            entries.append(entry)
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                folders.add("/".join(parts[:i]))
        entries += [{"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest()}
                    for folder in sorted(folders)]
        return entries

    def _route(self):
        """(repo_type, repo_id, rest) for /api/{type}s/{ns}/{name}/..., or None."""
        parts = [unquote(p) for p in urlparse(self.path).path.split("/") if p]
        if len(parts) >= 4 and parts[0] == "api" and parts[1] in ("models", "datasets", "spaces"):
            return parts[1][:-1], f"{parts[2]}/{parts[3]}", parts[4:]
        return None

    # ----------------------------------------------------------------------------------------------- handlers

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def _dispatch(self):
        with self.hub.lock:
            self.hub.requests.append(f"{self.command} {self.path}")
        path = urlparse(self.path).path
        if self.command == "POST" and path == "/api/repos/create":
            return self._create_repo()
        if path == "/api/whoami-v2":
            return self._json(200, {"type": "user", "name": "tester", "orgs": [],
                                    "auth": {"accessToken": {"role": "write"}}})
        if self.command == "POST" and path == "/api/validate-yaml":
            return self._validate_yaml()
        if self.command == "PUT" and path.startswith("/lfs-upload/"):
            return self._lfs_upload(path.rsplit("/", 1)[1])
        if self.command == "POST" and path.endswith(".git/info/lfs/objects/batch"):
            return self._lfs_batch()
        if "/resolve/" in path:
            return self._resolve(path)
        route = self._route()
        if route is not None:
            repo_type, repo_id, rest = route
            repo = self._repo(repo_type, repo_id)
            if repo is None:
                return self._error(404, f"Repository {repo_id} not found")
            action = rest[0] if rest else None
            if self.command == "GET" and action in (None, "revision"):
                return self._info(repo, rest[1] if action == "revision" and len(rest) > 1 else "main")
            if self.command == "POST" and action == "preupload":
                return self._preupload(repo, rest[1])
            if self.command == "POST" and action == "commit":
                return self._commit(repo, rest[1])
            if self.command == "GET" and action == "tree":
                return self._tree(repo, rest[1], "/".join(rest[2:]))
            if self.command == "POST" and action == "paths-info":
                return self._paths_info(repo, rest[1])
            if self.command == "GET" and action == "refs":
                return self._json(200, {"branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": sha}
                                                     for b, sha in repo.heads.items()], "tags": [], "converts": []})
            if self.command == "POST" and action == "branch":
                branch = rest[1]
                if branch in repo.branches:
                    return self._error(409, f"branch {branch} exists")
                repo.branches[branch] = dict(repo.branches["main"])
                repo.heads[branch] = repo.heads["main"]
                return self._json(200, {})
        with self.hub.lock:
            self.hub.unhandled.append(f"{self.command} {self.path}")
        return self._error(404, f"not implemented by the test hub: {self.command} {path}")

    def _create_repo(self):
        payload = json.loads(self._body() or b"{}")
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
        if "/" not in repo_id:
            repo_id = f"tester/{repo_id}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.hub.url}/{prefix}{repo_id}"
        if (repo_type, repo_id) in self.hub.repos:
            return self._json(409, {"error": "You already created this repo", "url": url})
        self.hub.repos[(repo_type, repo_id)] = Repo(repo_type, repo_id, bool(payload.get("private")))
        return self._json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _validate_yaml(self):
        """The README's YAML front matter must parse to a mapping, as the Hub checks before a commit."""
        import yaml

        content = json.loads(self._body()).get("content", "")
        errors = []
        if content.startswith("---"):
            try:
                metadata = yaml.safe_load(content.split("---", 2)[1])
                if not isinstance(metadata, dict):
                    errors.append({"message": "metadata is not a mapping"})
            except yaml.YAMLError as err:
                errors.append({"message": str(err)})
        return self._json(400 if errors else 200, {"errors": errors, "warnings": []})

    def _info(self, repo: Repo, revision: str):
        resolved = repo.resolve(revision)
        if resolved is None:
            return self._error(404, f"Revision {revision} not found")
        files, sha = resolved
        return self._json(200, {
            "id": repo.repo_id, "_id": repo.repo_id, "author": repo.repo_id.split("/")[0], "sha": sha,
            "private": repo.private, "disabled": False, "gated": False, "downloads": 0, "likes": 0, "tags": [],
            "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "createdAt": "2026-01-01T00:00:00.000Z",
            "siblings": [{"rfilename": p, "size": len(c)} for p, (c, _) in sorted(files.items())],
        })

    def _preupload(self, repo: Repo, revision: str):
        payload = json.loads(self._body())
        current = repo.branches.get(unquote(revision), {})
        result = []
        for item in payload.get("files", []):
            lfs = item["path"].endswith(LFS_SUFFIXES) or item.get("size", 0) >= LFS_MIN_SIZE
            entry = {"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            if item["path"] in current:  # what the client compares to skip unchanged files: sha256 for LFS
                content, lfs_oid = current[item["path"]]
                entry["oid"] = lfs_oid or git_blob_sha(content)
            result.append(entry)
        return self._json(200, {"files": result, "commitOid": repo.heads.get(unquote(revision))})

    def _lfs_batch(self):
        payload = json.loads(self._body())
        objects = []
        for obj in payload.get("objects", []):
            item = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.hub.lfs:
                item["actions"] = {"upload": {"href": f"{self.hub.url}/lfs-upload/{obj['oid']}", "header": {}}}
            objects.append(item)
        return self._json(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                          content_type="application/vnd.git-lfs+json")

    def _lfs_upload(self, oid: str):
        content = self._body()
        if hashlib.sha256(content).hexdigest() != oid:
            return self._error(400, "sha256 mismatch")
        self.hub.lfs[oid] = content
        return self._send(200)

    def _commit(self, repo: Repo, revision: str):
        revision = unquote(revision)
        if revision not in repo.branches:
            return self._error(404, f"Revision {revision} not found")
        files = dict(repo.branches[revision])
        summary = ""
        for line in self._body().decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                summary = value.get("summary", "")
            elif key == "file":
                content = base64.b64decode(value["content"]) if value.get("encoding") == "base64" else \
                    value["content"].encode()
                files[value["path"]] = (content, None)
            elif key == "lfsFile":
                if value["oid"] not in self.hub.lfs:
                    return self._error(422, f"LFS object {value['oid']} was never uploaded")
                files[value["path"]] = (self.hub.lfs[value["oid"]], value["oid"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                files = {p: v for p, v in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
        sha = hashlib.sha1(f"{repo.heads[revision]} {summary} {sorted(files)} {time.time()}".encode()).hexdigest()
        repo.branches[revision], repo.heads[revision] = files, sha
        repo.snapshots[sha] = files
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return self._json(200, {"success": True, "commitOid": sha,
                                "commitUrl": f"{self.hub.url}/{prefix}{repo.repo_id}/commit/{sha}"})

    def _tree(self, repo: Repo, revision: str, folder: str):
        resolved = repo.resolve(revision)
        if resolved is None:
            return self._error(404, f"Revision {revision} not found")
        entries = self._entries(resolved[0])
        recursive = parse_qs(urlparse(self.path).query).get("recursive", ["false"])[0].lower() == "true"
        folder = folder.strip("/")
        result = []
        for entry in entries:
            parent = entry["path"].rsplit("/", 1)[0] if "/" in entry["path"] else ""
            inside = entry["path"].startswith(folder + "/") if folder else True
            if inside and (recursive or parent == folder):
                result.append(entry)
        if folder and not result and folder not in {e["path"] for e in entries}:
            return self._error(404, f"{folder} not found")
        return self._json(200, result)

    def _paths_info(self, repo: Repo, revision: str):
        body = self._body()
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type:
            paths = json.loads(body).get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        resolved = repo.resolve(revision)
        if resolved is None:
            return self._error(404, f"Revision {revision} not found")
        wanted = set(paths)
        return self._json(200, [e for e in self._entries(resolved[0]) if e["path"] in wanted])

    def _resolve(self, path: str):
        parts = [unquote(p) for p in path.split("/") if p]
        index = parts.index("resolve")
        if parts[0] in ("datasets", "spaces"):
            repo_type, repo_id = parts[0][:-1], "/".join(parts[1:index])
        else:
            repo_type, repo_id = "model", "/".join(parts[:index])
        repo = self._repo(repo_type, repo_id)
        revision, filename = parts[index + 1], "/".join(parts[index + 2 :])
        if repo is None:
            return self._error(404, f"Repository {repo_id} not found")
        resolved = repo.resolve(revision)
        if resolved is None or filename not in resolved[0]:
            return self._send(404, b"Entry not found", {"X-Error-Code": "EntryNotFound",
                                                        "X-Error-Message": "Entry not found",
                                                        "X-Repo-Commit": resolved[1] if resolved else ""})
        content, oid = resolved[0][filename]
        headers = {"X-Repo-Commit": resolved[1], "ETag": f'"{oid or git_blob_sha(content)}"',
                   "Accept-Ranges": "bytes", "Last-Modified": formatdate(usegmt=True)}
        if oid:
            headers.update({"X-Linked-Etag": f'"{oid}"', "X-Linked-Size": str(len(content))})
        requested = self.headers.get("Range")
        if requested and requested.startswith("bytes="):
            start_text, _, end_text = requested[6:].partition("-")
            start = int(start_text) if start_text else max(len(content) - int(end_text), 0)
            end = int(end_text) if start_text and end_text else len(content) - 1
            end = min(end, len(content) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
            return self._send(206, content[start : end + 1], headers, "application/octet-stream")
        return self._send(200, content, headers, "application/octet-stream")


__all__ = ["HubServer", "git_blob_sha"]
