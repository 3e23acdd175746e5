#!/usr/bin/env python3
"""Wait until a background server has written its base URL, then print it.

For shell scripts that start the AWS launcher (or sf-emulator) in the background with stdout
redirected to a file:

    .venv/bin/python emulators/aws/launcher.py --listen 127.0.0.1:0 --state-dir .demo/aws \\
        >.emulators/aws.out 2>.emulators/aws.log &
    echo $! >.emulators/aws.pid
    AWS_URL=$(.venv/bin/python emulators/aws/wait_url.py .emulators/aws.out --pid $! --timeout 60)

Exits 0 after printing the first line of FILE once it is a complete ``http://`` line; exits 1
if the timeout passes, or if --pid is given and that process ends first. Standard library only.
"""

import argparse
import os
import sys
import time


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still "exists"; treat a defunct child as dead.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def first_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            line = fh.readline()
    except FileNotFoundError:
        return ""
    return line if line.endswith("\n") else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="the file the server's stdout goes to")
    parser.add_argument("--pid", type=int, help="give up if this process ends")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        line = first_line(args.file).strip()
        if line:
            if not line.startswith("http://"):
                print(f"wait_url: first line of {args.file} is not a URL: {line[:200]!r}", file=sys.stderr)
                return 1
            print(line)
            return 0
        if args.pid is not None and not alive(args.pid):
            print(f"wait_url: process {args.pid} ended before writing a URL to {args.file}", file=sys.stderr)
            return 1
        time.sleep(0.1)
    print(f"wait_url: no URL in {args.file} after {args.timeout:g}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
