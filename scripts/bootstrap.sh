#!/usr/bin/env bash
# Install everything aptcatch needs into ./.venv, plus the few Debian packages it relies on:
#   7zip        - the 7zz tool rarfile uses to extract RAR archives
#   unar        - decrypts password-protected RAR members for rarfile (7zip in Debian main has no RAR codec)
#   libchm-dev  - CHM library that the pychm binding compiles against
#   openjdk-17-jre-headless - the Java runtime PySpark needs for `aptcatch hunt --engine spark`
#                 (skipped when a Java 17+ is already on PATH)
# Idempotent: re-running only reinstalls when pyproject.toml, setup.py or the C accelerator changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
DEB_PKGS=(7zip unar libchm-dev)
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1 || true)
if [ -z "$java_major" ] || [ "$java_major" -lt 17 ]; then
  DEB_PKGS+=(openjdk-17-jre-headless)
fi

missing=()
for pkg in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "bootstrap: please install ${missing[*]} (or their equivalents) with your package manager" >&2
    exit 1
  fi
fi

"$PY" - <<'PYCHECK'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"aptcatch needs Python >= 3.11, found {sys.version.split()[0]}")
PYCHECK

[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.aptcatch-installed
# setup.py and the C sources too: a changed accelerator (readers/_winfast*.c, _winfast.h) is rebuilt in place
want=$(sha256sum pyproject.toml setup.py src/aptcatch/hunt/readers/_winfast*.[ch] | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing aptcatch and its dependencies into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' >&2 || true
  .venv/bin/python -c "import aptcatch, chm.chm, yara_x, oletools" || { echo "bootstrap: install failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
