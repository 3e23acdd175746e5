"""sfglue Glue job: sign in to Salesforce with the OAuth 2.0 JWT bearer flow, run SOQL
queries, and write the records to S3 as JSON Lines.

Runs as an AWS Glue Python shell job (Python 3.9) and locally (Python 3.9 to 3.11).

Job arguments (Glue passes them as ``--name value``):
  --secret_id   Secrets Manager secret (ARN or name) holding the sfglue/v1 JSON below
  --output_uri  s3://bucket/prefix/ ; output goes to <prefix><query>/run=<JOB_RUN_ID>/part-NNNNN.jsonl
  --queries     JSON array: [{"name": "accounts", "soql": "SELECT Id, Name FROM Account"}]
  --JOB_NAME, --JOB_RUN_ID   set by Glue
  --max_part_bytes           optional: start a new part file after this many bytes (default 32 MiB)

The secret's SecretString (written by the sfglue CLI):
  {"schema": "sfglue/v1", "private_key_pem": "...", "certificate_pem": "...",
   "certificate_sha256": "...", "certificate_not_after": "2027-12-04T14:00:00Z",
   "consumer_key": "...", "username": "...", "login_url": "https://login.salesforce.com",
   "audience": "https://login.salesforce.com", "api_version": "62.0"}

Output on stdout: one line per query
  sfglue query=<name> records=<n> pages=<p> seconds=<s.ss> output=s3://.../
and at the end one line ``sfglue summary <json>``. On failure: exit status 1 and one line
``sfglue error: <what went wrong>`` on stderr. The private key, the signed assertion and the
access token are never printed.
"""

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
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
# (connect, read) timeouts in seconds for every Salesforce call.
HTTP_TIMEOUT = (10, 120)
HTTP_ATTEMPTS = 3
DEFAULT_MAX_PART_BYTES = 32 * 1024 * 1024
QUERY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
REQUIRED_ARGS = ("secret_id", "output_uri", "queries")
USER_AGENT = "sfglue-glue-job/1"


class JobError(Exception):
    """An expected failure (bad input, Salesforce or AWS said no): one line, no traceback."""


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
    max_part = _scan_argv(argv, "max_part_bytes")
    try:
        resolved["max_part_bytes"] = int(max_part) if max_part else DEFAULT_MAX_PART_BYTES
    except ValueError:
        raise JobError(f"--max_part_bytes must be an integer, got {max_part!r}") from None
    if resolved["max_part_bytes"] < 1:
        raise JobError("--max_part_bytes must be positive")
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
        out.append({"name": name, "soql": soql.strip()})
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
    options = {"retries": {"max_attempts": 5, "mode": "standard"}}
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


def _error_text(response: Any) -> str:
    """Salesforce's own words from an error response, without echoing anything we sent."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code} with a non-JSON body"
    if isinstance(body, dict) and "error" in body:
        return f"{body.get('error')}: {body.get('error_description', '')}".rstrip(": ")
    if isinstance(body, list) and body and isinstance(body[0], dict):
        first = body[0]
        return f"{first.get('errorCode', 'ERROR')}: {first.get('message', '')}".rstrip(": ")
    return f"HTTP {response.status_code}"


class Salesforce:
    """A signed-in Salesforce session: one JWT bearer sign-in per run, reused for every call."""

    def __init__(self, secret: dict, key: Any, http: Any = None, sleep: Callable = time.sleep):
        self.secret = secret
        self.key = key
        self.http = http or requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT
        self.sleep = sleep
        self.instance_url = ""
        self._token = ""
        self.logins = 0

    def login(self) -> None:
        url = self.secret["login_url"] + TOKEN_PATH
        form = {"grant_type": GRANT_TYPE, "assertion": build_assertion(self.secret, self.key)}
        try:
            response = self.http.post(url, data=form, headers={"Accept": "application/json"},
                                      timeout=HTTP_TIMEOUT)
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

    def get(self, path_or_url: str, params: Optional[dict] = None) -> dict:
        """GET a REST resource as JSON; signs in again once if the session expired (401)."""
        if not self._token:
            self.login()
        relogged = False
        attempt = 0
        while True:
            attempt += 1
            url = path_or_url if path_or_url.startswith("http") else self.instance_url + path_or_url
            try:
                response = self.http.get(
                    url, params=params, timeout=HTTP_TIMEOUT,
                    headers={"Authorization": "Bearer " + self._token, "Accept": "application/json"},
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt < HTTP_ATTEMPTS:
                    self.sleep(2 ** (attempt - 1))
                    continue
                raise JobError(f"cannot reach Salesforce at {self.instance_url}: "
                               f"{exc.__class__.__name__}") from None
            if response.status_code == 401 and not relogged:
                relogged = True
                self.login()
                continue
            if response.status_code in (502, 503, 504) and attempt < HTTP_ATTEMPTS:
                self.sleep(2 ** (attempt - 1))
                continue
            if response.status_code != 200:
                raise JobError(f"{_error_text(response)} (HTTP {response.status_code})")
            try:
                return response.json()
            except ValueError:
                raise JobError(f"Salesforce answered non-JSON for {url.split('?')[0]}") from None

    def query_pages(self, soql: str) -> Iterator[dict]:
        """Every page of a SOQL query, following nextRecordsUrl."""
        version = self.secret["api_version"]
        page = self.get(f"/services/data/v{version}/query", params={"q": soql})
        while True:
            yield page
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self.get(next_url)


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


class PartWriter:
    """Writes JSON Lines parts to S3: part-00000.jsonl, part-00001.jsonl, ... as they fill."""

    def __init__(self, s3: Any, bucket: str, folder: str, max_part_bytes: int):
        self.s3 = s3
        self.bucket = bucket
        self.folder = folder
        self.max_part_bytes = max_part_bytes
        self.buffer = bytearray()
        self.parts = 0
        self.records = 0

    def add(self, record: dict) -> None:
        line = json.dumps(strip_attributes(record), ensure_ascii=False, separators=(",", ":"))
        self.buffer += line.encode("utf-8") + b"\n"
        self.records += 1
        if len(self.buffer) >= self.max_part_bytes:
            self.flush()

    def flush(self, final: bool = False) -> None:
        if not self.buffer and not (final and self.parts == 0):
            return
        key = f"{self.folder}part-{self.parts:05d}.jsonl"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(self.buffer),
                           ContentType="application/x-ndjson")
        self.parts += 1
        self.buffer = bytearray()


def run_query(sf: Salesforce, s3: Any, bucket: str, prefix: str, run_id: str, query: dict,
              max_part_bytes: int) -> dict:
    started = time.monotonic()
    folder = f"{prefix}{query['name']}/run={run_id}/"
    writer = PartWriter(s3, bucket, folder, max_part_bytes)
    pages = 0
    try:
        for page in sf.query_pages(query["soql"]):
            pages += 1
            for record in page.get("records") or []:
                writer.add(record)
    except JobError as exc:
        raise JobError(f"query {query['name']} failed: {exc}") from None
    writer.flush(final=True)
    return {
        "name": query["name"], "records": writer.records, "pages": pages,
        "parts": writer.parts, "seconds": round(time.monotonic() - started, 2),
        "output": f"s3://{bucket}/{folder}",
    }


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def _aws_error(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return (f"AWS {exc.operation_name} failed: {error.get('Code', '?')}: "
                f"{error.get('Message', '')}").rstrip(": ")
    return f"AWS call failed: {exc}"


def run(argv: list, out: Any = None) -> dict:
    out = out or sys.stdout
    if _BOTO_IMPORT_ERROR is not None:
        raise JobError(f"boto3 is not importable ({_BOTO_IMPORT_ERROR}); use library-set=analytics")
    if _SIGNING_IMPORT_ERROR is not None:
        raise JobError(f"a signing library is missing ({_SIGNING_IMPORT_ERROR}); pass "
                       "--additional-python-modules with PyJWT and cryptography")
    args = parse_args(argv)
    queries = parse_queries(args["queries"])
    bucket, prefix = parse_s3_uri(args["output_uri"])
    region = region_from_arn(args["secret_id"])
    secret = fetch_secret(aws_client("secretsmanager", region), args["secret_id"])
    warning = certificate_warning(secret)
    if warning:
        print(f"sfglue warning: {warning}", file=sys.stderr, flush=True)
    key = load_private_key(secret["private_key_pem"])
    sf = Salesforce(secret, key)
    sf.login()
    s3 = aws_client("s3", region)
    results = []
    for query in queries:
        result = run_query(sf, s3, bucket, prefix, args["JOB_RUN_ID"], query, args["max_part_bytes"])
        results.append(result)
        print("sfglue query={name} records={records} pages={pages} seconds={seconds:.2f} "
              "output={output}".format(**result), file=out, flush=True)
    summary = {
        "job_name": args.get("JOB_NAME") or None, "job_run_id": args["JOB_RUN_ID"],
        "logins": sf.logins, "records": sum(r["records"] for r in results), "queries": results,
    }
    print("sfglue summary " + json.dumps(summary, separators=(",", ":")), file=out, flush=True)
    return summary


def one_line(text: str) -> str:
    """Salesforce messages can span lines (INVALID_FIELD quotes the query): keep it one line."""
    return " ".join(str(text).split())


def main(argv: Optional[list] = None) -> int:
    argv = list(sys.argv if argv is None else argv)
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
