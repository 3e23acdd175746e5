"""The benchmark's baseline, written the common way: simple-salesforce signs in with the JWT
bearer flow, ``query_all`` (or ``bulk2.<Object>.query``) reads everything into a list, and one
``json.dumps`` goes to S3 in one ``put_object``. For Bulk, ``--bulk-output csv`` writes the
result pages joined as one CSV object instead (no parsing at all), ``json`` parses them with
``csv.DictReader`` into one list of records first (an empty value as null, as sfglue writes it).

simple-salesforce builds only https://…salesforce.com URLs; a requests.Session rewrites those to
the emulator's plain-HTTP base URL (as emulators/salesforce/clients/python does). Prints one JSON
line: records, bytes. Never the key or the token.
"""

import argparse
import csv
import io
import json
import os
import re

import boto3
import botocore.config
import requests
from simple_salesforce import Salesforce


class ToEmulator(requests.Session):
    def __init__(self, base):
        super().__init__()
        self.base = base
        self.host = base.split("://", 1)[1]

    def request(self, method, url, *args, **kwargs):
        for prefix in ("https://login.salesforce.com", f"https://{self.host}"):
            if url.startswith(prefix):
                url = self.base + url[len(prefix):]
        return super().request(method, url, *args, **kwargs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret_id", required=True)
    parser.add_argument("--soql", required=True)
    parser.add_argument("--object", required=True)
    parser.add_argument("--api", choices=("rest", "bulk"), default="rest")
    parser.add_argument("--bulk-output", choices=("csv", "json"), default="csv")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    config = botocore.config.Config(s3={"addressing_style": "path"})
    secret = json.loads(boto3.client("secretsmanager", endpoint_url=endpoint)
                        .get_secret_value(SecretId=args.secret_id)["SecretString"])
    sf = Salesforce(username=secret["username"], consumer_key=secret["consumer_key"],
                    privatekey=secret["private_key_pem"], domain="login",
                    session=ToEmulator(secret["login_url"]), version=secret["api_version"])
    if args.api == "rest":
        records = sf.query_all(args.soql)["records"]
        count = len(records)
        body = json.dumps(records).encode()
    elif args.bulk_output == "csv":
        pages = list(getattr(sf.bulk2, args.object).query(args.soql, wait=0.2))
        count = sum(max(0, page.count("\n") - 1) for page in pages)
        body = "".join(pages).encode()
    else:
        records = [{k: (v if v != "" else None) for k, v in row.items()}
                   for page in getattr(sf.bulk2, args.object).query(args.soql, wait=0.2)
                   for row in csv.DictReader(io.StringIO(page, newline=""))]
        count = len(records)
        body = json.dumps(records).encode()
    bucket, key = re.match(r"^s3://([^/]+)/(.+)$", args.output).groups()
    boto3.client("s3", endpoint_url=endpoint, config=config).put_object(Bucket=bucket, Key=key, Body=body)
    print(json.dumps({"records": count, "bytes": len(body)}))


if __name__ == "__main__":
    main()
