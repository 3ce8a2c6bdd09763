#!/usr/bin/env bash
# The light install on Python 3.13: `pip install .` (no extras) in a fresh venv. Needs the full
# install's venv active (it writes the test clip and the reference table). Usage: light.sh WORKDIR
set -euo pipefail
cd "$(dirname "$0")/.."
work="$1"
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg

# python3.13 on PATH (a pyenv shim there may refuse to run it: checked by running it), else the
# newest 3.13 that pyenv has.
py313=""
if python3.13 -c "" 2>/dev/null; then
    py313="$(command -v python3.13)"
elif command -v pyenv >/dev/null; then
    for p in "$(pyenv root)"/versions/3.13*/bin/python3.13; do [ -x "$p" ] && py313="$p"; done
fi
[ -n "$py313" ] || { echo "light install: no python3.13 on PATH or in pyenv" >&2; exit 1; }

light="$work/light313"
"$py313" -m venv "$light"
echo "+ (python 3.13) pip install ."
"$light/bin/pip" install -q .
echo "light install: $(du -sh "$light" | cut -f1) ($("$light/bin/python" --version), numpy $("$light/bin/python" -c 'import numpy; print(numpy.__version__)'))"
if "$light/bin/python" -c "import torch" 2>/dev/null; then
    echo "light install: torch is importable, but no extra was asked for" >&2
    exit 1
fi

# The same clip through both installs: same faces, probabilities within 1e-3.
clip="$work/light_clip.mp4"
python -c "import sys; sys.path.insert(0, 'tests'); from helpers.face_video import write_video; write_video(sys.argv[1], 60, faces=2)" "$clip"
vnaw predict "$clip" --out "$work/full_out" --quiet
(cd "$work" && "$light/bin/vnaw" predict "$clip" --out "$work/light_out" --quiet)
python - "$work/full_out/light_clip.csv" "$work/light_out/light_clip.csv" <<'PY'
import sys

import numpy as np
import pandas as pd

from vnaw.labels import CLASSES

full, light = (pd.read_csv(p) for p in sys.argv[1:])
assert len(full) == len(light), (len(full), len(light))
assert (full[["track", "frame", "face_found"]] == light[["track", "frame", "face_found"]]).all().all()
diff = np.nanmax(np.abs(full[list(CLASSES)].to_numpy() - light[list(CLASSES)].to_numpy()))
assert diff <= 1e-3, diff
print(f"light install: same table as the full install ({len(full)} rows, probabilities within {diff:.1e})")
PY

# The inference tests in the light install (pytest, and scikit-image for the test clips).
"$light/bin/pip" install -q pytest scikit-image
echo "+ (light install) pytest tests/inference tests/faces tests/cli"
# (src/ is not on the path: the tests import the installed package)
"$light/bin/python" -m pytest -q -p no:cacheprovider tests/inference tests/faces tests/cli
