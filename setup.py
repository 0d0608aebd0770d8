"""Fill ``fastdrive/.mim`` so that ``mim train fastdrive <config>`` finds configs.

All metadata lives in setup.cfg. Like OpenMMLab packages, the installed
package carries its configs under ``fastdrive/.mim/configs`` (mim looks there
when the config path given to ``mim train`` does not exist relative to the
working directory) and the training/test scripts under
``fastdrive/.mim/tools``. Editable installs get symlinks into the source
tree; wheels and sdists get copies.
"""

import os
import os.path as osp
import shutil
import sys

from setuptools import setup

ROOT = osp.dirname(osp.abspath(__file__))
MIM_DIR = osp.join(ROOT, "fastdrive", ".mim")
# (path inside .mim, source path relative to the repository root)
MIM_ENTRIES = (("configs", "configs"), ("tools", osp.join("fastdrive", "tools")))


def _editable() -> bool:
    return any(cmd in sys.argv for cmd in ("develop", "editable_wheel"))


def fill_mim_dir() -> None:
    """Create ``fastdrive/.mim/{configs,tools}`` as symlinks or copies."""
    os.makedirs(MIM_DIR, exist_ok=True)
    use_links = _editable() and os.name != "nt"
    for name, src in MIM_ENTRIES:
        src_path = osp.join(ROOT, src)
        dst = osp.join(MIM_DIR, name)
        if not osp.exists(src_path):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if use_links:
            os.symlink(osp.relpath(src_path, MIM_DIR), dst, target_is_directory=True)
        else:
            shutil.copytree(src_path, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


fill_mim_dir()
setup()
