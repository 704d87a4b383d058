"""Run a real `postoffice serve` in a child process, for tests, benchmarks and demos."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def insecure_tls_context() -> ssl.SSLContext:
    """A client context that accepts the self-signed certificate of a test install."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def postoffice(*args: str, data: Path, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one `postoffice` command with this interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "postoffice", *args, "--data", str(data)],
        input=stdin,
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


@dataclass
class ServerProcess:
    """A data directory plus a serving process; use as a context manager."""

    data: Path
    domain: str = "example.test"
    config: dict[str, dict[str, object]] = field(default_factory=dict)
    """Settings written into postoffice.toml before start: {"smtp": {"max_recipients": 5}}."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for the serving process (e.g. SSL_CERT_FILE: a test CA as trust store)."""
    process: subprocess.Popen[bytes] | None = None
    listeners: dict[str, dict[str, object]] = field(default_factory=dict)

    def init(self) -> None:
        if not (self.data / "postoffice.toml").exists():
            postoffice("init", "--domain", self.domain, "--ports", "any", data=self.data)
        self._apply_config()

    def _apply_config(self) -> None:
        if not self.config:
            return
        import tomllib

        path = self.data / "postoffice.toml"
        document = tomllib.loads(path.read_text())
        for section, values in self.config.items():
            document.setdefault(section, {}).update(values)
        path.write_text(_toml(document))

    def add_user(self, address: str, password: str, *extra: str) -> None:
        postoffice("user", "add", address, "--password-stdin", *extra, data=self.data, stdin=password + "\n")

    def start(self, timeout: float = 30.0) -> None:
        listeners = self.data / "run" / "listeners.json"
        listeners.unlink(missing_ok=True)
        log = open(self.data / "serve.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "postoffice", "serve", "--data", str(self.data)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            start_new_session=True,  # its own process group: kill() takes every process down
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postoffice serve exited: {self.log_text()[-2000:]}")
            if listeners.exists():
                self.listeners = json.loads(listeners.read_text())["listeners"]
                return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError("postoffice serve did not start listening")

    def address(self, name: str) -> tuple[str, int]:
        entry = self.listeners[name]
        return str(entry["host"]), int(entry["port"])  # type: ignore[call-overload]

    def mx(self, timeout: float = 10.0) -> smtplib.SMTP:
        """A plain client connected to the MX listener."""
        host, port = self.address("smtp")
        return smtplib.SMTP(host, port, timeout=timeout)

    def submission(self, login: str | None, password: str = "", timeout: float = 10.0) -> smtplib.SMTP:
        """A client on the submission listener, after STARTTLS and (if `login`) AUTH."""
        host, port = self.address("submission")
        client = smtplib.SMTP(host, port, timeout=timeout)
        client.starttls(context=insecure_tls_context())
        if login:
            client.login(login, password)
        return client

    def submissions(self, login: str, password: str, timeout: float = 10.0) -> smtplib.SMTP_SSL:
        """A client on the implicit-TLS submission listener, logged in."""
        host, port = self.address("submissions")
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=insecure_tls_context())
        client.login(login, password)
        return client

    def log_text(self) -> str:
        try:
            return (self.data / "serve.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL to every process of the server at once: a crash, for durability tests.
        Returns once they are all gone."""
        if self.process is None or self.process.poll() is not None:
            return
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)

    def __enter__(self) -> ServerProcess:
        self.init()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _toml(document: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer for configuration documents (tables, scalars, lists)."""
    lines: list[str] = []
    tables = []
    for key, value in document.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    out = ([f"[{prefix}]"] if prefix and lines else []) + lines + ([""] if lines else [])
    for key, value in tables:
        out.append(_toml(value, f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)))
    return "\n".join(out)


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)  # strings, numbers, booleans: the same in TOML
