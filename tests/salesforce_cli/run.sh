#!/usr/bin/env bash
# Offline check that `sfglue instructions --metadata` writes a project the Salesforce CLI accepts.
#
# Starts the AWS emulator (127.0.0.1), runs the built sfglue (`apply --yes`, which stops with exit
# code 3 for want of a consumer key, then `instructions --metadata`), and runs the pinned Salesforce
# CLI (`sf project convert source`) on the result inside a loopback-only network namespace
# (unshare -n), with a scratch HOME and telemetry and auto-update off. Then asserts that
# package.xml lists the four External Client App types with the app, that the conversion printed
# no error, and that each converted file is well-formed XML of its type with the fields of
# shared reference salesforce-jwt.md section 5.4 (sf itself copies the XML without checking it).
#
# Builds nothing: needs the sfglue binary (make build) and the Python venv (make venv). Runs
# `npm ci` only when node_modules is missing or older than package-lock.json. Exits non-zero on
# any failure.
#
# Environment:
#   SFGLUE_BIN       the sfglue binary (default: $CARGO_TARGET_DIR or <repo>/target, debug/sfglue)
#   SFGLUE_LEAK_DIR  (make test sets it) leave the outputs there for scripts/leak_guard.py
#   KEEP_WORK=1      keep the scratch folder and print its path
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BIN="${SFGLUE_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/sfglue}"
# shellcheck source=../../scripts/lib.sh
. "$REPO/scripts/lib.sh"

fail() { echo "salesforce_cli: FAIL: $*" >&2; exit 1; }

[ -x "$BIN" ] || fail "$BIN is missing: build it first (make build)"
[ -x "$VENV_PY" ] || fail "$VENV_PY is missing: make venv"

# The pinned CLI (package-lock.json): installed outside the namespace.
if [ ! -f "$HERE/node_modules/.package-lock.json" ] ||
   [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi
SF_BIN_DIR="$HERE/node_modules/.bin"
[ -x "$SF_BIN_DIR/sf" ] || fail "npm ci did not install sf"

WORK="$(mktemp -d)"
cleanup() {
    # For the leak guard that ends `make test` (scripts/leak_guard.py): what sfglue and sf printed,
    # the emulator's log and the metadata folder; and, unscanned, the key this run created.
    if [ -n "${SFGLUE_LEAK_DIR:-}" ] && [ -n "${AWS_ENDPOINT_URL:-}" ]; then
        local out="$SFGLUE_LEAK_DIR/salesforce-cli-$$"
        mkdir -p "$out" "$SFGLUE_LEAK_DIR/known-secrets"
        cp -r "$WORK"/*.out "$WORK"/*.err "$WORK"/*.log "$WORK/metadata" "$out/" 2>/dev/null || true
        "$VENV_PY" - "$SFGLUE_LEAK_DIR/known-secrets/salesforce-cli-$$.pem" <<'PYEOF' 2>/dev/null || true
import json, os, sys, boto3
sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
doc = json.loads(sm.get_secret_value(SecretId="sf-cli-check/salesforce-jwt", VersionStage="AWSCURRENT")["SecretString"])
open(sys.argv[1], "w").write(doc["private_key_pem"])
PYEOF
    fi
    stop_server aws "$WORK"
    if [ "${KEEP_WORK:-}" = 1 ]; then echo "salesforce_cli: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

aws_test_env "$WORK"
AWS_ENDPOINT_URL="$(start_server aws "$WORK" "$VENV_PY" "$REPO/emulators/aws/launcher.py" --listen 127.0.0.1:0)"
export AWS_ENDPOINT_URL HOME="$WORK" NO_COLOR=1

# A label, profile and permission set with characters that need escaping.
cat > "$WORK/sfglue.yaml" <<'YAML'
version: 1
name: sf-cli-check
aws:
  region: us-east-1
salesforce:
  login_url: https://acme.my.salesforce.com
  username: integration@acme.example
  app:
    label: R&D <Glue> job
    contact_email: ops@acme.example
    preauthorized_profiles: [Integration Profile]
    preauthorized_permission_sets: ["Glue & Co"]
    ip_relaxation: bypass
glue:
  script_bucket: sf-cli-check-scripts
  output: s3://sf-cli-check-data/sf/
queries:
  - name: accounts
    soql: SELECT Id FROM Account
YAML
APP=Sf_Cli_Check_Glue_Job

set +e
"$BIN" --config "$WORK/sfglue.yaml" -q apply --yes > "$WORK/apply.out" 2> "$WORK/apply.err"
code=$?
set -e
[ "$code" = 3 ] || { cat "$WORK/apply.err" >&2; fail "sfglue apply exited $code, expected 3 (waiting for Salesforce)"; }
"$BIN" --config "$WORK/sfglue.yaml" -q instructions --metadata "$WORK/metadata" > "$WORK/instructions.out" 2> "$WORK/instructions.err" ||
    { cat "$WORK/instructions.err" >&2; fail "sfglue instructions --metadata failed"; }

export WORK SF_BIN_DIR
set +e
unshare -n bash -c '
    set -e
    ip link set lo up
    cd "$WORK/metadata"
    mkdir -p "$WORK/sf-home"
    env HOME="$WORK/sf-home" PATH="$SF_BIN_DIR:$PATH" SF_DISABLE_TELEMETRY=true SF_AUTOUPDATE_DISABLE=true \
        SFDX_DISABLE_TELEMETRY=true SF_SKIP_NEW_VERSION_CHECK=true \
        sf project convert source --root-dir force-app --output-dir "$WORK/converted"
' > "$WORK/convert.log" 2>&1
code=$?
set -e
cat "$WORK/convert.log"
[ "$code" = 0 ] || fail "sf project convert source exited $code"
if grep -qi 'error' "$WORK/convert.log"; then fail "sf project convert source printed an error"; fi

PKG="$WORK/converted/package.xml"
[ -f "$PKG" ] || fail "no package.xml"
for t in ExternalClientApplication ExtlClntAppOauthSettings ExtlClntAppGlobalOauthSettings ExtlClntAppOauthConfigurablePolicies; do
    grep -q "<name>$t</name>" "$PKG" || fail "package.xml does not list $t"
done
grep -q "<members>$APP</members>" "$PKG" || fail "package.xml does not list the app $APP"

# The converted files: well-formed XML of the right type, the fields of section 5.4 only, the
# values as configured, no secret.
"$VENV_PY" - "$WORK/converted" "$APP" "$WORK/sfglue-out/salesforce-jwt.crt" <<'PYEOF'
import pathlib, sys, xml.etree.ElementTree as ET
root, app, cert_file = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
NS = "{http://soap.sforce.com/2006/04/metadata}"
# type: (file, required fields, allowed fields) from salesforce-jwt.md section 5.4.
TYPES = {
    "ExternalClientApplication": (f"externalClientApps/{app}.eca", {"label", "contactEmail", "distributionState"},
        {"label", "contactEmail", "description", "distributionState", "isProtected", "managedType",
         "orgScopedExternalApp", "iconUrl", "infoUrl", "logoUrl"}),
    "ExtlClntAppOauthSettings": (f"extlClntAppOauthSettings/{app}.ecaOauth", {"externalClientApplication", "commaSeparatedOauthScopes"},
        {"externalClientApplication", "commaSeparatedOauthScopes", "label", "commaSeparatedCustomScopes",
         "trustedIpRanges", "singleLogoutUrl", "oauthLink"}),
    "ExtlClntAppGlobalOauthSettings": (f"extlClntAppGlobalOauthSets/{app}.ecaGlblOauth", {"externalClientApplication", "callbackUrl", "certificate"},
        {"externalClientApplication", "callbackUrl", "certificate", "consumerKey", "consumerSecret", "label",
         "isConsumerSecretOptional", "isPkceRequired", "isClientCredentialsFlowEnabled", "isCodeCredFlowEnabled",
         "isDeviceFlowEnabled", "isTokenExchangeEnabled", "isNamedUserJwtEnabled", "isIntrospectAllTokens",
         "isRefreshTokenRotationEnabled", "isSecretRequiredForRefreshToken", "isSecretRequiredForTokenExchange",
         "shouldRotateConsumerKey", "shouldRotateConsumerSecret", "idTokenConfig"}),
    "ExtlClntAppOauthConfigurablePolicies": (f"extlClntAppOauthPolicies/{app}.ecaOauthPlcy", {"externalClientApplication", "permittedUsersPolicyType"},
        {"externalClientApplication", "permittedUsersPolicyType", "commaSeparatedProfile", "commaSeparatedPermissionSet",
         "ipRelaxationPolicyType", "refreshTokenPolicyType", "sessionTimeoutInMinutes", "isNamedUserJwtEnabled",
         "namedUserJwtTimeout", "isClientCredentialsFlowEnabled", "clientCredentialsFlowUser",
         "isTokenExchangeFlowEnabled", "policyAction", "requiredSessionLevel", "label"}),
}
EXPECT = {
    "ExternalClientApplication": {"label": "R&D <Glue> job", "contactEmail": "ops@acme.example", "distributionState": "Local"},
    "ExtlClntAppOauthSettings": {"commaSeparatedOauthScopes": "Api,RefreshToken", "externalClientApplication": app},
    "ExtlClntAppGlobalOauthSettings": {"isConsumerSecretOptional": "true", "externalClientApplication": app,
                                       "certificate": open(cert_file).read().strip()},
    "ExtlClntAppOauthConfigurablePolicies": {"permittedUsersPolicyType": "AdminApprovedPreAuthorized",
        "commaSeparatedProfile": "Integration Profile", "commaSeparatedPermissionSet": "Glue & Co",
        "ipRelaxationPolicyType": "Bypass", "externalClientApplication": app},
}
problems = []
for type_name, (rel, required, allowed) in TYPES.items():
    path = root / rel
    text = path.read_text()
    if "PRIVATE KEY" in text:
        problems.append(f"{rel}: holds a private key")
    try:
        doc = ET.fromstring(text)
    except ET.ParseError as e:
        problems.append(f"{rel}: not well-formed XML: {e}")
        continue
    if doc.tag != NS + type_name:
        problems.append(f"{rel}: root is {doc.tag}, expected {NS}{type_name}")
    fields = {}
    for child in doc:
        name = child.tag.removeprefix(NS)
        if name in fields:
            problems.append(f"{rel}: {name} appears twice")
        fields[name] = (child.text or "")
    for f in sorted(required - fields.keys()):
        problems.append(f"{rel}: required field {f} missing")
    for f in sorted(fields.keys() - allowed):
        problems.append(f"{rel}: {f} is not a field of {type_name}")
    for f in ("consumerKey", "consumerSecret"):
        if f in fields:
            problems.append(f"{rel}: has {f}")
    for f, want in EXPECT[type_name].items():
        if fields.get(f) != want:
            problems.append(f"{rel}: {f} is {fields.get(f)!r}, expected {want!r}")
for p in problems:
    print("salesforce_cli: FAIL:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
PYEOF

echo "salesforce_cli: ok: sf project convert source accepted $APP (4 types), XML matches section 5.4"
