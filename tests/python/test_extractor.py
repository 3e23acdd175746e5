"""The extractor's long-run behaviour on the emulators (sf-emulator + the AWS launcher):
session expiry mid-run, incremental watermarks, the daily API limit, Bulk API 2.0 paging.

Each test runs the Glue script as a local process against both emulators (the Glue job path is
covered in test_end_to_end.py). Record counts are small and knobs turned down to keep this fast.
"""

import json
import re
import subprocess
import sys
import time

import pytest
import requests
import yaml
from cryptography.hazmat.primitives import serialization

from conftest import GLUE_SCRIPT, REPO, ServiceProcess, child_env
from test_end_to_end import assert_no_secrets, key_pem, new_key, read_parts, self_signed

CONSUMER_KEY = "3MVGsfglueExtractorTestKey0000000000000000000000000000000000000000000000000000"
USERNAME = "integration@sfglue-test.example"
BUCKET = "sfglue-output"


def base_seed(cert_pem, objects, settings=None):
    return {
        "org": {"id": "00D5g00000SfTst", "kind": "production"},
        "settings": settings or {},
        "users": [{"username": USERNAME, "profile": "Integration Profile"}],
        "apps": [{"consumer_key": CONSUMER_KEY, "kind": "external_client_app", "certificate": cert_pem,
                  "preauthorized_profiles": ["Integration Profile"]}],
        "objects": objects,
    }


def generated_accounts(count):
    return {"Account": {"generator": {"count": count, "fields": {
        "Name": {"kind": "text", "template": "Account {n:05}"},
        "Industry": {"kind": "picklist", "values": ["Banking", "Energy", "Retail"]},
        "SystemModstamp": {"kind": "datetime", "start": "2025-09-01T00:00:00Z", "step_seconds": 60}}}}}


class Org:
    """sf-emulator from a seed written by the test; restartable on the same port."""

    def __init__(self, binary, tmp_path, seed):
        self.binary = binary
        self.tmp_path = tmp_path
        self.generation = 0
        self.proc = None
        self.listen = "127.0.0.1:0"
        self.start(seed)

    def start(self, seed):
        path = self.tmp_path / f"seed-{self.generation}.yaml"
        path.write_text(yaml.safe_dump(seed))
        self.proc = ServiceProcess(f"sf-{self.generation}", [self.binary, "--listen", self.listen, "--seed", path],
                                   self.tmp_path)
        self.generation += 1
        self.url = self.proc.url
        self.listen = self.url.split("://", 1)[1]

    def restart(self, seed):
        self.proc.stop()
        self.start(seed)

    def admin(self, method, path, body=None):
        response = requests.request(method, self.url + path, json=body, timeout=10)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def requests_log(self, path):
        return self.admin("GET", f"/__admin/requests?path={path}")


@pytest.fixture
def identity():
    key = new_key()
    cert = self_signed(key)
    return key, cert, cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def make_org(sf_emulator_bin, tmp_path):
    orgs = []

    def make(seed):
        org = Org(sf_emulator_bin, tmp_path, seed)
        orgs.append(org)
        return org

    yield make
    for org in orgs:
        org.proc.stop()


def secret_for(aws, org, key, name="sfglue/extractor"):
    doc = {"schema": "sfglue/v1", "private_key_pem": key_pem(key), "consumer_key": CONSUMER_KEY,
           "username": USERNAME, "login_url": org.url, "audience": "https://login.salesforce.com",
           "api_version": "62.0"}
    return aws.sm.create_secret(Name=name, SecretString=json.dumps(doc))["ARN"]


def run_script(aws, arn, queries, run_id, *extra, prefix="out/"):
    argv = [sys.executable, GLUE_SCRIPT, "--JOB_RUN_ID", run_id, "--secret_id", arn,
            "--output_uri", f"s3://{BUCKET}/{prefix}", "--queries", json.dumps(queries), *extra]
    return subprocess.Popen(argv, env=child_env({"AWS_ENDPOINT_URL": aws.url}), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)


def finish(proc, timeout=120):
    stdout, stderr = proc.communicate(timeout=timeout)
    return proc.returncode, stdout, stderr


def summary_of(stdout):
    line = next(line for line in stdout.splitlines() if line.startswith("sfglue summary "))
    return json.loads(line[len("sfglue summary "):])


def watermark(aws, name, prefix="out/"):
    try:
        body = aws.s3.get_object(Bucket=BUCKET, Key=f"{prefix}{name}/_watermark.json")["Body"].read()
    except aws.s3.exceptions.NoSuchKey:
        return None
    return json.loads(body)["value"]


# -- 1. a session timeout shorter than the run -------------------------------------------


def test_session_timeout_shorter_than_the_run_signs_in_again(aws, make_org, identity):
    key, _cert, cert_pem = identity
    org = make_org(base_seed(cert_pem, generated_accounts(6000),
                             {"session_timeout_seconds": 1, "query_batch_size": 200}))
    arn = secret_for(aws, org, key)
    aws.s3.create_bucket(Bucket=BUCKET)
    queries = [{"name": "accounts", "soql": "SELECT Id, Name, SystemModstamp FROM Account"},
               {"name": "accounts_again", "soql": "SELECT Id, Name FROM Account"}]
    proc = run_script(aws, arn, queries, "jr_timeout", "--max_concurrency", "2")
    # The emulator's clock jumps past the session timeout twice while the run pages through 60 pages.
    jumps = 0
    deadline = time.monotonic() + 60
    while jumps < 2 and proc.poll() is None and time.monotonic() < deadline:
        pages = [e for e in org.requests_log("/services/data/v62.0/query") if e["status"] == 200]
        if len(pages) >= 8 * (jumps + 1):
            org.admin("POST", "/__admin/clock/advance", {"seconds": 5})
            jumps += 1
        time.sleep(0.01)
    code, stdout, stderr = finish(proc)
    assert code == 0, stderr
    assert jumps == 2, "the run ended before the clock could jump twice"
    summary = summary_of(stdout)
    assert [q["records"] for q in summary["queries"]] == [6000, 6000]
    expired = [e for e in org.requests_log("/services/data") if e["status"] == 401]
    assert expired, "no request met the expired session"
    assert 2 <= summary["logins"] <= 3, summary["logins"]
    assert len(org.requests_log("/services/oauth2/token")) == summary["logins"]
    for name in ("accounts", "accounts_again"):
        _keys, records = read_parts(aws, f"out/{name}/run=jr_timeout/")
        assert len({r["Id"] for r in records}) == 6000
    assert_no_secrets(stdout + stderr, key)

    # A session that is refused right after a fresh sign-in: a second 401 in a row fails the run.
    org.admin("PATCH", "/__admin/settings", {"session_timeout_seconds": 0})
    org.admin("DELETE", "/__admin/requests")
    code, _stdout, stderr = finish(run_script(aws, arn, [{"name": "a", "soql": "SELECT Id FROM Account"}], "jr_401"))
    assert code == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("sfglue error: query a failed: Salesforce refused a freshly signed-in session: "
                           "INVALID_SESSION_ID"), last
    assert "twice in a row" in last
    assert len(org.requests_log("/services/oauth2/token")) == 2


# -- 2. incremental runs -------------------------------------------------------------------


def literal_accounts(rows):
    return {"Account": {"fields": {"SystemModstamp": "datetime"}, "records": [
        {"Id": rid, "Name": name, "SystemModstamp": stamp} for rid, name, stamp in rows]}}


def account_id(n):
    return f"001000000000{n:03d}AAA"


def test_incremental_runs_write_only_changed_records_and_a_failed_run_keeps_the_mark(aws, make_org, identity):
    key, _cert, cert_pem = identity
    rows = [(account_id(n), f"Account {n}", f"2025-01-01T00:{n // 60:02d}:{n % 60:02d}Z") for n in range(1, 451)]
    settings = {"query_batch_size": 200}
    org = make_org(base_seed(cert_pem, literal_accounts(rows), settings))
    arn = secret_for(aws, org, key)
    aws.s3.create_bucket(Bucket=BUCKET)
    queries = [{"name": "accounts", "soql": "SELECT Id, Name, SystemModstamp FROM Account",
                "watermark": "SystemModstamp"}]

    code, stdout, stderr = finish(run_script(aws, arn, queries, "jr_full"))
    assert code == 0, stderr
    first = summary_of(stdout)["queries"][0]
    assert first["records"] == 450 and first["watermark_before"] is None
    assert first["watermark_after"] == "2025-01-01T00:07:30.000Z" == watermark(aws, "accounts")
    assert "watermark_after=2025-01-01T00:07:30.000Z" in stdout

    # Two records change and one is new; the org restarts on the same port with that data.
    rows[9] = (account_id(10), "Account 10 renamed", "2025-02-01T00:00:00Z")
    rows[99] = (account_id(100), "Account 100 renamed", "2025-02-01T00:00:01Z")
    rows.append((account_id(451), "Account 451", "2025-02-01T00:00:02Z"))
    org.restart(base_seed(cert_pem, literal_accounts(rows), settings))
    code, stdout, stderr = finish(run_script(aws, arn, queries, "jr_incr"))
    assert code == 0, stderr
    second = summary_of(stdout)["queries"][0]
    _keys, records = read_parts(aws, "out/accounts/run=jr_incr/")
    assert sorted(r["Name"] for r in records) == ["Account 10 renamed", "Account 100 renamed", "Account 451"]
    assert second["watermark_before"] == "2025-01-01T00:07:30.000Z"
    assert second["watermark_after"] == "2025-02-01T00:00:02.000Z" == watermark(aws, "accounts")
    soql = [e["soql"] for e in org.requests_log("/services/data/v62.0/query") if e.get("soql")]
    assert soql[-1].endswith("WHERE SystemModstamp > 2025-01-01T00:07:30.000Z")

    # 300 more changes (two pages); the daily limit runs out after the first page: the run fails
    # and the mark stays. The re-run writes all 300 again (at-least-once).
    rows = [(rid, name + " v3" if i < 300 else name, f"2025-03-01T00:{i // 60:02d}:{i % 60:02d}Z" if i < 300 else stamp)
            for i, (rid, name, stamp) in enumerate(rows)]
    org.restart(base_seed(cert_pem, literal_accounts(rows), settings))
    org.admin("PATCH", "/__admin/settings", {"daily_api_request_limit": 1})
    code, stdout, stderr = finish(run_script(aws, arn, queries, "jr_fail"))
    assert code == 1
    assert "REQUEST_LIMIT_EXCEEDED" in stderr
    failed = summary_of(stdout)["queries"][0]
    assert failed["status"] == "failed" and failed["watermark_after"] == failed["watermark_before"]
    assert watermark(aws, "accounts") == "2025-02-01T00:00:02.000Z"
    org.admin("POST", "/__admin/limits/reset")
    org.admin("PATCH", "/__admin/settings", {"daily_api_request_limit": 100000})
    code, stdout, stderr = finish(run_script(aws, arn, queries, "jr_rerun"))
    assert code == 0, stderr
    _keys, records = read_parts(aws, "out/accounts/run=jr_rerun/")
    assert len(records) == 300 and all(r["Name"].endswith(" v3") for r in records)
    assert watermark(aws, "accounts") == "2025-03-01T00:04:59.000Z"


# -- 3. the daily API request limit ------------------------------------------------------------


def test_request_limit_exceeded_stops_at_once_with_the_limit_name(aws, make_org, identity):
    key, _cert, cert_pem = identity
    org = make_org(base_seed(cert_pem, generated_accounts(3000),
                             {"query_batch_size": 200, "daily_api_request_limit": 5}))
    arn = secret_for(aws, org, key)
    aws.s3.create_bucket(Bucket=BUCKET)
    queries = [{"name": "a", "soql": "SELECT Id, Name FROM Account"},
               {"name": "b", "soql": "SELECT Id FROM Account"}]
    code, stdout, stderr = finish(run_script(aws, arn, queries, "jr_limit", "--max_concurrency", "1"))
    assert code == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("sfglue error: query a failed: Salesforce limit TotalRequests reached: "
                           "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."), last
    assert "without retrying" in last
    refused = [e for e in org.requests_log("/services/data") if e["status"] == 403]
    assert len(refused) == 1, "retried after REQUEST_LIMIT_EXCEEDED"
    summary = summary_of(stdout)
    assert summary["status"] == "failed" and "TotalRequests" in summary["error"]
    # Both queries have their line: a failed with the limit and the counts it reached, b stopped by it.
    lines = {line.split()[1]: line for line in stdout.splitlines() if line.startswith("sfglue query=")}
    by_name = {q["name"]: q for q in summary["queries"]}
    assert by_name["a"]["pages"] >= 1 and by_name["a"]["records"] == 200 * by_name["a"]["pages"]
    assert lines["query=a"].startswith(f"sfglue query=a records={by_name['a']['records']} "
                                       f"pages={by_name['a']['pages']} seconds=")
    assert lines["query=a"].endswith(" status=failed error=Salesforce limit TotalRequests reached: "
                                     "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded. (api-usage 5/5); "
                                     "stopped at once without retrying"), lines["query=a"]
    assert re.match(r"sfglue query=b records=0 pages=0 seconds=\d+\.\d\d "
                    r"output=s3://sfglue-output/out/b/run=jr_limit/ ", lines["query=b"]), lines["query=b"]
    assert lines["query=b"].endswith(" status=stopped error=stopped: Salesforce limit TotalRequests reached: "
                                     "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded. (api-usage 5/5); "
                                     "stopped at once without retrying"), lines["query=b"]
    assert (by_name["a"]["status"], by_name["b"]["status"]) == ("failed", "stopped")
    assert summary["records"] == 0, "the run's total counts the queries that succeeded"
    stored = json.loads(aws.s3.get_object(Bucket=BUCKET, Key="out/_summary/run=jr_limit.json")["Body"].read())
    assert stored["status"] == "failed"


def test_a_failed_query_prints_its_line_next_to_the_good_one(aws, make_org, identity):
    key, _cert, cert_pem = identity
    org = make_org(base_seed(cert_pem, generated_accounts(300), {"query_batch_size": 200}))
    arn = secret_for(aws, org, key)
    aws.s3.create_bucket(Bucket=BUCKET)
    queries = [{"name": "good", "soql": "SELECT Id, Name FROM Account"},
               {"name": "bad", "soql": "SELECT Id, NoSuchField__c FROM Account"}]
    code, stdout, stderr = finish(run_script(aws, arn, queries, "jr_bad", "--max_concurrency", "1"))
    assert code == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("sfglue error: query bad failed: INVALID_FIELD: "), last
    lines = [line for line in stdout.splitlines() if line.startswith("sfglue query=")]
    assert len(lines) == 2, stdout
    good = next(line for line in lines if line.startswith("sfglue query=good "))
    assert re.match(r"sfglue query=good records=300 pages=2 seconds=\d+\.\d\d output=s3://sfglue-output/out/good/"
                    r"run=jr_bad/ api=rest .* status=succeeded$", good), good
    bad = next(line for line in lines if line.startswith("sfglue query=bad "))
    assert re.fullmatch(r"sfglue query=bad records=0 pages=0 seconds=\d+\.\d\d output=s3://sfglue-output/out/bad/"
                        r"run=jr_bad/ api=rest format=jsonl.gz bytes=0 parts=0 api_calls=1 watermark_before=- "
                        r"watermark_after=- status=failed error=INVALID_FIELD: .*\(HTTP 400\)", bad), bad
    # The same error as the stderr line, on one line.
    assert bad.split(" error=", 1)[1] == last[len("sfglue error: query bad failed: "):]
    summary = summary_of(stdout)
    by_name = {q["name"]: q for q in summary["queries"]}
    assert (by_name["good"]["status"], by_name["bad"]["status"]) == ("succeeded", "failed")
    assert summary["records"] == 300
    assert_no_secrets(stdout + stderr, key)


# -- 4. Bulk API 2.0 -----------------------------------------------------------------------------


def test_bulk_query_streams_several_result_pages(aws, make_org, identity):
    key, _cert, cert_pem = identity
    org = make_org(base_seed(cert_pem, generated_accounts(4500), {"bulk_job_delay_ms": 300}))
    arn = secret_for(aws, org, key)
    aws.s3.create_bucket(Bucket=BUCKET)
    queries = [{"name": "bulk", "soql": "SELECT Id, Name, Industry, SystemModstamp FROM Account", "api": "bulk",
                "watermark": "SystemModstamp"},
               {"name": "rest", "soql": "SELECT Id, Name, Industry, SystemModstamp FROM Account"}]
    code, stdout, stderr = finish(run_script(aws, arn, queries, "jr_bulk", "--bulk_max_records", "1000",
                                             "--max_part_bytes", "20000"))
    assert code == 0, stderr
    by_name = {q["name"]: q for q in summary_of(stdout)["queries"]}
    assert by_name["bulk"]["api"] == "bulk" and by_name["bulk"]["pages"] == 5
    assert by_name["bulk"]["records"] == 4500 and by_name["bulk"]["parts"] > 1
    _keys, bulk = read_parts(aws, "out/bulk/run=jr_bulk/")
    _keys, rest = read_parts(aws, "out/rest/run=jr_bulk/")
    assert len({r["Id"] for r in bulk}) == 4500
    assert [r["Id"] for r in bulk] == [r["Id"] for r in rest]
    assert bulk[0]["Name"] == rest[0]["Name"] and set(bulk[0]) == set(rest[0])
    assert by_name["bulk"]["watermark_after"] == "2025-09-04T02:59:00.000Z"
    results = [e for e in org.requests_log("/services/data/v62.0/jobs/query") if e["path"].endswith("/results")]
    assert len(results) == 5
    assert [e["method"] for e in org.requests_log("/services/data/v62.0/jobs/query")][-1] == "DELETE"
    assert_no_secrets(stdout + stderr, key)

    org.admin("PATCH", "/__admin/settings", {"bulk_jobs_fail": True, "bulk_job_delay_ms": 50})
    code, _stdout, stderr = finish(run_script(aws, arn, [{"name": "b", "soql": "SELECT Id FROM Account",
                                                          "api": "bulk"}], "jr_bulk_fail"))
    assert code == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("sfglue error: query b failed: Bulk API 2.0 job 750") and "ended Failed" in last


def test_many_queries_run_concurrently_within_the_bound(aws, make_org, identity):
    key, _cert, cert_pem = identity
    org = make_org(base_seed(cert_pem, generated_accounts(400), {"query_batch_size": 200}))
    arn = secret_for(aws, org, key)
    aws.s3.create_bucket(Bucket=BUCKET)
    queries = [{"name": f"q{i}", "soql": f"SELECT Id, Name FROM Account WHERE Name != 'x{i}'"} for i in range(6)]
    code, stdout, stderr = finish(run_script(aws, arn, queries, "jr_many", "--max_concurrency", "3"))
    assert code == 0, stderr
    summary = summary_of(stdout)
    assert [q["records"] for q in summary["queries"]] == [400] * 6
    assert summary["logins"] == 1 and summary["api_calls"] == 12
    assert len([line for line in stdout.splitlines() if line.startswith("sfglue query=")]) == 6


def test_api_auto_counts_first_and_picks_bulk_above_the_threshold(aws, make_org, identity):
    key, _cert, cert_pem = identity
    org = make_org(base_seed(cert_pem, generated_accounts(2500), {"bulk_job_delay_ms": 50}))
    arn = secret_for(aws, org, key)
    aws.s3.create_bucket(Bucket=BUCKET)
    queries = [{"name": "big", "soql": "SELECT Id, Name FROM Account", "api": "auto"},
               {"name": "small", "soql": "SELECT Id, Name FROM Account WHERE Industry = 'Energy'", "api": "auto"}]
    code, stdout, stderr = finish(run_script(aws, arn, queries, "jr_auto", "--bulk_threshold", "1000"))
    assert code == 0, stderr
    by_name = {q["name"]: q for q in summary_of(stdout)["queries"]}
    assert (by_name["big"]["api"], by_name["big"]["counted"], by_name["big"]["records"]) == ("bulk", 2500, 2500)
    assert (by_name["small"]["api"], by_name["small"]["records"]) == ("rest", by_name["small"]["counted"])
    soql = [e.get("soql") for e in org.requests_log("/services/data/v62.0/query")]
    assert "SELECT COUNT() FROM Account WHERE Industry = 'Energy'" in soql


def test_bulk_csv_gz_and_parquet_hold_the_same_records_as_rest(aws, make_org, identity):
    import csv
    import gzip
    import io

    import pyarrow.parquet as pq

    key, _cert, cert_pem = identity
    org = make_org(base_seed(cert_pem, generated_accounts(3000), {"bulk_job_delay_ms": 50}))
    arn = secret_for(aws, org, key)
    aws.s3.create_bucket(Bucket=BUCKET)
    soql = "SELECT Id, Name, Industry, SystemModstamp FROM Account"
    queries = [{"name": "csv", "soql": soql, "api": "bulk", "format": "csv.gz", "watermark": "SystemModstamp"},
               {"name": "parquet", "soql": soql, "api": "bulk", "format": "parquet"},
               {"name": "rest", "soql": soql}]
    code, stdout, stderr = finish(run_script(aws, arn, queries, "jr_formats", "--bulk_max_records", "1000",
                                             "--max_part_bytes", "4000"))
    assert code == 0, stderr
    by_name = {q["name"]: q for q in summary_of(stdout)["queries"]}
    assert [by_name[n]["records"] for n in ("csv", "parquet", "rest")] == [3000, 3000, 3000]
    _keys, rest = read_parts(aws, "out/rest/run=jr_formats/")

    def bodies(name):
        listing = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"out/{name}/run=jr_formats/part-")["Contents"]
        return [aws.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listing]

    csv_rows = []
    parts = bodies("csv")
    assert len(parts) == by_name["csv"]["parts"] > 1
    for body in parts:
        rows = list(csv.reader(io.StringIO(gzip.decompress(body).decode(), newline="")))
        assert rows[0] == ["Id", "Name", "Industry", "SystemModstamp"]
        csv_rows += rows[1:]
    # Bulk API 2.0 writes datetimes with Z, REST with +0000: the same instants.
    expected = [{**r, "SystemModstamp": r["SystemModstamp"].replace("+0000", "Z")} for r in rest]
    assert [dict(zip(["Id", "Name", "Industry", "SystemModstamp"], row)) for row in csv_rows] == expected
    assert by_name["csv"]["watermark_after"] == "2025-09-03T01:59:00.000Z"
    records = [r for body in bodies("parquet") for r in pq.read_table(io.BytesIO(body)).to_pylist()]
    assert records == expected


def test_parquet_parts_of_a_sparse_object_share_one_schema(aws, make_org, identity):
    """The tester's case: REST pages of 2, parts of about one page, Description and Amount null in the
    first records: every part has the same schema and the parts concatenate to the JSON Lines records."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    key, _cert, cert_pem = identity
    records = [{"Id": account_id(n), "Name": f"Account {n}", "Description": None if n < 3 else f"about {n}",
                "Amount": None if n < 3 else n * 100 + (n % 2) * 0.5, "NumberOfEmployees": n * 10}
               for n in range(1, 10)]
    objects = {"Account": {"fields": {"Description": "string", "Amount": "double", "NumberOfEmployees": "int"},
                           "records": records}}
    org = make_org(base_seed(cert_pem, objects, {"query_batch_size": 2, "bulk_job_delay_ms": 50}))
    arn = secret_for(aws, org, key)
    aws.s3.create_bucket(Bucket=BUCKET)
    soql = "SELECT Id, Name, Description, Amount, NumberOfEmployees FROM Account"
    queries = [{"name": "rest_parquet", "soql": soql, "format": "parquet"},
               {"name": "rest_jsonl", "soql": soql, "format": "jsonl"},
               {"name": "bulk_parquet", "soql": soql, "api": "bulk", "format": "parquet"},
               {"name": "bulk_jsonl", "soql": soql, "api": "bulk", "format": "jsonl"}]
    code, stdout, stderr = finish(run_script(aws, arn, queries, "jr_sparse", "--max_part_bytes", "100",
                                             "--bulk_max_records", "2"))
    assert code == 0, stderr

    def tables(name):
        listing = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"out/{name}/run=jr_sparse/part-")["Contents"]
        bodies = [aws.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listing]
        assert len(bodies) > 3, name
        schemas = [pq.read_schema(pa.BufferReader(b)) for b in bodies]
        assert all(s.equals(schemas[0]) for s in schemas), (name, [str(s) for s in schemas])
        return pa.concat_tables([pq.read_table(pa.BufferReader(b)) for b in bodies]), schemas[0]

    rest, schema = tables("rest_parquet")
    assert [(f.name, str(f.type)) for f in schema] == [("Id", "string"), ("Name", "string"), ("Description", "string"),
                                                       ("Amount", "string"), ("NumberOfEmployees", "double")]
    _keys, as_jsonl = read_parts(aws, "out/rest_jsonl/run=jr_sparse/")
    # Amount is null in the whole first part: a string column, its later numbers as JSON text.
    assert rest.to_pylist() == [{**r, "Amount": None if r["Amount"] is None else json.dumps(r["Amount"]),
                                 "NumberOfEmployees": float(r["NumberOfEmployees"])} for r in as_jsonl]
    assert len(as_jsonl) == 9 and rest.column("Amount").to_pylist()[3:5] == ["400.0", "500.5"]
    bulk, schema = tables("bulk_parquet")
    assert [(f.name, str(f.type)) for f in schema] == [(n, "string") for n in rest.column_names]
    _keys, bulk_jsonl = read_parts(aws, "out/bulk_jsonl/run=jr_sparse/")
    assert bulk.to_pylist() == bulk_jsonl and len(bulk_jsonl) == 9


def test_a_summary_that_cannot_be_stored_fails_the_run_and_is_still_printed(aws, make_org, identity):
    key, _cert, cert_pem = identity
    org = make_org(base_seed(cert_pem, generated_accounts(300)))
    arn = secret_for(aws, org, key)
    aws.s3.create_bucket(Bucket=BUCKET)
    # The query's part and manifest are stored; the third PutObject, the summary, is refused.
    status, _rule = aws.admin("POST", "/__launcher/faults", {
        "operation": "PutObject", "kind": "error", "status": 403, "code": "AccessDenied",
        "message": "refused by the test", "skip": 2})
    assert status == 201
    queries = [{"name": "a", "soql": "SELECT Id, Name FROM Account"}]
    code, stdout, stderr = finish(run_script(aws, arn, queries, "jr_nosummary"))
    assert code == 1
    assert summary_of(stdout)["status"] == "succeeded"
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("sfglue error: cannot write the run summary to s3://sfglue-output/out/_summary/"
                           "run=jr_nosummary.json: AWS PutObject failed: AccessDenied"), last
    assert last.endswith("(every query succeeded; its data and marks are in S3)"), last
