"""Find the Chromium the browser tests drive, and install one when there is none.

`make test` runs this file before pytest: it looks for a Chromium, tries
`playwright install chromium`, then (as root) the system's `apt-get install
chromium`, and when all fail it stops with one sentence saying what to
install, instead of letting every browser test end in the same error.
tests/conftest.py launches what `find_chromium()` returns.

NUDGE_CHROMIUM, when set, is the only place looked at (a run never silently
drives another browser than the one asked for).
"""
import os
import shutil
import subprocess
import sys

ENV_VAR = "NUDGE_CHROMIUM"
SYSTEM_CHROMIUM = "/usr/bin/chromium"
NOT_FOUND = ("No Chromium for the browser tests: install one with `apt-get install chromium` "
             "or `.venv/bin/python -m playwright install chromium`, or set NUDGE_CHROMIUM to its path.")


def _executable(path) -> str | None:
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return str(path)
    return None


def _playwright_chromium() -> str | None:
    """The browser `playwright install chromium` put in its cache, if it did."""
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            return _executable(pw.chromium.executable_path)
    except Exception:  # no playwright, or its driver cannot start: no browser from there
        return None


def find_chromium() -> str | None:
    """The Chromium to launch: $NUDGE_CHROMIUM, else /usr/bin/chromium, chromium on
    PATH, or Playwright's own; None when there is none."""
    if os.environ.get(ENV_VAR):
        return _executable(os.environ[ENV_VAR])
    return (_executable(SYSTEM_CHROMIUM)
            or _executable(shutil.which("chromium"))
            or _executable(shutil.which("chromium-browser"))
            or _playwright_chromium())


def _usable(path: str | None) -> str | None:
    """A browser that cannot even print its version (missing libraries) is no browser."""
    if path is None:
        return None
    try:
        ran = subprocess.run([path, "--version"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if ran.returncode == 0 else None


def _attempt(what: str, command: list[str]) -> bool:
    print(f"ensure-chromium: trying `{' '.join(command)}` ({what})", flush=True)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"ensure-chromium:   failed: {exc}", flush=True)
        return False
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        # Playwright and apt-get both say why on a line of their own ("Error: ...", "E: ...").
        why = next((line for line in lines if line.startswith(("Error", "E:"))), lines[-1] if lines else "")
        print(f"ensure-chromium:   failed (exit {done.returncode}): {why}", flush=True)
    return done.returncode == 0


def ensure_chromium() -> str | None:
    """The Chromium to launch, installing one first when there is none; None if that failed."""
    found = _usable(find_chromium())
    if found:
        return found
    print("ensure-chromium: no Chromium found for the browser tests", flush=True)
    attempts = [("Playwright's own build", [sys.executable, "-m", "playwright", "install", "chromium"])]
    if shutil.which("apt-get") and os.geteuid() == 0:
        install = ["apt-get", "install", "-y", "-q", "chromium"]
        attempts += [("the system package", install),
                     # A fresh machine (or container) often has no package lists yet.
                     ("package lists", ["apt-get", "update", "-q"]),
                     ("the system package, after apt-get update", install)]
    for what, command in attempts:
        if _attempt(what, command):
            found = _usable(find_chromium())
            if found:
                return found
    return None


def main() -> int:
    if ensure_chromium() is None:
        print(NOT_FOUND, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
