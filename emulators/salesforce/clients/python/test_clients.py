"""simple-salesforce and PyJWT + requests against sf-emulator.

Environment (set by ../run.sh): SF_BASE, SF_KEY_FILE, SF_CONSUMER_KEY, SF_USERNAME.

simple-salesforce builds only https://…salesforce.com URLs; the one adaptation here is a
requests.Session that sends https://login.salesforce.com and https://<emulator> to the emulator's
plain-HTTP base URL. Everything else is the client's ordinary use.
"""

import csv
import io
import os
import time

import jwt
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
)

BASE = os.environ["SF_BASE"]
KEY_FILE = os.environ["SF_KEY_FILE"]
CONSUMER_KEY = os.environ["SF_CONSUMER_KEY"]
USERNAME = os.environ["SF_USERNAME"]
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
HOST = BASE.split("://", 1)[1]


class ToEmulator(requests.Session):
    """Routes simple-salesforce's https URLs to the emulator (plain HTTP on loopback)."""

    def request(self, method, url, *args, **kwargs):
        for prefix in ("https://login.salesforce.com", f"https://{HOST}"):
            if url.startswith(prefix):
                url = BASE + url[len(prefix):]
        return super().request(method, url, *args, **kwargs)


def key():
    with open(KEY_FILE, encoding="utf-8") as f:
        return f.read()


def plain_token(aud=BASE, sub=USERNAME):
    assertion = jwt.encode(
        {"iss": CONSUMER_KEY, "sub": sub, "aud": aud, "exp": int(time.time()) + 180},
        key(),
        algorithm="RS256",
    )
    return requests.post(
        f"{BASE}/services/oauth2/token",
        data={"grant_type": GRANT, "assertion": assertion},
        timeout=10,
    )


def jwt_client(**kw):
    return Salesforce(
        username=kw.pop("username", USERNAME),
        consumer_key=CONSUMER_KEY,
        privatekey_file=KEY_FILE,
        domain="login",
        session=ToEmulator(),
        version="66.0",
        **kw,
    )


def revoke(token):
    r = requests.post(f"{BASE}/services/oauth2/revoke", data={"token": token}, timeout=10)
    assert r.status_code == 200


# --- PyJWT + requests, the plain way --------------------------------------------------------


def test_pyjwt_requests_token_and_paging():
    r = plain_token()
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json;charset=UTF-8"
    body = r.json()
    assert list(body) == ["access_token", "scope", "instance_url", "id", "token_type"]
    assert body["instance_url"] == BASE
    assert body["token_type"] == "Bearer"
    assert "refresh_token" not in body and "expires_in" not in body
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    url = f"{BASE}/services/data/v66.0/query"
    page = requests.get(url, params={"q": "SELECT Id, Name FROM Account"}, headers=headers, timeout=10).json()
    ids, pages = set(), 1
    ids.update(r["Id"] for r in page["records"])
    while not page["done"]:
        page = requests.get(BASE + page["nextRecordsUrl"], headers=headers, timeout=10).json()
        ids.update(r["Id"] for r in page["records"])
        pages += 1
    assert (len(ids), pages) == (4500, 3)


def test_pyjwt_requests_errors_are_exact():
    r = plain_token(aud="https://test.salesforce.com")
    assert r.status_code == 400
    assert r.text == '{"error":"invalid_grant","error_description":"audience is invalid"}'
    assert r.headers["Cache-Control"] == "no-cache,must-revalidate,max-age=0,no-store,private"
    r = plain_token(sub="nobody@example.com")
    assert r.json() == {"error": "invalid_grant", "error_description": "inactive user"}
    r = requests.get(f"{BASE}/services/data/v66.0/limits", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert r.status_code == 401
    assert r.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


# --- simple-salesforce ------------------------------------------------------------------------


def test_simple_salesforce_jwt_login_and_query_all():
    sf = jwt_client()
    res = sf.query_all("SELECT Id, Name, SystemModstamp FROM Account")
    assert res["totalSize"] == 4500
    assert len(res["records"]) == 4500
    assert len({r["Id"] for r in res["records"]}) == 4500
    assert res["records"][0]["attributes"]["type"] == "Account"
    # Sforce-Limit-Info is parsed from every response.
    assert sf.api_usage["api-usage"].total == 100000
    assert sf.is_sandbox() is False
    res = sf.query("SELECT Id FROM Account WHERE SystemModstamp > 2025-12-01T00:00:00Z ORDER BY SystemModstamp LIMIT 10")
    assert len(res["records"]) == 10


def test_simple_salesforce_query_more_by_locator():
    sf = jwt_client()
    first = sf.query("SELECT Id FROM Contact")
    assert first["done"] is False
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["done"] is True
    locator = first["nextRecordsUrl"].rsplit("/", 1)[1]
    again = sf.query_more(locator)
    assert again["records"] == second["records"]


def test_simple_salesforce_soql_error():
    sf = jwt_client()
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.query("SELECT Id, Nope FROM Account")
    assert e.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_simple_salesforce_bulk2_query():
    sf = jwt_client()
    rows, pages = [], 0
    for chunk in sf.bulk2.Account.query("SELECT Id, Name FROM Account", max_records=2000, wait=0.1):
        reader = csv.DictReader(io.StringIO(chunk))
        rows.extend(reader)
        pages += 1
    assert pages == 3
    assert len(rows) == 4500
    assert rows[0]["Id"].startswith("001")
    assert rows[0]["Name"] == "Demo Account 00001"


def test_simple_salesforce_login_error():
    with pytest.raises(SalesforceAuthenticationFailed) as e:
        jwt_client(username="nobody@example.com")
    assert e.value.code == "invalid_grant"
    assert e.value.content == b"inactive user"


def test_simple_salesforce_expired_session_after_revocation():
    token = plain_token().json()["access_token"]
    sf = Salesforce(instance_url=BASE, session_id=token, session=ToEmulator(), version="66.0")
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    revoke(token)
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account LIMIT 1")


def test_simple_salesforce_jwt_client_logs_in_again_after_revocation():
    sf = jwt_client()
    old = sf.session_id
    revoke(old)
    # simple-salesforce sees 401 INVALID_SESSION_ID, re-runs the JWT login and retries.
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    assert sf.session_id != old
