#!/usr/bin/env python3
"""sfglue's AWS emulator: moto server plus what moto lacks.

Usage:
    .venv/bin/python emulators/aws/launcher.py --listen 127.0.0.1:0 [--state-dir DIR]

Prints its base URL (``http://127.0.0.1:PORT``) as the first line on stdout, logs to
stderr, and runs until SIGTERM or SIGINT (exit 0). See emulators/aws/README.md for what it
adds to moto (Glue UpdateJob, CreateJob duplicates, job runs that really run, run logs in
CloudWatch Logs, state that survives a restart, fault injection, request counting).
"""

from __future__ import annotations

import argparse
import base64
import importlib.metadata
import io
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from typing import Any
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs

# moto reads these when it is imported or first used: set them before importing it.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
for _name, _value in (
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
):
    os.environ.setdefault(_name, _value)

import moto  # noqa: E402
import moto.backends as moto_backends  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.iam.models import get_account_id_from  # noqa: E402
from moto.utilities.utils import PARTITION_NAMES  # noqa: E402
from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY  # noqa: E402
from moto.core.request import Request as MotoRequest  # noqa: E402
from moto.core.responses import ActionResult  # noqa: E402
from moto.core.routing import get_service_router  # noqa: E402
from moto.core.utils import utcnow  # noqa: E402
from moto.glue import models as glue_models  # noqa: E402
from moto.glue.exceptions import (  # noqa: E402
    AlreadyExistsException,
    InvalidInputException,
)
from moto.glue.responses import GlueResponse  # noqa: E402
from moto.logs.models import logs_backends  # noqa: E402
from moto.moto_api._internal import mock_random  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.s3.models import s3_backends  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

LOG = logging.getLogger("sfglue.launcher")

JOURNAL_FORMAT = "sfglue-launcher-journal/1"
PYTHON_JOB_LOG_GROUP = "/aws-glue/python-jobs"
OUTPUT_LOG_GROUP = PYTHON_JOB_LOG_GROUP + "/output"
ERROR_LOG_GROUP = PYTHON_JOB_LOG_GROUP + "/error"
# Job arguments that Glue itself consumes; they never reach the script's argv.
GLUE_OWN_ARGUMENTS = (
    "--additional-python-modules",
    "--python-modules-installer-option",
    "library-set",
)
# The User-Agent marker of AWS calls made by job runs (botocore's AWS_SDK_UA_APP_ID).
JOB_UA_APP_ID = "sfglue-glue-job"
DEFAULT_JOB_TIMEOUT_MINUTES = 2880
READ_OPERATION = re.compile(
    r"^(Get|List|Describe|Head|BatchGet|Filter|Search|Lookup|Query|Scan|Select|"
    r"Simulate|Validate|Test)"
)
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
TERMINAL_STATES = ("STOPPED", "SUCCEEDED", "FAILED", "TIMEOUT", "ERROR", "EXPIRED")


class LauncherState:
    """Process-wide state shared by the WSGI layer, the moto patches and the runner."""

    def __init__(self) -> None:
        # One lock around every call into moto's backends: moto is not thread-safe, and
        # serialising also makes the order of random draws (and so every ID) deterministic.
        self.lock = threading.RLock()
        self.replaying = False
        self.base_url = ""
        self.journal: Journal | None = None
        self.runner: JobRunner | None = None
        self.seed = secrets.token_hex(16)
        self.seq = 0


STATE = LauncherState()


# ---------------------------------------------------------------------------
# Journal: state that survives a restart
# ---------------------------------------------------------------------------


class Journal:
    """Append-only JSON Lines log of every successful mutating AWS request.

    Before each mutating request moto's random generator is re-seeded from
    (journal seed, sequence number), so replaying the same requests in the same order
    produces the same ARNs, suffixes and IDs, whatever reads happened in between.
    """

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, "journal.jsonl")
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        self._fh: io.TextIOWrapper | None = None

    def lock(self) -> bool:
        """Hold DIR/lock for the process's lifetime: two launchers must not share a journal."""
        import fcntl

        self._lock_fh = open(os.path.join(self.state_dir, "lock"), "a+")
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        self._lock_fh.seek(0)
        self._lock_fh.truncate()
        self._lock_fh.write(f"{os.getpid()}\n")
        self._lock_fh.flush()
        return True

    def load(self) -> list[dict[str, Any]]:
        if not os.path.exists(self.path):
            return []
        entries = []
        with open(self.path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    # A torn last line from a crash: ignore it, keep the rest.
                    LOG.warning("journal line %d is not JSON; ignored", number)
        return entries

    def open(self, seed: str, fresh: bool) -> None:
        if fresh:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            self._fh = os.fdopen(fd, "w", encoding="utf-8")
            self.append(
                {"type": "header", "format": JOURNAL_FORMAT, "moto": moto.__version__,
                 "seed": seed}
            )
        else:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._fh = os.fdopen(fd, "a", encoding="utf-8")

    def append(self, entry: dict[str, Any]) -> None:
        if self._fh is None:
            return
        self._fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def truncate(self, seed: str) -> None:
        if self._fh is not None:
            self._fh.close()
        self.open(seed, fresh=True)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def reseed(seq: int) -> None:
    mock_random.seed(f"{STATE.seed}:{seq}")


# Backends that sfglue's calls touch. moto creates a backend lazily on first use, and creating
# one draws random numbers (default KMS keys, ...). Live, reads usually create them before the
# first write; on replay the first write would. So both paths create them before re-seeding.
WARM_SERVICES = ("sts", "iam", "s3", "secretsmanager", "glue", "logs", "kms")
_WARMED: set[tuple[str, str]] = set()


def warm_backends(environ: dict[str, Any]) -> None:
    account = (os.environ.get("MOTO_ACCOUNT_ID") or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
               or DEFAULT_ACCOUNT_ID)
    match = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    region = match.group(1) if match else "us-east-1"
    if (account, region) in _WARMED:
        return
    for name in WARM_SERVICES:
        try:
            backend_dict = moto_backends.get_backend(name)  # type: ignore[call-overload]
        except Exception:
            continue
        for key in (region, "global", *PARTITION_NAMES):
            try:
                backend_dict[account][key]
            except Exception:
                pass
    # moto resolves the account of every request through IAM, creating IAM backends for each
    # partition (each loading the managed policies, with random IDs) on the way.
    get_account_id_from("sfglue-launcher-warm-up")
    _WARMED.add((account, region))


# ---------------------------------------------------------------------------
# Glue patches: UpdateJob, CreateJob duplicates, job runs that really run
# ---------------------------------------------------------------------------


def _job_update(job: Any, upd: dict[str, Any]) -> None:
    """Apply AWS's replace-everything UpdateJob semantics to a moto FakeJob.

    Every field takes the JobUpdate's value, or the value CreateJob would have stored had
    the field been left out; GlueVersion alone keeps its old value when omitted. Name,
    ARN, CreatedOn, tags and past runs are untouched.
    """

    def as_int(value: Any) -> int | None:
        return None if value is None else int(value)

    def as_float(value: Any) -> float | None:
        return None if value is None else float(value)

    job.description = upd.get("Description")
    job.log_uri = upd.get("LogUri")
    job.role = upd["Role"]
    job.execution_property = upd.get("ExecutionProperty") or {}
    job.command = upd["Command"]
    job.default_arguments = upd.get("DefaultArguments") or {}
    job.non_overridable_arguments = upd.get("NonOverridableArguments")
    job.connections = upd.get("Connections")
    job.max_retries = as_int(upd.get("MaxRetries"))
    job.allocated_capacity = as_int(upd.get("AllocatedCapacity"))
    job.timeout = as_int(upd.get("Timeout"))
    job.max_capacity = as_float(upd.get("MaxCapacity"))
    job.security_configuration = upd.get("SecurityConfiguration")
    job.notification_property = upd.get("NotificationProperty")
    if upd.get("GlueVersion"):
        job.glue_version = upd["GlueVersion"]
    job.number_of_workers = as_int(upd.get("NumberOfWorkers"))
    job.worker_type = upd.get("WorkerType")
    job.code_gen_configuration_nodes = upd.get("CodeGenConfigurationNodes")
    job.execution_class = upd.get("ExecutionClass") or "STANDARD"
    job.source_control_details = upd.get("SourceControlDetails")
    job.last_modified_on = utcnow()


def _backend_update_job(self: Any, name: str, upd: dict[str, Any]) -> None:
    job = self.get_job(name)  # EntityNotFoundException when missing
    if not upd.get("Role") or not upd.get("Command"):
        raise InvalidInputException("UpdateJob", "JobUpdate.Role and JobUpdate.Command are required")
    _job_update(job, upd)


def _response_update_job(self: Any) -> ActionResult:
    name = self._get_param("JobName")
    upd = self._get_param("JobUpdate")
    if not name or not isinstance(upd, dict):
        raise InvalidInputException("UpdateJob", "JobName and JobUpdate are required")
    self.glue_backend.update_job(name, upd)
    return ActionResult({"JobName": name})


_ORIGINAL_CREATE_JOB = glue_models.GlueBackend.create_job
_ORIGINAL_START_JOB_RUN = glue_models.FakeJob.start_job_run


def _backend_create_job(self: Any, **kwargs: Any) -> None:
    name = kwargs.get("name")
    if name in self.jobs:
        raise AlreadyExistsException(f"Job {name}")
    _ORIGINAL_CREATE_JOB(self, **kwargs)


class RealJobRun(glue_models.FakeJobRun):
    """A moto job run whose state is that of a real subprocess (see JobRunner)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.real_state = "STARTING"
        self.error_message: str | None = None
        self.execution_time = 0
        self.glue_version: str | None = None
        self.completed_on = None
        self.effective_timeout: int | None = None

    @property
    def status(self) -> str:  # type: ignore[override]
        return self.real_state

    @status.setter
    def status(self, value: str) -> None:
        self.real_state = value

    def advance(self) -> None:
        pass

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out["JobRunState"] = self.real_state
        out["ExecutionTime"] = self.execution_time
        out["LogGroupName"] = PYTHON_JOB_LOG_GROUP
        out["LastModifiedOn"] = self.modified_on
        if self.completed_on is None:
            out.pop("CompletedOn", None)
        else:
            out["CompletedOn"] = self.completed_on
        if self.error_message:
            out["ErrorMessage"] = self.error_message
        if self.glue_version:
            out["GlueVersion"] = self.glue_version
        else:
            out.pop("GlueVersion", None)
        if self.effective_timeout:
            out["Timeout"] = self.effective_timeout
        for key in ("WorkerType", "NumberOfWorkers", "AllocatedCapacity", "MaxCapacity"):
            if out.get(key) is None:
                out.pop(key, None)
        return out


def _job_start_job_run(self: Any, **kwargs: Any) -> str:
    run_id = _ORIGINAL_START_JOB_RUN(self, **kwargs)
    run = next(r for r in self.job_runs if r.job_run_id == run_id)
    run.glue_version = self.glue_version
    run.effective_timeout = run.timeout or self.timeout or DEFAULT_JOB_TIMEOUT_MINUTES
    if not STATE.replaying and STATE.runner is not None:
        STATE.runner.launch(self, run)
    return run_id


def install_glue_patches() -> None:
    glue_models.FakeJobRun = RealJobRun  # FakeJob.start_job_run looks it up at call time
    glue_models.GlueBackend.create_job = _backend_create_job
    glue_models.GlueBackend.update_job = _backend_update_job
    glue_models.FakeJob.start_job_run = _job_start_job_run
    GlueResponse.update_job = _response_update_job


# ---------------------------------------------------------------------------
# Job runner
# ---------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _from_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def last_meaningful_line(lines: list[str]) -> str | None:
    """The line that says what went wrong: the exception, not the traceback frames."""
    for line in reversed(lines):
        text = line.strip()
        if not text or line[:1] in (" ", "\t"):
            continue
        if text.startswith("Traceback (most recent call last)"):
            continue
        return text[:2048]
    return None


def parse_module_specs(value: str) -> list[tuple[str, str | None]]:
    """`--additional-python-modules` value -> [(distribution name, pinned version)]."""
    specs = []
    for raw in value.split(","):
        spec = raw.strip().split(" ")[0]
        if not spec or spec.startswith("-") or spec.startswith("s3://"):
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(==\s*([^,;\s]+))?", spec)
        if match:
            specs.append((match.group(1), match.group(4)))
    return specs


def top_level_modules(dist: Any) -> list[str]:
    """Import names of a distribution: top_level.txt, else the top-level packages it installs."""
    listed = (dist.read_text("top_level.txt") or "").split()
    if listed:
        return listed
    names = set()
    for path in dist.files or []:
        parts = path.parts
        if len(parts) >= 2 and parts[1] == "__init__.py" and not parts[0].endswith(".dist-info"):
            names.add(parts[0])
        elif len(parts) == 1 and parts[0].endswith(".py"):
            names.add(parts[0][:-3])
    return sorted(names)


def merged_arguments(job: Any, run: Any) -> dict[str, str]:
    # moto already merged them with AWS's per-key precedence:
    # DefaultArguments < StartJobRun.Arguments < NonOverridableArguments.
    return dict(run.arguments or {})


def script_argv(job: Any, run: Any, script_path: str) -> tuple[list[str], list[str]]:
    """The subprocess argv, and the Glue-own keys that were held back."""
    argv = [sys.executable, script_path, "--JOB_NAME", job.name, "--JOB_RUN_ID", run.job_run_id]
    held_back = []
    for key, value in merged_arguments(job, run).items():
        if key in GLUE_OWN_ARGUMENTS or not key.startswith("--"):
            held_back.append(key)
            continue
        if key in ("--JOB_NAME", "--JOB_RUN_ID"):
            continue
        argv += [key, str(value)]
    return argv, held_back


class JobRunner:
    def __init__(self, state_dir: str | None, seconds_per_minute: float) -> None:
        self.state_dir = state_dir
        self.seconds_per_minute = seconds_per_minute
        self.work_root = tempfile.mkdtemp(prefix="sfglue-launcher-runs-")
        self.empty_file = os.path.join(self.work_root, "empty")
        open(self.empty_file, "w").close()
        self.active: dict[str, tuple[Any, Any, subprocess.Popen | None]] = {}
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    # -- public -----------------------------------------------------------
    def launch(self, job: Any, run: Any) -> None:
        self.active[run.job_run_id] = (job, run, None)
        thread = threading.Thread(
            target=self._run_guarded, args=(job, run), name=f"run-{run.job_run_id[:11]}",
            daemon=True,
        )
        self.threads.append(thread)
        thread.start()

    def stop_all(self, wait_seconds: float = 10.0) -> None:
        self.stopping.set()
        for _job, _run, proc in list(self.active.values()):
            if proc is not None and proc.poll() is None:
                LOG.info("stopping job run process pid %d", proc.pid)
                proc.terminate()
        deadline = time.monotonic() + wait_seconds
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def cleanup(self) -> None:
        shutil.rmtree(self.work_root, ignore_errors=True)

    # -- internals --------------------------------------------------------
    def _run_guarded(self, job: Any, run: Any) -> None:
        try:
            self._run(job, run)
        except Exception as exc:  # a launcher bug must still end the run
            LOG.exception("job run %s crashed in the launcher", run.job_run_id)
            self._finish(job, run, "ERROR", f"launcher error: {exc}", [], [])

    def _fetch_script(self, job: Any) -> bytes:
        location = (job.command or {}).get("ScriptLocation") or ""
        match = re.match(r"^s3://([^/]+)/(.+)$", location)
        if not match:
            raise RuntimeError(f"Command.ScriptLocation is not an s3:// URI: {location!r}")
        bucket, key = match.groups()
        backend = job.backend
        with STATE.lock:
            s3 = s3_backends[backend.account_id]["aws"]
            try:
                obj = s3.get_object(bucket, key)
            except Exception:
                obj = None
            if obj is None:
                raise RuntimeError(f"Script location {location} does not exist (NoSuchKey)")
            return obj.value

    def _check_modules(self, args: dict[str, str]) -> str | None:
        """Glue would pip-install these; here each must already be importable in the venv."""
        value = args.get("--additional-python-modules")
        if not value:
            return None
        for name, pinned in parse_module_specs(value):
            try:
                dist = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                return (
                    f"ModuleNotFoundError: --additional-python-modules asks for {name!r}, which "
                    "is not installed in the launcher's Python (the launcher does not "
                    "pip-install; add it to requirements-dev.txt)"
                )
            modules = top_level_modules(dist) or [name.replace("-", "_").lower()]
            for module in modules:
                if module.startswith("_"):
                    continue
                try:
                    importlib.import_module(module)
                except Exception as exc:
                    return f"ImportError: {name} is installed but `import {module}` fails: {exc}"
            if pinned and pinned != dist.version:
                LOG.warning("--additional-python-modules pins %s==%s but the venv has %s",
                            name, pinned, dist.version)
            else:
                LOG.info("--additional-python-modules: %s %s is importable (%s)", name,
                         dist.version, ", ".join(modules))
        return None

    def _env(self, region: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_ENDPOINT_URL": STATE.base_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": self.empty_file,
            "AWS_SHARED_CREDENTIALS_FILE": self.empty_file,
            "AWS_SDK_UA_APP_ID": JOB_UA_APP_ID,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
            if os.environ.get(name):
                env[name] = os.environ[name]
        return env

    def _run(self, job: Any, run: Any) -> None:
        run_id = run.job_run_id
        args = merged_arguments(job, run)
        out_lines: list[str] = []
        err_lines: list[str] = []
        try:
            script = self._fetch_script(job)
        except RuntimeError as exc:
            self._finish(job, run, "FAILED", str(exc), out_lines, err_lines)
            return
        problem = self._check_modules(args)
        if problem:
            self._finish(job, run, "FAILED", problem, out_lines, err_lines)
            return
        workdir = os.path.join(self.work_root, run_id)
        os.makedirs(workdir, exist_ok=True)
        script_path = os.path.join(workdir, os.path.basename(job.command["ScriptLocation"]))
        with open(script_path, "wb") as fh:
            fh.write(script)
        argv, held_back = script_argv(job, run, script_path)
        if held_back:
            LOG.info("run %s: Glue's own arguments accepted, not passed to the script: %s",
                     run_id, ", ".join(held_back))
        env = self._env(job.backend.region_name)
        env["HOME"] = workdir
        env["TMPDIR"] = workdir
        sinks = LogSinks(job, run, self.state_dir)
        if self.stopping.is_set():
            self._finish(job, run, "STOPPED", "launcher is stopping", out_lines, err_lines)
            return
        proc = subprocess.Popen(
            argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
        )
        self.active[run_id] = (job, run, proc)
        with STATE.lock:
            run.real_state = "RUNNING"
            run.modified_on = utcnow()
        LOG.info("run %s of job %s: RUNNING (pid %d)", run_id, job.name, proc.pid)
        readers = [
            threading.Thread(target=sinks.pump, args=(proc.stdout, "output", out_lines), daemon=True),
            threading.Thread(target=sinks.pump, args=(proc.stderr, "error", err_lines), daemon=True),
        ]
        for reader in readers:
            reader.start()
        limit = float(run.effective_timeout) * self.seconds_per_minute
        state = None
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            state = "TIMEOUT"
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for reader in readers:
            reader.join(10)
        sinks.close()
        if state == "TIMEOUT":
            message = f"Job run timed out after {run.effective_timeout} minutes"
        elif self.stopping.is_set() and proc.returncode != 0:
            state, message = "STOPPED", "launcher stopped while the run was in progress"
        elif proc.returncode == 0:
            state, message = "SUCCEEDED", None
        else:
            state = "FAILED"
            message = last_meaningful_line(err_lines) or f"Command failed with exit code {proc.returncode}"
        self._finish(job, run, state, message, out_lines, err_lines, sinks.events)

    def _finish(
        self, job: Any, run: Any, state: str, message: str | None,
        out_lines: list[str], err_lines: list[str],
        events: dict[str, list[list[Any]]] | None = None,
    ) -> None:
        with STATE.lock:
            now = utcnow()
            run.real_state = state
            run.error_message = message
            run.completed_on = now
            run.modified_on = now
            run.execution_time = int(max(0.0, (now - run.started_on).total_seconds()))
            if STATE.journal is not None:
                for kind, group in (("output", OUTPUT_LOG_GROUP), ("error", ERROR_LOG_GROUP)):
                    if events and events.get(kind):
                        STATE.journal.append({
                            "type": "logs", "account": job.backend.account_id,
                            "region": job.backend.region_name, "group": group,
                            "stream": run.job_run_id, "events": events[kind],
                        })
                STATE.journal.append(run_result_entry(job, run))
            self.active.pop(run.job_run_id, None)
        if self.state_dir:
            rundir = os.path.join(self.state_dir, "runs", run.job_run_id)
            os.makedirs(rundir, exist_ok=True)
            with open(os.path.join(rundir, "result.json"), "w", encoding="utf-8") as fh:
                json.dump(run_result_entry(job, run), fh, indent=2)
        LOG.info("run %s of job %s: %s%s", run.job_run_id, job.name, state,
                 f" ({message})" if message else "")


def run_result_entry(job: Any, run: Any) -> dict[str, Any]:
    return {
        "type": "run_result", "account": job.backend.account_id,
        "region": job.backend.region_name, "job": job.name, "run_id": run.job_run_id,
        "state": run.real_state, "error": run.error_message,
        "started_on": _iso(run.started_on), "completed_on": _iso(run.completed_on),
        "execution_time": run.execution_time,
    }


def ensure_log_stream(account: str, region: str, group: str, stream: str) -> Any:
    backend = logs_backends[account][region]
    if group not in backend.groups:
        backend.create_log_group(group, tags={})
    backend.ensure_log_stream(group, stream)
    return backend.groups[group].streams[stream]


class LogSinks:
    """Writes a run's stdout/stderr lines to moto's CloudWatch Logs as they come."""

    def __init__(self, job: Any, run: Any, state_dir: str | None) -> None:
        self.account = job.backend.account_id
        self.region = job.backend.region_name
        self.run_id = run.job_run_id
        self.events: dict[str, list[list[Any]]] = {"output": [], "error": []}
        self.files: dict[str, Any] = {}
        with STATE.lock:
            self.streams = {
                "output": ensure_log_stream(self.account, self.region, OUTPUT_LOG_GROUP, self.run_id),
                "error": ensure_log_stream(self.account, self.region, ERROR_LOG_GROUP, self.run_id),
            }
        if state_dir:
            rundir = os.path.join(state_dir, "runs", self.run_id)
            os.makedirs(rundir, exist_ok=True)
            self.files = {
                "output": open(os.path.join(rundir, "stdout.log"), "w", encoding="utf-8"),
                "error": open(os.path.join(rundir, "stderr.log"), "w", encoding="utf-8"),
            }

    def pump(self, pipe: Any, kind: str, lines: list[str]) -> None:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            lines.append(line)
            stamp = int(time.time() * 1000)
            self.events[kind].append([stamp, line])
            with STATE.lock:
                self.streams[kind].put_log_events([{"timestamp": stamp, "message": line}])
            fh = self.files.get(kind)
            if fh is not None:
                fh.write(line + "\n")
                fh.flush()
        pipe.close()

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()


# ---------------------------------------------------------------------------
# Request classification, faults, counters
# ---------------------------------------------------------------------------


def read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        try:
            return stream.read(int(length))
        except ValueError:
            return b""
    if environ.get("wsgi.input_terminated"):
        return stream.read()
    return b""


def rebody(environ: dict[str, Any], body: bytes) -> None:
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("wsgi.input_terminated", None)
    environ.pop("HTTP_TRANSFER_ENCODING", None)


def classify(environ: dict[str, Any], body: bytes) -> tuple[str, str]:
    """(service, operation) of an AWS request, e.g. ("glue", "CreateJob")."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = CREDENTIAL_SCOPE.search(auth)
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if not match and "X-Amz-Credential" in query:
        match = CREDENTIAL_SCOPE.search("Credential=" + query["X-Amz-Credential"][0])
    service = match.group(2) if match else "unknown"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return service, target.split(".")[-1]
    if "Action" in query:
        return service, query["Action"][0]
    ctype = environ.get("CONTENT_TYPE", "")
    if "x-www-form-urlencoded" in ctype and body:
        form = parse_qs(body.decode("utf-8", errors="replace"))
        if "Action" in form:
            return service, form["Action"][0]
    if service in ("s3", "unknown"):
        try:
            probe = dict(environ)
            probe["wsgi.input"] = io.BytesIO(body)
            operation, _params = get_service_router("s3").match(MotoRequest(probe))
            return "s3", operation.name
        except Exception:
            pass
    return service, f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"


def is_read(service: str, operation: str, method: str) -> bool:
    if service == "s3" and method in ("GET", "HEAD"):
        return True
    return bool(READ_OPERATION.match(operation))


JSON_SERVICES = ("glue", "secretsmanager", "logs")
INTERNAL_ERROR_CODES = {
    "glue": "InternalServiceException",
    "secretsmanager": "InternalServiceError",
    "logs": "ServiceUnavailableException",
    "iam": "ServiceFailure",
    "s3": "InternalError",
}


def error_response(service: str, status: int, code: str, message: str) -> tuple[str, list, bytes]:
    request_id = secrets.token_hex(16)
    reason = {400: "Bad Request", 409: "Conflict", 500: "Internal Server Error",
              503: "Service Unavailable"}.get(status, "Error")
    if service in JSON_SERVICES:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"),
                   ("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)]
    elif service == "s3":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
                f"<Message>{message}</Message><RequestId>{request_id}</RequestId></Error>").encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    else:
        kind = "Receiver" if status >= 500 else "Sender"
        body = (f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>").encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    headers.append(("Content-Length", str(len(body))))
    return f"{status} {reason}", headers, body


class Faults:
    KINDS = ("throttle", "500", "drop", "error")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[dict[str, Any]] = []
        self.next_id = 1

    def add(self, spec: dict[str, Any]) -> dict[str, Any]:
        operation = spec.get("operation")
        kind = str(spec.get("kind", ""))
        if not operation or kind not in self.KINDS:
            raise ValueError(f"need 'operation' and 'kind' in {self.KINDS}")
        times = int(spec.get("times", 1))
        skip = int(spec.get("skip", 0))
        if times < 1 or skip < 0:
            raise ValueError("'times' must be >= 1 and 'skip' >= 0")
        rule = {
            "id": self.next_id, "operation": operation, "service": spec.get("service"),
            "kind": kind, "times": times, "skip": skip, "remaining": times, "fired": 0,
            "status": int(spec.get("status", 400)), "code": spec.get("code"),
            "message": spec.get("message"),
        }
        if kind == "error" and not rule["code"]:
            raise ValueError("kind 'error' needs a 'code'")
        with self.lock:
            self.next_id += 1
            self.rules.append(rule)
        return dict(rule)

    def take(self, service: str, operation: str) -> dict[str, Any] | None:
        with self.lock:
            for rule in self.rules:
                if rule["remaining"] <= 0 or rule["operation"] != operation:
                    continue
                if rule["service"] and rule["service"] != service:
                    continue
                if rule["skip"] > 0:
                    rule["skip"] -= 1
                    continue
                rule["remaining"] -= 1
                rule["fired"] += 1
                return dict(rule)
        return None

    def listing(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(rule) for rule in self.rules]

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.since = time.time()
            self.operations: dict[str, int] = {}
            self.services: dict[str, dict[str, int]] = {}
            self.job_operations: dict[str, int] = {}
            self.reads = 0
            self.writes = 0
            self.write_calls: list[str] = []
            self.in_flight = 0
            self.max_in_flight = 0

    def enter(self) -> None:
        """An AWS request arrived (its handler thread runs until it is answered)."""
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def add(self, service: str, operation: str, read: bool, from_job: bool) -> None:
        with self.lock:
            self.operations[operation] = self.operations.get(operation, 0) + 1
            per = self.services.setdefault(service, {})
            per[operation] = per.get(operation, 0) + 1
            if from_job:
                self.job_operations[operation] = self.job_operations.get(operation, 0) + 1
            if read:
                self.reads += 1
            else:
                self.writes += 1
                self.write_calls.append(f"{service}:{operation}")

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "since": self.since, "total": self.reads + self.writes,
                "reads": self.reads, "writes": self.writes,
                "operations": dict(self.operations),
                "services": {k: dict(v) for k, v in self.services.items()},
                "job_operations": dict(self.job_operations),
                "write_calls": list(self.write_calls),
                # The most AWS requests being handled at one moment since the reset: a client
                # that waits for each answer before it sends the next never makes this exceed 1.
                "max_in_flight": self.max_in_flight,
            }


# ---------------------------------------------------------------------------
# The WSGI application
# ---------------------------------------------------------------------------


def _json(start_response: Callable, status: str, payload: Any) -> list[bytes]:
    body = json.dumps(payload, indent=1, default=str).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def journal_headers(environ: dict[str, Any]) -> dict[str, Any]:
    keep = {}
    for key, value in environ.items():
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE",):
            if key in ("HTTP_HOST", "HTTP_TRANSFER_ENCODING"):
                continue
            keep[key] = value
    return keep


class LauncherApp:
    def __init__(self) -> None:
        self.moto_app = DomainDispatcherApplication(create_backend_app)
        self.faults = Faults()
        self.counters = Counters()
        self.started = time.time()
        self.replayed = 0
        # Added to every AWS request, outside the lock around moto: the network round trip to a
        # real AWS endpoint, during which a client's concurrent requests overlap (moto itself
        # answers one request at a time). 0 by default; set with POST /__launcher/latency.
        self.latency_ms = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/__launcher/"):
            return self.admin(environ, start_response)
        self.counters.enter()
        try:
            if self.latency_ms > 0:
                time.sleep(self.latency_ms / 1000.0)
            return self.handle(environ, start_response, path)
        finally:
            self.counters.leave()

    def handle(self, environ: dict[str, Any], start_response: Callable, path: str) -> Iterable[bytes]:
        body = read_body(environ)
        rebody(environ, body)
        if path.startswith("/moto-api/"):
            return self.moto_api(environ, start_response, body)
        service, operation = classify(environ, body)
        method = environ.get("REQUEST_METHOD", "GET")
        read = is_read(service, operation, method)
        from_job = JOB_UA_APP_ID in environ.get("HTTP_USER_AGENT", "")
        self.counters.add(service, operation, read, from_job)
        fault = self.faults.take(service, operation)
        if fault is not None:
            return self.inject(environ, start_response, service, operation, fault)
        with STATE.lock:
            if not read:
                warm_backends(environ)
                reseed(STATE.seq)
            status, headers, chunks = self.call_moto(environ)
            if not read and int(status.split(" ", 1)[0]) < 400 and STATE.journal is not None:
                STATE.journal.append(request_entry(environ, body, STATE.seq, service, operation, status))
                STATE.seq += 1
            elif not read and int(status.split(" ", 1)[0]) < 400:
                STATE.seq += 1
        start_response(status, headers)
        return chunks

    def call_moto(self, environ: dict[str, Any]) -> tuple[str, list, list[bytes]]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured["status"] = status
            captured["headers"] = headers
            return lambda data: None

        result = self.moto_app(environ, capture)
        try:
            chunks = [b"".join(result)]
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return captured["status"], captured["headers"], chunks

    def inject(self, environ: dict[str, Any], start_response: Callable, service: str,
               operation: str, fault: dict[str, Any]) -> list[bytes]:
        LOG.info("fault %d: %s %s:%s", fault["id"], fault["kind"], service, operation)
        kind = fault["kind"]
        if kind == "drop":
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            start_response("500 Connection Dropped", [("Content-Length", "0")])
            return []
        if kind == "throttle":
            if service == "s3":
                status, headers, body = error_response(
                    service, 503, "SlowDown", "Please reduce your request rate.")
            elif service in JSON_SERVICES:
                status, headers, body = error_response(service, 400, "ThrottlingException", "Rate exceeded")
            else:
                status, headers, body = error_response(service, 400, "Throttling", "Rate exceeded")
        elif kind == "500":
            code = INTERNAL_ERROR_CODES.get(service, "InternalFailure")
            status, headers, body = error_response(service, 500, code, "Injected internal error")
        else:
            status, headers, body = error_response(
                service, fault["status"], fault["code"], fault["message"] or "Injected error")
        start_response(status, headers)
        return [body]

    def moto_api(self, environ: dict[str, Any], start_response: Callable, body: bytes) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        with STATE.lock:
            status, headers, chunks = self.call_moto(environ)
            ok = int(status.split(" ", 1)[0]) < 400
            if ok and method == "POST" and path.rstrip("/") == "/moto-api/reset":
                STATE.seq = 0
                _WARMED.clear()  # the reset dropped every backend; they come back lazily
                if STATE.journal is not None:
                    STATE.journal.truncate(STATE.seed)
            elif ok and method in ("POST", "PUT", "DELETE") and not path.startswith("/moto-api/seed") \
                    and STATE.journal is not None:
                STATE.journal.append(request_entry(environ, body, STATE.seq, "moto-api", path, status))
        start_response(status, headers)
        return chunks

    def admin(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        path = environ.get("PATH_INFO", "").rstrip("/")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/__launcher/health" and method == "GET":
            return _json(start_response, "200 OK", {
                "ok": True, "moto": moto.__version__, "url": STATE.base_url,
                "state_dir": STATE.journal.state_dir if STATE.journal else None,
                "replayed": self.replayed, "pid": os.getpid(),
            })
        if path == "/__launcher/requests" and method == "GET":
            return _json(start_response, "200 OK", self.counters.snapshot())
        if path == "/__launcher/requests/reset" and method == "POST":
            self.counters.reset()
            return _json(start_response, "200 OK", {"reset": True})
        if path == "/__launcher/latency":
            if method == "POST":
                try:
                    spec = json.loads(read_body(environ) or b"{}")
                    ms = float(spec["ms"]) if isinstance(spec, dict) else -1.0
                    if not 0 <= ms <= 10_000:
                        raise ValueError("'ms' must be a number from 0 to 10000")
                except (ValueError, TypeError, KeyError) as exc:
                    return _json(start_response, "400 Bad Request", {"error": f"need {{\"ms\": N}}: {exc}"})
                self.latency_ms = ms
            if method in ("GET", "POST"):
                return _json(start_response, "200 OK", {"ms": self.latency_ms})
        if path == "/__launcher/faults":
            if method == "GET":
                return _json(start_response, "200 OK", {"faults": self.faults.listing()})
            if method == "DELETE":
                self.faults.clear()
                return _json(start_response, "200 OK", {"cleared": True})
            if method == "POST":
                try:
                    spec = json.loads(read_body(environ) or b"{}")
                    if not isinstance(spec, dict):
                        raise ValueError("body must be a JSON object")
                    rule = self.faults.add(spec)
                except (ValueError, TypeError) as exc:
                    return _json(start_response, "400 Bad Request", {"error": str(exc)})
                return _json(start_response, "201 Created", rule)
        return _json(start_response, "404 Not Found", {"error": f"no admin route {method} {path}"})


def request_entry(environ: dict[str, Any], body: bytes, seq: int, service: str,
                  operation: str, status: str) -> dict[str, Any]:
    return {
        "type": "request", "seq": seq, "service": service, "operation": operation,
        "status": int(status.split(" ", 1)[0]),
        "method": environ.get("REQUEST_METHOD"), "path": environ.get("PATH_INFO"),
        "query": environ.get("QUERY_STRING", ""), "raw_uri": environ.get("RAW_URI"),
        "headers": journal_headers(environ),
        "preserved": environ.get(PRESERVED_HEADER_NAMES_ENVIRON_KEY) or {},
        "body": base64.b64encode(body).decode("ascii"),
    }


# ---------------------------------------------------------------------------
# Replay
# ---------------------------------------------------------------------------


def replay(app: LauncherApp, entries: list[dict[str, Any]], host: str, port: int) -> int:
    STATE.replaying = True
    count = 0
    try:
        for entry in entries:
            kind = entry.get("type")
            if kind == "request":
                replay_request(app, entry, host, port)
                count += 1
            elif kind == "logs":
                with STATE.lock:
                    stream = ensure_log_stream(entry["account"], entry["region"], entry["group"],
                                               entry["stream"])
                    events = [{"timestamp": t, "message": m} for t, m in entry["events"]]
                    if events:
                        stream.put_log_events(events)
            elif kind == "run_result":
                apply_run_result(entry)
        # Runs that were in flight when the previous launcher stopped never finished.
        with STATE.lock:
            for _account, regions in glue_models.glue_backends.items():
                for _region, backend in regions.items():
                    for job in backend.jobs.values():
                        for run in job.job_runs:
                            if getattr(run, "real_state", None) in ("STARTING", "RUNNING"):
                                run.real_state = "STOPPED"
                                run.error_message = "launcher stopped while the run was in progress"
                                run.completed_on = utcnow()
                                if STATE.journal is not None:
                                    STATE.journal.append(run_result_entry(job, run))
    finally:
        STATE.replaying = False
    return count


def replay_request(app: LauncherApp, entry: dict[str, Any], host: str, port: int) -> None:
    body = base64.b64decode(entry.get("body") or "")
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
        "wsgi.run_once": False, "SERVER_SOFTWARE": "sfglue-launcher-replay",
        "REQUEST_METHOD": entry["method"], "SCRIPT_NAME": "", "PATH_INFO": entry["path"],
        "QUERY_STRING": entry.get("query", ""), "REQUEST_URI": entry.get("raw_uri") or entry["path"],
        "RAW_URI": entry.get("raw_uri") or entry["path"], "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": 0, "SERVER_NAME": host, "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": f"{host}:{port}",
    }
    environ.update(entry.get("headers") or {})
    if entry.get("preserved"):
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = entry["preserved"]
    with STATE.lock:
        if entry.get("service") != "moto-api":
            STATE.seq = int(entry["seq"])
            warm_backends(environ)
            reseed(STATE.seq)
        status, _headers, _chunks = app.call_moto(environ)
        if entry.get("service") != "moto-api":
            STATE.seq += 1
    got = int(status.split(" ", 1)[0])
    if got != entry.get("status"):
        LOG.warning("replay of %s %s answered %d, journal says %s",
                    entry.get("service"), entry.get("operation"), got, entry.get("status"))


def apply_run_result(entry: dict[str, Any]) -> None:
    with STATE.lock:
        try:
            job = glue_models.glue_backends[entry["account"]][entry["region"]].jobs[entry["job"]]
        except KeyError:
            return
        for run in job.job_runs:
            if run.job_run_id == entry["run_id"]:
                run.real_state = entry["state"]
                run.error_message = entry.get("error")
                run.started_on = _from_iso(entry.get("started_on")) or run.started_on
                run.completed_on = _from_iso(entry.get("completed_on"))
                run.modified_on = run.completed_on or run.modified_on
                run.execution_time = int(entry.get("execution_time") or 0)


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError("expected HOST:PORT, e.g. 127.0.0.1:0")
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        raise argparse.ArgumentTypeError("the launcher binds to loopback only (127.0.0.1)")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port {port!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 0),
                        help="HOST:PORT to bind, loopback only (default 127.0.0.1:0 = a free port)")
    parser.add_argument("--state-dir", help="keep state here (journal.jsonl, runs/) and restore it at start")
    parser.add_argument("--seconds-per-timeout-minute", type=float, default=60.0,
                        help="length of one minute of a job's Timeout, in seconds (tests use 1)")
    parser.add_argument("--verbose", action="store_true", help="also log every HTTP request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s launcher %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.WARNING)

    install_glue_patches()
    app = LauncherApp()
    host, port = args.listen
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_port
    STATE.base_url = f"http://{host if ':' not in host else '[' + host + ']'}:{port}"
    STATE.runner = JobRunner(args.state_dir, args.seconds_per_timeout_minute)

    if args.state_dir:
        journal = Journal(args.state_dir)
        if not journal.lock():
            LOG.error("another launcher already uses the state dir %s (see %s/lock)",
                      args.state_dir, args.state_dir)
            server.server_close()
            return 2
        entries = journal.load()
        header = entries[0] if entries and entries[0].get("type") == "header" else None
        if header and header.get("format") == JOURNAL_FORMAT:
            STATE.seed = header["seed"]
            if header.get("moto") != moto.__version__:
                LOG.warning("journal written by moto %s, this is moto %s",
                            header.get("moto"), moto.__version__)
            journal.open(STATE.seed, fresh=False)
            STATE.journal = journal
            app.replayed = replay(app, entries[1:], host, port)
            LOG.info("restored state from %s: %d requests replayed", journal.path, app.replayed)
        else:
            if entries:
                LOG.warning("%s has no valid header; starting empty", journal.path)
            journal.open(STATE.seed, fresh=True)
            STATE.journal = journal

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    sys.stdout.write(STATE.base_url + "\n")
    sys.stdout.flush()
    LOG.info("moto %s serving on %s (state dir: %s)", moto.__version__, STATE.base_url,
             args.state_dir or "none")
    while not stop.wait(0.5):
        pass
    LOG.info("stopping")
    STATE.runner.stop_all()
    server.shutdown()
    thread.join(10)
    if STATE.journal is not None:
        STATE.journal.close()
    STATE.runner.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
