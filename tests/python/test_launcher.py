"""The AWS launcher: what it adds to moto."""

import io
import json
import textwrap
import time

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from conftest import Aws

OUTPUT = "/aws-glue/python-jobs/output"
ERROR = "/aws-glue/python-jobs/error"

ECHO_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    print(json.dumps({"argv": sys.argv[1:], "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
                      "region": os.environ.get("AWS_REGION"),
                      "imds": os.environ.get("AWS_EC2_METADATA_DISABLED")}))
    print("to stderr", file=sys.stderr)
    """
)


def error_code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def test_prints_url_first_and_exits_zero_on_sigterm(start_launcher):
    proc = start_launcher()
    assert proc.url.startswith("http://127.0.0.1:")
    assert Aws(proc.url).sts.get_caller_identity()["Account"] == "123456789012"
    assert proc.stop() == 0


def test_create_job_on_existing_name_fails(aws):
    uri = aws.put_script("scripts-bkt", "a.py", "print(1)")
    aws.pythonshell_job("dup", uri, Description="first")
    with pytest.raises(ClientError) as err:
        aws.pythonshell_job("dup", uri, Description="second")
    assert error_code(err) == "AlreadyExistsException"
    assert aws.glue.get_job(JobName="dup")["Job"]["Description"] == "first"


def test_update_job_replaces_the_whole_definition(aws):
    uri = aws.put_script("scripts-bkt", "a.py", "print(1)")
    aws.pythonshell_job(
        "upd", uri, Description="old", DefaultArguments={"--a": "1"}, Timeout=30, MaxRetries=2,
        GlueVersion="3.0", Tags={"owner": "me"}, ExecutionProperty={"MaxConcurrentRuns": 3},
    )
    before = aws.glue.get_job(JobName="upd")["Job"]
    time.sleep(0.05)
    aws.glue.update_job(JobName="upd", JobUpdate={
        "Role": before["Role"],
        "Command": {"Name": "pythonshell", "ScriptLocation": uri + "2", "PythonVersion": "3.9"},
        "MaxCapacity": 1.0,
    })
    after = aws.glue.get_job(JobName="upd")["Job"]
    assert after["Command"]["ScriptLocation"] == uri + "2"
    assert after["MaxCapacity"] == 1.0
    # Everything the update left out is reset to what CreateJob stores for an omitted field...
    assert "Description" not in after
    assert after.get("DefaultArguments", {}) == {}
    assert "Timeout" not in after and "MaxRetries" not in after
    assert after.get("ExecutionProperty", {}) == {}
    # ...except GlueVersion, which keeps its value; tags and CreatedOn are untouched.
    assert after["GlueVersion"] == "3.0"
    assert after["CreatedOn"] == before["CreatedOn"]
    assert after["LastModifiedOn"] > before["LastModifiedOn"]
    arn = "arn:aws:glue:us-east-1:123456789012:job/upd"
    assert aws.glue.get_tags(ResourceArn=arn)["Tags"] == {"owner": "me"}

    aws.glue.update_job(JobName="upd", JobUpdate={
        "Role": before["Role"], "Command": before["Command"], "GlueVersion": "5.0",
    })
    assert aws.glue.get_job(JobName="upd")["Job"]["GlueVersion"] == "5.0"


def test_update_job_on_missing_job_is_entity_not_found(aws):
    with pytest.raises(ClientError) as err:
        aws.glue.update_job(JobName="nope", JobUpdate={
            "Role": "arn:aws:iam::123456789012:role/x",
            "Command": {"Name": "pythonshell", "ScriptLocation": "s3://b/k.py"},
        })
    assert error_code(err) == "EntityNotFoundException"


def test_job_run_runs_the_script_with_merged_arguments(aws):
    uri = aws.put_script("scripts-bkt", "scripts/echo.py", ECHO_SCRIPT)
    aws.pythonshell_job(
        "echo", uri,
        DefaultArguments={"--keep": "default", "--over": "default", "--fixed": "default",
                          "--additional-python-modules": "PyJWT==2.15.1,cryptography==50.0.2",
                          "library-set": "analytics"},
        NonOverridableArguments={"--fixed": "non-overridable"},
    )
    run_id = aws.glue.start_job_run(
        JobName="echo", Arguments={"--over": "run", "--fixed": "run", "--extra": "x y"})["JobRunId"]
    run = aws.wait_run("echo", run_id)
    assert run["JobRunState"] == "SUCCEEDED", run
    assert run["CompletedOn"] >= run["StartedOn"]
    assert isinstance(run["ExecutionTime"], int)
    assert run["LogGroupName"] == "/aws-glue/python-jobs"
    assert "ErrorMessage" not in run

    out = aws.log_lines(OUTPUT, run_id)
    seen = json.loads(out[0])
    argv = seen["argv"]
    pairs = dict(zip(argv[::2], argv[1::2], strict=True))
    assert pairs == {
        "--JOB_NAME": "echo", "--JOB_RUN_ID": run_id, "--keep": "default", "--over": "run",
        "--fixed": "non-overridable", "--extra": "x y",
    }
    assert seen["endpoint"] == aws.url
    assert seen["region"] == "us-east-1" and seen["imds"] == "true"
    assert aws.log_lines(ERROR, run_id) == ["to stderr"]


def test_failed_run_reports_the_exception(aws):
    script = "import sys\nprint('starting')\ndef f():\n    raise ValueError('the real reason')\nf()\n"
    uri = aws.put_script("scripts-bkt", "bad.py", script)
    aws.pythonshell_job("bad", uri)
    run_id = aws.glue.start_job_run(JobName="bad")["JobRunId"]
    run = aws.wait_run("bad", run_id)
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "ValueError: the real reason"
    assert run["CompletedOn"] >= run["StartedOn"]
    errors = aws.log_lines(ERROR, run_id)
    assert errors[0].startswith("Traceback") and errors[-1] == "ValueError: the real reason"
    assert aws.log_lines(OUTPUT, run_id) == ["starting"]


def test_exit_status_without_stderr(aws):
    uri = aws.put_script("scripts-bkt", "exit3.py", "import sys\nsys.exit(3)\n")
    aws.pythonshell_job("exit3", uri)
    run = aws.wait_run("exit3", aws.glue.start_job_run(JobName="exit3")["JobRunId"])
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "Command failed with exit code 3"


def test_running_then_timeout(aws):
    # The fixture's launcher counts a Timeout minute as one second.
    uri = aws.put_script("scripts-bkt", "sleep.py", "import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    aws.pythonshell_job("slow", uri, Timeout=2)
    run_id = aws.glue.start_job_run(JobName="slow")["JobRunId"]
    assert aws.wait_run("slow", run_id, until=("RUNNING",) + tuple(
        s for s in ("SUCCEEDED", "FAILED", "TIMEOUT")))["JobRunState"] == "RUNNING"
    listed = aws.glue.get_job_runs(JobName="slow")["JobRuns"]
    assert [r["JobRunState"] for r in listed] == ["RUNNING"]
    assert "CompletedOn" not in listed[0]
    run = aws.wait_run("slow", run_id, timeout=30)
    assert run["JobRunState"] == "TIMEOUT"
    assert 2 <= run["ExecutionTime"] <= 10


def test_max_concurrent_runs_is_enforced(aws):
    uri = aws.put_script("scripts-bkt", "nap.py", "import time\ntime.sleep(3)\n")
    aws.pythonshell_job("nap", uri)
    first = aws.glue.start_job_run(JobName="nap")["JobRunId"]
    with pytest.raises(ClientError) as err:
        aws.glue.start_job_run(JobName="nap")
    assert error_code(err) == "ConcurrentRunsExceededException"
    assert aws.wait_run("nap", first)["JobRunState"] == "SUCCEEDED"
    second = aws.glue.start_job_run(JobName="nap")["JobRunId"]
    assert aws.wait_run("nap", second)["JobRunState"] == "SUCCEEDED"

    aws.pythonshell_job("nap2", uri, ExecutionProperty={"MaxConcurrentRuns": 2})
    runs = [aws.glue.start_job_run(JobName="nap2")["JobRunId"] for _ in range(2)]
    with pytest.raises(ClientError):
        aws.glue.start_job_run(JobName="nap2")
    assert all(aws.wait_run("nap2", r)["JobRunState"] == "SUCCEEDED" for r in runs)


def test_script_calls_aws_through_the_launcher(aws):
    script = textwrap.dedent(
        """
        import sys, boto3
        args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
        boto3.client("s3").put_object(Bucket="out-bkt", Key="from-job.txt", Body=args["--JOB_RUN_ID"].encode())
        """
    )
    uri = aws.put_script("scripts-bkt", "writer.py", script)
    aws.s3.create_bucket(Bucket="out-bkt")
    aws.pythonshell_job("writer", uri)
    aws.admin("POST", "/__launcher/requests/reset")
    run_id = aws.glue.start_job_run(JobName="writer")["JobRunId"]
    assert aws.wait_run("writer", run_id)["JobRunState"] == "SUCCEEDED"
    assert aws.s3.get_object(Bucket="out-bkt", Key="from-job.txt")["Body"].read() == run_id.encode()
    _, counts = aws.admin("GET", "/__launcher/requests")
    assert counts["job_operations"] == {"PutObject": 1}


def test_missing_additional_module_fails_the_run(aws):
    uri = aws.put_script("scripts-bkt", "a.py", "print(1)")
    aws.pythonshell_job("mods", uri, DefaultArguments={
        "--additional-python-modules": "PyJWT==2.15.1,surely-not-installed-xyz==1.0"})
    run = aws.wait_run("mods", aws.glue.start_job_run(JobName="mods")["JobRunId"])
    assert run["JobRunState"] == "FAILED"
    assert "surely-not-installed-xyz" in run["ErrorMessage"]


def test_missing_script_fails_the_run(aws):
    aws.s3.create_bucket(Bucket="scripts-bkt")
    aws.pythonshell_job("ghost", "s3://scripts-bkt/nothing-here.py")
    run = aws.wait_run("ghost", aws.glue.start_job_run(JobName="ghost")["JobRunId"])
    assert run["JobRunState"] == "FAILED"
    assert "s3://scripts-bkt/nothing-here.py" in run["ErrorMessage"]


def build_world(aws, marker_path):
    """A secret, a role with a policy embedding the secret ARN, a script, a job and one run."""
    secret = aws.sm.create_secret(Name="sfglue/jwt", SecretString='{"schema":"sfglue/v1"}')
    role = aws.iam.create_role(RoleName="sfglue-job", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))["Role"]
    aws.iam.put_role_policy(RoleName="sfglue-job", PolicyName="read-secret", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue", "Resource": secret["ARN"]}]}))
    script = f"open({str(marker_path)!r}, 'a').write('ran\\n')\nprint('marker written')\n"
    uri = aws.put_script("sfglue-scripts", "scripts/sfglue_extract.py", script)
    aws.pythonshell_job("sfglue-extract", uri, Role=role["Arn"], DefaultArguments={"--secret_id": secret["ARN"]},
                        Tags={"managed-by": "sfglue"})
    run_id = aws.glue.start_job_run(JobName="sfglue-extract")["JobRunId"]
    assert aws.wait_run("sfglue-extract", run_id)["JobRunState"] == "SUCCEEDED"
    return {"secret_arn": secret["ARN"], "version": secret["VersionId"], "role_arn": role["Arn"],
            "role_id": role["RoleId"], "run_id": run_id, "script_uri": uri}


def test_state_dir_survives_restarts(start_launcher, tmp_path):
    state = tmp_path / "state"
    marker = tmp_path / "marker.txt"
    first = start_launcher(state)
    world = build_world(Aws(first.url), marker)
    # A streamed upload (aws-chunked with a trailing checksum) must replay byte for byte.
    blob = bytes(range(256)) * 400
    Aws(first.url).s3.upload_fileobj(io.BytesIO(blob), "sfglue-scripts", "blob.bin")
    assert first.stop() == 0

    for _ in range(2):
        proc = start_launcher(state)
        aws = Aws(proc.url)
        secret = aws.sm.describe_secret(SecretId="sfglue/jwt")
        assert secret["ARN"] == world["secret_arn"]
        value = aws.sm.get_secret_value(SecretId=world["secret_arn"], VersionStage="AWSCURRENT")
        assert value["VersionId"] == world["version"]
        role = aws.iam.get_role(RoleName="sfglue-job")["Role"]
        assert (role["Arn"], role["RoleId"]) == (world["role_arn"], world["role_id"])
        policy = aws.iam.get_role_policy(RoleName="sfglue-job", PolicyName="read-secret")
        assert policy["PolicyDocument"]["Statement"][0]["Resource"] == world["secret_arn"]
        job = aws.glue.get_job(JobName="sfglue-extract")["Job"]
        assert job["DefaultArguments"] == {"--secret_id": world["secret_arn"]}
        assert aws.glue.get_tags(ResourceArn="arn:aws:glue:us-east-1:123456789012:job/sfglue-extract")[
            "Tags"] == {"managed-by": "sfglue"}
        body = aws.s3.get_object(Bucket="sfglue-scripts", Key="scripts/sfglue_extract.py")["Body"].read()
        assert b"marker written" in body
        assert aws.s3.get_object(Bucket="sfglue-scripts", Key="blob.bin")["Body"].read() == blob
        runs = aws.glue.get_job_runs(JobName="sfglue-extract")["JobRuns"]
        assert [(r["Id"], r["JobRunState"]) for r in runs] == [(world["run_id"], "SUCCEEDED")]
        assert aws.log_lines(OUTPUT, world["run_id"]) == ["marker written"]
        # Same request again answers like AWS would: the state is really there.
        with pytest.raises(ClientError) as err:
            aws.sm.create_secret(Name="sfglue/jwt", SecretString="{}")
        assert error_code(err) == "ResourceExistsException"
        assert proc.stop() == 0

    assert marker.read_text() == "ran\n", "a replay must not run the job again"
    assert (state / "runs" / world["run_id"] / "stdout.log").read_text() == "marker written\n"


def test_state_dir_keeps_later_changes_and_new_ids_differ(start_launcher, tmp_path):
    state = tmp_path / "state"
    first = start_launcher(state)
    aws = Aws(first.url)
    # Reads first, as the CLI does: they make moto create backends lazily (with random IDs)
    # before the first write, which the replay does not see. IDs must match all the same.
    aws.sts.get_caller_identity()
    with pytest.raises(ClientError):
        aws.sm.describe_secret(SecretId="one")
    a = aws.sm.create_secret(Name="one", SecretString="1")["ARN"]
    first.stop()
    second = start_launcher(state)
    aws = Aws(second.url)
    b = aws.sm.create_secret(Name="two", SecretString="2")["ARN"]
    aws.sm.put_secret_value(SecretId="one", SecretString="1b")
    second.stop()
    third = start_launcher(state)
    aws = Aws(third.url)
    assert aws.sm.describe_secret(SecretId="one")["ARN"] == a
    assert aws.sm.describe_secret(SecretId="two")["ARN"] == b
    assert a.rsplit("-", 1)[1] != b.rsplit("-", 1)[1]
    assert aws.sm.get_secret_value(SecretId="one", VersionStage="AWSCURRENT")["SecretString"] == "1b"


def test_without_state_dir_nothing_is_kept(start_launcher):
    first = start_launcher()
    Aws(first.url).sm.create_secret(Name="one", SecretString="1")
    first.stop()
    second = start_launcher()
    with pytest.raises(ClientError):
        Aws(second.url).sm.describe_secret(SecretId="one")


def test_faults_throttle_500_drop_and_error(aws):
    aws.iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})

    def put():
        aws.iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=doc)

    status, rule = aws.admin("POST", "/__launcher/faults",
                             {"operation": "PutRolePolicy", "kind": "throttle", "times": 2})
    assert status == 201 and rule["remaining"] == 2
    for _ in range(2):
        with pytest.raises(ClientError) as err:
            put()
        assert error_code(err) == "Throttling"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    put()

    aws.admin("POST", "/__launcher/faults", {"operation": "PutRolePolicy", "kind": "500"})
    with pytest.raises(ClientError) as err:
        put()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500

    aws.admin("POST", "/__launcher/faults", {"operation": "GetJob", "kind": "throttle"})
    with pytest.raises(ClientError) as err:
        aws.glue.get_job(JobName="x")
    assert error_code(err) == "ThrottlingException"

    aws.admin("POST", "/__launcher/faults", {"operation": "CreateBucket", "kind": "throttle"})
    with pytest.raises(ClientError) as err:
        aws.s3.create_bucket(Bucket="slow-bkt")
    assert error_code(err) == "SlowDown"

    aws.admin("POST", "/__launcher/faults", {"operation": "PutRolePolicy", "kind": "drop"})
    with pytest.raises((ConnectionClosedError, EndpointConnectionError, ClientError)):
        put()

    aws.admin("POST", "/__launcher/faults", {"operation": "GetSecretValue", "kind": "error",
                                             "status": 400, "code": "DecryptionFailure",
                                             "message": "injected"})
    with pytest.raises(ClientError) as err:
        aws.sm.get_secret_value(SecretId="whatever")
    assert error_code(err) == "DecryptionFailure"

    aws.admin("POST", "/__launcher/faults", {"operation": "GetRole", "kind": "500", "skip": 1})
    aws.iam.get_role(RoleName="r")
    with pytest.raises(ClientError):
        aws.iam.get_role(RoleName="r")
    aws.iam.get_role(RoleName="r")

    _, listing = aws.admin("GET", "/__launcher/faults")
    assert all(rule["remaining"] == 0 for rule in listing["faults"])
    assert aws.admin("POST", "/__launcher/faults", {"operation": "X", "kind": "nope"})[0] == 400
    assert aws.admin("DELETE", "/__launcher/faults")[1] == {"cleared": True}


def test_faulted_calls_change_nothing(aws):
    aws.admin("POST", "/__launcher/faults", {"operation": "CreateSecret", "kind": "500"})
    with pytest.raises(ClientError):
        aws.sm.create_secret(Name="s", SecretString="x")
    with pytest.raises(ClientError) as err:
        aws.sm.describe_secret(SecretId="s")
    assert error_code(err) == "ResourceNotFoundException"


def test_request_counts_tell_reads_from_writes(aws):
    aws.sm.create_secret(Name="s", SecretString="x")
    assert aws.admin("POST", "/__launcher/requests/reset")[0] == 200
    aws.sm.describe_secret(SecretId="s")
    aws.sm.get_secret_value(SecretId="s", VersionStage="AWSCURRENT")
    aws.iam.list_roles()
    aws.s3.list_buckets()
    with pytest.raises(ClientError):
        aws.glue.get_job(JobName="missing")
    _, counts = aws.admin("GET", "/__launcher/requests")
    assert counts["writes"] == 0, counts["write_calls"]
    assert counts["reads"] == counts["total"] == 5
    assert counts["operations"] == {"DescribeSecret": 1, "GetSecretValue": 1, "ListRoles": 1,
                                    "ListBuckets": 1, "GetJob": 1}
    assert counts["services"]["glue"] == {"GetJob": 1}

    aws.sm.put_secret_value(SecretId="s", SecretString="y")
    aws.s3.create_bucket(Bucket="bkt-1")
    aws.s3.put_object(Bucket="bkt-1", Key="k", Body=b"v")
    _, counts = aws.admin("GET", "/__launcher/requests")
    assert counts["write_calls"] == ["secretsmanager:PutSecretValue", "s3:CreateBucket", "s3:PutObject"]


def test_health_endpoint(aws):
    status, health = aws.admin("GET", "/__launcher/health")
    assert status == 200 and health["ok"] and health["moto"] == "5.2.5"
    assert health["url"] == aws.url


def test_moto_reset_empties_the_journal(start_launcher, tmp_path):
    import requests

    state = tmp_path / "state"
    first = start_launcher(state)
    aws = Aws(first.url)
    aws.sm.create_secret(Name="before-reset", SecretString="1")
    assert requests.post(first.url + "/moto-api/reset", timeout=10).status_code == 200
    aws.iam.list_roles()
    arn = aws.sm.create_secret(Name="after-reset", SecretString="2")["ARN"]
    first.stop()
    aws = Aws(start_launcher(state).url)
    assert aws.sm.describe_secret(SecretId="after-reset")["ARN"] == arn
    with pytest.raises(ClientError):
        aws.sm.describe_secret(SecretId="before-reset")


def test_two_launchers_cannot_share_a_state_dir(start_launcher, tmp_path):
    import subprocess
    import sys

    from conftest import LAUNCHER, child_env

    state = tmp_path / "state"
    start_launcher(state)
    second = subprocess.run([sys.executable, LAUNCHER, "--listen", "127.0.0.1:0", "--state-dir", state],
                            capture_output=True, text=True, timeout=60, env=child_env())
    assert second.returncode == 2
    assert second.stdout == ""
    assert "another launcher already uses the state dir" in second.stderr
