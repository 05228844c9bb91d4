"""Check that the installed packages are the locked versions: ``python requirements/check_lock.py``.

Reads ``requirements/lock.txt`` (``name==version`` lines, written by ``make lock``) and compares
each pin with the version installed in the running interpreter. Packages the lock lists but the
platform does not install (the CUDA wheels on a machine without them) are reported, not failed,
since pip skips them by their markers. Exits 1 on any installed version that differs.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

LOCK = Path(__file__).with_name("lock.txt")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def main() -> int:
    pins = [m.groups() for line in LOCK.read_text().splitlines() if (m := PIN.match(line))]
    wrong, absent = [], []
    for name, version in pins:
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            absent.append(name)
            continue
        if installed != version:
            wrong.append(f"{name} {installed} (locked {version})")
    if absent:
        print(f"lock: not installed on this platform: {', '.join(absent)}")
    if wrong:
        print(f"lock: {len(wrong)} installed versions differ from {LOCK}: {'; '.join(wrong)}")
        return 1
    print(f"lock: {len(pins) - len(absent)} installed packages are the locked versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
