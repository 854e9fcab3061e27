#!/usr/bin/env bash
# Creates the repository's Python virtualenv (.python-venv) with the official AgentWrit Python
# SDK, used only by the dev broker's interop tests. Idempotent: exits at once when the venv
# already holds the pinned SDK version.
set -euo pipefail
cd "$(dirname "$0")/.."

SDK_VERSION="0.3.0"
VENV=".python-venv"
PY="$VENV/bin/python"

if [ -x "$PY" ] && "$PY" -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('agentwrit') == '$SDK_VERSION' else 1)" >/dev/null 2>&1; then
  exit 0
fi

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "setup-python: $PYTHON not found; install Python 3.10+ to run the SDK interop tests" >&2
  exit 1
fi

if [ ! -x "$PY" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$PY" -m pip install --disable-pip-version-check --quiet "agentwrit==$SDK_VERSION"
"$PY" -c "import agentwrit; print('setup-python: agentwrit', agentwrit.__version__, 'ready in $VENV')"
