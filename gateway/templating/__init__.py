"""Message templates: the file catalog, the sandboxed renderer, SMS fragment counting, DB sync and checks.

Templates are files under `templates/<channel>/<language>/<slug>.txt` (see `catalog`);
`Renderer` turns one plus personalisation into the text that is sent.
"""

from __future__ import annotations

from gateway.templating.catalog import (
    POSTAGE,
    TemplateFile,
    TemplateFileError,
    content_hash,
    load_catalog,
    scan_catalog,
)
from gateway.templating.check import CheckResult, check_templates, sample_personalisation
from gateway.templating.fragments import GSM_7, UCS_2, SmsLength, is_gsm7, sms_length
from gateway.templating.render import (
    MissingPersonalisation,
    RenderableTemplate,
    Rendered,
    Renderer,
    TemplateRenderError,
    email_html,
    make_environment,
    shared_renderer,
)
from gateway.templating.sync import SyncReport, sync_templates

__all__ = [
    "GSM_7",
    "POSTAGE",
    "UCS_2",
    "CheckResult",
    "MissingPersonalisation",
    "RenderableTemplate",
    "Rendered",
    "Renderer",
    "SmsLength",
    "SyncReport",
    "TemplateFile",
    "TemplateFileError",
    "TemplateRenderError",
    "check_templates",
    "content_hash",
    "email_html",
    "is_gsm7",
    "load_catalog",
    "make_environment",
    "sample_personalisation",
    "scan_catalog",
    "shared_renderer",
    "sms_length",
    "sync_templates",
]
