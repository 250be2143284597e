"""The Gradio Space (examples/space/app.py) started on 127.0.0.1 in its own process, for the tests that call it
(gradio_client) or open it (headless Chromium)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

from utils.builders import ROOT

APP = ROOT / "examples" / "space" / "app.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_space(arguments: list[str], timeout: float = 240.0):
    """Start the Space with `arguments`; yield its URL once it serves; stop it after."""
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, str(APP), *arguments, "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, log = time.time() + timeout, []
        while time.time() < deadline:
            line = process.stdout.readline()
            log.append(line)
            if "Running on local URL" in line:
                break
            assert process.poll() is None, "".join(log)[-3000:]
        else:
            pytest.fail("the Space did not start: " + "".join(log)[-3000:])
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=30)
