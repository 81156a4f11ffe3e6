"""Sites -> findings: each site's model, its status on the scan's day, what imageshim would send, costs, fixes.

Nothing here decides a mapping of its own. A call's visible options become an :class:`ImageRequest` (with the
API's own rule for a missing model), and :class:`~imageshim._frontends.engine.Engine` plans it exactly as a
live call would: routing, lifecycle, mapping and warnings. Planning needs no key and sends nothing; the
route is planned as if every default provider had one (the scan asks "what would happen", not "what can
this machine reach"). A model that is deprecated but not yet retired on the scan's day is planned on its
shutdown day, so the finding shows what the call becomes when it stops, not what it does this week.

The edits ``--fix`` may make are derived from the same plan: the model literal becomes the successor, an
option literal becomes the value the plan sends, and a setting the successor does not take at all (style,
response_format for a GPT image model) is removed. What cannot be rewritten safely is a manual step.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from imageshim._core.catalog import Catalog, ModelSpec
from imageshim._core.config import Config
from imageshim._core.cost import estimate_images
from imageshim._core.edit import variation_warning
from imageshim._core.errors import APIStatusError, ImageShimError, redact
from imageshim._core.mapping import MappedRequest
from imageshim._core.request import ImageRequest, default_model, request_from_kwargs
from imageshim._core.warnings import WarningRecord
from imageshim._frontends.engine import Engine, KeylessPlanner
from imageshim._scan.findings import Edit, Finding, FindingKind
from imageshim._scan.sites import CallSite, LiteralSite, Value

__all__ = ["Advisor", "through_imageshim"]

#: the options an ImageRequest takes, by OpenAI's names (the others are shown, not planned)
_PLANNED = frozenset(ImageRequest.model_fields) - {"prompt", "model", "extra_body"}
#: the options a finding shows (what a migration changes), by OpenAI's names
_SHOWN = (_PLANNED | {"model"}) - {"user", "safety_identifier", "prompt"}
#: a shown expression longer than this is cut (a report line, not a copy of the code)
_SHOWN_MAX = 60
_SPREAD = re.compile(r"(\*\*|\*|\.\.\.)?[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*")
#: settings whose literal is rewritten to what the plan sends
_REWRITTEN = ("size", "quality")
#: APIs whose missing model falls back to the API's default (the SDKs' documented rule)
_OPENAI_APIS = (
    "images.generate",
    "images.edit",
    "images.create_variation",
    "Image.create",
    "Image.create_edit",
    "Image.create_variation",
)
#: APIs that pass response_format to OpenAI as it is written (so it can simply be removed)
_SENDS_RESPONSE_FORMAT = (*_OPENAI_APIS, "generateImage")
_PLACEHOLDER_PROMPT = "a prompt"
_KIND: dict[str, FindingKind] = {"code": "model-id", "config": "config", "doc": "doc"}
_PROVIDER_PREFIX = "/"


class Advisor:
    """Turns the sites of a scan into findings, for one configuration and one day."""

    def __init__(self, config: Config, catalog: Catalog, on: date) -> None:
        # IMAGESHIM_ADAPTER sends live calls to one adapter (usually the mock, in tests); the scan reports
        # where a deployed call goes, so the forced adapter is left out.
        self._config = dataclasses.replace(config, force_adapter=None)
        self._catalog = catalog
        self._on = on
        self._engines: dict[date, Engine] = {}

    # ----- sites -> findings ---------------------------------------------------------------------------
    def advise(
        self, calls: Sequence[CallSite], literals: Sequence[LiteralSite], *, include_docs: bool
    ) -> list[Finding]:
        findings = [self._call(site) for site in calls if not _unrelated(site)]
        claimed = _claimed_spans(calls)
        for lit in literals:
            if lit.context == "doc" and not include_docs:
                continue
            if _inside(claimed, lit):
                continue  # the model of a call: reported with the call
            findings.append(self._literal(lit))
        return findings

    def _engine(self, day: date) -> Engine:
        engine = self._engines.get(day)
        if engine is None:
            engine = self._engines[day] = KeylessPlanner(self._config, clock=lambda: day)
        return engine

    def _lifecycle(self, spec: ModelSpec | None) -> dict[str, Any]:
        if spec is None:
            return {"status": "unknown", "shutdown_on": None, "days_left": None, "successor": None}
        successor = self._catalog.first_active_successor(spec.id, self._on)
        return {
            "status": spec.status_on(self._on),
            "shutdown_on": spec.shutdown_on,
            "days_left": spec.days_left(self._on),
            "successor": successor.id if successor is not None else spec.successor,
        }

    def _literal(self, site: LiteralSite) -> Finding:
        spec = self._catalog.get(site.model)
        facts = self._lifecycle(spec)
        kind = _KIND[site.context]
        edits: tuple[Edit, ...] = ()
        manual: tuple[str, ...] = ()
        successor = facts["successor"]
        dying = facts["status"] in ("retired", "deprecated") and successor
        why_not = _not_rewritten(site)
        if kind != "doc" and dying and why_not:
            manual = (f"{site.written}: {why_not}",)
        elif kind == "model-id" and dying:
            # A string in code may name the model a call uses, or be compared, listed or matched: only
            # the first is a use, and only a person can tell (a call's own model, and the constant it
            # reads it from, are edited with the call).
            manual = (
                f"{site.written}: if this names the model to call, make it {successor}; left to you because "
                "code may also compare or list model ids",
            )
        elif kind == "config" and dying:
            edits = (
                Edit(
                    site.path,
                    site.span,
                    successor,
                    f"{site.model} {_status_phrase(facts)}; its successor is {successor}",
                    "model",
                    original=site.model,
                ),
            )
        return Finding(
            kind=kind,
            path=site.path,
            language=site.language,
            span=site.span,
            model=spec.id if spec is not None else site.model,
            written=site.written,
            edits=edits,
            manual=manual,
            **facts,
        )

    def _call(self, site: CallSite) -> Finding:
        # Only the settings a migration changes are shown: never headers, keys, the end-user id or the
        # prompt, which a report has no business carrying.
        shown = {name: _shown_text(v.text) for name, v in site.options.items() if name in _SHOWN}
        not_visible = [
            f"{name} ({_shown_text(value.text)})"
            for name, value in site.options.items()
            if not value.visible and name in _SHOWN
        ]
        not_visible.extend(_hidden_text(text) for text in site.hidden)
        notes: list[str] = []
        manual: list[str] = []
        written, name = _model_of(site)
        if written is None and not site.hidden:
            name, note = _default_model(site)
            if note:
                notes.append(note)
        spec = self._catalog.get(name) if name else None
        facts = self._lifecycle(spec)
        base = Finding(
            kind="call",
            path=site.path,
            language=site.language,
            span=site.span,
            model=spec.id if spec is not None else name,
            written=written,
            api=site.api,
            flavour=site.flavour,
            options=shown,
            not_visible=tuple(not_visible),
            reads_url=bool(site.url_reads) or site.implied_url_read is not None,
            url_reads=site.url_reads,
            **facts,
        )
        if spec is None:
            why = "is computed" if written is None or name is None else f"{name!r} is not in the catalog"
            manual.append(f"the model {why}: check which model this call uses")
            return dataclasses.replace(base, manual=tuple(manual), notes=tuple(notes))
        planned = self._plan(site, spec, facts)
        if isinstance(planned, str):
            return dataclasses.replace(base, refused=planned, notes=tuple(notes), manual=tuple(manual))
        mapped, warnings = planned
        if site.api.endswith("variation"):
            warnings = (*warnings, variation_warning(mapped.spec.id, mapped.target, mapped.template.prompt))
        n = _int_option(site, "n") or 1
        before = estimate_images(spec, _str_option(site, "size"), _str_option(site, "quality"), n)
        after = mapped.estimate
        finding = dataclasses.replace(
            base,
            target=mapped.target,
            would_send=_would_send(mapped),
            warnings=warnings,
            cost_before_usd=before.usd if before is not None else None,
            cost_after_usd=after.usd if after is not None else None,
            notes=tuple(notes),
        )
        if through_imageshim(finding):
            # imageshim already maps this call and answers .url: nothing to edit, nothing breaks
            note = (
                f"made through imageshim: it keeps working, sent to {mapped.target} with the warnings shown"
            )
            return dataclasses.replace(finding, notes=(*finding.notes, note), manual=tuple(manual))
        url_note = _url_note(site, mapped.spec)
        edits, steps = _edits(site, facts, mapped, url_note)
        manual.extend(steps)
        return dataclasses.replace(finding, url_note=url_note, edits=tuple(edits), manual=tuple(manual))

    def _plan(
        self, site: CallSite, spec: ModelSpec, facts: Mapping[str, Any]
    ) -> tuple[MappedRequest, tuple[WarningRecord, ...]] | str:
        """The first target of the plan and its warnings, or the message of the refusal."""
        kwargs = _visible_options(site)
        kwargs["model"] = spec.id
        prompt = site.options.get("prompt")
        kwargs["prompt"] = prompt.value if prompt is not None and isinstance(prompt.value, str) else None
        kwargs["prompt"] = kwargs["prompt"] or _PLACEHOLDER_PROMPT
        day = self._on
        dying = facts["status"] == "deprecated" and spec.shutdown_on is not None
        if dying and spec.shutdown_on is not None:
            day = spec.shutdown_on  # what the call becomes when the model stops
        try:
            request = request_from_kwargs(kwargs)
            plan = self._engine(day).plan(request)
        except (APIStatusError, ImageShimError) as exc:
            return str(getattr(exc, "message", exc))
        mapped = plan.targets[0]
        warnings = mapped.warnings
        if dying:  # the status line says it; "retired 0 days ago" would not
            warnings = tuple(w for w in warnings if w.model != spec.id or w.kind.startswith("option"))
        return mapped, warnings


# ----- helpers --------------------------------------------------------------------------------------------
_AZURE = (
    "an Azure deployment name, chosen when the model was deployed: deploy the successor and point this at "
    "its deployment"
)
#: the config files imageshim itself reads: their model ids are routes and catalog corrections, on purpose
_OWN_CONFIGS = ("imageshim.toml", ".imageshim.toml")


def _not_rewritten(site: LiteralSite) -> str | None:
    """Why a model id that names a dying model is left to a person, or None when the edit is safe."""
    if site.context == "config" and site.path.rpartition("/")[2] in _OWN_CONFIGS:
        return (
            "imageshim's own config names models on purpose (a route for callers that still ask for it, a "
            "[[models]] correction): keep it, or remove the entry once no caller asks for the model"
        )
    if site.written.startswith("azure/"):
        return _AZURE
    return None


def through_imageshim(finding: Finding) -> bool:
    """A call made with imageshim's client (the module imports imageshim's and not openai's): it keeps
    working when its model retires, so it is shown but neither fixed nor failed."""
    return "imageshim" in (finding.flavour or "").split(", ")


def _unrelated(site: CallSite) -> bool:
    """A ``.images.generate(...)`` with neither model nor prompt (and nothing hidden) is not OpenAI's: the
    API requires a prompt, so such a call is some other object's ``images`` (a gallery, a CMS client)."""
    needs_prompt = site.api in ("images.generate", "images.edit", "Image.create", "Image.create_edit")
    return needs_prompt and not site.hidden and "model" not in site.options and "prompt" not in site.options


def _claimed_spans(calls: Iterable[CallSite]) -> dict[str, list[tuple[int, int]]]:
    """Per path, the (start, end) offsets of every literal a call reports itself (its model, its options,
    and the constants or assignments it reads them from)."""
    out: dict[str, list[tuple[int, int]]] = {}
    for call in calls:
        for value in call.options.values():
            if value.visible:  # its literal, where it is written: at the call, or in a constant it reads
                out.setdefault(call.path, []).append((value.span.offset, value.span.end_offset))
    return out


def _inside(spans: Mapping[str, list[tuple[int, int]]], site: LiteralSite) -> bool:
    return any(start <= site.span.offset < end for start, end in spans.get(site.path, ()))


def _model_of(site: CallSite) -> tuple[str | None, str | None]:
    """(the model as written, the name it gives after any ``provider/`` prefix); (None, None) if absent."""
    value = site.options.get("model")
    if value is None:
        return None, None
    if not value.visible or not isinstance(value.value, str):
        return value.text, None
    text = value.value
    return text, text.rpartition(_PROVIDER_PREFIX)[2]


def _shown_text(text: str) -> str:
    """Source text as a report shows it: secrets redacted (before cutting), one line, bounded."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= _SHOWN_MAX else flat[: _SHOWN_MAX - 3] + "..."


def _hidden_text(text: str) -> str:
    """A hidden argument as a report names it: ``**params`` as written; a spread expression (a dict literal
    that may hold keys, a call) only by its kind."""
    if _SPREAD.fullmatch(text.strip()):
        return text.strip()
    for prefix in ("**", "...", "*"):
        if text.strip().startswith(prefix):
            return f"{prefix}(an expression)"
    return _shown_text(text)


def _default_model(site: CallSite) -> tuple[str | None, str | None]:
    """The model a call without one uses, and a note that says where that default comes from."""
    if site.api in _OPENAI_APIS:
        name = default_model(_visible_options(site))
        return name, (
            f"no model given: the API's documented default is {name} (openai SDK before 3.x), which is "
            "retired; name the model explicitly"
        )
    if site.api == "DallEAPIWrapper":
        # langchain-community: model_name defaults to "dall-e-2" (alias "model"). LangChain JS's wrapper
        # defaults to "dall-e-3" (UNCERTAIN: read from its docs, not its source); either is retired.
        name = "dall-e-2" if site.language == "python" else "dall-e-3"
        return name, f"no model given: DallEAPIWrapper's default is {name}; name the model explicitly"
    return None, None


def _visible_options(site: CallSite) -> dict[str, Any]:
    return {
        name: value.value
        for name, value in site.options.items()
        if name in _PLANNED and value.visible and value.value is not None
    }


def _str_option(site: CallSite, name: str) -> str | None:
    value = site.options.get(name)
    return value.value if value is not None and value.visible and isinstance(value.value, str) else None


def _int_option(site: CallSite, name: str) -> int | None:
    value = site.options.get(name)
    if value is None or not value.visible or isinstance(value.value, bool):
        return None
    return value.value if isinstance(value.value, int) else None


def _would_send(mapped: MappedRequest) -> dict[str, Any]:
    call = mapped.template
    out: dict[str, Any] = {"model": call.model, "size": call.size or "auto", "n": mapped.n}
    for name in ("quality", "style", "output_format", "background", "moderation"):
        value = getattr(call, name)
        if value is not None:
            out[name] = value
    if mapped.url_mode is not None:
        out["url"] = mapped.url_mode
    return out


def _status_phrase(facts: Mapping[str, Any]) -> str:
    left = facts["days_left"]
    if facts["status"] == "retired" and left is not None:
        return f"was retired on {facts['shutdown_on'].isoformat()}"
    if facts["status"] == "deprecated" and left is not None:
        return f"shuts down on {facts['shutdown_on'].isoformat()}"
    return "is active"


def _url_note(site: CallSite, target: ModelSpec) -> str | None:
    if not site.url_reads and site.implied_url_read is None:
        return None
    if "url" in target.response_formats:
        return None
    return f"{target.id} returns no URL (base64 only)"


def _quoted(value: Value, new: str) -> str:
    quote = value.text[:1] if value.text[:1] in ("'", '"', "`") else '"'
    return f"{quote}{new}{quote}"


def _edits(
    site: CallSite, facts: Mapping[str, Any], mapped: MappedRequest, url_note: str | None
) -> tuple[list[Edit], list[str]]:
    """The safe local edits for a call, and the steps left to a person."""
    edits: list[Edit] = []
    manual: list[str] = []
    if facts["status"] not in ("retired", "deprecated") or not facts["successor"]:
        return edits, manual
    target = mapped.spec
    successor = facts["successor"]
    model = site.options.get("model")
    if model is None:
        manual.append(f"add model={successor!r}: the call names no model")
    elif model.visible and isinstance(model.value, str):
        prefix = model.value.rpartition(_PROVIDER_PREFIX)[0]
        new = f"{prefix}/{successor}" if prefix else successor
        reason = f"{model.value} {_status_phrase(facts)}; its successor is {successor}"
        if prefix == "azure":
            manual.append(f"{model.value}: {_AZURE}")
        else:
            # A literal at the call, or the one its constant or assignment holds (read by this call, so a
            # model use): the same edit either way.
            edits.append(
                Edit(site.path, model.span, _quoted(model, new), reason, "model", original=model.text)
            )
    else:
        manual.append(f"the model is computed ({_shown_text(model.text)}): make it {successor}")
    sent = mapped.template
    applied = {"size": sent.size, "quality": sent.quality}
    for name in _REWRITTEN:
        value = site.options.get(name)
        new_value = applied[name]
        if value is None or new_value is None or value.value == new_value:
            continue
        if value.origin == "literal":
            reason = f"{target.id} takes {name} {new_value!r}, not {value.value!r} (what imageshim sends)"
            edits.append(
                Edit(site.path, value.span, _quoted(value, new_value), reason, name, original=value.text)
            )
        else:
            manual.append(
                f"{name} comes from {value.via or _shown_text(value.text)}: make it {new_value!r} for {target.id}"
            )
    for name, allowed in (("style", target.styles), ("response_format", _formats(target))):
        value = site.options.get(name)
        span = site.arg_spans.get(name)
        if value is None or allowed or span is None:
            continue
        if name == "response_format" and site.api not in _SENDS_RESPONSE_FORMAT:
            # LangChain's wrapper reads URLs whatever it is told: removing its setting brings back its
            # url default, not base64. Its .url read is the manual step below.
            continue
        reason = f"{target.id} takes no {name}" + (
            " (it always returns base64; OpenAI refuses response_format for GPT image models)"
            if name == "response_format"
            else ""
        )
        edits.append(Edit(site.path, span, "", reason, name, remove_argument=True))
    if url_note is not None:
        where = ", ".join(f"line {s.line}" for s in site.url_reads)
        reads = f"reads .url ({where})" if where else f"reads .url: {site.implied_url_read}"
        manual.append(
            f"{reads}, but {url_note}: read data[0].b64_json instead, or keep the call on imageshim, which "
            "still answers .url (a data: URI or a hosted URL)"
        )
    for hidden in site.hidden:
        manual.append(
            f"{_hidden_text(hidden)} may carry size, quality, style or response_format: check them for "
            f"{successor}"
        )
    if "openai 0.x" in (site.flavour or ""):
        manual.append("the openai 0.x API: move to the 1.x client (client.images.generate)")
    return edits, manual


def _formats(target: ModelSpec) -> tuple[str, ...]:
    """response_format values the target takes as a parameter: none for base64-only models."""
    return () if target.response_formats == ("b64_json",) else target.response_formats
