#!/usr/bin/env python3
"""The leak guard that ends `make test`: no private key and no access token in any output.

Scans every file under the leak directory (what each test run printed, the emulators' logs,
the test runners' own output) for:
  - a PEM private key block header;
  - anything shaped like a Salesforce access token (an org id, `!`, then the token body);
  - any 40-character run of the private part of a key the run created. Those keys are listed
    under `known-secrets/`, which is the one folder not scanned.
A hit names the file and line only, never the text. Exit 1 on any hit, 0 otherwise.

Usage: scripts/leak_guard.py DIR [DIR...]
"""

import os
import re
import sys

PEM_HEADER = re.compile(r"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----")
TOKEN = re.compile(r"00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{8,}")
CHUNK = 40
# The first ~600 base64 characters of a PKCS#8 RSA key are its public modulus, which the
# certificate (public) shares; only the private part after it identifies the key.
PUBLIC_PREFIX = 600


def key_chunks(pem: str):
    body = "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))
    private = body[PUBLIC_PREFIX:]
    return {private[i:i + CHUNK] for i in range(0, len(private) - CHUNK + 1, CHUNK)}


def known_chunks(root: str):
    chunks = set()
    secrets_dir = os.path.join(root, "known-secrets")
    if not os.path.isdir(secrets_dir):
        return chunks
    for name in os.listdir(secrets_dir):
        with open(os.path.join(secrets_dir, name), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for block in re.findall(r"-----BEGIN PRIVATE[ ]KEY-----.*?-----END PRIVATE KEY-----", text, re.DOTALL):
            chunks |= key_chunks(block)
    return chunks


def scan(root: str):
    chunks = known_chunks(root)
    hits = []
    files = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "known-secrets"]
        for name in filenames:
            path = os.path.join(dirpath, name)
            files += 1
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            squeezed = re.sub(r"\s+|\\n", "", text)
            for lineno, line in enumerate(text.splitlines(), 1):
                if PEM_HEADER.search(line):
                    hits.append(f"{path}:{lineno}: a private key block")
                if TOKEN.search(line):
                    hits.append(f"{path}:{lineno}: an access token")
            if any(c in squeezed for c in chunks):
                hits.append(f"{path}: part of a private key this test run created")
    return files, len(chunks), hits


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    total_files = total_chunks = 0
    all_hits = []
    for root in sys.argv[1:]:
        files, chunks, hits = scan(root)
        total_files += files
        total_chunks += chunks
        all_hits += hits
    if all_hits:
        print("leak guard: secrets found in test output:", file=sys.stderr)
        for h in all_hits:
            print(f"  {h}", file=sys.stderr)
        return 1
    print(f"leak guard: {total_files} files scanned for private keys, tokens and "
          f"{total_chunks} fragments of the run's own keys: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
