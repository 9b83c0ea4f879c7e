"""The built wheel carries everything an installed maildesk needs: the notice templates above all."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from maildesk.notify.render import builtin_dir

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_every_builtin_template(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    wheel, = tmp_path.glob("maildesk-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if "/data/share/maildesk/templates/" in n}
    assert shipped == {p.name for p in (ROOT / "templates").iterdir() if p.suffix in (".j2", ".md")}
    assert "maildesk/data/default.toml" in names and "maildesk/py.typed" in names


def test_an_installed_copy_finds_the_templates_the_wheel_installed(tmp_path):
    installed = tmp_path / "share" / "maildesk" / "templates"
    installed.mkdir(parents=True)
    assert builtin_dir(source=tmp_path / "no-checkout", installed=installed) == installed
    assert builtin_dir(source=ROOT / "templates", installed=installed) == ROOT / "templates"
