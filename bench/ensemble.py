"""Start a ZooKeeper ensemble on loopback from the installed jars and print its connect string.

    .venv/bin/python bench/ensemble.py [--size 3] [--dir DIR]

Prints one JSON object (``hosts``, and each member's ports and data dir), then runs until its
standard input closes or it gets SIGTERM/SIGINT, and stops every member. For trying a team
against an ensemble by hand (``-z`` / ``ZK_HOSTS`` take the whole string) and for benches.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.ensemble import ZkEnsemble


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="data dirs (default: a temp dir)")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="co-ensemble-"))
    ensemble = ZkEnsemble(root, size=args.size, tick_ms=2000)
    ensemble.start()
    done = threading.Event()

    def stop(_sig: int, _frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def until_eof() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=until_eof, daemon=True).start()
    members = [{"hosts": m.hosts, "data_dir": str(m.data_dir)} for m in ensemble.members]
    print(json.dumps({"hosts": ensemble.hosts, "members": members}, indent=2), flush=True)
    try:
        done.wait()
    finally:
        ensemble.stop()


if __name__ == "__main__":
    main()
