"""glue_scripts/sfglue_extract.py: unit tests of its helpers (no servers)."""

import importlib.util
import json
import sys
import time
import types
from datetime import timezone

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import GLUE_SCRIPT


def load_script():
    spec = importlib.util.spec_from_file_location("sfglue_extract", GLUE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sx = load_script()


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pkcs8(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def secret_doc(pem, **extra):
    doc = {"schema": "sfglue/v1", "private_key_pem": pem, "consumer_key": "3MVGtest",
           "username": "integration@example.com", "login_url": "https://login.salesforce.com/",
           "audience": "https://login.salesforce.com", "api_version": "62.0"}
    doc.update(extra)
    return doc


# -- the private key -----------------------------------------------------------


def test_pem_repairs(key):
    pem = pkcs8(key)
    pkcs1 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()).decode()
    variants = {
        "as is": pem,
        "literal backslash-n (escaped twice)": pem.replace("\n", "\\n"),
        "CRLF": pem.replace("\n", "\r\n"),
        "line breaks collapsed to spaces": pem.replace("\n", " "),
        "no line breaks at all": pem.replace("\n", ""),
        "indented and padded": "\n   " + pem.replace("\n", "\n    ") + "\n\n",
        "PKCS#1": pkcs1,
    }
    want = key.public_key().public_numbers()
    for name, text in variants.items():
        loaded = sx.load_private_key(text)
        assert loaded.public_key().public_numbers() == want, name


def test_pem_errors_name_the_problem_without_the_key(key):
    pem = pkcs8(key)
    body_line = pem.splitlines()[1]
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"pw")).decode()
    cases = {
        "": "empty",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC": "no BEGIN/END",
        encrypted: "encrypted",
        pem.replace("PRIVATE KEY", "CERTIFICATE"): "not a private key",
        pem.replace(body_line, body_line[:-8] + "AAAAAAAA"): "cannot load",
    }
    for text, needle in cases.items():
        with pytest.raises(sx.JobError) as err:
            sx.load_private_key(text)
        assert needle in str(err.value)
        assert body_line[:20] not in str(err.value)


# -- the secret and the arguments ----------------------------------------------


def test_parse_secret_defaults_and_checks(key):
    secret = sx.parse_secret(json.dumps(secret_doc(pkcs8(key), api_version="v61.0")))
    assert secret["login_url"] == "https://login.salesforce.com"
    assert secret["api_version"] == "61.0"
    doc = secret_doc(pkcs8(key))
    del doc["audience"]
    assert sx.parse_secret(json.dumps(doc))["audience"] == "https://login.salesforce.com/"
    with pytest.raises(sx.JobError, match="schema"):
        sx.parse_secret(json.dumps(secret_doc("x", schema="other/v9")))
    with pytest.raises(sx.JobError, match="consumer_key"):
        sx.parse_secret(json.dumps(secret_doc("x", consumer_key="")))
    with pytest.raises(sx.JobError, match="not JSON"):
        sx.parse_secret("-----BEGIN " + "PRIVATE KEY-----")


def test_certificate_warning():
    from datetime import datetime

    now = datetime(2026, 12, 4, tzinfo=timezone.utc)
    assert sx.certificate_warning({"certificate_not_after": "2027-12-04T14:00:00Z"}, now) is None
    assert "expires" in sx.certificate_warning({"certificate_not_after": "2026-12-20T00:00:00Z"}, now)
    assert "expired" in sx.certificate_warning({"certificate_not_after": "2026-01-01T00:00:00Z"}, now)
    assert sx.certificate_warning({}, now) is None


def test_parse_args_without_awsglue_ignores_unknown_arguments():
    argv = ["script.py", "--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_1", "--job-bookmark-option",
            "job-bookmark-disable", "--JOB_NAME", "n", "--secret_id", "arn:aws:secretsmanager:eu-west-1:1:secret:s",
            "--output_uri", "s3://b/p/", "--queries", "[]", "--enable-metrics", "true"]
    args = sx.parse_args(argv)
    assert args["secret_id"].endswith(":secret:s") and args["JOB_RUN_ID"] == "jr_1"
    assert args["JOB_NAME"] == "n" and args["max_part_bytes"] == sx.DEFAULT_MAX_PART_BYTES
    with pytest.raises(sx.JobError, match="--output_uri"):
        sx.parse_args(["script.py", "--secret_id", "s", "--queries", "[]"])
    local = sx.parse_args(["s.py", "--secret_id", "s", "--output_uri", "s3://b/", "--queries", "[]",
                           "--max_part_bytes", "100"])
    assert local["JOB_RUN_ID"].startswith("local-") and local["max_part_bytes"] == 100


def test_parse_args_uses_awsglue_when_it_imports(monkeypatch):
    calls = []

    def get_resolved_options(argv, options):
        calls.append(list(options))
        return {"secret_id": "s", "output_uri": "s3://b/", "queries": "[]", "JOB_NAME": "n",
                "JOB_RUN_ID": "jr_glue"}

    package = types.ModuleType("awsglue")
    utils = types.ModuleType("awsglue.utils")
    utils.getResolvedOptions = get_resolved_options
    package.utils = utils
    monkeypatch.setitem(sys.modules, "awsglue", package)
    monkeypatch.setitem(sys.modules, "awsglue.utils", utils)
    args = sx.parse_args(["script.py", "--JOB_NAME", "n", "--JOB_RUN_ID", "jr_glue"])
    assert calls == [["secret_id", "output_uri", "queries", "JOB_NAME"]]
    assert args["JOB_RUN_ID"] == "jr_glue"


def test_parse_queries_and_output_uri():
    assert sx.parse_queries('[{"name":"accounts","soql":" SELECT Id FROM Account "}]') == [
        {"name": "accounts", "soql": "SELECT Id FROM Account", "api": "rest", "format": "jsonl.gz"}]
    for bad, needle in [("nope", "not valid JSON"), ("[]", "non-empty"), ('[{"name":"a/b","soql":"x"}]', "name"),
                        ('[{"name":"a","soql":""}]', "no soql"),
                        ('[{"name":"a","soql":"x"},{"name":"a","soql":"y"}]', "twice")]:
        with pytest.raises(sx.JobError, match=needle):
            sx.parse_queries(bad)
    assert sx.parse_s3_uri("s3://bkt/out") == ("bkt", "out/")
    assert sx.parse_s3_uri("s3://bkt/") == ("bkt", "")
    with pytest.raises(sx.JobError):
        sx.parse_s3_uri("https://bkt/out/")
    assert sx.region_from_arn("arn:aws:secretsmanager:eu-west-1:123:secret:x-AbCdEf") == "eu-west-1"
    assert sx.region_from_arn("plain-name") is None


# -- the assertion ---------------------------------------------------------------


def test_assertion_claims(key):
    secret = sx.parse_secret(json.dumps(secret_doc(pkcs8(key))))
    token = sx.build_assertion(secret, key, now=1_800_000_000)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, key.public_key(), algorithms=["RS256"], audience="https://login.salesforce.com",
                        options={"verify_exp": False})
    assert claims == {"iss": "3MVGtest", "sub": "integration@example.com",
                      "aud": "https://login.salesforce.com", "exp": 1_800_000_180}
    assert isinstance(claims["exp"], int)
    fresh = jwt.decode(sx.build_assertion(secret, key), key.public_key(), algorithms=["RS256"],
                       audience="https://login.salesforce.com")
    assert 170 <= fresh["exp"] - time.time() <= 181


# -- Salesforce calls against a scripted HTTP session ---------------------------


class FakeResponse:
    def __init__(self, status, body, headers=None):
        self.status_code = status
        self._body = body
        self.headers = headers or {}

    def json(self):
        if isinstance(self._body, str):
            raise ValueError("not JSON")
        return self._body

    @property
    def content(self):
        if isinstance(self._body, bytes):
            return self._body
        if isinstance(self._body, str):
            return self._body.encode()
        return json.dumps(self._body, separators=(",", ":")).encode()


class FakeHttp:
    """Answers token and query calls from a script of responses."""

    def __init__(self, token_answers, get_answers):
        self.headers = {}
        self.token_answers = list(token_answers)
        self.get_answers = list(get_answers)
        self.posts = []
        self.gets = []

    def post(self, url, data=None, headers=None, timeout=None):
        assert timeout is not None
        self.posts.append((url, dict(data)))
        return self.token_answers.pop(0)

    def request(self, method, url, params=None, json=None, headers=None, timeout=None, stream=False):
        assert timeout is not None
        self.gets.append((url, params, headers["Authorization"]))
        answer = self.get_answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def token_ok(n=1):
    return FakeResponse(200, {"access_token": f"00Dxx0000001gPL!AQ{n}", "instance_url": "https://org.example/",
                              "token_type": "Bearer", "id": "https://login/id/00D/005", "scope": "api"})


def page(records, next_url=None):
    body = {"totalSize": 99, "done": next_url is None, "records": records}
    if next_url:
        body["nextRecordsUrl"] = next_url
    return FakeResponse(200, body)


def rec(n):
    return {"attributes": {"type": "Account", "url": f"/x/{n}"}, "Id": f"001{n}", "Name": f"A{n}",
            "Owner": {"attributes": {"type": "User"}, "Name": "O"}}


def sf_session(key, http):
    secret = sx.parse_secret(json.dumps(secret_doc(pkcs8(key))))
    return sx.Salesforce(secret, key, http=http, sleep=lambda s: None)


def test_query_follows_next_records_url_and_signs_in_once(key):
    http = FakeHttp([token_ok()], [
        page([rec(1), rec(2)], "/services/data/v62.0/query/01g-2"),
        page([rec(3)], "/services/data/v62.0/query/01g-3"),
        page([rec(4)]),
    ])
    sf = sf_session(key, http)
    pages = list(sf.query_pages("SELECT Id, Name FROM Account"))
    assert [len(p["records"]) for p in pages] == [2, 1, 1]
    assert sf.logins == 1 and len(http.posts) == 1
    url, form = http.posts[0]
    assert url == "https://login.salesforce.com/services/oauth2/token"
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert [g[0] for g in http.gets] == [
        "https://org.example/services/data/v62.0/query",
        "https://org.example/services/data/v62.0/query/01g-2",
        "https://org.example/services/data/v62.0/query/01g-3",
    ]
    assert http.gets[0][1] == {"q": "SELECT Id, Name FROM Account"}
    assert all(g[2] == "Bearer 00Dxx0000001gPL!AQ1" for g in http.gets)


def test_expired_session_signs_in_again_once(key):
    expired = FakeResponse(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    http = FakeHttp([token_ok(1), token_ok(2)], [expired, page([rec(1)])])
    sf = sf_session(key, http)
    assert len(list(sf.query_pages("SELECT Id FROM Account"))) == 1
    assert sf.logins == 2 and http.gets[-1][2].endswith("AQ2")

    http = FakeHttp([token_ok(1), token_ok(2)], [expired, expired])
    with pytest.raises(sx.JobError, match="INVALID_SESSION_ID: Session expired or invalid"):
        list(sf_session(key, http).query_pages("SELECT Id FROM Account"))


def test_token_error_carries_salesforce_words_only(key):
    http = FakeHttp([FakeResponse(400, {"error": "invalid_grant", "error_description": "invalid assertion"})], [])
    sf = sf_session(key, http)
    with pytest.raises(sx.JobError) as err:
        sf.login()
    message = str(err.value)
    assert "invalid_grant: invalid assertion" in message
    assert "eyJ" not in message and "BEGIN" not in message
    http = FakeHttp([FakeResponse(502, "<html>bad gateway</html>")], [])
    with pytest.raises(sx.JobError, match="HTTP 502"):
        sf_session(key, http).login()


def test_query_errors_and_retries(key):
    bad = FakeResponse(400, [{"message": "unexpected token: FORM", "errorCode": "MALFORMED_QUERY"}])
    with pytest.raises(sx.JobError, match="MALFORMED_QUERY: unexpected token"):
        list(sf_session(key, FakeHttp([token_ok()], [bad])).query_pages("SELECT Id FORM Account"))
    flaky = FakeHttp([token_ok()], [FakeResponse(503, "busy"), page([rec(1)])])
    assert len(list(sf_session(key, flaky).query_pages("SELECT Id FROM Account"))) == 1


# -- output ------------------------------------------------------------------------


class FakeS3:
    def __init__(self):
        self.objects = {}

    def put_object(self, Bucket, Key, Body, ContentType):  # noqa: N803 - boto3's names
        self.objects[(Bucket, Key)] = Body if isinstance(Body, bytes) else Body.read()

    def get_object(self, Bucket, Key):  # noqa: N803
        import io

        import botocore.exceptions

        if (Bucket, Key) not in self.objects:
            raise botocore.exceptions.ClientError({"Error": {"Code": "NoSuchKey", "Message": "no"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


def test_records_are_written_as_json_lines_in_parts(key):
    pages = [page([rec(i) for i in range(0, 5)], "/n/2"), page([rec(i) for i in range(5, 9)])]
    http = FakeHttp([token_ok()], pages)
    s3 = FakeS3()
    result = sx.run_query(sf_session(key, http), s3, "bkt", "out/", "jr_9",
                          {"name": "accounts", "soql": "SELECT Id, Name, Owner.Name FROM Account", "format": "jsonl"},
                          max_part_bytes=200)
    assert result["records"] == 9 and result["pages"] == 2 and result["parts"] == len(s3.objects) - 1 > 1
    assert result["output"] == "s3://bkt/out/accounts/run=jr_9/"
    keys = sorted(k for _b, k in s3.objects if "/part-" in k)
    assert keys[0] == "out/accounts/run=jr_9/part-00000.jsonl"
    lines = [json.loads(line) for k in keys for line in s3.objects[("bkt", k)].decode().splitlines()]
    assert [r["Id"] for r in lines] == [f"001{i}" for i in range(9)]
    assert all("attributes" not in r and "attributes" not in r["Owner"] for r in lines)


def test_empty_result_still_writes_one_part(key):
    s3 = FakeS3()
    result = sx.run_query(sf_session(key, FakeHttp([token_ok()], [page([])])), s3, "bkt", "", "jr_1",
                          {"name": "none", "soql": "SELECT Id FROM Account WHERE Id = null", "format": "jsonl"}, 1000)
    assert (result["records"], result["parts"]) == (0, 1)
    assert s3.objects[("bkt", "none/run=jr_1/part-00000.jsonl")] == b""


def test_script_is_python39_compatible_syntax():
    import ast

    source = GLUE_SCRIPT.read_text()
    ast.parse(source, feature_version=(3, 9))


def test_multi_line_salesforce_errors_end_as_one_stderr_line(key, monkeypatch, capsys):
    message = ("\nSELECT Id, Name FROM Contact\n       ^\nERROR at Row:1:Column:12\n"
               "No such column 'Name' on entity 'Contact'.")
    bad = FakeResponse(400, [{"message": message, "errorCode": "INVALID_FIELD"}])
    sf = sf_session(key, FakeHttp([token_ok()], [bad]))

    def fake_run(argv):
        sx.run_query(sf, FakeS3(), "bkt", "", "jr", {"name": "contacts", "soql": "SELECT Id, Name FROM Contact"}, 10)

    monkeypatch.setattr(sx, "run", fake_run)
    assert sx.main(["script.py"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("sfglue error: query contacts failed: INVALID_FIELD: SELECT Id, Name FROM Contact ^ ERROR")
    assert err.rstrip().endswith("No such column 'Name' on entity 'Contact'. (HTTP 400)")


def test_a_failed_query_has_its_line_with_the_counts_it_reached_and_the_error(key):
    import re

    message = "invalid query locator\nfor 01g-2"
    gone = FakeResponse(400, [{"message": message, "errorCode": "INVALID_QUERY_LOCATOR"}])
    http = FakeHttp([token_ok()], [page([rec(1), rec(2)], "/n/2"), gone])
    s3 = FakeS3()
    with pytest.raises(sx.JobError) as failed:
        sx.run_query(sf_session(key, http), s3, "bkt", "out/", "jr_f",
                     {"name": "a", "soql": "SELECT Id, Name FROM Account"}, 1000)
    result = failed.value.result
    assert (result["status"], result["records"], result["pages"], result["parts"]) == ("failed", 2, 1, 0)
    line = sx.summary_line(result)
    assert line.count("\n") == 0
    assert re.fullmatch(r"sfglue query=a records=2 pages=1 seconds=\d+\.\d\d output=s3://bkt/out/a/run=jr_f/ "
                        r"api=rest format=jsonl.gz bytes=0 parts=0 api_calls=2 watermark_before=- watermark_after=- "
                        r"status=failed error=INVALID_QUERY_LOCATOR: invalid query locator for 01g-2 \(HTTP 400\)",
                        line), line
    assert not any(k.endswith("_manifest.json") for _b, k in s3.objects)
    # Parts already uploaded count (they stay in the folder, without a manifest).
    http = FakeHttp([token_ok()], [page([rec(n) for n in range(5)], "/n/2"), page([rec(5)], "/n/3"), gone])
    with pytest.raises(sx.JobError) as failed:
        sx.run_query(sf_session(key, http), s3, "bkt", "out/", "jr_g",
                     {"name": "a", "soql": "SELECT Id, Name FROM Account", "format": "jsonl"}, 100)
    result = failed.value.result
    uploaded = [k for _b, k in s3.objects if k.startswith("out/a/run=jr_g/part-")]
    assert (result["records"], result["pages"], result["parts"]) == (6, 2, len(uploaded)) and uploaded
    assert result["bytes"] == sum(len(s3.objects[("bkt", k)]) for k in uploaded)
    assert f" parts={len(uploaded)} " in sx.summary_line(result)


def test_a_query_stopped_by_another_querys_limit_says_so(key):
    sf = sf_session(key, FakeHttp([token_ok()], []))
    sf.login()
    sf.stop_reason = "Salesforce limit TotalRequests reached: REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."
    sf.stop.set()
    with pytest.raises(sx.Stopped) as stopped:
        sx.run_query(sf, FakeS3(), "bkt", "out/", "jr_s", {"name": "b", "soql": "SELECT Id FROM Account"}, 1000)
    result = stopped.value.result
    assert result["status"] == "stopped"
    line = sx.summary_line(result)
    assert line.startswith("sfglue query=b records=0 pages=0 seconds=")
    assert line.endswith(" status=stopped error=stopped: Salesforce limit TotalRequests reached: "
                         "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.")


def test_script_needs_no_more_than_python39():
    """vermin and the AST check the 3.9 limit statically (the .venv39 run also executes these tests on 3.9)."""
    import ast
    import subprocess
    from pathlib import Path

    vermin = Path(sys.executable).with_name("vermin")
    done = subprocess.run([str(vermin), "--no-tips", "--violations", "-t=3.9-", "--eval-annotations",
                           str(GLUE_SCRIPT)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    # PEP 604 unions (X | None) in annotations are evaluated at definition time on 3.9: refuse them.
    tree = ast.parse(GLUE_SCRIPT.read_text())
    annotations = [n.returns for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.returns]
    annotations += [a.annotation for n in ast.walk(tree) if isinstance(n, ast.arguments)
                    for a in n.args + n.kwonlyargs if a.annotation]
    annotations += [n.annotation for n in ast.walk(tree) if isinstance(n, ast.AnnAssign)]
    unions = [ast.unparse(a) for a in annotations
              if any(isinstance(x, ast.BinOp) and isinstance(x.op, ast.BitOr) for x in ast.walk(a))]
    assert unions == []


def test_job_pins_match_the_dev_venv():
    """glue_scripts/requirements.txt and requirements-parquet.txt (read by the Rust CLI) hold only
    name==version lines, equal to the dev venv's pins and to what this venv has installed."""
    import re

    from conftest import REPO

    job = (REPO / "glue_scripts" / "requirements.txt").read_text().splitlines()
    parquet = (REPO / "glue_scripts" / "requirements-parquet.txt").read_text().splitlines()
    assert [line.split("==")[0] for line in parquet] == ["pyarrow"]
    job += parquet
    assert job and all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][0-9A-Za-z.]*", line) for line in job), job
    dev = {}
    for line in (REPO / "requirements-dev.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            dev[re.sub(r"\[.*\]", "", name).lower()] = version.strip()
    for line in job:
        name, version = line.split("==")
        assert dev.get(name.lower()) == version, f"{name}: job {version}, dev venv {dev.get(name.lower())}"
    import importlib.metadata

    assert {line.split("==")[0].lower() for line in job} >= {"pyjwt", "cryptography"}
    for line in job:
        name, version = line.split("==")
        assert importlib.metadata.version(name) == version


# -- the extractor's helpers ---------------------------------------------------------


def test_watermark_and_count_rewrites_of_soql():
    assert sx.with_watermark("SELECT Id, SystemModstamp FROM Account", "SystemModstamp", None) == \
        "SELECT Id, SystemModstamp FROM Account"
    assert sx.with_watermark("SELECT Id FROM Account ORDER BY Id LIMIT 10", "SystemModstamp",
                             "2025-01-01T00:00:00.000Z") == \
        "SELECT Id FROM Account WHERE SystemModstamp > 2025-01-01T00:00:00.000Z ORDER BY Id LIMIT 10"
    assert sx.with_watermark("SELECT Id FROM Account WHERE Name = 'a where b' OR Id != null ORDER BY Id",
                             "SystemModstamp", "2025-01-01T00:00:00.000Z") == (
        "SELECT Id FROM Account WHERE (Name = 'a where b' OR Id != null) AND "
        "SystemModstamp > 2025-01-01T00:00:00.000Z ORDER BY Id")
    with pytest.raises(sx.JobError, match="not a date"):
        sx.with_watermark("SELECT Id FROM Account", "F", "x' OR Name != '")
    assert sx.count_soql("SELECT Id, Name FROM Account WHERE Name LIKE 'A%' ORDER BY Name LIMIT 5") == \
        "SELECT COUNT() FROM Account WHERE Name LIKE 'A%' LIMIT 5"
    assert sx.watermark_literal("2025-01-01T01:00:00.000+0100") == "2025-01-01T00:00:00.000Z"
    assert sx.watermark_literal("2025-01-01") == "2025-01-01"
    high = sx.HighWater("F", "2025-01-01T00:00:00.000Z")
    high.see_values(["2024-12-31T00:00:00.000+0000", None, "2025-01-02T00:00:00.000+0000"])
    assert high.value == "2025-01-02T00:00:00.000+0000"
    high.see_values(["2025-01-01T00:00:00.000Z"])
    assert high.value == "2025-01-02T00:00:00.000+0000"
    numbers = sx.HighWater("N", None)
    numbers.see_values([9, 10, 2])
    assert numbers.value == 10
    # Bulk gives numbers as text of one width: compared as numbers, not as strings.
    as_text = sx.HighWater("N", None)
    as_text.see_values(["9999.900000", "10000.00000", "0123.000000"])
    assert as_text.value == "10000.00000"


def test_query_options_are_checked():
    parsed = sx.parse_queries(json.dumps([{"name": "a", "soql": "SELECT Id, SystemModstamp FROM Account",
                                           "api": "auto", "format": "parquet", "watermark": "SystemModstamp"}]))
    assert parsed[0] == {"name": "a", "soql": "SELECT Id, SystemModstamp FROM Account", "api": "auto",
                         "format": "parquet", "watermark": "SystemModstamp"}
    for bad, needle in [({"api": "soap"}, "api must be"), ({"format": "tsv"}, "format must be"),
                        ({"format": "csv"}, r"format csv .* needs api bulk \(got rest\)"),
                        ({"format": "csv.gz", "api": "auto"}, r"needs api bulk \(got auto\)"),
                        ({"watermark": "LastModifiedDate"}, "SELECT list"), ({"colour": 1}, "unknown keys")]:
        with pytest.raises(sx.JobError, match=needle):
            sx.parse_queries(json.dumps([{"name": "a", "soql": "SELECT Id, SystemModstamp FROM Account", **bad}]))
    args = sx.parse_args(["s.py", "--secret_id", "s", "--output_uri", "s3://b/", "--queries", "[]",
                          "--max_concurrency", "8"])
    assert args["max_concurrency"] == 8 and args["bulk_threshold"] == 100_000
    with pytest.raises(sx.JobError, match="--max_concurrency must be at least 1"):
        sx.parse_args(["s.py", "--secret_id", "s", "--output_uri", "s3://b/", "--queries", "[]",
                       "--max_concurrency", "0"])


def test_retries_back_off_with_jitter_and_limits_stop_at_once(key):
    import requests as real_requests

    sleeps = []
    flaky = FakeHttp([token_ok()], [FakeResponse(500, "oops"), real_requests.ConnectionError("reset"),
                                    real_requests.Timeout("slow"), page([rec(1)])])
    sf = sf_session(key, flaky)
    sf.sleep = sleeps.append
    assert len(list(sf.query_pages("SELECT Id FROM Account"))) == 1
    assert len(sleeps) == 3 and all(0 <= s <= 0.5 * 2 ** i for i, s in enumerate(sleeps))
    assert [sx.backoff_seconds(n, rand=lambda: 1.0) for n in (1, 2, 3, 10)] == [0.5, 1.0, 2.0, 20.0]

    down = FakeHttp([token_ok()], [FakeResponse(503, "busy")] * 5)
    with pytest.raises(sx.JobError, match="HTTP 503"):
        list(sf_session(key, down).query_pages("SELECT Id FROM Account"))
    assert len(down.gets) == 5

    limit = FakeResponse(403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                         {"Sforce-Limit-Info": "api-usage=100/100"})
    capped = FakeHttp([token_ok()], [limit, page([rec(1)])])
    sf = sf_session(key, capped)
    with pytest.raises(sx.LimitExceeded, match="Salesforce limit TotalRequests reached"):
        list(sf.query_pages("SELECT Id FROM Account"))
    assert len(capped.gets) == 1 and sf.stop.is_set()
    with pytest.raises(sx.Stopped):
        sf.get_json("/services/data/v62.0/limits")


def test_logins_are_capped(key):
    expired = FakeResponse(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    http = FakeHttp([token_ok(i) for i in range(10)], [expired, page([rec(1)])] * 10)
    sf = sf_session(key, http)
    sf.max_logins = 3
    for _ in range(2):
        list(sf.query_pages("SELECT Id FROM Account"))
    with pytest.raises(sx.JobError, match="signed in 3 times"):
        list(sf.query_pages("SELECT Id FROM Account"))


def test_gzip_parts_and_raw_page_split(key):
    import gzip

    pages = [page([rec(i) for i in range(0, 5)], "/n/2"), page([rec(i) for i in range(5, 9)])]
    s3 = FakeS3()
    result = sx.run_query(sf_session(key, FakeHttp([token_ok()], pages)), s3, "bkt", "out/", "jr_1",
                          {"name": "a", "soql": "SELECT Id, Name FROM Account"}, max_part_bytes=10)
    parts = sorted(k for _b, k in s3.objects if "/part-" in k)
    assert parts == ["out/a/run=jr_1/part-00000.jsonl.gz", "out/a/run=jr_1/part-00001.jsonl.gz"]
    lines = [json.loads(line) for k in parts for line in gzip.decompress(s3.objects[("bkt", k)]).splitlines()]
    assert [r["Id"] for r in lines] == [f"001{i}" for i in range(9)]
    assert all("attributes" not in r and "attributes" not in r["Owner"] for r in lines)
    assert result["bytes"] == sum(len(s3.objects[("bkt", k)]) for k in parts)
    manifest = json.loads(s3.objects[("bkt", "out/a/run=jr_1/_manifest.json")])
    assert manifest["records"] == 9 and manifest["parts"] == parts
# -- rotation fallback ---------------------------------------------------------------


class FakeSecrets:
    """ListSecretVersionIds / GetSecretValue over a dict of version id -> (stages, secret)."""

    def __init__(self, versions):
        self.versions = versions
        self.calls = []

    def list_secret_version_ids(self, SecretId):  # noqa: N803 - boto3's names
        self.calls.append(("list", SecretId))
        return {"Versions": [{"VersionId": v, "VersionStages": s} for v, (s, _) in self.versions.items()]}

    def get_secret_value(self, SecretId, VersionId, VersionStage):  # noqa: N803
        stages, doc = self.versions[VersionId]
        assert VersionStage in stages, "asks for the stage the version holds"
        self.calls.append(("get", VersionStage))
        return {"SecretString": json.dumps(doc)}


def invalid_assertion():
    return FakeResponse(400, {"error": "invalid_grant", "error_description": "invalid assertion"})


def rotation_secrets(key, other):
    current = secret_doc(pkcs8(key), certificate_sha256="AA:01")
    pending = secret_doc(pkcs8(other), certificate_sha256="BB:02", consumer_key="3MVGgreen")
    previous = secret_doc(pkcs8(key), certificate_sha256="CC:03")
    return current, FakeSecrets({
        "v-cur": (["AWSCURRENT"], current),
        "v-pend": (["AWSPENDING"], pending),
        "v-prev": (["AWSPREVIOUS"], previous),
    })


def test_refused_current_key_falls_back_to_pending_then_previous(key, capsys):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    current, secrets = rotation_secrets(key, other)
    http = FakeHttp([invalid_assertion(), token_ok(2)], [])

    def make(doc, k):
        return sx.Salesforce(doc, k, http=http, sleep=lambda s: None)

    sf = sx.sign_in(secrets, "arn:secret", sx.parse_secret(json.dumps(current)), make=make)
    assert sf.secret["consumer_key"] == "3MVGgreen", "the pending version signs in with its own app"
    assert [c[1] for c in secrets.calls if c[0] == "get"] == ["AWSPENDING"]
    out = capsys.readouterr()
    assert "sfglue signed-in stage=AWSPENDING certificate_sha256=BB:02" in out.out
    assert "AWSCURRENT key was refused" in out.err
    assert "BEGIN" not in out.out + out.err

    # Pending refused too: AWSPREVIOUS is next; all refused: one error naming each stage.
    http = FakeHttp([invalid_assertion(), invalid_assertion(), token_ok(3)], [])
    sf = sx.sign_in(secrets, "arn:secret", sx.parse_secret(json.dumps(current)), make=make)
    assert sf.secret["certificate_sha256"] == "CC:03"
    http = FakeHttp([invalid_assertion()] * 3, [])
    with pytest.raises(sx.JobError, match="no secret version signs in: AWSCURRENT: .*AWSPENDING: .*AWSPREVIOUS"):
        sx.sign_in(secrets, "arn:secret", sx.parse_secret(json.dumps(current)), make=make)


def test_other_errors_do_not_fall_back_and_a_current_sign_in_lists_nothing(key, capsys):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    current, secrets = rotation_secrets(key, other)
    refused = FakeResponse(400, {"error": "invalid_grant", "error_description": "inactive user"})
    http = FakeHttp([refused], [])

    def make(doc, k):
        return sx.Salesforce(doc, k, http=http, sleep=lambda s: None)

    with pytest.raises(sx.JobError, match="inactive user"):
        sx.sign_in(secrets, "arn:secret", sx.parse_secret(json.dumps(current)), make=make)
    assert secrets.calls == []
    http = FakeHttp([token_ok()], [])
    sx.sign_in(secrets, "arn:secret", sx.parse_secret(json.dumps(current)), make=make)
    assert secrets.calls == [], "the usual run makes no extra AWS call"
    assert "stage=AWSCURRENT" in capsys.readouterr().out


def test_a_key_that_does_not_match_its_certificate_is_skipped(key):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    now = datetime.datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(other.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(other, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    assert sx.key_certificate_problem({"certificate_pem": pem}, other) is None
    problem = sx.key_certificate_problem({"certificate_pem": pem, "certificate_sha256": "AB"}, key)
    assert "does not belong to the certificate AB" in problem


@pytest.mark.parametrize("fmt, soql", [("jsonl", "SELECT Id, Name FROM Account"),
                                       ("jsonl", "SELECT Id, Name, Owner.Name FROM Account"),
                                       ("parquet", "SELECT Id, Name FROM Account")])
def test_a_page_that_is_not_utf8_fails_the_query_on_either_path(key, fmt, soql):
    # Plain fields in jsonl are cut out of the text; a relationship path or parquet decodes the
    # records. Neither way may store replaced bytes.
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    good = page([rec(1)], "/services/data/v62.0/query/01g-2")
    body = json.dumps({"totalSize": 2, "done": True, "records": [rec(2)]}).encode()
    bad = FakeResponse(200, body.replace(b'"A2"', b'"A\xe92"'))
    s3 = FakeS3()
    with pytest.raises(sx.JobError, match="query u failed: Salesforce sent text that is not UTF-8"):
        sx.run_query(sf_session(key, FakeHttp([token_ok()], [good, bad])), s3, "bkt", "", "jr_u",
                     {"name": "u", "soql": soql, "format": fmt}, 1_000_000)
    assert not any(k.endswith("_manifest.json") for _b, k in s3.objects)
