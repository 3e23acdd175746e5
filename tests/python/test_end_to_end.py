"""The Glue script against both emulators: sf-emulator (demo seed) and the AWS launcher."""

import datetime
import gzip
import json
import re
import subprocess
import sys

import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from conftest import GLUE_SCRIPT, REPO, ServiceProcess, child_env

DEMO_SEED = REPO / "emulators" / "salesforce" / "seeds" / "demo.yaml"
OUTPUT = "/aws-glue/python-jobs/output"
ERROR = "/aws-glue/python-jobs/error"
QUERIES = [
    {"name": "accounts", "soql": "SELECT Id, Name, Industry FROM Account"},
    {"name": "contacts", "soql": "SELECT Id, LastName, Email FROM Contact"},
]
ACCESS_TOKEN = re.compile(r"00D\w{12,15}![.\w]+")


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def self_signed(key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sfglue-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
    return cert


class Org:
    def __init__(self, proc, consumer_key, username):
        self.proc = proc
        self.url = proc.url
        self.consumer_key = consumer_key
        self.username = username

    def register(self, cert):
        pem = cert.public_bytes(serialization.Encoding.PEM)
        response = requests.put(f"{self.url}/__admin/apps/{self.consumer_key}/certificate", data=pem,
                                headers={"Content-Type": "application/x-pem-file"}, timeout=10)
        assert response.status_code in (200, 201), response.text

    def token_calls(self):
        response = requests.get(f"{self.url}/__admin/requests", params={"path": "/services/oauth2/token"},
                                timeout=10)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def org(sf_emulator_bin, tmp_path):
    seed = yaml.safe_load(DEMO_SEED.read_text())
    app = seed["apps"][0]
    user = next(u for u in seed["users"] if u["profile"] in app.get("preauthorized_profiles", []))
    proc = ServiceProcess("sf-emulator", [sf_emulator_bin, "--listen", "127.0.0.1:0", "--seed", DEMO_SEED],
                          tmp_path)
    yield Org(proc, app["consumer_key"], user["username"])
    proc.stop()


def object_count(name):
    seed = yaml.safe_load(DEMO_SEED.read_text())
    return seed["objects"][name]["generator"]["count"]


def store_secret(aws, org, key, cert):
    doc = {
        "schema": "sfglue/v1", "private_key_pem": key_pem(key),
        "certificate_pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "certificate_sha256": cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        "certificate_not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "consumer_key": org.consumer_key, "username": org.username, "login_url": org.url,
        "audience": "https://login.salesforce.com", "api_version": "62.0",
    }
    return aws.sm.create_secret(Name="sfglue/salesforce-jwt", SecretString=json.dumps(doc))["ARN"]


def job_arguments(secret_arn, **extra):
    modules = ",".join(line.strip() for line in (REPO / "glue_scripts/requirements.txt").read_text().splitlines()
                       if line.strip())
    args = {"--secret_id": secret_arn, "--output_uri": "s3://sfglue-output/salesforce/",
            "--queries": json.dumps(QUERIES), "--additional-python-modules": modules, "library-set": "analytics"}
    args.update(extra)
    return args


def assert_no_secrets(text, key):
    for line in key_pem(key).splitlines()[1:-1]:
        assert line not in text, "private key material in output"
    assert "PRIVATE KEY" not in text
    assert not ACCESS_TOKEN.search(text), "an access token in output"
    assert "eyJ" not in text, "a JWT (the assertion) in output"


def read_parts(aws, prefix, bucket="sfglue-output"):
    listing = aws.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    keys = sorted(o["Key"] for o in listing if "/part-" in o["Key"])
    records = []
    for key in keys:
        body = aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if key.endswith(".gz"):
            body = gzip.decompress(body)
        records += [json.loads(line) for line in body.decode().splitlines()]
    return keys, records


def test_full_run_as_a_glue_job(aws, org):
    key = new_key()
    cert = self_signed(key)
    org.register(cert)
    arn = store_secret(aws, org, key, cert)
    script_uri = aws.put_script("sfglue-artifacts", "scripts/sfglue_extract.py", GLUE_SCRIPT.read_bytes())
    aws.s3.create_bucket(Bucket="sfglue-output")
    aws.pythonshell_job("sfglue-extract", script_uri, Timeout=300,
                        DefaultArguments=job_arguments(arn, **{"--max_part_bytes": "3000"}))
    run_id = aws.glue.start_job_run(JobName="sfglue-extract")["JobRunId"]
    run = aws.wait_run("sfglue-extract", run_id, timeout=300)
    errors = aws.log_lines(ERROR, run_id)
    assert run["JobRunState"] == "SUCCEEDED", (run.get("ErrorMessage"), errors[-20:])

    out = aws.log_lines(OUTPUT, run_id)
    summary = json.loads(next(line for line in out if line.startswith("sfglue summary "))[len("sfglue summary "):])
    by_name = {q["name"]: q for q in summary["queries"]}
    assert summary["job_run_id"] == run_id and summary["logins"] == 1
    assert by_name["accounts"]["records"] == object_count("Account")
    assert by_name["contacts"]["records"] == object_count("Contact")
    assert by_name["accounts"]["pages"] >= 3 and by_name["contacts"]["pages"] >= 2
    lines = [line for line in out if line.startswith("sfglue query=")]
    assert len(lines) == 2
    assert re.match(r"sfglue query=accounts records=4500 pages=\d+ seconds=\d+\.\d\d "
                    rf"output=s3://sfglue-output/salesforce/accounts/run={run_id}/ api=rest format=jsonl.gz ",
                    next(line for line in lines if "query=accounts" in line))
    stored = json.loads(aws.s3.get_object(Bucket="sfglue-output",
                                          Key=f"salesforce/_summary/run={run_id}.json")["Body"].read())
    assert stored == summary

    for name, sobject in (("accounts", "Account"), ("contacts", "Contact")):
        keys, records = read_parts(aws, f"salesforce/{name}/run={run_id}/")
        assert keys[0].endswith("/part-00000.jsonl.gz")
        assert len(keys) == by_name[name]["parts"] > 1
        assert len(records) == object_count(sobject)
        assert len({r["Id"] for r in records}) == len(records)
        assert all("attributes" not in r for r in records)
    assert set(records[0]) == {"Id", "LastName", "Email"}

    assert len(org.token_calls()) == 1, "one sign-in per run"
    assert_no_secrets("\n".join(out + errors), key)


def run_locally(aws, secret_arn, *extra):
    argv = [sys.executable, GLUE_SCRIPT, "--JOB_NAME", "local", "--JOB_RUN_ID", "jr_local",
            "--secret_id", secret_arn, "--output_uri", "s3://sfglue-output/local/",
            "--queries", json.dumps(QUERIES[:1]), "--unknown_arg", "ignored", *extra]
    return subprocess.run(argv, env=child_env({"AWS_ENDPOINT_URL": aws.url}), capture_output=True,
                          text=True, timeout=300, cwd=REPO)


def test_local_run_and_nothing_secret_is_printed(aws, org):
    key = new_key()
    cert = self_signed(key)
    org.register(cert)
    arn = store_secret(aws, org, key, cert)
    aws.s3.create_bucket(Bucket="sfglue-output")
    done = run_locally(aws, arn)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # The first line names the secret version that signed in (the rotation fallback's log).
    assert lines[0].startswith("sfglue signed-in stage=AWSCURRENT certificate_sha256="), lines[0]
    assert lines[1].startswith("sfglue query=accounts records=4500 ")
    _, records = read_parts(aws, "local/accounts/run=jr_local/")
    assert len(records) == 4500
    assert_no_secrets(done.stdout + done.stderr, key)


def test_wrong_certificate_fails_with_salesforce_words(aws, org):
    key, other = new_key(), new_key()
    org.register(self_signed(other))
    arn = store_secret(aws, org, key, self_signed(key))
    aws.s3.create_bucket(Bucket="sfglue-output")

    done = run_locally(aws, arn)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("sfglue error: ") and "invalid_grant: invalid assertion" in last
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert_no_secrets(done.stdout + done.stderr, key)

    script_uri = aws.put_script("sfglue-artifacts", "scripts/sfglue_extract.py", GLUE_SCRIPT.read_bytes())
    aws.pythonshell_job("sfglue-extract", script_uri, Timeout=300, DefaultArguments=job_arguments(arn))
    run_id = aws.glue.start_job_run(JobName="sfglue-extract")["JobRunId"]
    run = aws.wait_run("sfglue-extract", run_id, timeout=120)
    assert run["JobRunState"] == "FAILED"
    assert "invalid_grant: invalid assertion" in run["ErrorMessage"]
    assert_no_secrets("\n".join(aws.log_lines(ERROR, run_id)), key)


def test_aws_errors_are_one_line(aws):
    aws.s3.create_bucket(Bucket="sfglue-output")
    done = run_locally(aws, "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("sfglue error: AWS GetSecretValue failed: ResourceNotFoundException")
