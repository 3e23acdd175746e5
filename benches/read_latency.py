"""For benches/noop_apply.sh: how long each read of a no-op `sfglue apply` takes on its own.

Finds what the bench's apply made (one secret, its buckets, script object, role, job, trigger)
by listing, then times, one after another with a warm boto3 client, the reads sfglue's observe
step issues (the operations the emulator's request counter names), ROUNDS times each. Prints
one line per operation (median ms) and the sum and the maximum of those medians: the wall time
of the reads issued one after another versus issued together (at best the slowest one).
Reads only. usage: read_latency.py ROUNDS
"""

import statistics
import sys
import time

import boto3

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
s3 = boto3.client("s3")
sm = boto3.client("secretsmanager")
iam = boto3.client("iam")
glue = boto3.client("glue")
sts = boto3.client("sts")

secret = sm.list_secrets()["SecretList"][0]["Name"]
buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
script_bucket = next(b for b in buckets if b.endswith("scripts"))
script_key = s3.list_objects_v2(Bucket=script_bucket)["Contents"][0]["Key"]
role = next(r["RoleName"] for r in iam.list_roles()["Roles"] if "bench" in r["RoleName"])
policy = iam.list_role_policies(RoleName=role)["PolicyNames"][0]
job = glue.get_jobs()["Jobs"][0]["Name"]
job_arn = f"arn:aws:glue:us-east-1:123456789012:job/{job}"
triggers = glue.get_triggers()["Triggers"]
trigger = triggers[0]["Name"] if triggers else f"{job}-schedule"

reads = {"GetCallerIdentity": lambda: sts.get_caller_identity(),
         "DescribeSecret": lambda: sm.describe_secret(SecretId=secret),
         "GetSecretValue": lambda: sm.get_secret_value(SecretId=secret, VersionStage="AWSCURRENT"),
         "GetRole": lambda: iam.get_role(RoleName=role),
         "GetRolePolicy": lambda: iam.get_role_policy(RoleName=role, PolicyName=policy),
         "GetJob": lambda: glue.get_job(JobName=job),
         "GetTags": lambda: glue.get_tags(ResourceArn=job_arn),
         "HeadObject": lambda: s3.head_object(Bucket=script_bucket, Key=script_key)}
for b in buckets:
    reads[f"HeadBucket {b}"] = lambda b=b: s3.head_bucket(Bucket=b)
    reads[f"GetBucketTagging {b}"] = lambda b=b: s3.get_bucket_tagging(Bucket=b)
    reads[f"GetPublicAccessBlock {b}"] = lambda b=b: s3.get_public_access_block(Bucket=b)
    reads[f"GetBucketEncryption {b}"] = lambda b=b: s3.get_bucket_encryption(Bucket=b)


def get_trigger():
    try:
        glue.get_trigger(Name=trigger)
    except glue.exceptions.EntityNotFoundException:
        pass


reads["GetTrigger"] = get_trigger

medians = {}
for name, call in reads.items():
    call()  # warm: connection and credentials
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1000)
    medians[name] = statistics.median(times)
for name, ms in medians.items():
    print(f"  {name:<40} {ms:7.2f} ms")
print(f"sum of single-read medians: {sum(medians.values()):.1f} ms over {len(medians)} reads;"
      f" slowest single read: {max(medians.values()):.1f} ms")
