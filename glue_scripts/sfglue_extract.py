"""sfglue Glue job: sign in to Salesforce with the OAuth 2.0 JWT bearer flow, run SOQL
queries, and stream the records to S3 (gzip JSON Lines by default, JSON Lines, Parquet, or for Bulk
queries Bulk API 2.0's CSV as it arrives, gzip or plain).

Runs as an AWS Glue Python shell job (Python 3.9) and locally (Python 3.9 to 3.11).
README.md next to this file documents every argument, query key, output and message.

Job arguments (Glue passes them as ``--name value``):
  --secret_id   Secrets Manager secret (ARN or name) holding the sfglue/v1 JSON below
  --output_uri  s3://bucket/prefix/ ; query output goes to <prefix><query>/run=<JOB_RUN_ID>/part-NNNNN.<ext>
  --queries     JSON array: [{"name": "accounts", "soql": "SELECT Id, Name FROM Account",
                "api": "rest|bulk|auto", "format": "jsonl.gz|jsonl|csv.gz|csv|parquet",
                "watermark": "SystemModstamp"}] (csv.gz and csv need api bulk)
                (only name and soql are required)
  --JOB_NAME, --JOB_RUN_ID   set by Glue
  optional: --max_concurrency (4) --max_part_bytes (32 MiB) --bulk_threshold (100000)
            --bulk_max_records (Salesforce's default) --max_attempts (5) --http_timeout (120)
            --bulk_timeout (21600) --bulk_poll_max (10) --max_logins (5)

The secret's SecretString (written by the sfglue CLI):
  {"schema": "sfglue/v1", "private_key_pem": "...", "certificate_pem": "...",
   "certificate_sha256": "...", "certificate_not_after": "2027-12-04T14:00:00Z",
   "consumer_key": "...", "username": "...", "login_url": "https://login.salesforce.com",
   "audience": "https://login.salesforce.com", "api_version": "62.0"}

Output on stdout: one line per query as it ends (succeeded, failed or stopped)
  sfglue query=<name> records=<n> pages=<p> seconds=<s.ss> output=s3://.../ api=... bytes=... ... status=...
  (a query that did not succeed ends its line with error=<what went wrong>)
and at the end one line ``sfglue summary <json>`` (also written to S3). On failure: exit status 1
and one line ``sfglue error: <what went wrong>`` on stderr. The private key, the signed assertion
and the access token are never printed.
"""

import argparse
import csv
import gc
import io
import json
import os
import queue
import random
import re
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date, datetime, timezone
from functools import partial
from itertools import repeat
from operator import itemgetter, methodcaller
from typing import Any, Callable, Optional

try:
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError as exc:  # pragma: no cover - only on a Glue library-set without boto3
    boto3 = None
    _BOTO_IMPORT_ERROR: Optional[ImportError] = exc
else:
    _BOTO_IMPORT_ERROR = None

try:
    import jwt
    import requests
    from cryptography.hazmat.primitives import serialization
except ImportError as exc:  # pragma: no cover - exercised only where a module is missing
    jwt = None
    requests = None
    serialization = None
    _SIGNING_IMPORT_ERROR: Optional[ImportError] = exc
else:
    _SIGNING_IMPORT_ERROR = None

SECRET_SCHEMA = "sfglue/v1"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/services/oauth2/token"
ASSERTION_LIFETIME_SECONDS = 180
CONNECT_TIMEOUT = 10
QUERY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
REQUIRED_ARGS = ("secret_id", "output_uri", "queries")
USER_AGENT = "sfglue-glue-job/2"
APIS = ("rest", "bulk", "auto")
FORMATS = {"jsonl.gz": ".jsonl.gz", "jsonl": ".jsonl", "csv.gz": ".csv.gz", "csv": ".csv",
           "parquet": ".parquet"}
# Bulk API 2.0's CSV written through as it arrives (Bulk queries only: REST answers JSON).
CSV_FORMATS = ("csv.gz", "csv")
CONTENT_TYPES = {"jsonl": "application/x-ndjson", "jsonl.gz": "application/gzip", "csv": "text/csv",
                 "csv.gz": "application/gzip", "parquet": "application/vnd.apache.parquet"}
# zlib level of the .gz parts. On the benchmark's 20-field Bulk data (glue_scripts/README.md):
# level 1 compresses 3.4x (JSON Lines) to 4.6x (CSV) faster than level 6 for parts 1.15-1.23x
# larger (JSON Lines 18.9:1 against 23.2:1); level 3 is 10-30 % slower than 1 for 3-5 % less.
GZIP_LEVEL = 1
# Chunks (a few MiB each) waiting for the part writer's thread: bounds the memory it may hold.
WRITE_QUEUE_DEPTH = 4
# Threads that gzip the chunks of a part side by side (zlib lets go of the GIL), at most this
# many and no more than the CPUs; with one CPU a part is compressed as one plain stream.
GZIP_THREADS = min(4, os.cpu_count() or 1)
# Bulk CSV is read this many bytes at a time, cut after the last whole record, and written
# through or converted chunk by chunk. Parts are cut between chunks, so a part can exceed
# --max_part_bytes by one chunk.
CSV_BLOCK_BYTES = 4 * 1024 * 1024
RETRY_STATUS = (500, 502, 503, 504)
DEFAULT_MAX_PART_BYTES = 32 * 1024 * 1024
# name: (default, minimum); all integers.
OPTIONAL_ARGS = {
    "max_concurrency": (4, 1),
    "max_part_bytes": (DEFAULT_MAX_PART_BYTES, 1),
    "bulk_threshold": (100_000, 0),
    "bulk_max_records": (0, 0),  # 0: let Salesforce choose the page size
    "max_attempts": (5, 1),
    "http_timeout": (120, 1),
    "bulk_timeout": (6 * 3600, 1),
    "bulk_poll_max": (10, 1),
    "max_logins": (5, 1),
}


class JobError(Exception):
    """An expected failure (bad input, Salesforce or AWS said no): one line, no traceback."""


class LimitExceeded(JobError):
    """REQUEST_LIMIT_EXCEEDED: every further call burns more of the limit, so the run stops."""


class Stopped(JobError):
    """Another query hit a limit that stops the whole run."""


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------


def _scan_argv(argv: list, name: str) -> Optional[str]:
    flag = "--" + name
    for index, item in enumerate(argv):
        if item == flag and index + 1 < len(argv):
            return argv[index + 1]
        if item.startswith(flag + "="):
            return item[len(flag) + 1:]
    return None


def parse_args(argv: list) -> dict:
    """Job arguments as a dict; awsglue's getResolvedOptions when it imports, else argparse."""
    try:
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        getResolvedOptions = None

    if getResolvedOptions is not None:
        wanted = list(REQUIRED_ARGS)
        if "--JOB_NAME" in argv:
            wanted.append("JOB_NAME")
        try:
            resolved = dict(getResolvedOptions(argv, wanted))
        except Exception as exc:  # GlueArgumentError for a missing argument
            raise JobError(f"bad job arguments: {exc}") from None
    else:
        parser = argparse.ArgumentParser(prog="sfglue_extract", add_help=False)
        for name in REQUIRED_ARGS:
            parser.add_argument("--" + name)
        parser.add_argument("--JOB_NAME")
        parser.add_argument("--JOB_RUN_ID")
        known, _unknown = parser.parse_known_args(argv[1:])
        resolved = {k: v for k, v in vars(known).items() if v is not None}
        missing = [name for name in REQUIRED_ARGS if not resolved.get(name)]
        if missing:
            raise JobError("missing job arguments: " + ", ".join("--" + m for m in missing))

    resolved.setdefault("JOB_RUN_ID", _scan_argv(argv, "JOB_RUN_ID") or "")
    if not resolved["JOB_RUN_ID"]:
        resolved["JOB_RUN_ID"] = "local-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    resolved.setdefault("JOB_NAME", _scan_argv(argv, "JOB_NAME") or "")
    # Optional arguments are read from argv directly: getResolvedOptions fails on absent ones.
    for name, (default, minimum) in OPTIONAL_ARGS.items():
        text = _scan_argv(argv, name)
        try:
            value = int(text) if text not in (None, "") else default
        except ValueError:
            raise JobError(f"--{name} must be an integer, got {text!r}") from None
        if value < minimum:
            raise JobError(f"--{name} must be at least {minimum}, got {value}")
        resolved[name] = value
    return resolved


def parse_queries(text: str) -> list:
    try:
        queries = json.loads(text)
    except ValueError as exc:
        raise JobError(f"--queries is not valid JSON: {exc}") from None
    if not isinstance(queries, list) or not queries:
        raise JobError("--queries must be a non-empty JSON array of {\"name\", \"soql\"} objects")
    seen = set()
    out = []
    for index, query in enumerate(queries):
        if not isinstance(query, dict):
            raise JobError(f"--queries[{index}] is not an object")
        name, soql = query.get("name"), query.get("soql")
        if not isinstance(name, str) or not QUERY_NAME.match(name):
            raise JobError(f"--queries[{index}].name must match {QUERY_NAME.pattern}, got {name!r}")
        if not isinstance(soql, str) or not soql.strip():
            raise JobError(f"--queries[{index}] ({name}) has no soql")
        if name in seen:
            raise JobError(f"--queries has the name {name!r} twice")
        seen.add(name)
        unknown = sorted(set(query) - {"name", "soql", "api", "format", "watermark"})
        if unknown:
            raise JobError(f"--queries[{index}] ({name}) has unknown keys: {', '.join(unknown)}")
        api = query.get("api", "rest")
        if api not in APIS:
            raise JobError(f"--queries[{index}] ({name}): api must be one of {', '.join(APIS)}, got {api!r}")
        fmt = query.get("format", "jsonl.gz")
        if fmt not in FORMATS:
            raise JobError(f"--queries[{index}] ({name}): format must be one of {', '.join(FORMATS)}, "
                           f"got {fmt!r}")
        if fmt in CSV_FORMATS and api != "bulk":
            raise JobError(f"--queries[{index}] ({name}): format {fmt} writes Bulk API 2.0's CSV as "
                           f"it arrives, so it needs api bulk (got {api}); set \"api\": \"bulk\" "
                           "or use jsonl.gz")
        parsed = {"name": name, "soql": soql.strip(), "api": api, "format": fmt}
        watermark = query.get("watermark")
        if watermark is not None:
            if not isinstance(watermark, str) or not FIELD_NAME.match(watermark):
                raise JobError(f"--queries[{index}] ({name}): watermark must be a field name, "
                               f"got {watermark!r}")
            if watermark.lower() not in [f.lower() for f in select_fields(parsed["soql"])]:
                raise JobError(f"--queries[{index}] ({name}): the watermark field {watermark} must be in "
                               "the SELECT list")
            parsed["watermark"] = watermark
        out.append(parsed)
    return out


def parse_s3_uri(uri: str) -> tuple:
    match = re.match(r"^s3://([^/]+)/?(.*)$", uri or "")
    if not match:
        raise JobError(f"--output_uri must look like s3://bucket/prefix/, got {uri!r}")
    bucket, prefix = match.group(1), match.group(2)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


# ---------------------------------------------------------------------------
# SOQL rewriting (COUNT() for api=auto, the watermark filter)
# ---------------------------------------------------------------------------

_CLAUSES = ("from", "where", "group by", "order by", "limit", "offset", "with", "for")


def _clause_positions(soql: str) -> dict:
    """Where each top-level clause keyword starts (outside strings and parentheses)."""
    found = {}
    depth = 0
    i = 0
    lower = soql.lower()
    while i < len(soql):
        c = soql[i]
        if c == "'":
            i += 1
            while i < len(soql) and soql[i] != "'":
                i += 2 if soql[i] == "\\" else 1
            i += 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0 and (i == 0 or not (soql[i - 1].isalnum() or soql[i - 1] in "_.")):
            for clause in _CLAUSES:
                words = clause.split(" ")
                m = re.match(r"\s+".join(words) + r"(?![A-Za-z0-9_])", lower[i:])
                if m and clause not in found:
                    found[clause] = (i, i + m.end())
        i += 1
    return found


def select_fields(soql: str) -> list:
    pos = _clause_positions(soql)
    if "from" not in pos or not soql[:6].lower() == "select":
        return []
    return [f.strip() for f in soql[6:pos["from"][0]].split(",") if f.strip()]


def count_soql(soql: str) -> str:
    """SELECT COUNT() FROM … WHERE … for the same rows (no ORDER BY; LIMIT kept)."""
    pos = _clause_positions(soql)
    if "from" not in pos:
        raise JobError("the query has no FROM")
    end = len(soql)
    for clause in ("order by",):
        if clause in pos:
            end = min(end, pos[clause][0])
    tail = soql[pos["from"][0]:end].rstrip()
    if "limit" in pos and pos["limit"][0] >= end:
        tail += " " + soql[pos["limit"][0]:].strip()
        tail = re.sub(r"(?i)\s+offset\s+\d+\s*$", "", tail)
    return "SELECT COUNT() " + tail


def with_watermark(soql: str, field: str, value: Any) -> str:
    """The query restricted to records with field > value (the value from a previous run)."""
    if value is None:
        return soql
    literal = value if isinstance(value, str) else json.dumps(value)
    if not re.match(r"^[0-9][0-9TZ:+.\-]*$", literal):
        raise JobError(f"stored watermark {literal!r} is not a date, datetime or number")
    condition = f"{field} > {literal}"
    pos = _clause_positions(soql)
    if "where" in pos:
        start, body = pos["where"]
        ends = [p[0] for c, p in pos.items() if p[0] > start and c not in ("from", "where")]
        end = min(ends) if ends else len(soql)
        existing = soql[body:end].strip()
        rest = soql[end:].lstrip()
        return f"{soql[:start]}WHERE ({existing}) AND {condition}" + (" " + rest if rest else "")
    ends = [p[0] for c, p in pos.items() if c not in ("from", "where")]
    end = min(ends) if ends else len(soql)
    head = soql[:end].rstrip()
    rest = soql[end:].lstrip()
    return f"{head} WHERE {condition}" + (" " + rest if rest else "")


_DT_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z")


def watermark_key(value: Any) -> Any:
    """A comparable form of a watermark value: datetimes, dates and numbers compare by value."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, float(value))
    if isinstance(value, str):
        text = value.replace("Z", "+0000")
        for fmt in _DT_FORMATS:
            try:
                return (0, datetime.strptime(text, fmt))
            except ValueError:
                pass
        try:
            return (0, datetime.combine(date.fromisoformat(value), datetime.min.time(), timezone.utc))
        except ValueError:
            pass
        try:
            return (1, float(value))
        except ValueError:
            pass
    raise JobError(f"watermark value {value!r} is not a date, datetime or number")


def watermark_literal(value: Any) -> Any:
    """The SOQL literal to store: datetimes in UTC with milliseconds, others as they came."""
    kind, parsed = watermark_key(value)
    if kind == 0 and isinstance(value, str) and "T" in value:
        utc = parsed.astimezone(timezone.utc)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return value


# ---------------------------------------------------------------------------
# The secret
# ---------------------------------------------------------------------------


def normalize_pem(pem: str) -> str:
    """Repair the usual ways a PEM gets mangled in JSON: literal \\n, CRLF, lost line breaks."""
    if not isinstance(pem, str) or not pem.strip():
        raise JobError("the secret's private_key_pem is empty")
    text = pem.strip().replace("\\r", "").replace("\\n", "\n")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    match = re.search(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", text, re.S)
    if not match:
        raise JobError("the secret's private_key_pem is not a PEM block (no BEGIN/END lines)")
    label = match.group(1)
    if "ENCRYPTED" in label:
        raise JobError("the secret's private key is encrypted; sfglue needs an unencrypted PKCS#8 key")
    if "PRIVATE KEY" not in label:
        raise JobError(f"the secret's private_key_pem holds a {label}, not a private key")
    body = re.sub(r"\s+", "", match.group(2))
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN {}-----\n{}\n-----END {}-----\n".format(label, "\n".join(lines), label)


def load_private_key(pem: str) -> Any:
    data = normalize_pem(pem).encode("ascii", errors="replace")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        # The message of cryptography never contains the key material.
        raise JobError(f"cannot load the secret's private key: {exc}") from None


def parse_secret(secret_string: str) -> dict:
    try:
        secret = json.loads(secret_string)
    except (TypeError, ValueError):
        raise JobError("the secret's SecretString is not JSON") from None
    if not isinstance(secret, dict):
        raise JobError("the secret's SecretString is not a JSON object")
    schema = secret.get("schema")
    if schema != SECRET_SCHEMA:
        raise JobError(f"the secret has schema {schema!r}, expected {SECRET_SCHEMA!r}")
    missing = [k for k in ("private_key_pem", "consumer_key", "username", "login_url")
               if not isinstance(secret.get(k), str) or not secret.get(k)]
    if missing:
        raise JobError("the secret lacks " + ", ".join(missing))
    secret.setdefault("audience", secret["login_url"])
    secret.setdefault("api_version", "62.0")
    secret["login_url"] = secret["login_url"].rstrip("/")
    secret["api_version"] = str(secret["api_version"]).lstrip("v")
    return secret


def certificate_warning(secret: dict, now: Optional[datetime] = None) -> Optional[str]:
    not_after = secret.get("certificate_not_after")
    if not isinstance(not_after, str) or not not_after:
        return None
    try:
        when = datetime.strptime(not_after.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
    now = now or datetime.now(timezone.utc)
    if when <= now:
        return f"the certificate in the secret expired at {not_after}; Salesforce may refuse it"
    if (when - now).days < 30:
        return f"the certificate in the secret expires at {not_after}; rotate the key soon"
    return None


def region_from_arn(secret_id: str) -> Optional[str]:
    parts = secret_id.split(":")
    if len(parts) > 4 and parts[0] == "arn" and parts[3]:
        return parts[3]
    return None


def aws_client(service: str, region: Optional[str]) -> Any:
    kwargs = {}
    if region and not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        kwargs["region_name"] = region
    options = {"retries": {"max_attempts": 5, "mode": "standard"}, "connect_timeout": CONNECT_TIMEOUT,
               "read_timeout": 120, "max_pool_connections": 32}
    if service == "s3" and os.environ.get("AWS_ENDPOINT_URL"):
        options["s3"] = {"addressing_style": "path"}
    return boto3.client(service, config=botocore.config.Config(**options), **kwargs)


def fetch_secret(client: Any, secret_id: str) -> dict:
    # VersionStage explicitly: moto's GetSecretValue without it can return a stale version.
    response = client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
    if "SecretString" not in response:
        raise JobError("the secret has no SecretString (binary secrets are not supported)")
    return parse_secret(response["SecretString"])


# ---------------------------------------------------------------------------
# Salesforce
# ---------------------------------------------------------------------------


def build_assertion(secret: dict, key: Any, now: Optional[float] = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": secret["consumer_key"],
        "sub": secret["username"],
        "aud": secret["audience"],
        "exp": issued + ASSERTION_LIFETIME_SECONDS,
    }
    token = jwt.encode(claims, key, algorithm="RS256")
    return token.decode("ascii") if isinstance(token, bytes) else token


def _error_body(response: Any) -> tuple:
    """(errorCode or OAuth error, message) from an error response; never echoes what we sent."""
    try:
        body = response.json()
    except ValueError:
        return None, f"HTTP {response.status_code} with a non-JSON body"
    if isinstance(body, dict) and "error" in body:
        return body.get("error"), str(body.get("error_description", ""))
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return body[0].get("errorCode", "ERROR"), str(body[0].get("message", ""))
    return None, f"HTTP {response.status_code}"


def _error_text(response: Any) -> str:
    code, message = _error_body(response)
    if code is None:
        return message
    return f"{code}: {message}".rstrip(": ")


def backoff_seconds(attempt: int, base: float = 0.5, cap: float = 20.0,
                    rand: Callable = random.random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempt-1))]."""
    return rand() * min(cap, base * (2 ** (attempt - 1)))


class Counter:
    """API calls made for one query (the run-wide total is on the Salesforce object)."""

    def __init__(self) -> None:
        self.api_calls = 0


class Salesforce:
    """A signed-in Salesforce session: one JWT bearer sign-in per run, its token reused by every
    call from every thread; on 401 INVALID_SESSION_ID one new sign-in and a retry."""

    def __init__(self, secret: dict, key: Any, http: Any = None, sleep: Callable = time.sleep,
                 max_attempts: int = 5, max_logins: int = 5, read_timeout: int = 120):
        self.secret = secret
        self.key = key
        self._shared_http = http
        self._local = threading.local()
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.max_logins = max_logins
        self.timeout = (CONNECT_TIMEOUT, read_timeout)
        self.instance_url = ""
        self._token = ""
        self.logins = 0
        self.api_calls = 0
        self.api_usage = None  # "used/max" from the last Sforce-Limit-Info header
        self.stop = threading.Event()
        self.stop_reason = ""

    @property
    def http(self) -> Any:
        """One requests.Session per thread (a Session is not documented as thread-safe)."""
        if self._shared_http is not None:
            return self._shared_http
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            self._local.session = session
        return session

    def login(self) -> None:
        """Sign in: mint a fresh assertion and exchange it for an access token."""
        with self._lock:
            self._login_locked()

    def _login_locked(self) -> None:
        if self.logins >= self.max_logins:
            raise JobError(f"signed in {self.logins} times in this run and the session ended again; "
                           "stopping (check the session timeout of the app or org)")
        url = self.secret["login_url"] + TOKEN_PATH
        form = {"grant_type": GRANT_TYPE, "assertion": build_assertion(self.secret, self.key)}
        try:
            response = self.http.post(url, data=form, headers={"Accept": "application/json"},
                                      timeout=self.timeout)
        except requests.RequestException as exc:
            raise JobError(f"cannot reach the Salesforce token endpoint {url}: "
                           f"{exc.__class__.__name__}") from None
        finally:
            form = None
        self.logins += 1
        if response.status_code != 200:
            raise JobError(f"Salesforce sign-in failed: {_error_text(response)} "
                           f"(HTTP {response.status_code} from {url})")
        try:
            body = response.json()
        except ValueError:
            raise JobError(f"Salesforce sign-in answered non-JSON (from {url})") from None
        if not body.get("access_token") or not body.get("instance_url"):
            raise JobError(f"Salesforce sign-in answer lacks access_token or instance_url (from {url})")
        self._token = body["access_token"]
        self.instance_url = body["instance_url"].rstrip("/")

    def _relogin(self, stale_token: str) -> None:
        """Sign in again unless another thread already replaced the stale token."""
        with self._lock:
            if self._token == stale_token:
                self._login_locked()

    def _count(self, counter: Optional[Counter], response: Any) -> None:
        with self._count_lock:
            self.api_calls += 1
            if counter is not None:
                counter.api_calls += 1
            info = response.headers.get("Sforce-Limit-Info", "") if hasattr(response, "headers") else ""
            match = re.search(r"api-usage=(\d+/\d+)", info or "")
            if match:
                self.api_usage = match.group(1)

    def request(self, method: str, path_or_url: str, counter: Optional[Counter] = None,
                params: Optional[dict] = None, body: Optional[dict] = None, accept: str = "application/json",
                ok: tuple = (200,), stream: bool = False) -> Any:
        """One Salesforce REST call with the session token: retries with backoff and jitter on
        5xx, timeouts and dropped connections; one new sign-in on 401; REQUEST_LIMIT_EXCEEDED
        stops the run at once."""
        if not self._token:
            self.login()
        relogged = False
        attempt = 0
        while True:
            if self.stop.is_set():
                raise Stopped(f"stopped: {self.stop_reason}")
            attempt += 1
            token = self._token
            url = path_or_url if path_or_url.startswith("http") else self.instance_url + path_or_url
            headers = {"Authorization": "Bearer " + token, "Accept": accept}
            try:
                response = self.http.request(method, url, params=params, json=body, headers=headers,
                                             timeout=self.timeout, stream=stream)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt < self.max_attempts:
                    self.sleep(backoff_seconds(attempt))
                    continue
                raise JobError(f"cannot reach Salesforce at {self.instance_url} after {attempt} attempts: "
                               f"{exc.__class__.__name__}") from None
            self._count(counter, response)
            status = response.status_code
            if status == 401:
                if relogged:
                    raise JobError(f"Salesforce refused a freshly signed-in session: {_error_text(response)} "
                                   "(HTTP 401 twice in a row)")
                relogged = True
                self._relogin(token)
                continue
            if status == 403:
                code, message = _error_body(response)
                if code == "REQUEST_LIMIT_EXCEEDED":
                    name = message.split(" Limit")[0].strip() or "API request"
                    reason = (f"Salesforce limit {name} reached: REQUEST_LIMIT_EXCEEDED: {message} "
                              f"(api-usage {self.api_usage or '?'}); stopped at once without retrying")
                    self.stop_reason = reason
                    self.stop.set()
                    raise LimitExceeded(reason)
            if status in RETRY_STATUS and attempt < self.max_attempts:
                self.sleep(backoff_seconds(attempt))
                continue
            if status not in ok:
                raise JobError(f"{_error_text(response)} (HTTP {status})")
            return response

    def get_json(self, path_or_url: str, counter: Optional[Counter] = None,
                 params: Optional[dict] = None) -> dict:
        response = self.request("GET", path_or_url, counter, params=params)
        return _json_body(response, path_or_url)

    # Kept for callers of the first version of this script.
    def get(self, path_or_url: str, params: Optional[dict] = None) -> dict:
        return self.get_json(path_or_url, params=params)

    def data_path(self, rest: str) -> str:
        return f"/services/data/v{self.secret['api_version']}/{rest}"

    def query_pages(self, soql: str, counter: Optional[Counter] = None) -> Iterator[dict]:
        """Every page of a SOQL query, following nextRecordsUrl."""
        page = self.get_json(self.data_path("query"), counter, params={"q": soql})
        while True:
            yield page
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self.get_json(next_url, counter)

    def query_pages_raw(self, soql: str, counter: Optional[Counter] = None) -> Iterator[Any]:
        """Every page of a SOQL query as split_page() gives it (or the decoded page where the
        fast split does not apply), following nextRecordsUrl."""
        url, params = self.data_path("query"), {"q": soql}
        while True:
            response = self.request("GET", url, counter, params=params)
            page = split_page(response.content.decode("utf-8"))
            if page is None:
                page = _json_body(response, url)
            yield page
            url, params = page.get("nextRecordsUrl"), None
            if page.get("done", True) or not url:
                return

    def count(self, soql: str, counter: Optional[Counter] = None) -> int:
        page = self.get_json(self.data_path("query"), counter, params={"q": count_soql(soql)})
        return int(page.get("totalSize", 0))

    def bulk_pages(self, soql: str, counter: Optional[Counter] = None, max_records: int = 0,
                   timeout: float = 6 * 3600, poll_max: float = 10.0) -> Iterator["ResultPage"]:
        """Bulk API 2.0 query job: create, poll until JobComplete, then every CSV result page
        (followed by Sforce-Locator) as a ResultPage (an open temporary file). Each page is spooled to disk
        first, so a dropped connection retries the page and memory stays bounded."""
        base = self.data_path("jobs/query")
        job = self.request("POST", base, counter, body={
            "operation": "query", "query": soql, "contentType": "CSV", "columnDelimiter": "COMMA",
            "lineEnding": "LF"}).json()
        job_id = job["id"]
        deadline = time.monotonic() + timeout
        wait = 0.25
        while True:
            info = self.get_json(f"{base}/{job_id}", counter)
            state = info.get("state")
            if state == "JobComplete":
                break
            if state in ("Failed", "Aborted"):
                message = info.get("errorMessage", "")
                raise JobError(f"Bulk API 2.0 job {job_id} ended {state}: {message}".rstrip(": "))
            if time.monotonic() > deadline:
                raise JobError(f"Bulk API 2.0 job {job_id} not complete after {timeout:.0f} s "
                               f"(state {state})")
            self.sleep(wait)
            wait = min(poll_max, wait * 1.5)
        url = f"{base}/{job_id}/results"

        def page_params(locator: Optional[str]) -> dict:
            params = {"maxRecords": str(max_records)} if max_records else {}
            if locator:
                params["locator"] = locator
            return params

        # Pipelined: as soon as a page's headers name the next locator, the next page is asked
        # for, while this page's body still downloads (in a thread of its own), so the next
        # page's preparation on Salesforce's side overlaps this page's transfer.
        yield from self._bulk_results(url, page_params, counter)
        # Only a job whose results were all read is deleted: after a failure it stays for a
        # look in Setup (Bulk Data Load Jobs) until Salesforce removes it after 7 days.
        try:
            self.request("DELETE", f"{base}/{job_id}", counter, ok=(200, 204))
        except JobError:
            pass  # Salesforce deletes finished jobs after 7 days anyway

    def _bulk_results(self, url: str, page_params: Callable,
                      counter: Optional[Counter]) -> Iterator["ResultPage"]:
        """The result pages of a complete job, pipelined (see bulk_pages)."""
        params = page_params(None)
        response = self._bulk_open(url, params, counter)
        upcoming = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-page") as pool:
            try:
                while True:
                    locator = response.headers.get("Sforce-Locator")
                    body = pool.submit(self._bulk_spool, response, url, params, counter)
                    more = bool(locator) and locator != "null"
                    if more:
                        params = page_params(locator)
                        try:
                            upcoming = self._bulk_open(url, params, counter)
                        except BaseException:
                            _close_spool(body)
                            raise
                    yield body.result()  # the consumer closes it (it may be read in another thread)
                    if not more:
                        break
                    response, upcoming = upcoming, None
            finally:
                if upcoming is not None:
                    upcoming.close()

    def _bulk_open(self, url: str, params: dict, counter: Optional[Counter]) -> Any:
        return self.request("GET", url, counter, params=params, accept="text/csv", stream=True)

    def _bulk_spool(self, response: Any, url: str, params: dict, counter: Optional[Counter]) -> Any:
        """The body of an opened result page in a temporary file; a page that breaks off is
        asked for again (same locator), up to --max_attempts in all."""
        attempt = 1
        while True:
            spool = tempfile.TemporaryFile()
            # Counted on the way in, for ResultPage.lines_are_records and its cuts.
            line_breaks = size = cut_at = 0
            cuts: list = []
            last = b""
            try:
                for chunk in response.iter_content(chunk_size=1024 * 1024):
                    spool.write(chunk)
                    breaks = chunk.count(b"\n")
                    if breaks:
                        line_breaks += breaks
                        end = size + chunk.rfind(b"\n") + 1
                        if end - cut_at >= CSV_BLOCK_BYTES:
                            cuts.append((end, line_breaks))
                            cut_at = end
                    size += len(chunk)
                    last = chunk[-1:] or last
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                spool.close()
                response.close()
                if attempt >= self.max_attempts:
                    raise JobError(f"Bulk API 2.0 result page broke off after {attempt} attempts: "
                                   f"{exc.__class__.__name__}") from None
                self.sleep(backoff_seconds(attempt))
                attempt += 1
                response = self._bulk_open(url, params, counter)
                continue
            except BaseException:
                spool.close()
                response.close()
                raise
            response.close()
            spool.seek(0)
            return ResultPage(spool, _announced_records(response), line_breaks, last == b"\n", cuts)


def _json_body(response: Any, url: str) -> Any:
    """A Salesforce JSON answer, decoded strictly as UTF-8 (requests' .json() would replace bytes
    that are not UTF-8 and store the damaged text without a word)."""
    try:
        return json.loads(response.content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise JobError(_describe_error(exc)) from None
    except ValueError:
        raise JobError(f"Salesforce answered non-JSON for {url.split('?')[0]}") from None


def _announced_records(response: Any) -> Optional[int]:
    """Sforce-NumberOfRecords, the records Salesforce says a result page holds (None if absent)."""
    text = response.headers.get("Sforce-NumberOfRecords") or ""
    return int(text) if text.isdigit() else None


class ResultPage:
    """A downloaded Bulk API 2.0 result page: its body in a temporary file (read it like a file),
    the record count Salesforce announced for it and the line breaks counted while it arrived."""

    def __init__(self, file: Any, announced: Optional[int], line_breaks: int, ends_with_lf: bool,
                 cuts: Optional[list] = None):
        self.file = file
        self.announced = announced
        self.line_breaks = line_breaks
        self.ends_with_lf = ends_with_lf
        # (offset just after a line break, line breaks up to there), about CSV_BLOCK_BYTES apart.
        self.cuts = cuts or []

    @property
    def lines_are_records(self) -> bool:
        """True when every line after the header is one whole record, so records can be cut and
        counted at line breaks without parsing. Bulk API 2.0 (lineEnding LF) ends every record
        with a line break, and a line break inside a value or a blank line only adds lines: as
        many line breaks after the header as the records Salesforce announced means there are
        neither. A page that does not end with a line break was cut off, maybe inside a value:
        it is read by following the quotes, which finds that."""
        return (self.announced is not None and self.ends_with_lf
                and self.line_breaks - 1 == self.announced)

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def readline(self) -> bytes:
        return self.file.readline()

    def close(self) -> None:
        self.file.close()


def _close_spool(body: Any) -> None:
    """Wait for a page download that is no longer wanted and drop its file."""
    try:
        body.result().close()
    except BaseException:  # noqa: BLE001 - the error that made us drop it is the one to report
        pass


_ATTRIBUTES = r'\{"attributes":\{"type":"[^"\\]*","url":"[^"\\]*"\},'
_FIRST_RECORD = re.compile(_ATTRIBUTES)
_NEXT_RECORD = re.compile("," + _ATTRIBUTES)


def flat_select(soql: str) -> bool:
    """True when every selected item is a plain field (no relationship path, sub-query or function),
    so each record of a REST page is one flat JSON object."""
    fields = select_fields(soql)
    return bool(fields) and all(FIELD_NAME.match(f) for f in fields)


def split_page(text: str) -> Optional[dict]:
    """A REST query page of flat records turned into JSON Lines without decoding every record:
    {"totalSize", "done", "nextRecordsUrl", "lines": "<record>\\n…", "count": n}. The records'
    "attributes" objects are cut out of the text. None when the page does not have the expected
    shape (then the caller decodes it the ordinary way)."""
    start = text.find('"records":[')
    end = text.rfind("]")
    if start < 0 or end < start or text.count('"records":[') != 1:
        return None
    body = text[start + len('"records":['):end]
    try:
        page = json.loads(text[:start] + '"records":null' + text[end + 1:])
    except ValueError:
        return None
    if not isinstance(page, dict):
        return None
    if not body.strip():
        lines, count = "", 0
    else:
        first = _FIRST_RECORD.match(body)
        if not first:
            return None
        rest, more = _NEXT_RECORD.subn("\n{", body[first.end():])
        lines, count = "{" + rest + "\n", more + 1
    if count != body.count('{"attributes":'):
        return None
    page["lines"] = lines
    page["count"] = count
    return page


def field_values(lines: str, field: str, count: int) -> Optional[list]:
    """The raw values of one field in split_page() lines (None when not exactly one per record)."""
    pattern = re.compile('"' + re.escape(field) + r'":("(?:[^"\\]|\\.)*"|[^,}]+)', re.I)
    found = pattern.findall(lines)
    if len(found) != count:
        return None
    return [json.loads(v) if v[0] == '"' and "\\" in v else (v[1:-1] if v[0] == '"' else json.loads(v))
            for v in found]


def jsonl_of_rows(header: list, rows: list, plain: bool = False) -> str:
    """Bulk CSV rows (lists of text, all under `header`) as JSON Lines, an empty value as null.

    Everything per row runs in C. Rows as wide as the header go through one %-template per row,
    `{"Id":%s,"Name":%s,…}`, filled with the values as JSON strings (json's C string encoder,
    mapped over the row), or with `plain` (no value holds `"`, `\\` or a control character, so
    each is its own JSON string text) `{"Id":"%s",…}` with the values as they are. Other rows
    become dicts for the json encoder. Either way the text is exactly what json.dumps would give
    for the record with empty strings. Then one replace turns `":""` into `":null`, and that is
    exact: inside a JSON string every `"` is escaped as `\\"`, so `""` (two unescaped quotes in
    a row) can only be an empty string, and one after `":` (a key's closing quote and the
    colon) an empty value."""
    rows = [row for row in rows if row]  # a blank line is no record
    if not rows:
        return ""
    width = len(header)
    if all(len(row) == width for row in rows):
        values = map(tuple, rows) if plain else map(tuple, map(partial(map, _ESCAPE), rows))
        text = "\n".join(map(_template(header, plain).__mod__, values))
    else:
        text = "\n".join(map(_ENCODE, map(dict, map(zip, repeat(header), rows))))
    return text.replace('":""', '":null') + "\n"


def _template(header: list, plain: bool) -> str:
    slot = '"%s"' if plain else "%s"
    return "{" + ",".join(_ESCAPE(h).replace("%", "%%") + ":" + slot for h in header) + "}"


_ESCAPE = json.encoder.encode_basestring  # JSON string literal, non-ASCII kept (ensure_ascii=False)
_INNER = itemgetter(slice(1, -1))
_CONTROL_BYTES = bytes(range(0x20))
_COUNT_QUOTES = methodcaller("count", b'"')
_SPLIT_FIELDS = methodcaller("split", '","')
_COUNT_SEPARATORS = methodcaller("count", '","')


def needs_no_json_escape(data: bytes) -> bool:
    """True when UTF-8 text holds nothing JSON escapes in a string other than `"` and the LFs
    between records: no `\\` and no other control character (bytes under 0x20 are never part of
    a multi-byte UTF-8 character). C calls only."""
    if b"\\" in data:
        return False
    return len(data) - len(data.translate(None, _CONTROL_BYTES)) == data.count(b"\n")


def quoted_rows(text: str, width: int) -> Optional[Iterator]:
    """The rows of whole CSV records (LF line ends) in which every value is quoted and holds no
    quote and no line break, as Bulk API 2.0 writes most data, split without a CSV parser (an
    iterator: a row is made when it is taken); None when that does not hold (then csv.reader
    parses). The checks, all C calls: every line is at least two characters, starts and ends
    with `"`, has `width - 1` times `","` between those, and no other quote. Such a line is a
    valid record of `width` values, and CSV parses one way only, so csv.reader would give the
    same rows."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    n = len(lines)
    if not n:
        return []
    if (min(map(len, lines)) < 2 or text.count('"\n') != n
            or text.count('\n"') + (text[0] == '"') != n):
        return None
    inside = list(map(_INNER, lines))
    if set(map(_COUNT_SEPARATORS, inside)) != {width - 1}:
        return None
    # Each line now has 2 * width quotes outside its values (its first and last character, and
    # two per separator); any more are inside a value.
    if text.count('"') != 2 * width * n:
        return None
    return map(_SPLIT_FIELDS, inside)


def csv_chunks(spool: Any, field: Optional[str], as_records: bool, block_size: int = 0,
               columns: Optional[Callable] = None) -> Iterator[tuple]:
    """A Bulk API 2.0 CSV result page, about `block_size` bytes (CSV_BLOCK_BYTES) of whole
    records at a time (cut as csv_blocks cuts), as (records, None, n, values) or, without
    as_records, as (None, JSON Lines text, n, values); values are the watermark field's. Every
    CSV value is text; an empty value becomes null. `columns`, when given, is called with the
    header's field names before anything is yielded (also for a page with no records)."""
    header = index = plain_lines = None
    for head, data, count, _values in csv_blocks(spool, None, block_size):
        if header is None:
            header = next(csv.reader([head.decode("utf-8")]))
            if columns is not None:
                columns(header)
            lowered = [h.lower() for h in header]
            index = lowered.index(field.lower()) if field and field.lower() in lowered else None
            plain_lines = PlainJsonLines(header)
        if not count:
            continue
        text = data.decode("utf-8")
        escape_free = not as_records and needs_no_json_escape(data)
        if escape_free:
            # The usual Bulk data: converted without a step per record.
            converted = plain_lines.convert(text, count, index)
            if converted is not None:
                lines, values = converted
                yield None, lines, count, values
                continue
        split = quoted_rows(text, len(header))
        plain = split is not None and escape_free
        if split is not None:
            rows = list(split)
        else:
            rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
        values = _column(rows, index) if index is not None else None
        if as_records:
            records = [{k: (v if v != "" else None) for k, v in zip(header, row)} for row in rows]
            yield records, None, len(records), values
        else:
            yield None, jsonl_of_rows(header, rows, plain), len(rows), values


_RECORD_BREAK = '"\n"'
_COUNT_RECORD_BREAKS = methodcaller("count", _RECORD_BREAK)
_SPLIT_RECORD_BREAK = methodcaller("split", _RECORD_BREAK)


class PlainJsonLines:
    """JSON Lines from Bulk CSV in which every value is quoted and holds no quote, no line break
    and nothing JSON escapes (how Bulk API 2.0 writes most data), made without a step per record
    in Python: the text is cut at its `","` separators (one C call), the pieces that end a record
    (`last"\n"first`) get the JSON between two records (`last"}\n{"Id":"first`, a map of C
    calls), and the pieces are joined back with the JSON between two values of a record
    (`","Name":"`) in the separators' place.

    The shape is proven with counts (C calls), for n line breaks and w columns. The text starts
    with `"` and ends with `"\n`; between those two (the inner text) it holds n(w - 1)
    separators and n - 1 record breaks `"\n"`, exactly one in each piece that ends a record
    (every (w - 1)-th), so every record has w values. Those separators, breaks, the first and
    the last quote do not overlap (split and count find disjoint matches, the breaks lie inside
    pieces, the first and last quote outside the inner text), so they hold 2wn distinct quotes
    and n line breaks: when the text holds no more than that, no value holds a quote or a line
    break. Such a text is parsed one way only, the way csv.reader would."""

    def __init__(self, header: list):
        keys = [_ESCAPE(h) for h in header]
        self.width = len(keys)
        self.first = "{" + keys[0] + ':"'
        self.separators = ['",' + key + ':"' for key in keys[1:]]
        self.next_record = methodcaller("replace", _RECORD_BREAK, '"}\n' + self.first)

    def convert(self, text: str, records: int, index: Optional[int]) -> Optional[tuple]:
        """(JSON Lines, the values of column `index` or None) for `records` whole records with
        LF line ends, or None when the text does not have the shape above."""
        width, n = self.width, records
        if (not n or text.count("\n") != n or text[0] != '"' or not text.endswith('"\n')
                or text.count('"') != 2 * width * n):
            return None
        inner = text[1:-2]
        if inner.count(_RECORD_BREAK) != n - 1:
            return None
        pieces = inner.split('","')
        inner = None
        if len(pieces) != n * (width - 1) + 1:
            return None
        if width == 1:
            column = pieces[0].split(_RECORD_BREAK) if index is not None else None
            pieces = [self.next_record(pieces[0])]
        else:
            ends = pieces[width - 1:-1:width - 1]
            if ends and set(map(_COUNT_RECORD_BREAKS, ends)) != {1}:
                return None
            column = self._column(pieces, ends, index) if index is not None else None
            pieces[width - 1:-1:width - 1] = map(self.next_record, ends)
            ends = None
        joined = [None] * (2 * len(pieces) - 1)
        joined[0::2] = pieces
        joined[1::2] = self.separators * n
        pieces = None
        lines = (self.first + "".join(joined) + '"}\n').replace('":""', '":null')
        return lines, ([v or None for v in column] if column is not None else None)

    def _column(self, pieces: list, ends: list, index: int) -> list:
        """Column `index` (w > 1): inner columns are every (w - 1)-th piece; the first and the
        last column share the pieces that end a record."""
        width = self.width
        if 0 < index < width - 1:
            return pieces[index::width - 1]
        halves = list(map(_SPLIT_RECORD_BREAK, ends))
        if index == 0:
            return [pieces[0]] + [h[1] for h in halves]
        return [h[0] for h in halves] + [pieces[-1]]


def _column(rows: list, index: int) -> list:
    """One column of CSV rows, an empty value (or a short row) as None."""
    return [(row[index] or None) if len(row) > index else None for row in rows]


def csv_record_end(data: bytes) -> tuple:
    """(end, records) for CSV bytes that start at a record boundary: `end` is just after the LF
    of the last complete record, `records` how many records end there or before (a blank line is
    none, as for csv.reader). An LF inside a quoted value (after an odd number of `"` on its
    record: an escaped quote is `""`) does not end a record."""
    end = data.rfind(b"\n") + 1
    if not end:
        return 0, 0
    lines = data[:end].split(b"\n")
    lines.pop()
    if not any(count & 1 for count in set(map(_COUNT_QUOTES, lines))):
        return end, len(lines) - lines.count(b"")
    inside = False
    records = cut = pos = 0
    for line in lines:
        pos += len(line) + 1
        if line.count(b'"') & 1:
            inside = not inside
        if not inside:
            records += line != b""  # outside quotes, an empty line can only be a blank line
            cut = pos
    return cut, records


def csv_blocks(spool: Any, field: Optional[str], block_size: int = 0) -> Iterator[tuple]:
    """A Bulk API 2.0 CSV result page as it is, for the csv formats: (header line, bytes of whole
    records, record count, watermark values or None), about `block_size` bytes (CSV_BLOCK_BYTES)
    at a time. Nothing is parsed except, when a watermark is set, the records of each block (for
    that column). A page with no records gives (header, b"", 0, None) once. A ResultPage whose
    lines are records (ResultPage.lines_are_records) is read at the cuts found while it
    downloaded; anything else is cut by following the quotes (csv_record_end)."""
    header = spool.readline()  # field names hold no line break
    header_size = len(header)
    if not header.strip():
        return
    if not header.endswith(b"\n"):
        header += b"\n"
    index = None
    if field:
        names = [h.lower() for h in next(csv.reader([header.decode("utf-8")]))]
        index = names.index(field.lower()) if field.lower() in names else None
    if isinstance(spool, ResultPage) and spool.lines_are_records:
        blocks = _blocks_at_cuts(spool, header_size)
    else:
        blocks = _blocks(spool, block_size or CSV_BLOCK_BYTES)
    emitted = False
    for data, count in blocks:
        if count:
            emitted = True
            values = None
            if index is not None:
                rows = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
                values = _column(list(rows), index)
            yield header, data, count, values
    if not emitted:
        yield header, b"", 0, None


def _blocks(spool: Any, block_size: int) -> Iterator[tuple]:
    """(bytes of whole records, record count) from the rest of a page, `block_size` at a time."""
    pending = b""
    while True:
        block = spool.read(block_size)
        data = pending + block if pending else block
        if not block and data and not data.endswith(b"\n"):
            data += b"\n"
        end, count = csv_record_end(data)
        if not block and end < len(data):
            raise JobError("a Bulk API 2.0 result page ends inside a quoted value")
        pending = data[end:]
        yield data[:end], count
        if not block:
            return


def _blocks_at_cuts(page: "ResultPage", header_size: int) -> Iterator[tuple]:
    """_blocks for a page whose lines are records, read at the cuts found while it downloaded:
    no search and no count here."""
    position, lines = header_size, 1  # the header line
    for end, breaks in page.cuts:
        if end > position:
            yield page.read(end - position), breaks - lines
            position, lines = end, breaks
    rest = page.read()
    if rest.endswith(b"\n"):
        yield rest, page.line_breaks - lines
    elif rest:
        yield rest + b"\n", page.line_breaks - lines + 1  # the last record lacked its line break


def prefetch(pages: Iterator, depth: int = 2) -> Iterator:
    """Runs a page iterator in a thread, `depth` pages ahead of the consumer, so the next page
    downloads while this one is written. Errors surface in the consumer. When the consumer stops
    early, the thread stops too: it closes the iterator (for Bulk, the open result page) and the
    pages fetched but never taken (their temporary files)."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    cancelled = threading.Event()

    def deliver(slot: tuple) -> bool:
        while not cancelled.is_set():
            try:
                slots.put(slot, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in pages:
                if not deliver((item, None)):
                    _close_quietly(item)
                    break
            else:
                deliver((done, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            deliver((None, exc))
        if cancelled.is_set():
            _close_quietly(pages)
            while True:
                try:
                    _close_quietly(slots.get_nowait()[0])
                except queue.Empty:
                    break

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        cancelled.set()
        while True:  # what the thread delivered before it stopped (it drains the rest)
            try:
                _close_quietly(slots.get_nowait()[0])
            except queue.Empty:
                break


def _close_quietly(thing: Any) -> None:
    close = getattr(thing, "close", None)
    if callable(close):
        try:
            close()
        except BaseException:  # noqa: BLE001 - only tidying up after the consumer stopped
            pass


# ---------------------------------------------------------------------------
# Rotation fallback
# ---------------------------------------------------------------------------

# The order in which other secret versions are tried when the current key is refused: during a
# rotation the app holds the new (pending) certificate before `sfglue rotate finish` moves
# AWSCURRENT to it; after a rollback it may still hold the newer one (AWSPREVIOUS).
FALLBACK_STAGES = ("AWSPENDING", "AWSPREVIOUS")


def _refused_assertion(exc: Exception) -> bool:
    return "invalid_grant: invalid assertion" in str(exc)


def key_certificate_problem(secret: dict, key: Any) -> Optional[str]:
    """Preflight: None when the key belongs to the secret's certificate (or none is stored)."""
    pem = secret.get("certificate_pem")
    if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
        return None
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii", errors="replace"))
    except ValueError:
        return "the secret's certificate_pem cannot be read"
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        return (f"the private key does not belong to the certificate "
                f"{secret.get('certificate_sha256', '?')}")
    return None


def _fallback_versions(client: Any, secret_id: str) -> list:
    """(stage, version id) of AWSPENDING and AWSPREVIOUS, skipping the AWSCURRENT version."""
    listed = client.list_secret_version_ids(SecretId=secret_id).get("Versions", [])
    current = {v["VersionId"] for v in listed if "AWSCURRENT" in v.get("VersionStages", [])}
    found = []
    for stage in FALLBACK_STAGES:
        for version in listed:
            if stage in version.get("VersionStages", []) and version["VersionId"] not in current:
                found.append((stage, version["VersionId"]))
                break
    return found


def sign_in(client: Any, secret_id: str, secret: dict, make: Callable = None) -> "Salesforce":
    """Sign in with the AWSCURRENT version; when Salesforce refuses it as `invalid assertion`,
    try AWSPENDING, then AWSPREVIOUS. Logs which version signed in (fingerprint only)."""
    make = make or Salesforce
    tried = []
    candidates = [("AWSCURRENT", None, secret)]
    index = 0
    while index < len(candidates):
        stage, version_id, doc = candidates[index]
        index += 1
        if doc is None:
            response = client.get_secret_value(SecretId=secret_id, VersionId=version_id,
                                               VersionStage=stage)
            try:
                doc = parse_secret(response.get("SecretString", ""))
            except JobError as exc:
                tried.append(f"{stage}: {exc}")
                continue
        key = load_private_key(doc["private_key_pem"])
        problem = key_certificate_problem(doc, key)
        sf = make(doc, key)
        try:
            if problem:
                raise JobError(problem)
            sf.login()
        except JobError as exc:
            if not (problem or _refused_assertion(exc)):
                raise
            tried.append(f"{stage}: {exc}")
            if stage == "AWSCURRENT":
                candidates += [(s, v, None) for s, v in _fallback_versions(client, secret_id)]
            if index < len(candidates):
                print(f"sfglue warning: the {stage} key was refused; trying "
                      f"{candidates[index][0]}", file=sys.stderr, flush=True)
            continue
        print(f"sfglue signed-in stage={stage} certificate_sha256="
              f"{doc.get('certificate_sha256', '?')}", flush=True)
        return sf
    raise JobError("no secret version signs in: " + "; ".join(tried))


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def strip_attributes(value: Any) -> Any:
    """Drop Salesforce's "attributes" key from a record and from nested records."""
    if isinstance(value, dict):
        return {k: strip_attributes(v) for k, v in value.items() if k != "attributes"}
    if isinstance(value, list):
        return [strip_attributes(v) for v in value]
    return value


def clean_record(record: dict) -> dict:
    """strip_attributes, fast for the usual flat record."""
    record.pop("attributes", None)
    for k, v in record.items():
        if isinstance(v, (dict, list)):
            record[k] = strip_attributes(v)
    return record


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class _SpoolBuffer:
    """An append-only temporary file that counts its bytes (a bytearray stand-in)."""

    def __init__(self) -> None:
        self._file: Any = None
        self._size = 0

    def __iadd__(self, data: bytes) -> "_SpoolBuffer":
        if data:
            if self._file is None:
                self._file = tempfile.TemporaryFile()
            self._file.write(data)
            self._size += len(data)
        return self

    def __len__(self) -> int:
        return self._size

    def rewound(self) -> Any:
        if self._file is None:
            return b""
        self._file.flush()
        self._file.seek(0)
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class GzipMember:
    """One gzip member (a whole .gz file) made from chunks compressed side by side, the way pigz
    does it: each chunk is raw deflate primed with the 32 KiB before it (what the reader's
    window holds there) and ended with a sync flush (a byte boundary, not the last block), so
    the chunks' output concatenated is one deflate stream; the CRC-32 and length of the whole
    data and an empty last block close it. Any gzip reader reads it as an ordinary file.
    compress() returns the output that is ready, in order; finish() the rest."""

    HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no time, OS unknown
    WINDOW = 32 * 1024

    def __init__(self, level: int, pool: Optional[ThreadPoolExecutor]):
        self.level = level
        self.pool = pool
        self.crc = 0
        self.size = 0
        self.tail = b""
        self.pending: list = []
        self.started = False
        # Without a pool, one compressor carries the whole stream (a sync flush per chunk).
        self.single = None if pool else zlib.compressobj(level, zlib.DEFLATED, -15)

    def compress(self, data: bytes) -> bytes:
        if not data:
            return b""
        out = b"" if self.started else self.HEADER
        self.started = True
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        if self.single is not None:
            return out + self.single.compress(data) + self.single.flush(zlib.Z_SYNC_FLUSH)
        self.pending.append((len(data), self.pool.submit(_deflate_chunk, data, self.level, self.tail)))
        self.tail = data[-self.WINDOW:]
        # Hand back what is done, keeping a chunk in flight per thread.
        while self.pending and (len(self.pending) > GZIP_THREADS or self.pending[0][1].done()):
            out += self.pending.pop(0)[1].result()
        return out

    @property
    def in_flight(self) -> int:
        """Bytes handed to compress() whose output has not come back yet (more than it will be)."""
        return sum(size for size, _future in self.pending)

    def drain(self) -> bytes:
        """The output of every chunk still in flight."""
        out = b"".join(future.result() for _size, future in self.pending)
        self.pending = []
        return out

    def finish(self) -> bytes:
        out = (b"" if self.started else self.HEADER) + self.drain()
        last = self.single or zlib.compressobj(self.level, zlib.DEFLATED, -15)
        return out + last.flush(zlib.Z_FINISH) + struct.pack("<II", self.crc, self.size & 0xFFFFFFFF)

    def cancel(self) -> None:
        for _size, future in self.pending:
            future.cancel()
        self.pending = []


def _deflate_chunk(data: bytes, level: int, window: bytes) -> bytes:
    compressor = (zlib.compressobj(level, zlib.DEFLATED, -15, zdict=window) if window
                  else zlib.compressobj(level, zlib.DEFLATED, -15))
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


_GZIP_POOL: Optional[ThreadPoolExecutor] = None
_GZIP_POOL_LOCK = threading.Lock()


def gzip_pool() -> Optional[ThreadPoolExecutor]:
    """The threads shared by every part writer of the run (None with one CPU)."""
    global _GZIP_POOL
    if GZIP_THREADS < 2:
        return None
    with _GZIP_POOL_LOCK:
        if _GZIP_POOL is None:
            _GZIP_POOL = ThreadPoolExecutor(max_workers=GZIP_THREADS, thread_name_prefix="gzip")
        return _GZIP_POOL


_FINAL = object()  # the part writer's thread: upload the last part, then stop
_ABORT = object()  # the part writer's thread: drop the part being filled, then stop


class PartWriter:
    """Streams records to S3 as part objects: part-00000.jsonl.gz, part-00001.jsonl.gz, … each a
    complete file, uploaded once it holds max_part_bytes (compressed), so memory stays bounded.

    Except for parquet, the writing happens in a thread of its own: the caller hands over encoded
    chunks through a bounded queue, and the thread compresses them (zlib lets go of the GIL on
    big buffers), spools them to a temporary file and uploads each full part, while the caller
    converts the next chunk. Call flush(final=True) at the end (it re-raises the thread's error),
    abort() on the way out of a failure."""

    def __init__(self, s3: Any, bucket: str, folder: str, max_part_bytes: int, fmt: str = "jsonl"):
        self.s3 = s3
        self.bucket = bucket
        self.folder = folder
        self.max_part_bytes = max_part_bytes
        self.format = fmt
        self.parts = 0
        self.records = 0
        self.bytes = 0
        self.keys: list = []
        self.header = b""  # csv formats: the header line that starts every part
        # parquet: the schema of every part of this run, fixed by text_columns() (Bulk) or by the
        # first part's records (REST), so that the parts read as one table.
        self.schema: Any = None
        self._rows: list = []
        self._raw = 0
        self._new_part()
        self._thread: Optional[threading.Thread] = None
        self._failure: Optional[BaseException] = None
        self._uploader: Optional[ThreadPoolExecutor] = None
        self._pending_upload: Any = None
        if fmt == "parquet":
            self._arrow = import_pyarrow()
        else:
            self._queue: queue.Queue = queue.Queue(maxsize=WRITE_QUEUE_DEPTH)
            self._thread = threading.Thread(target=self._write_parts, name=f"parts:{folder}", daemon=True)
            self._thread.start()

    def _new_part(self) -> None:
        # The part being filled lives in a temporary file, not in memory: peak memory does not
        # depend on the part size (or on the record count).
        self.buffer = _SpoolBuffer()
        gz = self.format.endswith(".gz")
        self._gzip = GzipMember(GZIP_LEVEL, gzip_pool()) if gz else None
        self._rows = []
        self._raw = 0
        self._has_data = False

    # -- the caller's side ---------------------------------------------------------

    def add(self, record: dict) -> None:
        self.add_many([record])

    def add_lines(self, lines: str, count: int) -> None:
        """JSON Lines text (from split_page or csv_chunks) as it is; jsonl and jsonl.gz only."""
        if count:
            self.records += count
            self._hand_over(lines.encode("utf-8"))

    def add_csv(self, header: bytes, data: bytes, count: int) -> None:
        """Whole CSV records (from csv_blocks) as they are; every part starts with `header`."""
        if not self.header:
            self.header = header
        elif header != self.header:
            raise JobError("the Bulk API 2.0 result pages do not have the same columns "
                           f"({self.header.strip()[:200]!r}, then {header.strip()[:200]!r})")
        if count:
            self.records += count
            self._hand_over(data)

    def text_columns(self, names: list) -> None:
        """Parquet of Bulk API 2.0 results: every column text, in the header's order, whatever
        the values (Bulk values are all text); a result with no records still gets this schema."""
        pa = self._arrow[0]
        schema = pa.schema([pa.field(name, pa.string()) for name in names])
        if self.schema is None:
            self.schema = schema
        elif not schema.equals(self.schema):
            raise JobError("the Bulk API 2.0 result pages do not have the same columns "
                           f"({', '.join(self.schema.names)[:200]}, then {', '.join(names)[:200]})")

    def add_many(self, records: list) -> None:
        if not records:
            return
        if self.format == "parquet":
            self._has_data = True
            for record in records:
                clean = clean_record(record)
                self._rows.append(clean)
                self._raw += len(_ENCODE(clean))
            self.records += len(records)
            if self._raw >= self.max_part_bytes:
                self._upload()
            return
        data = ("\n".join(_ENCODE(clean_record(r)) for r in records) + "\n").encode("utf-8")
        self.records += len(records)
        self._hand_over(data)

    def _hand_over(self, item: Any) -> None:
        while True:
            if self._failure is not None:
                raise self._failure
            if not self._thread.is_alive():
                raise JobError("the part writer stopped")
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def flush(self, final: bool = False) -> None:
        """Upload what is left; with final=True an empty result still leaves one part. For the
        threaded formats this waits for the thread and re-raises its error."""
        if self._thread is None:
            self._upload(final)
            return
        if final:
            self._hand_over(_FINAL)
            self._thread.join()
            if self._failure is not None:
                raise self._failure

    def abort(self) -> None:
        """Stop the thread without uploading the part being filled (after a failure)."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_ABORT)
            self._thread.join()
        self.buffer.close()
        try:
            self._wait_upload(last=True)
        except BaseException:  # noqa: BLE001 - the failure that brought us here is the one to report
            pass

    # -- the writer's side (its thread, or the caller's for parquet) -----------------

    def _write_parts(self) -> None:
        while True:
            item = self._queue.get()
            if item is _ABORT:
                self._drop_part()
                return
            if self._failure is not None:
                if item is _FINAL:
                    return  # handed over before the failure was known: flush() re-raises it
                continue  # drained until the caller learns of the failure and stops
            try:
                if item is _FINAL:
                    self._upload(final=True)
                    return
                self._write(item)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self._failure = exc
                self._drop_part()
                if item is _FINAL:
                    return

    def _drop_part(self) -> None:
        if self._gzip is not None:
            self._gzip.cancel()
        self.buffer.close()

    def _compress(self, data: bytes) -> bytes:
        if self._gzip is None:
            return data
        return self._gzip.compress(data)

    def _write(self, data: bytes) -> None:
        if not self._has_data and self.header:
            data = self.header + data
        self._has_data = True
        self.buffer += self._compress(data)
        if self._gzip is not None and len(self.buffer) + self._gzip.in_flight >= self.max_part_bytes:
            # Near the limit the size must be known: wait for the chunks in flight.
            self.buffer += self._gzip.drain()
        if len(self.buffer) >= self.max_part_bytes:
            self._upload()

    def _body(self) -> Any:
        if self.format == "parquet":
            pa, pq = self._arrow
            if self.schema is None:
                self.schema = parquet_schema(self._rows, pa)
            table = parquet_table(self._rows, self.schema, self.parts, pa)
            sink = io.BytesIO()
            pq.write_table(table, sink, compression="snappy")
            return sink.getvalue()
        if self._gzip is not None:
            self.buffer += self._gzip.finish()
        return self.buffer.rewound()

    def _upload(self, final: bool = False) -> None:
        """Upload the current part; with final=True an empty result still leaves one part (for
        the csv formats, the header alone when it is known)."""
        # A REST result with no records has no Parquet schema, and a 0-byte .parquet file breaks
        # readers of the folder: it gets no part (the manifest lists none).
        no_schema = self.format == "parquet" and not self._rows and self.schema is None
        if not self._has_data and (not (final and self.parts == 0) or no_schema):
            if final:
                self._wait_upload(last=True)  # the last part may still be on its way (or have failed)
            return
        if not self._has_data and self.header:
            self.buffer += self._compress(self.header)
        key = f"{self.folder}part-{self.parts:05d}{FORMATS[self.format]}"
        body = self._body()
        size = len(body) if isinstance(body, bytes) else len(self.buffer)
        # One upload at a time, in a thread of its own, while the next part fills; the final
        # part is waited for.
        self._wait_upload()
        if self._uploader is None:
            self._uploader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload")
        self._pending_upload = self._uploader.submit(self._put, key, body, self.buffer)
        self.parts += 1
        self.bytes += size
        self.keys.append(key)
        self._new_part()
        if final:
            self._wait_upload(last=True)

    def _put(self, key: str, body: Any, buffer: "_SpoolBuffer") -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=CONTENT_TYPES[self.format])
        finally:
            buffer.close()

    def _wait_upload(self, last: bool = False) -> None:
        """Wait for the upload in flight, re-raising its error; with `last`, stop its thread."""
        pending, self._pending_upload = self._pending_upload, None
        try:
            if pending is not None:
                pending.result()
        finally:
            if last and self._uploader is not None:
                self._uploader.shutdown(wait=True)
                self._uploader = None


class SchemaMismatch(Exception):
    """A value that does not fit the Parquet type fixed for its column (`column` is its path)."""

    def __init__(self, column: str, problem: str):
        super().__init__(column, problem)
        self.column = column
        self.problem = problem


def parquet_schema(rows: list, pa: Any) -> Any:
    """The schema of every Parquet part of a REST query run, from the records of its first part:
    the columns in the order they first appear, each typed from its values there (JSON numbers
    double, so that integer and fractional values never drift between parts; a column or nested
    field null everywhere is string, see _fixed_type)."""
    names: dict = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    fields = []
    for name in names:
        try:
            inferred = pa.infer_type(list(map(methodcaller("get", name), rows)))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            raise JobError(f"parquet column {name} in part 0: its values in the first part have JSON types "
                           "that do not make one type; use jsonl.gz for this query") from None
        fields.append(pa.field(name, _fixed_type(inferred, pa)))
    return pa.schema(fields)


def _fixed_type(inferred: Any, pa: Any) -> Any:
    """The type a column keeps for the whole run, from the type inferred from the first part."""
    types = pa.types
    if types.is_null(inferred) or types.is_large_string(inferred):
        return pa.string()
    if types.is_integer(inferred) or types.is_floating(inferred):
        return pa.float64()
    if types.is_struct(inferred):
        if inferred.num_fields == 0:  # Parquet has no struct without fields
            return pa.string()
        return pa.struct([pa.field(f.name, _fixed_type(f.type, pa)) for f in inferred])
    if types.is_list(inferred) or types.is_large_list(inferred):
        return pa.list_(_fixed_type(inferred.value_type, pa))
    return inferred


# Python types a column of these Arrow types takes as they are (pa.array would also take a bool
# as a double, or ignore a struct's unknown keys: anything else goes through _fit).
_SCALAR_KINDS = {"string": {str, type(None)}, "double": {float, int, type(None)},
                 "bool": {bool, type(None)}}


def parquet_table(rows: list, schema: Any, part: int, pa: Any) -> Any:
    """The records of one Parquet part as a table of exactly `schema`: a column absent from a
    record is null; a value that is not a string in a string column becomes its JSON text;
    anything else that does not fit (or a column the schema lacks) fails the query, naming the
    column."""
    unknown = set().union(*rows).difference(schema.names)
    if unknown:
        raise JobError(f"parquet column {sorted(unknown)[0]} in part {part}: a column the first part did not "
                       "have (the schema is fixed by the first part); use jsonl.gz for this query")
    arrays = []
    for field in schema:
        values = list(map(methodcaller("get", field.name), rows))
        kinds = _SCALAR_KINDS.get(str(field.type))
        array = None
        try:
            if kinds is not None and kinds.issuperset(map(type, values)):
                try:
                    array = pa.array(values, type=field.type)
                except (pa.ArrowInvalid, OverflowError):
                    pass  # an integer beyond 2**53, which pyarrow will not round: _fit does
            if array is None:
                array = pa.array([_fit(v, field.type, field.name, pa) for v in values], type=field.type)
            arrays.append(array)
        except SchemaMismatch as exc:
            raise JobError(f"parquet column {exc.column} in part {part}: {exc.problem}; use jsonl.gz for "
                           "this query") from None
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise JobError(f"parquet column {field.name} in part {part}: {one_line(exc)[:200]}") from None
    return pa.Table.from_arrays(arrays, schema=schema)


def _fit(value: Any, arrow_type: Any, column: str, pa: Any) -> Any:
    """`value` made to fit `arrow_type` (see parquet_table), or SchemaMismatch."""
    if value is None:
        return None
    types = pa.types
    if types.is_string(arrow_type):
        return value if isinstance(value, str) else _ENCODE(value)
    if types.is_float64(arrow_type):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return float(value)  # an integer beyond 2**53 rounded to the nearest double
            except OverflowError:
                raise SchemaMismatch(column, "a JSON number too large for a double") from None
    elif types.is_boolean(arrow_type):
        if isinstance(value, bool):
            return value
    elif types.is_struct(arrow_type):
        if isinstance(value, dict):
            names = [f.name for f in arrow_type]
            extra = [k for k in value if k not in names]
            if extra:
                # TODO(nested schema drift): a nested field first seen after the first part (a
                # sub-query's nextRecordsUrl, a TYPEOF branch) fails the query; a schema built
                # from the SELECT list and the object's describe would know every field up front.
                raise SchemaMismatch(f"{column}.{extra[0]}", "a field the first part did not have "
                                                             f"(it fixed {column} as {arrow_type})")
            return {f.name: _fit(value.get(f.name), f.type, f"{column}.{f.name}", pa) for f in arrow_type}
    elif types.is_list(arrow_type):
        if isinstance(value, list):
            return [_fit(v, arrow_type.value_type, column, pa) for v in value]
    else:
        return value
    raise SchemaMismatch(column, f"a JSON {_JSON_KINDS.get(type(value), type(value).__name__)} where "
                                 f"the first part fixed the type {arrow_type}")


_JSON_KINDS = {str: "string", int: "number", float: "number", bool: "boolean", dict: "object", list: "array"}


def import_pyarrow() -> tuple:
    try:
        import pyarrow  # type: ignore[import-not-found]
        import pyarrow.parquet  # type: ignore[import-not-found]
    except ImportError as exc:
        raise JobError(f"format parquet needs pyarrow ({exc}); add it to --additional-python-modules "
                       "or use jsonl.gz") from None
    return pyarrow, pyarrow.parquet


# ---------------------------------------------------------------------------
# Watermarks (state next to the output)
# ---------------------------------------------------------------------------


def watermark_key_path(prefix: str, name: str) -> str:
    return f"{prefix}{name}/_watermark.json"


def read_watermark(s3: Any, bucket: str, prefix: str, query: dict) -> Any:
    key = watermark_key_path(prefix, query["name"])
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    try:
        state = json.loads(body)
    except ValueError:
        raise JobError(f"the watermark s3://{bucket}/{key} is not JSON; fix or delete it") from None
    if state.get("field", "").lower() != query["watermark"].lower():
        raise JobError(f"the watermark s3://{bucket}/{key} is for field {state.get('field')!r}, the query "
                       f"now names {query['watermark']!r}; delete it for a full run")
    return state.get("value")


def write_watermark(s3: Any, bucket: str, prefix: str, query: dict, value: Any, run_id: str) -> None:
    key = watermark_key_path(prefix, query["name"])
    state = {"query": query["name"], "field": query["watermark"], "value": value, "run_id": run_id,
             "updated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(state, indent=1).encode(),
                  ContentType="application/json")


class HighWater:
    """The largest watermark value seen in the records written."""

    def __init__(self, field: Optional[str], start: Any):
        self.field = field
        self.value = start
        self._key = watermark_key(start) if start is not None else None

    def see(self, records: list) -> None:
        if self.field:
            self.see_values([r.get(self.field) for r in records])

    def see_values(self, values: list) -> None:
        values = [v for v in values if v is not None]
        if not values:
            return
        # One API answers dates and datetimes in one format (YYYY-MM-DD…, same length, same zone):
        # the largest string is the latest. Anything else (numbers too: "9999.9" sorts after
        # "10000.0") is compared value by value.
        first = values[0]
        same = (isinstance(first, str) and len(first) >= 10 and first[:4].isdigit()
                and first[4] == "-" and first[7] == "-")
        if same and all(isinstance(v, str) and len(v) == len(first) and v[-5:] == first[-5:] for v in values):
            candidate = max(values)
        else:
            candidate = max(values, key=watermark_key)
        key = watermark_key(candidate)
        if self._key is None or key > self._key:
            self._key, self.value = key, candidate


# ---------------------------------------------------------------------------
# One query
# ---------------------------------------------------------------------------


def extract_records(sf: Salesforce, soql: str, api: str, fmt: str, name: str, writer: PartWriter,
                    high: HighWater, result: dict, counter: Counter, options: dict) -> None:
    """Every record of one query into the writer (and its watermark values into `high`)."""
    field = high.field
    if api == "bulk":
        pages = sf.bulk_pages(soql, counter, max_records=options.get("bulk_max_records", 0),
                              timeout=options.get("bulk_timeout", 6 * 3600),
                              poll_max=options.get("bulk_poll_max", 10))
        for spool in prefetch(pages, depth=1):
            result["pages"] += 1
            before = writer.records
            try:
                if fmt in CSV_FORMATS:
                    for header, data, count, values in csv_blocks(spool, field):
                        if values is not None:
                            high.see_values(values)
                        writer.add_csv(header, data, count)
                else:
                    # Parquet: the header fixes the schema (every column text), records or not.
                    columns = writer.text_columns if fmt == "parquet" else None
                    for records, lines, count, values in csv_chunks(spool, field, fmt == "parquet",
                                                                    columns=columns):
                        if values is not None:
                            high.see_values(values)
                        if records is not None:
                            writer.add_many(records)
                        else:
                            writer.add_lines(lines, count)
            finally:
                spool.close()
            # A page that lost records on the way must not move the mark past them.
            if spool.announced is not None and writer.records - before != spool.announced:
                raise JobError(f"Bulk API 2.0 result page {result['pages']} held "
                               f"{writer.records - before} records where Salesforce announced "
                               f"{spool.announced} (Sforce-NumberOfRecords); run the job again")
    elif fmt != "parquet" and flat_select(soql):
        total = None
        for page in prefetch(sf.query_pages_raw(soql, counter)):
            result["pages"] += 1
            if total is None:
                total = page.get("totalSize")
            if "lines" not in page:
                records = page.get("records") or []
                high.see(records)
                writer.add_many(records)
                continue
            if field:
                values = field_values(page["lines"], field, page["count"])
                if values is None:
                    values = [json.loads(line).get(field) for line in page["lines"].splitlines()]
                high.see_values(values)
            writer.add_lines(page["lines"], page["count"])
        if isinstance(total, int) and total != writer.records:
            print(f"sfglue warning: query {name}: Salesforce announced {total} records, "
                  f"{writer.records} arrived", file=sys.stderr, flush=True)
    else:
        for page in prefetch(sf.query_pages(soql, counter)):
            result["pages"] += 1
            records = page.get("records") or []
            high.see(records)
            writer.add_many(records)


def run_query(sf: Salesforce, s3: Any, bucket: str, prefix: str, run_id: str, query: dict,
              max_part_bytes: int, options: Optional[dict] = None) -> dict:
    """Extract one query to S3. The watermark moves only after every part is written."""
    options = options or {}
    started = time.monotonic()
    counter = Counter()
    fmt = query.get("format", "jsonl.gz")
    folder = f"{prefix}{query['name']}/run={run_id}/"
    field = query.get("watermark")
    result = {"name": query["name"], "api": query.get("api", "rest"), "format": fmt, "records": 0,
              "bytes": 0, "pages": 0, "parts": 0, "api_calls": 0, "seconds": 0.0,
              "watermark_field": field, "watermark_before": None, "watermark_after": None,
              "output": f"s3://{bucket}/{folder}", "status": "failed"}
    writer = None
    try:
        before = read_watermark(s3, bucket, prefix, query) if field else None
        result["watermark_before"] = before
        soql = with_watermark(query["soql"], field, before) if field else query["soql"]
        api = result["api"]
        if api == "auto":
            total = sf.count(soql, counter)
            api = "bulk" if total >= options.get("bulk_threshold", 100_000) else "rest"
            result["counted"] = total
        result["api"] = api
        if fmt in CSV_FORMATS and api != "bulk":
            raise JobError(f"format {fmt} needs api bulk")
        writer = PartWriter(s3, bucket, folder, max_part_bytes, fmt)
        try:
            high = HighWater(field, before)
            extract_records(sf, soql, api, fmt, query["name"], writer, high, result, counter, options)
            writer.flush(final=True)
        finally:
            writer.abort()
        after = watermark_literal(high.value) if high.value is not None else None
        manifest = {"query": query["name"], "run_id": run_id, "records": writer.records, "format": fmt,
                    "parts": writer.keys, "watermark_field": field, "watermark_before": before,
                    "watermark_after": after}
        s3.put_object(Bucket=bucket, Key=f"{folder}_manifest.json", Body=json.dumps(manifest).encode(),
                      ContentType="application/json")
        # Only now is the data safely in S3: move the mark.
        if field and after is not None and after != before:
            write_watermark(s3, bucket, prefix, query, after, run_id)
        result.update(records=writer.records, bytes=writer.bytes, parts=writer.parts,
                      watermark_after=after if field else None, status="succeeded")
        return result
    except (JobError, botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, OSError,
            UnicodeDecodeError) as exc:
        # An AWS refusal, a full disk or a page that is not UTF-8 fails this query like any other
        # error: the other queries go on, and the summary is written.
        why = exc if isinstance(exc, JobError) else JobError(_describe_error(exc))
        result["error"] = one_line(why)
        if isinstance(why, Stopped):
            result["status"] = "stopped"  # another query hit a limit that stops the run
        failure = type(why)(f"query {query['name']} failed: {why}")
        failure.result = result
        raise failure from None
    finally:
        result["api_calls"] = counter.api_calls
        result["seconds"] = round(time.monotonic() - started, 2)
        if result["status"] != "succeeded":
            result["watermark_after"] = result["watermark_before"]
            if writer is not None:
                # What the query reached before it ended: records handed to the writer, parts
                # handed to S3 (they stay in the folder, which gets no manifest).
                result.update(records=writer.records, bytes=writer.bytes, parts=writer.parts)


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def _describe_error(exc: Exception) -> str:
    """One query's failure that is not a JobError, in words (never a traceback)."""
    if isinstance(exc, UnicodeDecodeError):
        return (f"Salesforce sent text that is not UTF-8 ({exc.reason} at byte {exc.start} of a "
                f"{len(exc.object)}-byte piece)")
    if isinstance(exc, OSError):
        return f"a local file operation failed: {exc.strerror or exc} (the job's temporary disk)"
    return _aws_error(exc)


def _aws_error(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return (f"AWS {exc.operation_name} failed: {error.get('Code', '?')}: "
                f"{error.get('Message', '')}").rstrip(": ")
    return f"AWS call failed: {exc}"


def summary_line(result: dict) -> str:
    """The query's stdout line. Its prefix up to output= is fixed (`sfglue verify --run-job` reads
    it); a query that did not succeed ends with error=, the error on one line, spaces and all."""
    def show(value: Any) -> str:
        return "-" if value is None else str(value).replace(" ", "_")

    line = ("sfglue query={name} records={records} pages={pages} seconds={seconds:.2f} output={output} "
            "api={api} format={format} bytes={bytes} parts={parts} api_calls={api_calls} ".format(**result)
            + f"watermark_before={show(result['watermark_before'])} "
              f"watermark_after={show(result['watermark_after'])} status={result['status']}")
    if result["status"] != "succeeded":
        line += " error=" + one_line(result.get("error") or "-")
    return line


def run(argv: list, out: Any = None) -> dict:
    out = out or sys.stdout
    started = time.monotonic()
    if _BOTO_IMPORT_ERROR is not None:
        raise JobError(f"boto3 is not importable ({_BOTO_IMPORT_ERROR}); use library-set=analytics")
    if _SIGNING_IMPORT_ERROR is not None:
        raise JobError(f"a signing library is missing ({_SIGNING_IMPORT_ERROR}); pass "
                       "--additional-python-modules with PyJWT and cryptography")
    args = parse_args(argv)
    queries = parse_queries(args["queries"])
    if any(q.get("format") == "parquet" for q in queries):
        import_pyarrow()
    bucket, prefix = parse_s3_uri(args["output_uri"])
    region = region_from_arn(args["secret_id"])
    secrets = aws_client("secretsmanager", region)
    secret = fetch_secret(secrets, args["secret_id"])
    warning = certificate_warning(secret)
    if warning:
        print(f"sfglue warning: {warning}", file=sys.stderr, flush=True)
    sf = sign_in(secrets, args["secret_id"], secret, make=lambda doc, key: Salesforce(
        doc, key, max_attempts=args["max_attempts"], max_logins=args["max_logins"],
        read_timeout=args["http_timeout"]))
    s3 = aws_client("s3", region)
    options = {k: args[k] for k in OPTIONAL_ARGS}
    errors = []
    by_name = {}
    with ThreadPoolExecutor(max_workers=min(args["max_concurrency"], len(queries))) as pool:
        futures = {pool.submit(run_query, sf, s3, bucket, prefix, args["JOB_RUN_ID"], q,
                               args["max_part_bytes"], options): q for q in queries}
        for future in as_completed(futures):
            query = futures[future]
            try:
                by_name[query["name"]] = future.result()
                print(summary_line(by_name[query["name"]]), file=out, flush=True)
            except JobError as exc:
                errors.append((query, exc))
                if getattr(exc, "result", None):
                    by_name[query["name"]] = exc.result
                    print(summary_line(exc.result), file=out, flush=True)
    results = [by_name[q["name"]] for q in queries if q["name"] in by_name]
    # The error to report: a limit first, never the echo of the stop it caused elsewhere.
    errors.sort(key=lambda e: (not isinstance(e[1], LimitExceeded), isinstance(e[1], Stopped)))
    summary = {
        "job_name": args.get("JOB_NAME") or None, "job_run_id": args["JOB_RUN_ID"],
        "status": "failed" if errors else "succeeded", "logins": sf.logins, "api_calls": sf.api_calls,
        "api_usage": sf.api_usage,
        # The run's totals count the queries that succeeded (a failed query's counts are partial).
        "records": sum(r["records"] for r in results if r["status"] == "succeeded"),
        "bytes": sum(r["bytes"] for r in results if r["status"] == "succeeded"),
        "seconds": round(time.monotonic() - started, 2),
        "summary_uri": f"s3://{bucket}/{prefix}_summary/run={args['JOB_RUN_ID']}.json",
        "queries": results,
    }
    if errors:
        summary["error"] = one_line(errors[0][1])
    text = json.dumps(summary, separators=(",", ":"))
    summary_failure = None
    try:
        s3.put_object(Bucket=bucket, Key=f"{prefix}_summary/run={args['JOB_RUN_ID']}.json",
                      Body=text.encode(), ContentType="application/json")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        summary_failure = f"cannot write the run summary to {summary['summary_uri']}: {_aws_error(exc)}"
        if errors:
            print(f"sfglue warning: {one_line(summary_failure)}", file=sys.stderr)
    # The summary is printed in any case: the log keeps it when S3 would not.
    print("sfglue summary " + text, file=out, flush=True)
    if summary_failure and not errors:
        raise JobError(summary_failure + " (every query succeeded; its data and marks are in S3)")
    if errors:
        if len(errors) == 1 or isinstance(errors[0][1], LimitExceeded):
            raise errors[0][1]
        raise JobError(f"{len(errors)} queries failed: " + "; ".join(str(e) for _q, e in errors))
    return summary


def one_line(text: Any) -> str:
    """Salesforce messages can span lines (INVALID_FIELD quotes the query): keep it one line."""
    return " ".join(str(text).split())


def main(argv: Optional[list] = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    # Converting Bulk CSV makes millions of short-lived lists and tuples (no cycles): collect
    # the youngest generation less often (it cost about a fifth of the conversion time).
    gc.set_threshold(100_000, 20, 20)
    try:
        run(argv)
    except JobError as exc:
        print(f"sfglue error: {one_line(exc)}", file=sys.stderr, flush=True)
        return 1
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        print(f"sfglue error: {one_line(_aws_error(exc))}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
