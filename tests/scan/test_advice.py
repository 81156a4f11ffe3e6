"""Advice: sites -> findings, through the real engine (routing, lifecycle, mapping) with no key and no I/O."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from imageshim._core.catalog import builtin_catalog
from imageshim._core.config import load_config
from imageshim._scan.advice import Advisor
from imageshim._scan.findings import Finding
from imageshim._scan.sites import CallSite, LiteralSite, Origin, Span, Value

TODAY = date(2026, 11, 27)
SOURCE = (
    'resp = client.images.generate(model="dall-e-3", prompt="a lighthouse", size="1792x1024", '
    'quality="hd", style="vivid", response_format="url")\nprint(resp.data[0].url)\n'
)


def span_of(source: str, needle: str) -> Span:
    """The span of ``needle`` in ``source`` (of the model literal when the needle is not there)."""
    offset = source.find(needle)
    if offset < 0:
        needle, offset = '"dall-e-3"', source.index('"dall-e-3"')
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    end = offset + len(needle)
    end_line = source.count("\n", 0, end) + 1
    end_column = end - (source.rfind("\n", 0, end) + 1) + 1
    return Span(line, column, end_line, end_column, offset, end)


def value(literal: str | int, origin: Origin = "literal", text: str | None = None) -> Value:
    shown = text or (f'"{literal}"' if isinstance(literal, str) else str(literal))
    return Value(shown, literal if origin != "computed" else None, origin, span_of(SOURCE, shown))


def call(**options: Value) -> CallSite:
    args = {
        name: span_of(SOURCE, f"{name}={v.text}")
        for name, v in options.items()
        if f"{name}={v.text}" in SOURCE
    }
    return CallSite(
        path="app.py",
        language="python",
        api="images.generate",
        span=span_of(SOURCE, "client.images.generate("),
        options=options,
        url_reads=(span_of(SOURCE, ".url"),),
        arg_spans=args,
    )


def advise(*sites: CallSite | LiteralSite, on: date = TODAY, docs: bool = False) -> list[Finding]:
    advisor = Advisor(load_config({}), builtin_catalog(), on)
    calls = [s for s in sites if isinstance(s, CallSite)]
    literals = [s for s in sites if isinstance(s, LiteralSite)]
    return advisor.advise(calls, literals, include_docs=docs)


def dalle3_call() -> CallSite:
    return call(
        model=value("dall-e-3"),
        prompt=value("a lighthouse"),
        size=value("1792x1024"),
        quality=value("hd"),
        style=value("vivid"),
        response_format=value("url"),
    )


def test_a_retired_dalle3_call_says_what_imageshim_would_send_with_the_live_warnings() -> None:
    (finding,) = advise(dalle3_call())
    assert (finding.status, finding.days_left, finding.successor) == ("retired", -199, "gpt-image-2")
    assert finding.target == "openai:gpt-image-2"
    assert finding.would_send["model"] == "gpt-image-2"
    assert finding.would_send["quality"] == "high"
    assert finding.would_send["size"] == "1792x1024"  # GPT Image 2's size rule takes it as asked
    kinds = {(w.kind, w.setting) for w in finding.warnings}
    assert ("model_retired", "model") in kinds
    assert ("option_mapped", "quality") in kinds
    assert ("option_dropped", "style") in kinds
    # the same warnings a live call gives: the retired record names the date and the days
    retired = next(w for w in finding.warnings if w.kind == "model_retired")
    assert "2026-05-12" in retired.reason
    assert "199 days ago" in retired.reason


def test_costs_before_and_after_come_from_the_catalog() -> None:
    (finding,) = advise(dalle3_call())
    assert finding.cost_before_usd == pytest.approx(0.12)  # DALL·E 3 hd 1792x1024
    # after: whatever the catalog's estimate gives for the plan's target (never invented)
    mapped_price = finding.cost_after_usd
    assert mapped_price is None or mapped_price > 0


def test_url_reads_are_reported_with_the_reason_and_left_to_a_person() -> None:
    (finding,) = advise(dalle3_call())
    assert finding.reads_url
    assert finding.url_note is not None
    assert "gpt-image-2 returns no URL" in finding.url_note
    assert any("line 2" in step and "b64_json" in step for step in finding.manual)


def test_fix_edits_model_quality_and_removes_style_and_response_format() -> None:
    (finding,) = advise(dalle3_call())
    edits = {e.setting: e for e in finding.edits}
    assert edits["model"].replacement == '"gpt-image-2"'
    assert edits["quality"].replacement == '"high"'
    assert "size" not in edits  # unchanged: no edit
    assert edits["style"].remove_argument
    assert edits["style"].replacement == ""
    assert edits["response_format"].remove_argument
    assert SOURCE[edits["style"].span.offset : edits["style"].span.end_offset] == 'style="vivid"'
    assert all(e.reason for e in finding.edits)


def test_a_deprecated_model_is_planned_as_on_its_shutdown_day_without_a_zero_days_warning() -> None:
    site = call(model=value("gpt-image-1.5", text='"gpt-image-1.5"'))
    (finding,) = advise(site)
    assert (finding.status, finding.days_left) == ("deprecated", 4)
    assert finding.target == "openai:gpt-image-2"
    assert not any(w.kind in ("model_retired", "model_deprecation") for w in finding.warnings)
    assert finding.edits
    assert finding.edits[0].replacement == '"gpt-image-2"'


def test_on_a_later_day_the_same_call_is_retired() -> None:
    site = call(model=value("gpt-image-1.5", text='"gpt-image-1.5"'))
    (finding,) = advise(site, on=date(2026, 12, 1))
    assert (finding.status, finding.days_left) == ("retired", 0)


def test_a_computed_model_is_not_guessed() -> None:
    site = call(model=Value("os.environ['MODEL']", None, "computed", span_of(SOURCE, "client")))
    (finding,) = advise(site)
    assert finding.status == "unknown"
    assert finding.model is None
    assert "model (os.environ['MODEL'])" in finding.not_visible
    assert any("computed" in step for step in finding.manual)
    assert not finding.edits


def test_no_model_means_the_apis_documented_default_which_is_retired() -> None:
    (finding,) = advise(call(prompt=value("a lighthouse")))
    assert finding.model == "dall-e-2"
    assert finding.status == "retired"
    assert any("default" in note for note in finding.notes)
    assert any("add model=" in step for step in finding.manual)


def test_an_invalid_call_is_reported_as_refused_not_crashing() -> None:
    (finding,) = advise(call(model=value("dall-e-3"), n=value(40)))
    assert finding.refused is not None
    assert "'n'" in finding.refused


def test_a_literal_inside_a_call_is_reported_once_with_the_call() -> None:
    model_span = span_of(SOURCE, "dall-e-3")
    literal = LiteralSite("app.py", "python", "code", model_span, "dall-e-3", "dall-e-3")
    findings = advise(dalle3_call(), literal)
    assert [f.kind for f in findings] == ["call"]


def test_literals_configs_and_docs() -> None:
    span = span_of(SOURCE, "dall-e-3")
    code = LiteralSite("a.py", "python", "code", span, "dall-e-3", "dall-e-3")
    config = LiteralSite("c.yaml", "config", "config", span, "gpt-image-1-mini", "openai/gpt-image-1-mini")
    doc = LiteralSite("README.md", "docs", "doc", span, "dall-e-3", "dall-e-3")
    active = LiteralSite("b.py", "python", "code", span, "gpt-image-2", "gpt-image-2")
    found = {f.path: f for f in advise(code, config, doc, active)}
    assert set(found) == {"a.py", "c.yaml", "b.py"}  # docs only with include_docs
    # a string in code may be compared or listed: left to a person (a call's model is edited with the call)
    assert found["a.py"].kind == "model-id"
    assert not found["a.py"].edits
    assert "gpt-image-2" in found["a.py"].manual[0]
    assert found["c.yaml"].edits[0].replacement == "gpt-image-2"
    assert found["c.yaml"].kind == "config"
    assert found["c.yaml"].status == "deprecated"
    assert found["b.py"].status == "active"
    assert not found["b.py"].edits
    with_docs = {f.path: f for f in advise(code, doc, docs=True)}
    assert with_docs["README.md"].kind == "doc"
    assert not with_docs["README.md"].edits


def test_forced_adapter_does_not_change_where_the_scan_says_calls_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGESHIM_ADAPTER", "mock")
    advisor = Advisor(load_config(None), builtin_catalog(), TODAY)
    (finding,) = advisor.advise([dalle3_call()], [], include_docs=False)
    assert finding.target == "openai:gpt-image-2"


def test_an_images_generate_without_model_or_prompt_is_not_an_openai_call() -> None:
    assert advise(call(n=value(40))) == []  # a gallery's .images.generate(): OpenAI requires a prompt


def test_an_azure_deployment_name_in_a_call_is_left_to_a_person() -> None:
    (finding,) = advise(call(model=value("azure/dall-e-3", text='"dall-e-3"')))
    assert not any(e.setting == "model" for e in finding.edits)
    assert any("Azure deployment" in step for step in finding.manual)


def test_a_model_read_from_a_constant_is_edited_where_the_constant_is_written() -> None:
    constant = Value('"dall-e-3"', "dall-e-3", "constant", span_of(SOURCE, '"dall-e-3"'), via="MODEL")
    literal = LiteralSite("app.py", "python", "code", span_of(SOURCE, "dall-e-3"), "dall-e-3", "dall-e-3")
    findings = advise(call(model=constant, prompt=value("a lighthouse")), literal)
    assert [f.kind for f in findings] == ["call"]  # the constant's literal is reported with the call
    (edit,) = [e for e in findings[0].edits if e.setting == "model"]
    assert edit.span == constant.span
    assert edit.replacement == '"gpt-image-2"'


def test_reports_never_carry_keys_headers_prompts_or_end_user_ids() -> None:
    secret = "sk-not-a-real-key-0123456789abcdef"
    site = dataclasses.replace(
        call(
            model=value("dall-e-3"),
            prompt=value("a lighthouse"),
            user=Value('"user-42"', "user-42", "literal", span_of(SOURCE, "client")),
            extra_headers=Value(f'{{"x": "{secret}"}}', None, "computed", span_of(SOURCE, "client")),
            size=Value(f'pick("{secret}")', None, "computed", span_of(SOURCE, "client")),
        ),
        hidden=(f'**{{"api_key": "{secret}"}}', "**params"),
    )
    (finding,) = advise(site)
    shown = repr((finding.options, finding.not_visible, finding.manual, finding.notes))
    assert secret not in shown
    assert "sk-not" not in shown
    assert set(finding.options) == {"model", "size"}
    assert "**(an expression)" in finding.not_visible
    assert "**params" in finding.not_visible
