"""What a scan reports: findings with their status on a day, what imageshim would send, costs and fixes.

Built by :mod:`.advice` from the sites the extractors saw; rendered by :mod:`.report_text`,
:mod:`.report_json` and :mod:`.report_sarif`; fixed by :mod:`.fix`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from imageshim._core.warnings import WarningRecord
from imageshim._scan.sites import Language, Span

__all__ = ["Edit", "Finding", "FindingKind", "ScanReport", "Skipped", "Status"]

#: call: an image call; model-id: a model id in a code string; config: in a config file; doc: in docs
FindingKind = Literal["call", "model-id", "config", "doc"]
#: the model's status on the scan's day; "unknown": a call whose model is not visible or not in the catalog
Status = Literal["retired", "deprecated", "active", "unknown"]


@dataclasses.dataclass(frozen=True)
class Edit:
    """One safe, local edit: replace ``span`` with ``replacement`` ("" removes an argument)."""

    path: str
    span: Span
    replacement: str
    reason: str
    #: "model" | "size" | "quality" | "style" | "response_format" ...
    setting: str
    #: for a removal: remove the whole argument whose span this is (the fixer also removes its comma)
    remove_argument: bool = False
    #: the text ``span`` covered when the edit was made; the fixer refuses the edit when the file no
    #: longer has exactly this text there (None: not recorded, only the span's shape is checked)
    original: str | None = None


@dataclasses.dataclass(frozen=True)
class Finding:
    kind: FindingKind
    path: str
    language: Language
    span: Span
    #: the catalog id (canonical) or, for a call whose model is not visible, None
    model: str | None
    #: the text as written at the site (the alias, ``openai/dall-e-3`` ...)
    written: str | None
    status: Status
    shutdown_on: date | None
    #: days to shutdown on the scan's day (negative once past); None without a shutdown date
    days_left: int | None
    successor: str | None
    #: a call's API ("images.generate", ...); None for ids in strings, configs and docs
    api: str | None = None
    flavour: str | None = None
    #: a call's options as seen (OpenAI's names -> source text), and what was not visible
    options: Mapping[str, str] = dataclasses.field(default_factory=dict)
    not_visible: tuple[str, ...] = ()
    #: the ``provider:model`` imageshim would send this call to, and what it would send (size, quality, n ...)
    target: str | None = None
    would_send: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: the same warnings a live call through imageshim gives (mapping and lifecycle)
    warnings: tuple[WarningRecord, ...] = ()
    #: the call would be refused before any network call: the refusal's message
    refused: str | None = None
    reads_url: bool = False
    url_reads: tuple[Span, ...] = ()
    #: why the url matters: "gpt-image-2 returns no URL" ...
    url_note: str | None = None
    #: estimated cost per call (all n images) with the model as written, and after migration
    cost_before_usd: float | None = None
    cost_after_usd: float | None = None
    #: safe local edits for ``--fix``, and the steps it cannot take
    edits: tuple[Edit, ...] = ()
    manual: tuple[str, ...] = ()
    #: free-form notes (the SDK default model when none is given, ...)
    notes: tuple[str, ...] = ()

    @property
    def rule_id(self) -> str:
        """The SARIF rule: kind and status ("retired-model-call", "deprecated-model-id", ...)."""
        status = self.status if self.status != "unknown" else "unknown"
        kind = {"call": "call", "model-id": "id", "config": "config", "doc": "doc"}[self.kind]
        return f"{status}-model-{kind}"


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A file that was not scanned, and why (never silently skipped)."""

    path: str
    reason: str


@dataclasses.dataclass(frozen=True)
class ScanReport:
    on: date
    roots: tuple[str, ...]
    findings: tuple[Finding, ...]
    #: files not scanned: JS/TS without the scan extra, files that do not parse, undecodable files
    skipped: tuple[Skipped, ...] = ()
    files_scanned: int = 0
    #: notes on the scan as a whole (".gitignore not applied: ...")
    notes: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        out = {"retired": 0, "deprecated": 0, "active": 0, "unknown": 0}
        for finding in self.findings:
            if finding.kind != "doc":
                out[finding.status] += 1
        return out
