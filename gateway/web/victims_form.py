"""The referral intake / edit form of a victim registration: its fields, and turning them into the API's body.

The form is one page for both: name, language, mobile, email, postal address, channels in order
(four selects), the events wanted, address confidentiality with the substitute address, and the
followed cases (service, reference, offender's name): a row for each case followed, at least
`CASE_ROWS`, and "Add another case" (`add_case`, no script needed) posts the form back with one more
row, up to the API's MAX_CASES. The number of rows shown travels with the form (`case_rows`), so an
edit never drops a case the page did not show. `to_body` makes the same body the API takes, so the
same checks (`gateway.victims.registrations`) apply, and `problems` maps each error back to its field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.victims.kinds import ALL, GROUPS
from gateway.victims.registrations import MAX_CASES

CASE_ROWS = 3
CHANNEL_SLOTS = 4
TEXT = ("external_id", "first_name", "last_name", "preferred_name", "language", "phone", "email", "advocate")
AREAS = ("postal_address", "substitute_address")
LABELS = {
    "external_id": "Agency id for the victim",
    "first_name": "First name",
    "last_name": "Last name",
    "preferred_name": "Preferred name",
    "language": "Language",
    "phone": "Phone number",
    "email": "Email address",
    "postal_address": "Postal address",
    "substitute_address": "Substitute mailing address",
    "channels": "Channels",
    "events": "Events",
    "cases": "Cases followed",
    "advocate": "Advocate's email",
    "address_confidential": "Address confidentiality",
}
API_TO_FORM = {"phone_numbers": "phone", "email_addresses": "email"}
BLANK_CASE = {"service_id": "", "reference": "", "offender_name": ""}


def read_form(posted: Mapping[str, Any]) -> dict[str, Any]:
    form: dict[str, Any] = {name: str(posted.get(name, "")).strip() for name in (*TEXT, *AREAS)}
    form["channels"] = [str(posted.get(f"channel_{i}", "")) for i in range(1, CHANNEL_SLOTS + 1)]
    form["events"] = [g for g in (ALL, *GROUPS) if posted.get(f"event_{g}") == "yes"]
    form["address_confidential"] = posted.get("address_confidential") == "yes"
    form["cases"] = [
        {
            "service_id": str(posted.get(f"case_service_{i}", "")).strip(),
            "reference": str(posted.get(f"case_reference_{i}", "")).strip(),
            "offender_name": str(posted.get(f"case_offender_{i}", "")).strip(),
        }
        for i in range(1, _case_rows(posted.get("case_rows")) + 1)
    ]
    form["add_case"] = posted.get("add_case") == "yes"
    return form


def _case_rows(posted: Any) -> int:
    """How many case rows the page showed: its hidden `case_rows`, CASE_ROWS..MAX_CASES (CASE_ROWS when
    missing or not a number: a forged count can neither drop rows below the minimum nor read beyond the cap)."""
    text = str(posted or "").strip()
    if not (text.isascii() and text.isdigit()):
        return CASE_ROWS
    return MAX_CASES if len(text) > 3 else min(MAX_CASES, max(CASE_ROWS, int(text)))


def add_case_row(form: dict[str, Any]) -> bool:
    """One more blank case row ("Add another case"); False when the form already has MAX_CASES rows."""
    if len(form["cases"]) >= MAX_CASES:
        return False
    form["cases"].append(dict(BLANK_CASE))
    return True


def empty_form() -> dict[str, Any]:
    form = read_form({})
    form.update(language="en", events=[ALL])
    return form


def _lines(text: str) -> list[str] | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines or None


def to_body(form: Mapping[str, Any]) -> dict[str, Any]:
    """The API's registration body for the form (blank case rows left out)."""
    body: dict[str, Any] = {
        "first_name": form["first_name"],
        "last_name": form["last_name"],
        "preferred_name": form["preferred_name"] or None,
        "language": form["language"] or "en",
        "phone_numbers": [form["phone"]] if form["phone"] else [],
        "email_addresses": [form["email"]] if form["email"] else [],
        "postal_address": _lines(form["postal_address"]),
        "channels": [c for c in form["channels"] if c],
        "events": form["events"] or [ALL],
        "address_confidential": form["address_confidential"],
        "substitute_address": _lines(form["substitute_address"]),
        "cases": [c for c in form["cases"] if any(c.values())],
        "advocate": form["advocate"] or None,
    }
    return body


def from_view(view: Mapping[str, Any]) -> dict[str, Any]:
    """The form prefilled from the API's view of a registration (the edit page)."""
    form = empty_form()
    form.update(
        external_id=view.get("external_id") or "",
        first_name=view.get("first_name") or "",
        last_name=view.get("last_name") or "",
        preferred_name=view.get("preferred_name") or "",
        language=view.get("language") or "en",
        phone=(view.get("phone_numbers") or [""])[0],
        email=(view.get("email_addresses") or [""])[0],
        postal_address="\n".join(view.get("postal_address") or []),
        substitute_address="\n".join(view.get("substitute_address") or []),
        address_confidential=bool(view.get("address_confidential")),
        events=list(view.get("events") or [ALL]),
    )
    channels = list(view.get("channels") or [])
    form["channels"] = channels + [""] * (CHANNEL_SLOTS - len(channels))
    cases = list(view.get("cases") or [])  # every one: an edit must not drop a case the page did not show
    rows = min(MAX_CASES, max(CASE_ROWS, len(cases) + 1))  # and a blank row for one more, while room is left
    form["cases"] = [dict(c) for c in cases] + [dict(BLANK_CASE) for _ in range(rows - len(cases))]
    return form


def problems(errors: Mapping[str, str]) -> dict[str, str]:
    """The registration's errors (API field names) as sentences keyed by the form's fields."""
    out: dict[str, str] = {}
    for name, message in errors.items():
        base = name.split("[")[0].split(".")[0]
        field = API_TO_FORM.get(base, base)
        label = LABELS.get(field, field)
        where = name[len(base) :] if name != base else ""
        out.setdefault(field, f"{label}{where} {message}" if message[:1].islower() else f"{label}{where}: {message}")
    return out
