"""tests/browser/ensure_chromium.py: what `make test` does about a missing Chromium."""
from tests.browser import ensure_chromium


def fake_browser(path):
    path.write_text("#!/bin/sh\necho 'Chromium 1.0'\n")
    path.chmod(0o755)
    return path


def test_nudge_chromium_is_the_only_place_looked_at(tmp_path, monkeypatch):
    monkeypatch.setenv("NUDGE_CHROMIUM", str(fake_browser(tmp_path / "chromium")))
    assert ensure_chromium.find_chromium() == str(tmp_path / "chromium")
    monkeypatch.setenv("NUDGE_CHROMIUM", str(tmp_path / "missing"))
    assert ensure_chromium.find_chromium() is None  # even where /usr/bin/chromium exists


def test_without_a_chromium_it_tries_to_install_then_stops_with_one_sentence(tmp_path, monkeypatch,
                                                                               capsys):
    tried = []
    monkeypatch.setattr(ensure_chromium, "_attempt", lambda what, command: tried.append(command))
    monkeypatch.setenv("NUDGE_CHROMIUM", str(tmp_path / "missing"))
    assert ensure_chromium.main() == 1
    assert tried[0][-3:] == ["playwright", "install", "chromium"]
    assert capsys.readouterr().err == ensure_chromium.NOT_FOUND + "\n"  # that line and nothing else
    assert "\n" not in ensure_chromium.NOT_FOUND and "install" in ensure_chromium.NOT_FOUND


def test_it_stops_at_the_first_install_that_gives_a_working_chromium(tmp_path, monkeypatch):
    browser = tmp_path / "chromium"
    tried = []

    def install(what, command):
        tried.append(command)
        fake_browser(browser)
        return True

    monkeypatch.setattr(ensure_chromium, "_attempt", install)
    monkeypatch.setenv("NUDGE_CHROMIUM", str(browser))
    assert ensure_chromium.ensure_chromium() == str(browser)
    assert len(tried) == 1
