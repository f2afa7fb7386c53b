"""Run custody's main job on the bundled sample site, printing each command and its output.

    ./scripts/demo                      archive the sample site (served on loopback)
    ./scripts/demo https://example.org  archive your own URLs instead
    ./scripts/demo --sample             rebuild the committed sample archive (archive/, manifests/)

Everything goes into a scratch folder, .demo/, with a key made for the demo: your own
custody key and archives are not touched. A local time-stamping authority (`openssl ts`
on loopback, as in the tests) stands in for a public one; at the end the demo runs the
commands the evidence bundle's VERIFY.md gives, as written, with standard tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from custody.seal.bundle import verify_commands
from custody.testing.site import SiteServer, build_site
from custody.testing.tsa import LocalTSA

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "data" / "seeds"

CUSTODY = str(REPO / ".venv" / "bin" / "custody")
DEMO_KEY = REPO / "tests" / "data" / "demo-key" / "id_ed25519"
SAMPLE_PAGES = ["/", "/en.html", "/fa.html", "/ru.html", "/letter.html", "/labour.html",
                "/signatories.html", "/old", "/missing.html"]


def run(*args: str, env: dict[str, str], show: bool = True) -> int:
    if show:
        print(f"$ custody {' '.join(args)}", flush=True)
    proc = subprocess.run([CUSTODY, *args], env=env, text=True, capture_output=True)
    out = (proc.stdout + proc.stderr).rstrip()
    if show and out:
        print(out)
    if show:
        print(flush=True)
    return proc.returncode


def demo(urls: list[str]) -> int:
    scratch = REPO / ".demo"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    env = dict(os.environ, CUSTODY_KEY=str(scratch / "demo_key"),
               CUSTODY_ROOT=str(scratch / "evidence"))
    env.pop("CUSTODY_KEY_PASSPHRASE", None)
    print(f"# scratch archive: {scratch / 'evidence'}  (key: {scratch / 'demo_key'})\n")
    with SiteServer(build_site(SEEDS)) as site, LocalTSA(scratch / "tsa") as authority:
        targets = urls or [site.url + p for p in SAMPLE_PAGES]
        if not urls:
            print(f"# the sample site is served at {site.url}")
        print(f"# a local time-stamping authority at {authority.url}; its root certificate is "
              "the archive's tsa-roots.pem\n")
        run("init", "--operator", "demo@custody.invalid", "--tsa", authority.url,
            "--tsa-roots", str(authority.root_pem), env=env)
        archived = run("archive", *targets, env=env)
    verified = run("verify", env=env)
    run("query", "select status_code, content_type, url from resources order by url", env=env)
    run("query", "select language, charset, title from documents order by url", env=env)
    run("search", "massacre", env=env)
    run("search", "کشتار", env=env)
    run("search", "--lang", "fa", "مسئولیت", env=env)  # the letter, in Arabic letter forms
    capture_id = next((scratch / "evidence" / "manifests").glob("*.json")).stem
    run("show", capture_id, env=env)
    run("ledger", "checkpoint", env=env)
    run("bundle", capture_id, "-o", str(scratch / "bundle"), env=env)
    run("log", env=env)
    checked = run_bundle_commands(scratch / "bundle")
    print("# exit codes: archive", archived, "verify", verified, "bundle commands", checked)
    if verified != 0:
        return verified
    if checked != 0:
        return checked
    return 0 if archived in (0, 5) else archived


def run_bundle_commands(bundle: Path) -> int:
    """Run VERIFY.md's commands in the bundle, as a partner would; the first failure's
    exit code, or 0."""
    print(f"# the bundle's VERIFY.md, run as written in {bundle} (custody is not used):\n")
    env = dict(os.environ, PATH=f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    failed = 0
    for command in verify_commands((bundle / "VERIFY.md").read_text(encoding="utf-8")):
        print(f"$ {command}", flush=True)
        proc = subprocess.run(["/bin/sh", "-c", command], cwd=bundle, env=env, text=True,
                              capture_output=True)
        lines = (proc.stdout + proc.stderr).rstrip().splitlines()
        if len(lines) > 12:  # warcio check -v names every record
            lines = [*lines[:8], f"  ... ({len(lines) - 8} more lines)"]
        if lines:
            print("\n".join(lines))
        print(flush=True)
        failed = failed or proc.returncode
    return failed


def rebuild_sample() -> int:
    """Write the committed sample (archive/, manifests/, allowed_signers) at the repo root."""
    for name in ("archive", "manifests", "allowed_signers", "custody.db"):
        target = REPO / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "id_ed25519"
        shutil.copyfile(DEMO_KEY, key)
        key.chmod(0o600)
        env = dict(os.environ, CUSTODY_KEY=str(key), CUSTODY_ROOT=str(REPO))
        env.pop("CUSTODY_KEY_PASSPHRASE", None)
        with SiteServer(build_site(SEEDS)) as site:
            run("init", "--operator", "demo@custody.invalid", "--no-tsa", env=env)
            run("archive", *[site.url + p for p in SAMPLE_PAGES], env=env)
        code = run("verify", env=env)
    (REPO / "custody.db").unlink(missing_ok=True)
    for extra in REPO.glob(".custody*.lock"):
        extra.unlink()
    return code


def main(argv: list[str]) -> int:
    if argv[:1] == ["--sample"]:
        return rebuild_sample()
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    return demo(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
