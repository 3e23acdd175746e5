"""The baseline for benches/verify.sh: what `sfglue verify` does, in Python.

Reads the secret with boto3 from the AWS emulator (AWSCURRENT), checks that the key belongs to
the certificate and that the certificate is valid now (cryptography), signs the RS256 JWT bearer
assertion with PyJWT, POSTs it to the token endpoint with requests, then makes one authenticated
REST GET ({instance_url}/services/data/v{api_version}/), as sfglue does. Prints the org and user
ids only: never the key or the token.

usage: verify_python.py SECRET_NAME   (AWS_* variables as set by scripts/lib.sh aws_test_env)
"""

import datetime
import json
import sys
import time

import boto3
import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

secret_name = sys.argv[1]
sm = boto3.client("secretsmanager")
doc = json.loads(sm.get_secret_value(SecretId=secret_name, VersionStage="AWSCURRENT")["SecretString"])
if doc.get("schema") != "sfglue/v1":
    sys.exit("not an sfglue document")

key = serialization.load_pem_private_key(doc["private_key_pem"].encode(), password=None)
cert = x509.load_pem_x509_certificate(doc["certificate_pem"].encode())
der = serialization.Encoding.DER
spki = serialization.PublicFormat.SubjectPublicKeyInfo
if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
    sys.exit("the key does not belong to the certificate")
now = datetime.datetime.now(datetime.UTC)
if not (cert.not_valid_before_utc <= now < cert.not_valid_after_utc):
    sys.exit("the certificate is not valid now")

claims = {
    "iss": doc["consumer_key"],
    "sub": doc["username"],
    "aud": doc["audience"],
    "exp": int(time.time()) + 180,
}
assertion = jwt.encode(claims, key, algorithm="RS256")

session = requests.Session()
resp = session.post(
    f"{doc['login_url']}/services/oauth2/token",
    data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
    headers={"Accept": "application/json"},
    timeout=30,
    allow_redirects=False,
)
if resp.status_code != 200:
    sys.exit(f"token exchange refused: HTTP {resp.status_code}")
token = resp.json()
api = session.get(
    f"{token['instance_url'].rstrip('/')}/services/data/v{doc['api_version']}/",
    headers={"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"},
    timeout=30,
)
if api.status_code != 200:
    sys.exit(f"REST API refused: HTTP {api.status_code}")
org, user = token["id"].rstrip("/").rsplit("/", 2)[-2:]
print(f"token exchange ok  org {org}  user {user}")
