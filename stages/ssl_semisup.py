"""DVC stage 'ssl_semisup': all it does is in rotnet/stages/ssl_semisup.py; `python stages/ssl_semisup.py --help`."""

import sys
from pathlib import Path

# Run this checkout's package, the code dvc.lock hashes, even if another copy is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rotnet.stages.ssl_semisup import main

if __name__ == "__main__":
    main()
