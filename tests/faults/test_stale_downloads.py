"""Downloads: a killed download leaves its temporary `.part` file (its cleanup never runs);
the next download of the same file removes it, and never one still being written."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rotnet.data import cifar

GOOD = b"the official bytes" * 1000
MD5 = hashlib.md5(GOOD, usedforsecurity=False).hexdigest()

# A download that writes half the file, then hangs until it is killed.
HANGING = """
import sys, time
from pathlib import Path
from rotnet.data import cifar

def hang(url, root, filename):
    with open(Path(root) / filename, "wb") as f:
        f.write(b"half a file")
        f.flush()
        time.sleep(120)

cifar.download_url = hang
cifar.download_verified("https://example.invalid/a.tar.gz", Path(sys.argv[1]), "0" * 32)
"""


def test_a_killed_downloads_part_file_is_removed_by_the_next_download(tmp_path, monkeypatch):
    target = tmp_path / "raw" / "a.tar.gz"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", HANGING, str(target)], cwd=root)
    part = target.parent / f".{target.name}.{proc.pid}.part"
    deadline = time.monotonic() + 60
    while not (part.is_file() and part.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert part.is_file(), "the hanging download never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert part.is_file() and not target.exists()  # what kill -9 leaves behind

    # Another download of the same file is running in a live process: its part stays.
    live = target.parent / f".{target.name}.{os.getppid()}.part"
    live.write_bytes(b"in progress")
    monkeypatch.setattr(cifar, "download_url", lambda url, root, name: (Path(root) / name).write_bytes(GOOD))
    cifar.download_verified("https://example.invalid/a.tar.gz", target, MD5)
    assert target.read_bytes() == GOOD
    assert not part.exists() and live.read_bytes() == b"in progress"
    assert sorted(p.name for p in target.parent.iterdir()) == sorted([target.name, live.name])
