"""Check the template files before they reach anyone: parse, render with sample data, compare languages.

`check_templates` is what CI and `gateway` start-up scripts run. Problems are things that
would fail or mislead at send time; warnings are things a person should look at (a long
SMS that costs several fragments, a template with no version in another language).
`main` is the command-line entry point for the `gateway` CLI to call.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway.domain import Channel
from gateway.templating.catalog import TemplateFile, scan_catalog
from gateway.templating.render import Renderer, TemplateRenderError

MAX_SMS_FRAGMENTS = 3
# The letter renderer prints the address block itself, placed for a window envelope.
ADDRESS_PLACEHOLDERS = frozenset(f"address_line_{n}" for n in range(1, 8))
REFERENCE_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Problems (must be fixed) and warnings (worth a look), each line naming the file."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def sample_personalisation(names: Iterable[str]) -> dict[str, str]:
    """A value for each placeholder, e.g. ``first_name`` -> ``"Sample first_name"``."""
    return {name: f"Sample {name}" for name in names}


def _placeholders(renderer: Renderer, template: TemplateFile) -> frozenset[str]:
    names = renderer.placeholders(template.body)
    if template.subject is not None:
        names |= renderer.placeholders(template.subject)
    return names


def _check_one(renderer: Renderer, template: TemplateFile, result: CheckResult) -> None:
    names = _placeholders(renderer, template)
    if template.channel is Channel.LETTER and names & ADDRESS_PLACEHOLDERS:
        used = ", ".join(sorted(names & ADDRESS_PLACEHOLDERS))
        result.problems.append(
            f"{template.path}: letters get their address block from the letter renderer; remove {used}"
        )
    try:
        rendered = renderer.render(template, sample_personalisation(names))
    except TemplateRenderError as exc:
        result.problems.append(f"{template.path}: {exc.message}")
        return
    if template.channel is Channel.SMS and rendered.fragments > MAX_SMS_FRAGMENTS:
        result.warnings.append(
            f"{template.path}: with sample data this SMS is {rendered.fragments} fragments "
            f"({rendered.characters} {rendered.encoding} characters); more than {MAX_SMS_FRAGMENTS} "
            "costs more and some phones show it split"
        )


def _compare_languages(renderer: Renderer, catalog: Sequence[TemplateFile], result: CheckResult) -> None:
    # Callers send the same personalisation whatever the recipient's language, so every
    # language version of a template must ask for exactly the same placeholders.
    languages = sorted({t.language for t in catalog})
    groups: dict[tuple[Channel, str], dict[str, TemplateFile]] = defaultdict(dict)
    for template in catalog:
        groups[(template.channel, template.slug)][template.language] = template
    for (channel, slug), versions in sorted(groups.items()):
        reference = versions.get(REFERENCE_LANGUAGE) or versions[min(versions)]
        wanted = _placeholders(renderer, reference)
        for _language, template in sorted(versions.items()):
            if template is reference:
                continue
            names = _placeholders(renderer, template)
            if names != wanted:
                details = []
                if names - wanted:
                    details.append(f"only here: {', '.join(sorted(names - wanted))}")
                if wanted - names:
                    details.append(f"missing here: {', '.join(sorted(wanted - names))}")
                result.problems.append(
                    f"{template.path}: placeholders differ from {reference.path} ({'; '.join(details)})"
                )
        for language in languages:
            if language not in versions:
                result.warnings.append(f"{reference.path}: {channel}/{slug} has no {language} version")


def check_templates(root: Path) -> CheckResult:
    """Load every template under `root`, render each with sample data, and report what is wrong."""
    catalog, errors = scan_catalog(root)
    result = CheckResult(problems=[str(error) for error in errors])
    renderer = Renderer()
    for template in catalog:
        _check_one(renderer, template, result)
    _compare_languages(renderer, catalog, result)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Print problems and warnings; exit status 1 when there is any problem."""
    args = sys.argv[1:] if argv is None else list(argv)
    root = Path(args[0]) if args else Path("templates")
    result = check_templates(root)
    for line in result.problems:
        print(f"problem: {line}")
    for line in result.warnings:
        print(f"warning: {line}")
    if result.ok:
        print(f"templates in {root}: no problems ({len(result.warnings)} warnings)")
    return 0 if result.ok else 1
