#!/bin/sh
# Build the sdist and, from it, the wheel; install the wheel alone (runtime
# dependencies only, from the package index) in a fresh venv; run the smoke test.
#
#   scripts/smoke_wheel.sh [BUILD_PYTHON] [VENV_PYTHON]
#
# BUILD_PYTHON needs the `build` package; VENV_PYTHON makes the fresh venv.
set -eu
build_python=${1:-.venv/bin/python}
venv_python=${2:-python3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# Without --sdist/--wheel, build makes the wheel from the sdist, so a file
# missing from the sdist fails here too.
if ! "$build_python" -m build --outdir "$work/dist" "$root" >"$work/build.log" 2>&1; then
    cat "$work/build.log"
    exit 1
fi
ls "$work"/dist/*.tar.gz "$work"/dist/*.whl >/dev/null
if ! tar tzf "$work"/dist/*.tar.gz | grep -q '^[^/]*/LICENSE$'; then
    echo "smoke: the sdist lacks LICENSE" >&2
    exit 1
fi

"$venv_python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$work"/dist/*.whl
# Run from the temp dir so the repository's agentkit cannot shadow the installed one.
cd "$work"
"$work/venv/bin/python" "$root/tests/smoke_wheel.py"
echo "smoke: built" $(cd dist && ls)
