"""Benchmark: sfglue_extract.py against a baseline written the common way, side by side.

    .venv/bin/python glue_scripts/bench/bench_extract.py            # REST 20k + 200k, Bulk 1M
    .venv/bin/python glue_scripts/bench/bench_extract.py --rest 20000,200000 --bulk 0
    .venv/bin/python glue_scripts/bench/bench_extract.py --rest 0 --bulk 1000000   # jsonl.gz, csv.gz

Starts the AWS launcher (moto) and a release build of sf-emulator on 127.0.0.1 (builds it with
cargo if missing), seeds a 20-field Account generator, and runs each side as its own process:

- sfglue: the Glue script itself (api=rest, or api=bulk), gzip JSON Lines parts to S3; for Bulk
  also with ``format: csv.gz`` (Bulk API 2.0's CSV written through, gzip), see --bulk-formats.
- baseline (REST): simple-salesforce ``query_all`` into a list, then one ``json.dumps`` to S3.
- baselines (Bulk), see --bulk-baselines: ``csv``, simple-salesforce ``bulk2.<Object>.query``
  pages collected into a list, then one CSV object to S3 (no parsing); ``json``, the same pages
  parsed with ``csv.DictReader`` into one list of records, then one ``json.dumps`` to S3. Each
  sfglue format is compared with the baseline that writes the same kind of data (csv.gz with
  csv, jsonl.gz and parquet with json); the other ratio is printed too.

Each process's peak memory is its max RSS from ``os.wait4`` (the same measure for both sides);
records per second is records / wall time of the process (sign-in and S3 writes included). The
CPU seconds of the process, of the emulator and of moto during it show where the time went
(all three share the machine). Bounded: every process has a timeout, the record counts are
fixed by the arguments.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

import yaml  # noqa: E402
from conftest import GLUE_SCRIPT, LAUNCHER, Aws, ServiceProcess, child_env  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

CONSUMER_KEY = "3MVGsfglueBenchConsumerKey00000000000000000000000000000000000000000000000000000"
USERNAME = "bench@sfglue.example"
FIELDS = ["Id", "Name", "AccountNumber", "Industry", "Type", "Rating", "AnnualRevenue", "NumberOfEmployees",
          "IsPartner", "Site", "Phone", "BillingCity", "BillingCountry", "Description", "OwnerId", "ParentId",
          "CreatedDate", "LastModifiedDate", "SystemModstamp", "LastActivityDate"]
PER_PROCESS_TIMEOUT = 900


def seed(count, cert_pem):
    gen = {
        "Name": {"kind": "text", "template": "Bench Account {n:07}"},
        "AccountNumber": {"kind": "text", "template": "ACC-{n:08}"},
        "Industry": {"kind": "picklist", "values": ["Agriculture", "Banking", "Energy", "Retail"]},
        "Type": {"kind": "picklist", "values": ["Customer - Direct", "Customer - Channel", "Prospect"]},
        "Rating": {"kind": "picklist", "values": ["Hot", "Warm", "Cold"]},
        "AnnualRevenue": {"kind": "number", "min": 1000, "max": 50000000, "decimals": 2},
        "NumberOfEmployees": {"kind": "integer", "min": 1, "max": 20000},
        "IsPartner": {"kind": "boolean", "every": 3},
        "Site": {"kind": "text", "template": "site-{n}"},
        "Phone": {"kind": "text", "template": "+1 555 {n:07}"},
        "BillingCity": {"kind": "picklist", "values": ["Berlin", "Lyon", "Austin", "Osaka", "Lagos"]},
        "BillingCountry": {"kind": "picklist", "values": ["DE", "FR", "US", "JP", "NG"]},
        "Description": {"kind": "text", "template": "A generated account number {n} for the benchmark"},
        "OwnerId": {"kind": "constant", "value": "0055g00000BnchUAAR", "type": "id"},
        "ParentId": {"kind": "reference", "object": "Account"},
        "CreatedDate": {"kind": "datetime", "start": "2024-01-01T00:00:00Z", "step_seconds": 30},
        "LastModifiedDate": {"kind": "datetime", "start": "2025-01-01T00:00:00Z", "step_seconds": 30},
        "SystemModstamp": {"kind": "datetime", "start": "2025-01-01T00:00:00Z", "step_seconds": 30},
        "LastActivityDate": {"kind": "date", "start": "2025-01-01", "step_days": 1},
    }
    return {
        "org": {"id": "00D5g00000SfBch", "kind": "production"},
        "settings": {"daily_api_request_limit": 10_000_000, "bulk_job_delay_ms": 200},
        "users": [{"id": "0055g00000BnchUAAR", "username": USERNAME, "profile": "Integration Profile"}],
        "apps": [{"consumer_key": CONSUMER_KEY, "kind": "external_client_app", "certificate": cert_pem,
                  "preauthorized_profiles": ["Integration Profile"]}],
        "objects": {"Account": {"generator": {"count": count, "fields": gen}}},
    }


def new_identity():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sfglue-bench")])
    import datetime

    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def emulator_binary():
    binary = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "sf-emulator"
    if not binary.exists():
        print("building sf-emulator (release) ...", flush=True)
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "sf-emulator", "--bin",
                        "sf-emulator"], cwd=REPO, check=True, timeout=1800)
    return binary


def cpu_seconds(pid):
    """User + system CPU seconds a running process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Servers:
    """The emulator and moto processes, whose CPU use during each measured run is reported."""

    def __init__(self, *pids):
        self.pids = pids

    def cpu(self):
        return [cpu_seconds(pid) for pid in self.pids]


def measured(argv, env, log_dir, name, servers):
    """Run argv; return (seconds, max RSS in MiB, stdout, stderr, CPU seconds of the process and
    of each server during it)."""
    out_path = Path(log_dir) / f"{name}.stdout"
    err_path = Path(log_dir) / f"{name}.stderr"
    servers_before = servers.cpu()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen([str(a) for a in argv], stdout=out, stderr=err, env=env, cwd=REPO)
        deadline = started + PER_PROCESS_TIMEOUT
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(proc.pid, 9)
                _pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = [usage.ru_utime + usage.ru_stime] + [b - a for a, b in zip(servers_before, servers.cpu())]
    stdout, stderr = out_path.read_text(), err_path.read_text()
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, stdout, stderr, cpu


def cpu_text(cpu):
    return f"CPU s: itself {cpu[0]:.1f}, emulator {cpu[1]:.1f}, moto {cpu[2]:.1f}"


def run_case(env, arn, api, count, log_dir, results, servers, formats, baselines, profile=None):
    soql = f"SELECT {', '.join(FIELDS)} FROM Account"
    for fmt in formats:
        run_id = f"bench-{api}-{count}-{fmt}"
        queries = json.dumps([{"name": "accounts", "soql": soql, "api": api, "format": fmt}])
        python = [sys.executable]
        if profile:
            # cProfile sees the main thread only (not the prefetch or part writer threads).
            python += ["-m", "cProfile", "-o", str(Path(profile) / f"{run_id}.prof")]
        seconds, rss, stdout, _, cpu = measured(
            [*python, GLUE_SCRIPT, "--JOB_RUN_ID", run_id, "--secret_id", arn,
             "--output_uri", "s3://sfglue-bench/sfglue/", "--queries", queries],
            env, log_dir, run_id, servers)
        line = next(line for line in stdout.splitlines() if line.startswith("sfglue summary "))
        summary = json.loads(line[len("sfglue summary "):])
        records = summary["records"]
        assert records == count, (records, count)
        results.append((f"sfglue {fmt}", api, count, seconds, rss, fmt))
        print(f"  sfglue {fmt:10} {count:>9,} records {seconds:7.2f} s {count / seconds:>10,.0f} rec/s "
              f"peak RSS {rss:7.1f} MiB  ({summary['queries'][0]['parts']} parts, "
              f"{summary['bytes'] / 1e6:.1f} MB; logins {summary['logins']}, "
              f"api calls {summary['api_calls']}; {cpu_text(cpu)})", flush=True)
    for kind in baselines:
        run_id = f"bench-{api}-{count}-{kind}"
        seconds, rss, stdout, _, cpu = measured(
            [sys.executable, HERE / "baseline_simple_salesforce.py", "--secret_id", arn, "--api", api,
             "--bulk-output", kind, "--soql", soql, "--object", "Account",
             "--output", f"s3://sfglue-bench/baseline/{run_id}.{kind}"],
            env, log_dir, "baseline-" + run_id, servers)
        base = json.loads(stdout.strip().splitlines()[-1])
        assert base["records"] == count, (base, count)
        results.append((f"baseline {kind}", api, count, seconds, rss, kind))
        print(f"  baseline {kind:8} {count:>9,} records {seconds:7.2f} s {count / seconds:>10,.0f} rec/s "
              f"peak RSS {rss:7.1f} MiB  ({base['bytes'] / 1e6:.1f} MB in one object; {cpu_text(cpu)})",
              flush=True)


def like_for_like(fmt):
    """The baseline that writes the same kind of data as this sfglue format."""
    return "csv" if fmt in ("csv", "csv.gz") else "json"


def counts(text):
    return [int(x) for x in text.split(",") if x.strip() and int(x) > 0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rest", default="20000,200000", help="record counts for the REST cases")
    parser.add_argument("--bulk", default="1000000", help="record counts for the Bulk 2.0 cases (0: none)")
    parser.add_argument("--bulk-formats", default="jsonl.gz,csv.gz",
                        help="sfglue output formats of the Bulk cases")
    parser.add_argument("--bulk-baselines", default="csv,json",
                        help="baselines of the Bulk cases: csv (pages joined), json (parsed, one JSON dump)")
    parser.add_argument("--profile", metavar="DIR",
                        help="run the sfglue side under cProfile, .prof files here")
    args = parser.parse_args()
    bulk_formats = [f.strip() for f in args.bulk_formats.split(",") if f.strip()]
    bulk_baselines = [b.strip() for b in args.bulk_baselines.split(",") if b.strip()]
    if not set(bulk_baselines) <= {"csv", "json"}:
        raise SystemExit("--bulk-baselines: csv, json or both")
    cases = [("rest", n) for n in counts(args.rest)] + [("bulk", n) for n in counts(args.bulk)]
    if any(n > 2_000_000 for _api, n in cases):
        raise SystemExit("at most 2,000,000 records per case")
    binary = emulator_binary()
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}; sf-emulator release build; moto S3; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    log_dir = Path(tempfile.mkdtemp(prefix="sfglue-bench-"))
    pem, cert = new_identity()
    launcher = ServiceProcess("launcher", [sys.executable, LAUNCHER, "--listen", "127.0.0.1:0"], log_dir)
    results = []
    try:
        aws = Aws(launcher.url)
        aws.s3.create_bucket(Bucket="sfglue-bench")
        env = child_env({"AWS_ENDPOINT_URL": launcher.url})
        for api, count in cases:
            seed_path = log_dir / f"seed-{count}.yaml"
            seed_path.write_text(yaml.safe_dump(seed(count, cert)))
            org = ServiceProcess(f"sf-{count}", [binary, "--listen", "127.0.0.1:0", "--seed", seed_path],
                                 log_dir)
            servers = Servers(org.pid, launcher.pid)
            try:
                doc = {"schema": "sfglue/v1", "private_key_pem": pem, "consumer_key": CONSUMER_KEY,
                       "username": USERNAME, "login_url": org.url, "audience": "https://login.salesforce.com",
                       "api_version": "62.0"}
                name = f"sfglue/bench-{api}-{count}"
                arn = aws.sm.create_secret(Name=name, SecretString=json.dumps(doc))["ARN"]
                print(f"{api.upper()} {count:,} records of a {len(FIELDS)}-field object:", flush=True)
                formats, baselines = ((bulk_formats, bulk_baselines) if api == "bulk"
                                      else (["jsonl.gz"], ["json"]))
                run_case(env, arn, api, count, log_dir, results, servers, formats, baselines, args.profile)
            finally:
                org.stop()
    finally:
        launcher.stop()
    print("\nsummary (records/s, peak RSS MiB; speed: baseline seconds / sfglue seconds):")
    for api in ("rest", "bulk"):
        rows = [r for r in results if r[1] == api]
        for count in sorted({r[2] for r in rows}):
            bases = {r[5]: r for r in rows if r[0].startswith("baseline") and r[2] == count}
            for mine in (r for r in rows if r[0].startswith("sfglue") and r[2] == count):
                same = like_for_like(mine[5])
                order = [same] + [k for k in bases if k != same]
                versus = " | ".join(
                    f"{'' if k == same else 'other: '}baseline {k} {count / bases[k][3]:>9,.0f} rec/s "
                    f"{bases[k][4]:7.1f} MiB, speed x{bases[k][3] / mine[3]:.2f}"
                    for k in order if k in bases)
                print(f"  {api:4} {count:>9,}: {mine[0]:15} {count / mine[3]:>9,.0f} rec/s "
                      f"{mine[4]:7.1f} MiB | {versus}")
        mine = sorted((r for r in rows if r[0] == "sfglue jsonl.gz"), key=lambda r: r[2])
        if len(mine) >= 2:
            growth = mine[-1][4] / mine[0][4] - 1
            print(f"  {api:4} sfglue peak RSS {mine[0][2]:,} -> {mine[-1][2]:,} records: {growth:+.1%}")
    print(f"logs: {log_dir}")


if __name__ == "__main__":
    main()
