"""Import benchmark: 100,000 people and their cases through `gateway import`, on SQLite and PostgreSQL.

A fresh database and service with 20 officers; CSVs generated in a temporary folder (each person
with a mobile number and an email address, consent recorded; each case with a client, an officer,
a program and tags). `gateway import people` then `gateway import cases` run as child processes;
a second run of the people file measures the no-change path (every row compared, nothing written), and a
third, with every last name changed, the path where every row is compared whole and written.

Prints, per run: wall time, the child's CPU time and peak RSS (its own rusage, from wait4). Target: the whole
import of 100,000 people and their cases within 60 s and 400 MB on this 2-core machine.

    .venv/bin/python bench/import.py [--people 100000] [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import ROOT, database, free_port, gateway, gateway_env, postgres_available

OFFICERS = 20


def write_csvs(folder: Path, people: int) -> tuple[Path, Path]:
    people_path, cases_path = folder / "people.csv", folder / "cases.csv"
    with people_path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(
            [
                *("external_id", "first_name", "last_name", "language", "timezone", "phone_numbers"),
                *("email_addresses", "address_line_1", "address_line_2", "preferred_channels"),
                *("sms_consent", "sms_consent_source", "sms_consent_at"),
            ]
        )
        for i in range(people):
            out.writerow(
                [
                    *(f"P-{i:07d}", "Pat", f"Number{i}", "es" if i % 5 == 0 else "en", "America/Chicago"),
                    *(f"+1312{2000000 + i:07d}", f"pat.{i}@example.org", f"{i} Main St", "Chicago IL 60601"),
                    *("sms;email", "yes", "intake-form", "2026-11-02T15:00:00Z"),
                ]
            )
    with cases_path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["reference", "client", "assigned_to", "status", "program", "office", "tags", "supervision_level"])
        for i in range(people):
            out.writerow(
                [
                    *(f"CR-{i:07d}", f"P-{i:07d}", f"officer{i % OFFICERS}@bench.example", "open", "CBT"),
                    *("North", f"cohort-{i % 7};parole", "medium"),
                ]
            )
    return people_path, cases_path


def timed(env: dict[str, str], *args: str) -> tuple[float, float, float, str]:
    """Run `gateway ARGS` as a child: (seconds, its CPU seconds, its peak RSS in MB, last line of output).
    CPU time is the fairer figure on a shared machine: wall time grows with everyone else's load."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdout is not None
    out = process.stdout.read()
    _, wait_status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not every child's
    process.returncode = status = os.waitstatus_to_exitcode(wait_status)
    seconds = time.perf_counter() - started
    peak = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime
    if status != 0:
        raise RuntimeError(f"gateway {' '.join(args)} exited {status}: {out.decode()[-500:]}")
    return seconds, cpu, peak, out.decode().strip().splitlines()[-1]


def run(kind: str, people: int) -> None:
    with database(kind) as url, tempfile.TemporaryDirectory(prefix="gw-import-") as tmp:
        env = gateway_env(url, free_port())
        gateway(env, "migrate")
        service = gateway(env, "service", "create", f"Import bench {kind}").split()[-1]
        setup = (
            "import asyncio, uuid\n"
            "from gateway.db import StaffUser\n"
            "from gateway.db.engine import make_engine, session_factory\n"
            "async def main():\n"
            f"    engine = make_engine({url!r})\n"
            "    async with session_factory(engine)() as db:\n"
            f"        for i in range({OFFICERS}):\n"
            f"            db.add(StaffUser(service_id=uuid.UUID({service!r}), email=f'officer{{i}}@bench.example',"
            " name=f'Officer {i}', roles=['officer']))\n"
            "        await db.commit()\n"
            "    await engine.dispose()\n"
            "asyncio.run(main())\n"
        )
        subprocess.run([sys.executable, "-c", setup], env=env, cwd=ROOT, check=True)
        people_csv, cases_csv = write_csvs(Path(tmp), people)
        renamed_csv = Path(tmp) / "renamed.csv"
        renamed_csv.write_text(people_csv.read_text().replace(",Number", ",Renamed"))
        total = 0.0
        for label, args in (
            ("people", ("import", "people", str(people_csv), "--service", service, "--quiet")),
            ("cases", ("import", "cases", str(cases_csv), "--service", service, "--quiet")),
            ("people again (no change)", ("import", "people", str(people_csv), "--service", service, "--quiet")),
            ("people again (all renamed)", ("import", "people", str(renamed_csv), "--service", service, "--quiet")),
        ):
            seconds, cpu, peak, last = timed(env, *args)
            if label in ("people", "cases"):
                total += seconds
            line = f"{kind:8} {label:26} {seconds:6.1f} s (CPU {cpu:5.1f} s)  peak RSS {peak:5.0f} MB  | {last}"
            print(line, flush=True)
        print(f"{kind:8} {'people + cases':26} {total:6.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "postgres" and not postgres_available():
            print("postgres: not reachable, skipped")
            continue
        run(kind, args.people)


if __name__ == "__main__":
    main()
