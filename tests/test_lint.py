"""The code passes ruff with the configuration in pyproject.toml (pyflakes, pycodestyle, import order,
pyupgrade, bugbear, and no imports from Keras's private ``keras.src`` tree)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run([str(ruff), "check", "--no-cache", str(ROOT)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
