"""The wheel: built from the source alone, installed into a fresh virtual environment
(its dependencies taken from this one, as installed), it archives and verifies a page; it
ships every file the package needs and none of the test stand-ins."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from custody.testing.site import Page, SiteServer

ROOT = Path(__file__).parent.parent


def test_the_wheel_installs_and_archives(tmp_path: Path) -> None:
    tree = tmp_path / "tree"  # (a copy: building in place would leave build/ behind)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, tree / name if tree.exists() else _mkdir(tree) / name)
    shutil.copytree(ROOT / "src", tree / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(dist), str(tree)], check=True,
                   capture_output=True)
    wheel = next(dist.glob("custody-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not [n for n in names if n.startswith("custody/testing/")]
    shipped = {str(p.relative_to(ROOT / "src")) for p in (ROOT / "src" / "custody").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
               and "testing" not in p.relative_to(ROOT / "src" / "custody").parts[:1]}
    assert shipped <= names, sorted(shipped - names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    # the dependencies as this environment has them, not custody itself: a path in a .pth
    # file is added as it is, its own .pth files (the editable install's) not read
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--ignore-installed", str(wheel)], check=True, capture_output=True)
    where = subprocess.run([str(python), "-c", "import custody; print(custody.__file__)"],
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site)), where
    missing = subprocess.run([str(python), "-c", "import custody.testing"], capture_output=True)
    assert missing.returncode != 0

    custody = str(venv / "bin" / "custody")
    env = dict(os.environ, CUSTODY_ROOT=str(tmp_path / "evidence"),
               CUSTODY_KEY=str(tmp_path / "key" / "id_ed25519"))
    env.pop("CUSTODY_KEY_PASSPHRASE", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([custody, *args], env=env, capture_output=True, text=True,
                              timeout=120)

    assert run("--help").returncode == 0
    assert run("init", "--no-tsa", "--operator", "wheel@example.org").returncode == 0
    page = Page("<html><head><title>Статья</title></head><body><p>Текст заявления, "
                "который мы сохраняем.</p></body></html>".encode(), "text/html; charset=utf-8")
    with SiteServer({"/": page}) as site_server:
        archived = run("archive", site_server.url + "/")
    assert archived.returncode == 0, archived.stderr
    verified = run("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    found = run("search", "заявление")
    assert found.returncode == 0 and site_server.url in found.stdout, found.stdout


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path
