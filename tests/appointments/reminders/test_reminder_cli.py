"""`gateway reminders show | set | reset` as an operator runs them: a subprocess on a migrated SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import gateway


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reminders-home")
    assert gateway(path, "migrate").returncode == 0
    return path


def test_show_set_and_reset_a_plan(home: Path) -> None:
    service = gateway(home, "service", "create", "Reminder office").stdout.strip()
    shown = gateway(home, "reminders", "show", service).stdout.splitlines()
    assert shown[3].split()[:2] == ["court_hearing", "7d,"] and "New York City 2020" in shown[3]

    bad = gateway(home, "reminders", "set", service, "court_hearing", "7d, 90m, 2x")
    assert bad.returncode == 2 and 'step 3: "before" must be a number and d, h or m' in bad.stderr
    done = gateway(home, "reminders", "set", service, "court_hearing", "2d, 0d@07:00")
    assert done.returncode == 0 and done.stdout.strip() == "court_hearing: 2d, 0d@07:00"
    assert "court_hearing  2d, 0d@07:00           own plan" in gateway(home, "reminders", "show", service).stdout

    assert gateway(home, "reminders", "reset", service, "court_hearing").returncode == 0
    assert "court_hearing  7d, 1d, 0d@08:00" in gateway(home, "reminders", "show", service).stdout
    assert (
        gateway(home, "reminders", "set", service, "tea_party", "1d")
        .stderr.strip()
        .endswith(
            "'tea_party' is not a kind of appointment (office_visit, drug_test, group_session, court_hearing, "
            "job_interview, workshop, other)"
        )
    )
