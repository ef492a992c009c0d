"""`make lab` for real: the lab server as `make lab` starts it (on a free localhost port, no browser) lists the
project's kernel, opens a session on a committed notebook, executes a cell in it, and shuts down cleanly."""
import json
import os
import secrets
import socket
import subprocess
import time
import urllib.request
import uuid

import pytest

from bumpdiff.app.lab import KERNEL_NAME, ensure_kernelspec, lab_command
from bumpdiff.common import paths

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(port, token, path, method="GET", body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
        return json.loads(text) if text else None


def _execute(port, token, kernel_id, code, timeout=60):
    import websocket

    ws = websocket.create_connection(f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels",
                                     header=[f"Authorization: token {token}"], timeout=timeout)
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({"header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                                   "msg_type": "execute_request", "version": "5.3"},
                        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                                    "allow_stdin": False, "stop_on_error": True}}))
    # the reply comes on the shell channel, the printed text on iopub: the two are not ordered, so a loaded machine
    # can deliver the reply first. The kernel's iopub "idle" for this request comes after all of its output.
    out, status, idle, t0 = "", None, False, time.time()
    while (status is None or not idle) and time.time() - t0 < timeout:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out += msg["content"]["text"]
        elif msg["msg_type"] == "execute_reply":
            status = msg["content"]["status"]
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
    ws.close()
    return status, out


def test_lab_server_runs_the_project_kernel_on_a_notebook(tmp_path):
    kdir = ensure_kernelspec()
    assert str(kdir).startswith(os.sys.prefix)                     # inside the environment, not in $HOME
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    proc = subprocess.Popen(lab_command(port, browser=False, token=token), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(120):
            try:
                _api(port, token, "/api/status")
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"the lab server exited: {proc.stdout.read()}")
                time.sleep(0.5)
        specs = _api(port, token, "/api/kernelspecs")
        assert KERNEL_NAME in specs["kernelspecs"] and specs["default"] == KERNEL_NAME
        notebook = sorted(paths.notebooks_dir().glob("0*_*.ipynb"))[0].name
        sess = _api(port, token, "/api/sessions", "POST",
                    {"path": notebook, "type": "notebook", "name": notebook, "kernel": {"name": KERNEL_NAME}})
        assert sess["kernel"]["name"] == KERNEL_NAME
        status, out = _execute(port, token, sess["kernel"]["id"],
                               "import sys, bumpdiff; from bumpdiff.common import paths; "
                               "print(sys.prefix, paths.root())")
        assert status == "ok" and out.split() == [os.sys.prefix, str(paths.root())]
        _api(port, token, f"/api/sessions/{sess['id']}", "DELETE")
        _api(port, token, "/api/shutdown", "POST")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
