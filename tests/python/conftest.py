"""Fixtures: the AWS launcher and the Salesforce emulator on free 127.0.0.1 ports.

Each service is started as a subprocess, its base URL is read from the first stdout line,
and it is stopped by PID (SIGTERM, then SIGKILL) when the test ends.
"""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import botocore.config
import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "emulators" / "aws" / "launcher.py"
# The launcher (moto) needs Python 3.10+; the Python 3.9 run of the extractor's tests starts it
# with the main venv's interpreter (`make test-python39` sets this), the tests and the script on 3.9.
LAUNCHER_PYTHON = os.environ.get("SFGLUE_LAUNCHER_PYTHON") or sys.executable
GLUE_SCRIPT = REPO / "glue_scripts" / "sfglue_extract.py"
REGION = "us-east-1"
TERMINAL = ("STOPPED", "SUCCEEDED", "FAILED", "TIMEOUT", "ERROR", "EXPIRED")

_EMPTY = Path(os.environ.get("TMPDIR", "/tmp")) / f"sfglue-pytest-empty-{os.getpid()}"
_EMPTY.write_text("")
# Never let a developer profile, real credentials or the metadata service leak in.
SAFE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": str(_EMPTY),
    "AWS_SHARED_CREDENTIALS_FILE": str(_EMPTY),
}
for _name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(SAFE_AWS_ENV)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def child_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(SAFE_AWS_ENV)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


class ServiceProcess:
    """A server subprocess that prints its base URL as the first stdout line."""

    def __init__(self, name, argv, log_dir, env=None, cwd=None, startup_timeout=60.0):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_dir) / f"{name}.stderr.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log,
            env=env or child_env(), cwd=cwd or REPO,
        )
        self.pid = self.proc.pid
        lines = queue.Queue()
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        try:
            first = lines.get(timeout=startup_timeout)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"{name} printed no URL in {startup_timeout}s; log:\n{self.log()}") from None
        if first is None or not first.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"{name} did not start (first line {first!r}); log:\n{self.log()}")
        self.url = first.strip()
        self.stdout_rest = []

    def _pump(self, lines):
        first = True
        for raw in iter(self.proc.stdout.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\n")
            if first:
                lines.put(text)
                first = False
            else:
                self.stdout_rest.append(text)
        if first:
            lines.put(None)

    def log(self):
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self, timeout=15.0):
        """SIGTERM by PID, then SIGKILL; returns the exit status."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def start_launcher(tmp_path):
    """Factory: start_launcher(state_dir=None, *extra_args) -> ServiceProcess."""
    started = []

    def start(state_dir=None, *extra):
        argv = [LAUNCHER_PYTHON, LAUNCHER, "--listen", "127.0.0.1:0", *extra]
        if state_dir is not None:
            argv += ["--state-dir", state_dir]
        proc = ServiceProcess(f"launcher-{len(started)}", argv, tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def launcher(start_launcher):
    return start_launcher(None, "--seconds-per-timeout-minute", "1")


class Aws:
    """boto3 clients for one launcher, without retries so faults are visible."""

    def __init__(self, url, retries=1):
        self.url = url
        config = botocore.config.Config(
            retries={"total_max_attempts": retries, "mode": "standard"},
            connect_timeout=5, read_timeout=60, s3={"addressing_style": "path"},
        )
        session = boto3.session.Session(region_name=REGION)
        for service in ("glue", "s3", "secretsmanager", "iam", "logs", "sts"):
            setattr(self, service.replace("secretsmanager", "sm"),
                    session.client(service, endpoint_url=url, config=config))

    def admin(self, method, path, body=None):
        import requests

        response = requests.request(method, self.url + path, json=body, timeout=10)
        return response.status_code, response.json()

    def wait_run(self, job, run_id, timeout=60.0, until=TERMINAL):
        deadline = time.monotonic() + timeout
        while True:
            run = self.glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
            if run["JobRunState"] in until:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} still {run['JobRunState']} after {timeout}s")
            time.sleep(0.1)

    def log_lines(self, group, stream):
        events = self.logs.get_log_events(logGroupName=group, logStreamName=stream,
                                          startFromHead=True)["events"]
        return [e["message"] for e in events]

    def put_script(self, bucket, key, source):
        try:
            self.s3.create_bucket(Bucket=bucket)
        except self.s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        self.s3.put_object(Bucket=bucket, Key=key, Body=source.encode() if isinstance(source, str) else source)
        return f"s3://{bucket}/{key}"

    def pythonshell_job(self, name, script_uri, **extra):
        params = {
            "Name": name,
            "Role": "arn:aws:iam::123456789012:role/sfglue-test",
            "Command": {"Name": "pythonshell", "ScriptLocation": script_uri, "PythonVersion": "3.9"},
            "MaxCapacity": 0.0625,
        }
        params.update(extra)
        self.glue.create_job(**params)


@pytest.fixture
def aws(launcher):
    return Aws(launcher.url)


# ---------------------------------------------------------------------------
# Salesforce emulator (a Rust binary built from emulators/salesforce)
# ---------------------------------------------------------------------------


def _sf_emulator_binary():
    explicit = os.environ.get("SFGLUE_SF_EMULATOR")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "sf-emulator"


@pytest.fixture(scope="session")
def sf_emulator_bin():
    """Path of sf-emulator; builds it with cargo once if it is missing."""
    binary = _sf_emulator_binary()
    if not binary.exists() and shutil.which("cargo") and (REPO / "emulators/salesforce/Cargo.toml").exists():
        subprocess.run(["cargo", "build", "-p", "sf-emulator"], cwd=REPO, timeout=1200,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if not binary.exists():
        if os.environ.get("SFGLUE_REQUIRE_SF_EMULATOR") == "1":
            pytest.fail(f"sf-emulator not found at {binary}")
        pytest.skip(f"sf-emulator not built ({binary}); `cargo build -p sf-emulator`")
    return binary


def write_json(path, value):
    Path(path).write_text(json.dumps(value, indent=1))
    return path
