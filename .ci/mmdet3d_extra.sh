#!/usr/bin/env bash
# CI for the optional `mmdet3d` extra: mmcv 2.1.0 (compiled CPU ops), mmdet 3.3.0, mmdet3d 1.4.0
# in their own virtual environment, then the integration tests (tests/integration, -m integration).
#
# The mmcv wheel is built once (10-20 min on 2 cores) and cached in $FASTDRIVE_WHEELS
# (default ~/.cache/fastdrive-wheels); later runs reuse it while it still imports against this torch.
# Exit status: pytest's (0 pass, 1 failures); 1 also when the extra cannot be installed or
# pytest collects nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
# Outside the checkout (nothing to git-ignore) and kept between runs, like the wheel cache.
VENV=${MMDET3D_VENV:-$HOME/.cache/fastdrive/venv-mmdet3d}
WHEELS=${FASTDRIVE_WHEELS:-$HOME/.cache/fastdrive-wheels}
MMCV_VERSION=2.1.0
mkdir -p "$WHEELS"

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
VENV=$(cd "$VENV" && pwd)
PIP="$VENV/bin/pip"
"$PIP" install -q "setuptools<81" wheel "numpy<2" torch==2.14.1 torchvision==0.29.1

mmcv_ops_ok() { "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" >/dev/null 2>&1; }

build_mmcv() {
    echo "building mmcv $MMCV_VERSION with CPU ops (takes 10-20 min) ..."
    # mmcv 2.1's setup.py compiles with -std=c++17, torch >= 2.10's headers need C++20:
    # a compiler wrapper appends -std=c++20 (the last -std wins). No source is edited.
    local tmp
    tmp=$(mktemp -d)
    printf '#!/bin/sh\nexec %s "$@" -std=c++20\n' "${CXX:-g++}" > "$tmp/cxx20"
    chmod +x "$tmp/cxx20"
    command -v ninja >/dev/null || "$PIP" install -q ninja  # parallel compile (MAX_JOBS)
    rm -f "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl
    PATH="$VENV/bin:$PATH" CXX="$tmp/cxx20" MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-2}" \
        "$PIP" wheel -q --no-build-isolation --no-deps "mmcv==$MMCV_VERSION" -w "$WHEELS"
    rm -rf "$tmp"
}

install_mmcv() {  # with its dependencies (mmengine, ...), replacing any installed mmcv
    "$PIP" install -q "$1"
    "$PIP" install -q --force-reinstall --no-deps "$1"
}

if ! mmcv_ops_ok; then
    whl=$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
    if [ -n "$whl" ]; then
        echo "reusing cached $whl"
        install_mmcv "$whl"
    fi
    if ! mmcv_ops_ok; then  # no cached wheel, or one built against another torch
        build_mmcv
        install_mmcv "$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)"
    fi
fi
mmcv_ops_ok || { echo "mmcv $MMCV_VERSION with ops does not import in $VENV" >&2; exit 1; }

# The project with both extras; mmcv==2.1.0 is already satisfied by the wheel above.
"$PIP" install -q ".[dev,mmdet3d]"
"$VENV/bin/python" -c "import mmdet3d.datasets, fastdrive.datasets.transforms" || {
    echo "the mmdet3d extra is installed but does not import" >&2; exit 1; }

set +e
"$VENV/bin/python" -m pytest -q -rs -m integration tests/integration
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no integration tests (exit 5)" >&2
    exit 1
fi
exit "$rc"
