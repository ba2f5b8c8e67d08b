# Sourced by scripts/test and scripts/demo: find Python >= 3.11, create .venv, install rbsync.
# Usage: rbsync_venv EXTRAS   (EXTRAS is "" for the runtime, "dev" for the test suite)
rbsync_find_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "rbsync needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

rbsync_venv() {
    local extras="$1" spec="." stamp
    [ -n "$extras" ] && spec=".[$extras]"
    if [ ! -x .venv/bin/python ]; then
        local py
        py=$(rbsync_find_python) || exit 1
        "$py" -m venv .venv
        .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    fi
    # Re-install only when pyproject.toml changed since the last install of these extras.
    stamp=".venv/.rbsync-installed-${extras:-runtime}"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install -q -e "$spec"
        touch "$stamp"
    fi
}
