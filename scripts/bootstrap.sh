#!/usr/bin/env bash
# Install what is missing: Debian packages (PostgreSQL 15 + PostGIS + pgRouting) and the
# project's virtualenv. Safe to run again; it does nothing when everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL + PostGIS + pgRouting; Debian's Chromium for the admin's browser tests
# (Playwright drives /usr/bin/chromium; it never downloads a browser of its own).
APT_PACKAGES=(postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting osm2pgrouting
  chromium chromium-driver fonts-wqy-microhei)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
    echo "bootstrap: missing Debian packages: ${missing[*]} (run as root or install sudo)" >&2; exit 1
  fi
  echo "bootstrap: installing ${missing[*]}" >&2
  # Do not let the postgresql package create and start a system-wide default cluster.
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    "${sudo[@]}" mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | "${sudo[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bootstrap: Python 3.11 or newer is required ($PYTHON is $("$PYTHON" -V 2>&1))" >&2; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing Python packages into .venv" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>/dev/null || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
  .venv/bin/python -c 'import api, domain, geo, schema, admin' # fail loudly if the install broke
  rm -f .venv/.installed-* && touch "$stamp"
fi
