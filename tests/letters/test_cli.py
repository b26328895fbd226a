"""`gateway letters batch` and `gateway letters returned` as an operator runs them (a real subprocess)."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import gateway


def test_batch_with_nothing_to_print_and_a_missing_report(tmp_path: Path) -> None:
    assert gateway(tmp_path, "migrate").returncode == 0
    done = gateway(tmp_path, "letters", "batch", "--now")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no letters to print"
    missing = gateway(tmp_path, "letters", "returned", str(tmp_path / "none.csv"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    report = tmp_path / "returned.csv"
    report.write_text("notification_id\n7f6c2b0e-0000-4000-8000-000000000001\n")
    unknown = gateway(tmp_path, "letters", "returned", str(report))
    assert unknown.returncode == 1 and "0 returned, 0 unchanged, 1 not found" in unknown.stdout
