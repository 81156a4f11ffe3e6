"""``imageshim scan --fix``: edits applied to Python (libcst), JS/TS (tree-sitter) and config files, the
diff ``git apply`` takes, manual steps for what cannot be done safely, and atomic writes."""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import stat
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imageshim._scan import fix_text
from imageshim._scan.findings import Edit, Finding, ScanReport
from imageshim._scan.fix import (
    FileChangedError,
    FileFix,
    FileNotWritableError,
    FixResult,
    plan_fixes,
    render_diff,
    render_manual,
    write,
)
from imageshim._scan.sites import Language

from .factories import ON, retired
from .spans import span_at, span_of

STYLE = "gpt-image-2 has no style"


def edit(
    text: str,
    needle: str,
    replacement: str,
    setting: str,
    *,
    remove: bool = False,
    after: str | None = None,
    nth: int = 0,
    path: str = "app.py",
    reason: str | None = None,
) -> Edit:
    span = span_of(text, needle, after=after, nth=nth)
    why = reason or (STYLE if remove else f"gpt-image-2 takes {replacement}")
    return Edit(path, span, replacement, why, setting, remove_argument=remove)


def finding(path: str, language: Language, edits: Sequence[Edit], manual: Sequence[str] = ()) -> Finding:
    edits = [dataclasses.replace(e, path=path) for e in edits]
    span = edits[0].span if edits else span_at("x", 0, 1)
    return retired("call", path, language, span, edits=tuple(edits), manual=tuple(manual))


def plan(base: Path, *findings: Finding) -> FixResult:
    return plan_fixes(ScanReport(on=ON, roots=(".",), findings=findings), base=base)


def fix_one(base: Path, name: str, text: str, language: Language, edits: Sequence[Edit]) -> FileFix:
    (base / name).write_bytes(text.encode())
    result = plan(base, finding(name, language, edits))
    (only,) = result.files
    return only


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CEILING_DIRECTORIES": str(cwd.parent),
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


# -- Python ------------------------------------------------------------------------------------------

PY = """\
from openai import OpenAI

client = OpenAI()
SIZE = "1792x1024"  # wide, as before
resp = client.images.generate(
    model="dall-e-3",  # the model
    prompt="a café ☕",
    size=SIZE,
    quality='hd',
)
"""


def test_python_literals_are_replaced_and_comments_kept(tmp_path: Path) -> None:
    edits = [
        edit(PY, "dall-e-3", "gpt-image-2", "model"),
        edit(PY, '"1792x1024"', '"1536x1024"', "size"),
        edit(PY, "'hd'", "'high'", "quality"),
    ]
    fix = fix_one(tmp_path, "app.py", PY, "python", edits)
    assert fix.after == PY.replace('"dall-e-3"', '"gpt-image-2"').replace("1792x1024", "1536x1024").replace(
        "'hd'", "'high'"
    )
    assert fix.applied == tuple(dataclasses.replace(e, path="app.py") for e in edits)
    assert fix.refused == ()
    ast.parse(fix.after)


REMOVALS = {
    "inline first": ('g(style="vivid", prompt="p", n=1)\n', 'g(prompt="p", n=1)\n'),
    "inline middle": ('g(prompt="p", style="vivid", n=1)\n', 'g(prompt="p", n=1)\n'),
    "inline last": ('g(prompt="p", style="vivid")\n', 'g(prompt="p")\n'),
    "inline only": ('g(style="vivid")\n', "g()\n"),
    "inline last, trailing comma": ('g(prompt="p", style="vivid",)\n', 'g(prompt="p",)\n'),
    "after positional and **kwargs": ('g("p", **extra, style="vivid")\n', 'g("p", **extra)\n'),
    "multi-line first": (
        'g(\n    style="vivid",  # pop\n    prompt="p",\n)\n',
        'g(\n    prompt="p",\n)\n',
    ),
    "multi-line middle, comments above and below": (
        'g(\n    prompt="p",  # the prompt\n    # looks\n    style="vivid",  # pop\n    # count\n    n=1,\n)\n',
        'g(\n    prompt="p",  # the prompt\n    # looks\n    # count\n    n=1,\n)\n',
    ),
    "multi-line last, trailing comma": (
        'g(\n    prompt="p",\n    style="vivid",\n)\n',
        'g(\n    prompt="p",\n)\n',
    ),
    "multi-line last, no trailing comma": (
        'g(\n    prompt="p",  # the prompt\n    style="vivid"\n)\n',
        'g(\n    prompt="p"  # the prompt\n)\n',
    ),
    "multi-line last, in a function": (
        'def f():\n    return g(\n        prompt="p",\n        style="vivid"\n    )\n',
        'def f():\n    return g(\n        prompt="p"\n    )\n',
    ),
    "shares a line with the one before": (
        'g(\n    prompt="p", style="vivid",  # both\n    n=1,\n)\n',
        'g(\n    prompt="p",  # both\n    n=1,\n)\n',
    ),
    "a value over several lines": (
        'g(\n    prompt="p",\n    style=(\n        "vivid"\n    ),\n    n=1,\n)\n',
        'g(\n    prompt="p",\n    n=1,\n)\n',
    ),
}


@pytest.mark.parametrize("case", list(REMOVALS))
def test_python_style_argument_is_removed_with_its_comma(tmp_path: Path, case: str) -> None:
    before, expected = REMOVALS[case]
    whole = re.search(r'style=(\(\s*"vivid"\s*\)|"vivid")', before)
    assert whole is not None
    removal = Edit("app.py", span_at(before, whole.start(), whole.end()), "", STYLE, "style", True)
    fix = fix_one(tmp_path, "app.py", before, "python", [removal])
    assert fix.refused == ()
    assert fix.after == expected


def test_python_two_arguments_removed_from_one_call(tmp_path: Path) -> None:
    before = 'g(\n    prompt="p",  # keep\n    style="vivid",\n    response_format="url"\n)\n'
    edits = [
        edit(before, 'style="vivid"', "", "style", remove=True),
        edit(before, 'response_format="url"', "", "response_format", remove=True),
    ]
    assert fix_one(tmp_path, "app.py", before, "python", edits).after == 'g(\n    prompt="p"  # keep\n)\n'


def test_python_crlf_non_ascii_and_byte_order_mark_are_kept(tmp_path: Path) -> None:
    # spans index the text as files.read gives it: without the BOM; the fixed text keeps it
    before = '# café\r\nx = g(prompt="thé ☕", model="dall-e-3",\r\n      style="vivid")\r\n'
    edits = [
        edit(before, "dall-e-3", "gpt-image-2", "model"),
        edit(before, 'style="vivid"', "", "style", remove=True),
    ]
    fix = fix_one(tmp_path, "app.py", "\ufeff" + before, "python", edits)
    assert fix.refused == ()
    assert fix.before == "\ufeff" + before
    assert fix.after == '\ufeff# café\r\nx = g(prompt="thé ☕", model="gpt-image-2")\r\n'
    write(FixResult((fix,), ()), base=tmp_path)
    assert (tmp_path / "app.py").read_bytes() == fix.after.encode()
    assert (tmp_path / "app.py").read_bytes().startswith(b"\xef\xbb\xbf# caf")


@pytest.mark.parametrize(
    ("source", "needle", "replacement", "remove", "why"),
    [
        ('g("p", style="vivid")\n', '"p"', "", True, "only a keyword argument"),
        ('g(quality="hd")\n', 'quality="hd"', "", True, "not style="),
        ("g(size=SIZE)\n", "SIZE", '"1536x1024"', False, "not a literal"),
        ('g(quality="hd")\n', '"hd"', "high", False, "not a literal of the same kind"),
        ('g(quality="hd")\n', '"hd"', 'b"high"', False, "not a literal of the same kind"),
        ('g(model="dall-e-3")\n', "dall-e-3", 'gpt"2', False, "cannot be put inside a string"),
        ('g(model=b"dall-e-3")\n', "dall-e-3", "gpt-image-2", False, "bytes literal"),
        ("g(quality=hd)\n", "hd", '"high"', False, "is a name"),
        ('g(quality="hd")\n', 'g(quality="hd")', '"x"', False, "no literal at this position"),
        ('g(quality="hd")\n', 'g(quality="hd")', "", True, "no call argument at this position"),
    ],
)
def test_python_edit_on_the_wrong_kind_of_node_is_refused(
    tmp_path: Path, source: str, needle: str, replacement: str, remove: bool, why: str
) -> None:
    setting = "style" if remove else "quality"
    fix = fix_one(
        tmp_path, "app.py", source, "python", [edit(source, needle, replacement, setting, remove=remove)]
    )
    assert fix.after == source
    assert fix.applied == ()
    ((_, reason),) = fix.refused
    assert why in reason


def test_python_result_that_does_not_parse_refuses_every_edit_of_the_file(tmp_path: Path) -> None:
    # libcst takes an escape that Python's compiler rejects: the ast check is what stops it
    edits = [edit(PY, "dall-e-3", "gpt-image-2", "model"), edit(PY, "'hd'", r"'\N{NO SUCH NAME}'", "quality")]
    (tmp_path / "app.py").write_text(PY, encoding="utf-8")
    result = plan(tmp_path, finding("app.py", "python", edits))
    (fix,) = result.files
    assert fix.after == PY
    assert fix.applied == ()
    assert all(why.startswith("the edited file would not parse") for _, why in fix.refused)
    assert [where for where, _ in result.manual] == ["app.py:6:12", "app.py:9:13"]


def test_python_without_libcst_leaves_manual_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "libcst", None)
    monkeypatch.delitem(sys.modules, "imageshim._scan.fix_python", raising=False)
    (tmp_path / "app.py").write_text(PY, encoding="utf-8")
    result = plan(tmp_path, finding("app.py", "python", [edit(PY, "dall-e-3", "gpt-image-2", "model")]))
    assert not result.files[0].changed
    ((where, step),) = result.manual
    assert where == "app.py:6:12"
    assert "change the model to 'gpt-image-2'" in step
    assert "pip install 'imageshim[scan]'" in step


# -- JavaScript / TypeScript -------------------------------------------------------------------------

TS = """\
const image = await client.images.generate({
  model: "dall-e-3", // the model
  prompt: "a café ☕",
  /* looks */
  style: 'vivid', // pop
  size: '1792x1024',
});
"""

TS_REMOVALS = {
    "multi-line middle": (TS, TS.replace("  style: 'vivid', // pop\n", "")),
    "inline first": ("f({ style: 'vivid', prompt: 'p' });\n", "f({ prompt: 'p' });\n"),
    "inline middle": ("f({ prompt: 'p', style: 'vivid', n: 1 });\n", "f({ prompt: 'p', n: 1 });\n"),
    "inline last": ("f({ prompt: 'p', style: 'vivid' });\n", "f({ prompt: 'p' });\n"),
    "inline only": ("f({ style: 'vivid' });\n", "f({ });\n"),
    "inline last, trailing comma": ("f({ prompt: 'p', style: 'vivid', });\n", "f({ prompt: 'p', });\n"),
    "multi-line last, trailing comma": (
        "f({\n  prompt: 'p',\n  style: 'vivid', // pop\n});\n",
        "f({\n  prompt: 'p',\n});\n",
    ),
    "multi-line last, no trailing comma": (
        "f({\n  prompt: 'p', // the prompt\n  style: 'vivid'\n});\n",
        "f({\n  prompt: 'p' // the prompt\n});\n",
    ),
    "multi-line only": ("f({\n  style: 'vivid',\n});\n", "f({\n});\n"),
    "end of a line": (
        "f({\n  prompt: 'p', style: 'vivid',\n  n: 1,\n});\n",
        "f({\n  prompt: 'p',\n  n: 1,\n});\n",
    ),
    "quoted key": ("f({ prompt: 'p', 'style': 'vivid' });\n", "f({ prompt: 'p' });\n"),
    "crlf": ("f({\r\n  prompt: 'p',\r\n  style: 'vivid'\r\n});\r\n", "f({\r\n  prompt: 'p'\r\n});\r\n"),
    "block comments after the comma": (
        "f({\n  prompt: 'p',\n  style: 'vivid', /* a */ /** b **/ // c\n  n: 1,\n});\n",
        "f({\n  prompt: 'p',\n  n: 1,\n});\n",
    ),
    # The rest of the line is not only comments. The comment pattern once backtracked exponentially here
    # (its lazy body could run on past "*/"): 40 comments never finished.
    "many block comments, then code": (
        "f({ prompt: 'p', style: 'vivid', " + "/**/ " * 40 + "n: 1 });\n",
        "f({ prompt: 'p', " + "/**/ " * 40 + "n: 1 });\n",
    ),
}


@pytest.mark.parametrize("case", list(TS_REMOVALS))
def test_ts_property_is_removed_with_its_comma(tmp_path: Path, case: str) -> None:
    before, expected = TS_REMOVALS[case]
    prop = re.search(r"'?style'?: 'vivid'", before)
    assert prop is not None
    removal = Edit("app.ts", span_at(before, prop.start(), prop.end()), "", STYLE, "style", True)
    fix = fix_one(tmp_path, "app.ts", before, "typescript", [removal])
    assert fix.refused == ()
    assert fix.after == expected


def test_ts_literals_replaced_and_property_removed_together(tmp_path: Path) -> None:
    edits = [
        edit(TS, "dall-e-3", "gpt-image-2", "model", path="app.ts"),
        edit(TS, "style: 'vivid'", "", "style", remove=True, path="app.ts"),
        edit(TS, "'1792x1024'", "'1536x1024'", "size", path="app.ts"),
    ]
    fix = fix_one(tmp_path, "app.ts", TS, "typescript", edits)
    assert fix.refused == ()
    assert fix.after == (
        "const image = await client.images.generate({\n"
        '  model: "gpt-image-2", // the model\n'
        '  prompt: "a café ☕",\n'
        "  /* looks */\n"
        "  size: '1536x1024',\n"
        "});\n"
    )


def test_js_adjacent_properties_removed_and_shorthand(tmp_path: Path) -> None:
    before = "generateImage({ model: openai.image('dall-e-3'), prompt, style, response_format: 'url' });\n"
    edits = [
        edit(before, "dall-e-3", "gpt-image-2", "model", path="app.js"),
        edit(before, "style", "", "style", remove=True, path="app.js"),
        edit(before, "response_format: 'url'", "", "response_format", remove=True, path="app.js"),
    ]
    fix = fix_one(tmp_path, "app.js", before, "javascript", edits)
    assert fix.refused == ()
    assert fix.after == "generateImage({ model: openai.image('gpt-image-2'), prompt });\n"


def test_tsx_file_uses_the_tsx_grammar(tmp_path: Path) -> None:
    before = "const el = <Img model={'dall-e-3'} />;\nf({ prompt: 'p', style: 'vivid' });\n"
    edits = [
        edit(before, "dall-e-3", "gpt-image-2", "model", path="app.tsx"),
        edit(before, "style: 'vivid'", "", "style", remove=True, path="app.tsx"),
    ]
    fix = fix_one(tmp_path, "app.tsx", before, "typescript", edits)
    assert fix.refused == ()
    assert fix.after == "const el = <Img model={'gpt-image-2'} />;\nf({ prompt: 'p' });\n"


@pytest.mark.parametrize(
    ("needle", "replacement", "remove", "why"),
    [
        ("prompt", "", True, "no object property"),
        ("'p'", "p", False, "not a literal of the same kind"),
        ("'p'", '"p"', False, "not a literal of the same kind"),
        ("dall", "x y", False, "cannot be put inside a string"),
        ("f({", "x", False, "no literal at this position"),
        ("`a${b}`", "`c`", False, "not a literal of the same kind"),
    ],
)
def test_js_edit_on_the_wrong_kind_of_node_is_refused(
    tmp_path: Path, needle: str, replacement: str, remove: bool, why: str
) -> None:
    before = "f({ prompt: 'p', model: 'dall-e-3', user: `a${b}` }.prompt);\n"
    fix = fix_one(
        tmp_path, "app.js", before, "javascript", [edit(before, needle, replacement, "x", remove=remove)]
    )
    assert fix.after == before
    ((_, reason),) = fix.refused
    assert why in reason


def test_js_result_with_new_syntax_errors_refuses_the_files_edits(tmp_path: Path) -> None:
    # `1__0` passes the number check but is not JavaScript: the re-parse catches it
    before = "f({ n: 1, model: 'dall-e-3' });\n"
    edits = [
        edit(before, "dall-e-3", "gpt-image-2", "model", path="app.js"),
        edit(before, "1", "1__0", "n", path="app.js"),
    ]
    fix = fix_one(tmp_path, "app.js", before, "javascript", edits)
    assert fix.after == before
    assert [why for _, why in fix.refused] == ["the edited file would have syntax errors (tree-sitter)"] * 2


def test_js_file_with_errors_already_is_still_fixed(tmp_path: Path) -> None:
    before = "f({ model: 'dall-e-3' });\nconst = ;\n"
    fix = fix_one(
        tmp_path,
        "app.js",
        before,
        "javascript",
        [edit(before, "dall-e-3", "gpt-image-2", "model", path="app.js")],
    )
    assert fix.after == "f({ model: 'gpt-image-2' });\nconst = ;\n"


def test_js_without_tree_sitter_leaves_manual_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tree_sitter", None)
    fix_text._parser.cache_clear()
    try:
        fix = fix_one(
            tmp_path,
            "app.ts",
            TS,
            "typescript",
            [edit(TS, "dall-e-3", "gpt-image-2", "model", path="app.ts")],
        )
    finally:
        fix_text._parser.cache_clear()
    assert not fix.changed
    ((_, why),) = fix.refused
    assert why == "tree-sitter is not installed: pip install 'imageshim[scan]'"


# -- config files ------------------------------------------------------------------------------------

CONFIGS = {
    "settings.yaml": (
        "image:\n  model: dall-e-3  # the model\n  fallback: 'dall-e-3'\n",
        "image:\n  model: gpt-image-2  # the model\n  fallback: 'gpt-image-2'\n",
    ),
    "pyproject.toml": (
        '[tool.app]\nmodel = "dall-e-3"  # retired\nother = "openai/dall-e-3"\n',
        '[tool.app]\nmodel = "gpt-image-2"  # retired\nother = "openai/gpt-image-2"\n',
    ),
    ".env": ("IMAGE_MODEL=dall-e-3\r\nOTHER=1\r\n", "IMAGE_MODEL=gpt-image-2\r\nOTHER=1\r\n"),
    "app.json": ('{"model": "dall-e-3", "n": 1}', '{"model": "gpt-image-2", "n": 1}'),
    "app.ini": ("[image]\nmodel = dall-e-3\n", "[image]\nmodel = gpt-image-2\n"),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_config_values_are_replaced(tmp_path: Path, name: str) -> None:
    before, expected = CONFIGS[name]
    edits = [
        Edit(name, span_at(before, m.start(), m.end()), "gpt-image-2", "retired", "model")
        for m in re.finditer("dall-e-3", before)
    ]
    fix = fix_one(tmp_path, name, before, "config", edits)
    assert fix.refused == ()
    assert fix.after == expected


KEYS = {
    "imageshim.toml": '[routes]\n"dall-e-3" = ["openai:gpt-image-2"]\nold = ["dall-e-3"]\n',
    "explicit.yaml": "prices:\n  ? dall-e-3\n  : 0.04\nmodel: dall-e-3\n",
    "explicit-item.yaml": "- ? 'openai/dall-e-3'\n  : 0.04\n- model: dall-e-3\n",
    "app.ini": "[dall-e-3]\nmodel = dall-e-3\n",
    "app.yaml": "prices:\n  dall-e-3: 0.04\nfallbacks: [dall-e-3]\n",
    "app.json": '{"dall-e-3": {"model": "dall-e-3"}}\n',
}


@pytest.mark.parametrize("name", list(KEYS))
def test_config_keys_and_sections_are_not_renamed(tmp_path: Path, name: str) -> None:
    before = KEYS[name]
    key, value = (Edit(name, span_of(before, "dall-e-3", nth=n), "gpt-image-2", "r", "model") for n in (0, 1))
    fix = fix_one(tmp_path, name, before, "config", [key, value])
    assert fix.applied == (value,)
    assert fix.refused == (
        (key, "it is a key or section name, not a value: renaming it changes what the file means"),
    )
    assert fix.after == before[: value.span.offset] + "gpt-image-2" + before[value.span.end_offset :]


def test_dict_and_object_keys_are_not_renamed(tmp_path: Path) -> None:
    py = 'PRICES = {"dall-e-3": 0.04}\nTIERS = {"premium": "dall-e-3"}\n'
    js = "const prices = { 'dall-e-3': 0.04, premium: 'dall-e-3' };\n"
    cases: list[tuple[str, str, Language]] = [("app.py", py, "python"), ("app.js", js, "javascript")]
    for name, text, language in cases:
        key, value = (edit(text, "dall-e-3", "gpt-image-2", "model", nth=n, path=name) for n in (0, 1))
        fix = fix_one(tmp_path, name, text, language, [key, value])
        assert fix.applied == (value,)
        ((refused, why),) = fix.refused
        assert refused == key
        assert why.startswith("it is a ")
        assert "key" in why
        assert fix.after == text[: value.span.offset] + "gpt-image-2" + text[value.span.end_offset :]


#: a LiteLLM proxy's model_list: model_name is the alias clients call, litellm_params.model the model called
ALIASES: dict[str, tuple[str, Language]] = {
    "litellm_config.yaml": (
        "model_list:\n  - model_name: dall-e-3\n    litellm_params:\n      model: openai/dall-e-3\n",
        "config",
    ),
    "next-line.yaml": ("- model_name:\n    dall-e-3\n  litellm_params: {model: dall-e-3}\n", "config"),
    "proxy.json": (
        '{"model_list": [{"model_name": "openai/dall-e-3", "litellm_params": {"model": "dall-e-3"}}]}\n',
        "config",
    ),
    "proxy.toml": (
        '[[model_list]]\nmodel_name = "dall-e-3"\nlitellm_params = { model = "dall-e-3" }\n',
        "config",
    ),
    "router.py": (
        'ROUTES = [{"model_name": "dall-e-3", "litellm_params": {"model": "dall-e-3"}}]\n',
        "python",
    ),
    "router.ts": (
        "const routes = [{ model_name: 'dall-e-3', litellm_params: { model: 'dall-e-3' } }];\n",
        "typescript",
    ),
}


@pytest.mark.parametrize("name", list(ALIASES))
def test_the_public_model_name_of_a_litellm_proxy_is_not_renamed(tmp_path: Path, name: str) -> None:
    text, language = ALIASES[name]
    alias, model = (edit(text, "dall-e-3", "gpt-image-2", "model", nth=n, path=name) for n in (0, 1))
    (tmp_path / name).write_text(text, encoding="utf-8")
    result = plan(tmp_path, finding(name, language, [alias, model]))
    (fix,) = result.files
    assert fix.applied == (model,)
    assert fix.refused == ((alias, fix_text.ALIAS),)
    assert fix.after == text[: model.span.offset] + "gpt-image-2" + text[model.span.end_offset :]
    line, column = alias.span.line, alias.span.column
    assert render_manual(result) == (
        f"{name}:{line}:{column}  change the model to 'gpt-image-2' (gpt-image-2 takes gpt-image-2); "
        f"not done automatically: {fix_text.ALIAS}\n"
    )
    assert "model_name, the public name clients call" in fix_text.ALIAS


def test_config_edits_that_are_not_safe_are_refused(tmp_path: Path) -> None:
    before = '{"model": "dall-e-3", "n": 1, "style": "vivid"}\n'
    edits = [
        edit(before, "dall-e-3", 'gpt"x', "model", path="app.json"),
        edit(before, '"style": "vivid"', "", "style", remove=True, path="app.json"),
    ]
    fix = fix_one(tmp_path, "app.json", before, "config", edits)
    assert fix.after == before
    assert [why for _, why in fix.refused] == [
        "settings are not removed from config files automatically",
        "'gpt\"x' cannot replace 'dall-e-3' as it is",
    ]


def test_config_that_would_no_longer_load_is_left_alone(tmp_path: Path) -> None:
    before = '{"model": "dall-e-3", "n": 1}\n'
    edits = [
        edit(before, "dall-e-3", "gpt-image-2", "model", path="app.json"),
        edit(before, "1", "1_0", "n", path="app.json"),
    ]
    fix = fix_one(tmp_path, "app.json", before, "config", edits)
    assert fix.after == before
    assert [why for _, why in fix.refused] == ["the edited file would no longer load"] * 2


# -- the driver: overlaps, stale edits, manual steps -----------------------------------------------


def test_overlapping_edits_keep_the_first_and_identical_ones_merge(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(PY, encoding="utf-8")
    size = edit(PY, '"1792x1024"', '"1536x1024"', "size")
    first = finding("app.py", "python", [size, edit(PY, "'hd'", "'high'", "quality")], manual=["read .url"])
    # a second call sharing SIZE carries the same edit; a third edit overlaps the first one
    second = finding("app.py", "python", [size, edit(PY, "1792x1024", "1024x1024", "size")])
    result = plan(tmp_path, first, second)
    (fix,) = result.files
    assert fix.after == PY.replace("1792x1024", "1536x1024").replace("'hd'", "'high'")
    assert len(fix.applied) == 2
    ((refused, why),) = fix.refused
    assert refused.replacement == "1024x1024"
    assert why == "it overlaps the size edit at 4:8"
    assert result.manual == (
        ("app.py:4:8", "read .url"),
        (
            "app.py:4:9",
            "change the size to '1024x1024' (gpt-image-2 takes 1024x1024); not done automatically: "
            "it overlaps the size edit at 4:8",
        ),
    )


def test_overlapping_edits_that_make_the_same_change_merge(tmp_path: Path) -> None:
    # the call's edit rewrites the whole literal, a model-id edit only the id inside it
    whole = edit(PY, '"dall-e-3"', '"gpt-image-2"', "model")
    inside = edit(PY, "dall-e-3", "gpt-image-2", "model")
    fix = fix_one(tmp_path, "app.py", PY, "python", [whole, inside])
    assert fix.refused == ()
    assert fix.applied == (whole,)
    assert fix.after == PY.replace("dall-e-3", "gpt-image-2")


def test_removal_and_a_replacement_inside_it_overlap(tmp_path: Path) -> None:
    before = 'g(prompt="p", style="vivid")\n'
    edits = [
        edit(before, 'style="vivid"', "", "style", remove=True),
        edit(before, '"vivid"', '"natural"', "style"),
    ]
    fix = fix_one(tmp_path, "app.py", before, "python", edits)
    assert fix.after == 'g(prompt="p")\n'
    assert [why for _, why in fix.refused] == ["it overlaps the style edit at 1:15"]


def test_stale_edits_become_manual_steps(tmp_path: Path) -> None:
    old = PY
    now = "# a new first line\n" + PY.replace("'hd'", "'lo'")
    shifted = edit(old, "dall-e-3", "gpt-image-2", "model")
    same_place = dataclasses.replace(edit(now, "'lo'", "'high'", "quality"), original="'hd'")
    outside = dataclasses.replace(shifted, span=span_at(old + "x" * 500, len(old) + 10, len(old) + 20))
    fix = fix_one(tmp_path, "app.py", now, "python", [shifted, same_place, outside])
    assert fix.after == now
    assert [why for _, why in fix.refused] == [
        "the file changed since the scan (offset 125 is no longer line 6, column 12)",
        "the file changed since the scan: \"'lo'\" where \"'hd'\" was",
        "the span is not in the file (the file changed since the scan?)",
    ]


def test_unreadable_and_documentation_files_give_manual_steps(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("Use dall-e-3.\n", encoding="utf-8")
    (tmp_path / "latin.py").write_bytes(b'# caf\xe9\nm = "dall-e-3"\n')
    doc = edit("Use dall-e-3.\n", "dall-e-3", "gpt-image-2", "model", path="README.md")
    latin = edit('# caf?\nm = "dall-e-3"\n', "dall-e-3", "gpt-image-2", "model", path="latin.py")
    missing = edit(PY, "dall-e-3", "gpt-image-2", "model", path="gone.py")
    result = plan(
        tmp_path,
        finding("README.md", "docs", [doc]),
        finding("latin.py", "python", [latin]),
        finding("gone.py", "python", [missing]),
    )
    assert not any(fix.changed for fix in result.files)
    assert render_diff(result) == ""
    reasons = [step.rsplit("not done automatically: ", 1)[1] for _, step in result.manual]
    assert reasons == [
        "documentation is not rewritten",
        "cannot read it (No such file or directory)",
        "not UTF-8 text",
    ]


def test_render_manual_lists_one_step_a_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(PY, encoding="utf-8")
    result = plan(
        tmp_path, finding("app.py", "python", [], manual=["read of .url: gpt-image-2 returns no URL"])
    )
    assert render_manual(result) == "app.py:1:1  read of .url: gpt-image-2 returns no URL\n"


# -- the diff ----------------------------------------------------------------------------------------


def test_diff_applies_with_git_and_keeps_line_ends(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    assert git(repo, "init", "-q").returncode == 0
    sources = {
        "app.py": PY,
        "src/crlf.py": 'x = g(\r\n    model="dall-e-3",\r\n    style="vivid",\r\n)\r\n',
        "web/app.ts": TS,
        "no_newline.py": 'a = 1\nb = 2\nc = 3\nd = 4\nm = "dall-e-3"',
        "naïve café.yaml": "model: dall-e-3  # é\n",
    }
    findings = []
    for name, text in sources.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(text.encode())
        edits = [edit(text, "dall-e-3", "gpt-image-2", "model", path=name)]
        if "style" in text:
            argument = text[text.index("style") :].split(",")[0]
            edits.append(edit(text, argument, "", "style", remove=True, path=name))
        languages: dict[str, Language] = {"py": "python", "ts": "typescript", "yaml": "config"}
        language = languages[name.rsplit(".", 1)[1]]
        findings.append(finding(name, language, edits))
    result = plan(repo, *findings)
    assert all(fix.refused == () for fix in result.files)
    diff = render_diff(result)

    # the edits are listed above each file's header, and git ignores those lines
    assert "# app.py:6:12  model 'dall-e-3' -> 'gpt-image-2': gpt-image-2 takes gpt-image-2\n" in diff
    assert "# web/app.ts:5:3  style: 'vivid' removed: gpt-image-2 has no style\n" in diff
    assert diff.index("# app.py:6:12") < diff.index(
        "diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n"
    )
    assert '--- "a/na\\303\\257ve caf\\303\\251.yaml"\n' in diff
    assert (
        '-m = "dall-e-3"\n\\ No newline at end of file\n+m = "gpt-image-2"\n\\ No newline at end of file\n'
        in diff
    )
    assert '-    style="vivid",\r\n' in diff

    patch = tmp_path / "fix.patch"
    patch.write_bytes(diff.encode())
    check = git(repo, "apply", "--check", str(patch))
    assert check.returncode == 0, check.stderr
    applied = git(repo, "apply", str(patch))
    assert applied.returncode == 0, applied.stderr
    for fix in result.files:
        assert (repo / fix.path).read_bytes() == fix.after.encode()
    assert (repo / "src/crlf.py").read_bytes() == b'x = g(\r\n    model="gpt-image-2",\r\n)\r\n'
    assert (repo / "no_newline.py").read_bytes().endswith(b'm = "gpt-image-2"')


def _unsafe(text: str) -> list[str]:
    """The control, format (bidirectional overrides) and lone surrogate characters in ``text``."""
    return [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Cs")]


def test_a_crafted_file_name_adds_no_line_to_the_diff_nor_reaches_the_terminal(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    assert git(repo, "init", "-q").returncode == 0
    (repo / "settings.py").write_text("DEBUG = False\n", encoding="utf-8")
    # a folder name that, written raw in the diff, is a hunk turning DEBUG on in settings.py
    injected = (
        "x\ndiff --git a/settings.py b/settings.py\n--- a/settings.py\n+++ b/settings.py\n"
        "@@ -1 +1 @@\n-DEBUG = False\n+DEBUG = True\n#\x1b[2J\u202e\x85"
    )
    name = f"{injected}/m.py"
    (repo / injected).mkdir(parents=True)
    text = 'm = "dall-e-3"\n'
    (repo / name).write_text(text, encoding="utf-8")
    model = edit(text, "dall-e-3", "gpt-image-2", "model", path=name)
    result = plan(repo, finding(name, "python", [model], manual=["read of .url\x1b[31m"]))
    diff, manual = render_diff(result), render_manual(result)

    lines = diff.splitlines(keepends=True)
    comments = [line for line in lines if line.startswith("#")]
    assert len(comments) == 2  # where to run git apply, and the one edit
    assert all(_unsafe(line) == ["\n"] for line in comments)
    assert "# x\\x0adiff --git a/settings.py b/settings.py\\x0a--- a/settings.py" in comments[1]
    assert "\\x1b[2J\\u202e\\x85/m.py:1:6  model 'dall-e-3' -> 'gpt-image-2'" in comments[1]
    assert [line for line in lines if line.startswith("diff --git")] == [
        'diff --git "a/x\\ndiff --git a/settings.py b/settings.py\\n--- a/settings.py\\n+++ b/settings.py'
        '\\n@@ -1 +1 @@\\n-DEBUG = False\\n+DEBUG = True\\n#\\033[2J\\342\\200\\256\\302\\205/m.py" '
        '"b/x\\ndiff --git a/settings.py b/settings.py\\n--- a/settings.py\\n+++ b/settings.py'
        '\\n@@ -1 +1 @@\\n-DEBUG = False\\n+DEBUG = True\\n#\\033[2J\\342\\200\\256\\302\\205/m.py"\n'
    ]
    assert manual.count("\n") == 1
    assert _unsafe(manual) == ["\n"]
    assert manual.endswith("m.py:1:6  read of .url\\x1b[31m\n")

    patch = tmp_path / "fix.patch"
    patch.write_bytes(diff.encode())
    applied = git(repo, "apply", str(patch))
    assert applied.returncode == 0, applied.stderr
    assert (repo / "settings.py").read_text(encoding="utf-8") == "DEBUG = False\n"
    assert (repo / name).read_text(encoding="utf-8") == 'm = "gpt-image-2"\n'


def test_a_file_name_that_is_not_utf8_is_quoted_with_its_own_bytes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    assert git(repo, "init", "-q").returncode == 0
    name = os.fsdecode(b"caf\xe9.py")  # "caf\udce9.py", as os.walk gives it
    text = 'm = "dall-e-3"\n'
    (repo / name).write_text(text, encoding="utf-8")
    result = plan(repo, finding(name, "python", [edit(text, "dall-e-3", "gpt-image-2", "model", path=name)]))
    diff = render_diff(result)
    assert 'diff --git "a/caf\\351.py" "b/caf\\351.py"\n--- "a/caf\\351.py"\n+++ "b/caf\\351.py"\n' in diff
    assert "# caf\\udce9.py:1:6  model" in diff
    patch = tmp_path / "fix.patch"
    patch.write_bytes(diff.encode())  # the diff encodes: nothing of the name is left unescaped
    applied = git(repo, "apply", str(patch))
    assert applied.returncode == 0, applied.stderr
    assert (repo / os.fsdecode(b"caf\xe9.py")).read_text(encoding="utf-8") == 'm = "gpt-image-2"\n'


def test_diff_paths_start_at_the_repository_top_and_files_it_cannot_reach_are_steps(tmp_path: Path) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    for folder in (repo / "app", repo / "other", outside):
        folder.mkdir(parents=True)
    assert git(repo, "init", "-q").returncode == 0
    (repo / "app" / "linked").symlink_to(outside, target_is_directory=True)
    text = 'm = "dall-e-3"\n'
    for file in (repo / "app" / "m.py", repo / "other" / "m.py", outside / "m.py", outside / "n.py"):
        file.write_text(text, encoding="utf-8")
    # as the scan names files run in repo/app: relative to it, or absolute when the root is elsewhere
    names = ["m.py", str(repo / "other" / "m.py"), str(outside / "m.py"), "linked/n.py"]
    findings = [finding(n, "python", [edit(text, "dall-e-3", "gpt-image-2", "model", path=n)]) for n in names]
    result = plan(repo / "app", *findings)

    assert result.apply_from == repo
    assert {fix.path: fix.diff_path for fix in result.files} == {
        "m.py": "app/m.py",
        str(repo / "other" / "m.py"): "other/m.py",
        str(outside / "m.py"): None,
        "linked/n.py": None,
    }
    diff = render_diff(result)
    assert diff.startswith(f"# run git apply from {repo} (the paths below start there)\n")
    assert diff.count("diff --git") == 2
    assert "diff --git a/app/m.py b/app/m.py\n" in diff
    assert "diff --git a/other/m.py b/other/m.py\n" in diff
    assert str(outside) not in diff

    step = "change the model to 'gpt-image-2' (gpt-image-2 takes gpt-image-2); not done automatically: "
    assert render_manual(result) == (
        f"{outside / 'm.py'}:1:6  {step}the diff leaves it out: it is outside the git repository at {repo}, "
        "whose paths the diff holds (--fix --write edits it)\n"
        f"linked/n.py:1:6  {step}the diff leaves it out: app/linked is a symbolic link, which git apply "
        "does not write through (--fix --write edits the file it points to)\n"
    )
    assert render_manual(result, written=True) == ""

    patch = tmp_path / "fix.patch"
    patch.write_bytes(diff.encode())
    applied = git(repo, "apply", str(patch))
    assert applied.returncode == 0, applied.stderr
    assert (repo / "app" / "m.py").read_text(encoding="utf-8") == 'm = "gpt-image-2"\n'
    assert (repo / "other" / "m.py").read_text(encoding="utf-8") == 'm = "gpt-image-2"\n'
    assert (outside / "m.py").read_text(encoding="utf-8") == text
    # --write still edits the files the diff leaves out
    left_out = FixResult(tuple(fix for fix in result.files if fix.diff_path is None), ())
    assert write(left_out, base=repo / "app") == [outside / "m.py", repo / "app" / "linked" / "n.py"]
    assert (outside / "n.py").read_text(encoding="utf-8") == 'm = "gpt-image-2"\n'


# -- writing -----------------------------------------------------------------------------------------


def _two_files(base: Path) -> FixResult:
    crlf = 'm = "dall-e-3"\r\n'
    (base / "a.py").write_bytes(crlf.encode())
    (base / "b.py").write_text(PY, encoding="utf-8")
    os.chmod(base / "a.py", 0o750)
    return plan(
        base,
        finding("a.py", "python", [edit(crlf, "dall-e-3", "gpt-image-2", "model", path="a.py")]),
        finding("b.py", "python", [edit(PY, "dall-e-3", "gpt-image-2", "model", path="b.py")]),
    )


def test_write_replaces_files_keeping_mode_and_line_ends(tmp_path: Path) -> None:
    result = _two_files(tmp_path)
    assert write(result, base=tmp_path) == [tmp_path / "a.py", tmp_path / "b.py"]
    assert (tmp_path / "a.py").read_bytes() == b'm = "gpt-image-2"\r\n'
    assert (tmp_path / "b.py").read_text(encoding="utf-8") == PY.replace("dall-e-3", "gpt-image-2")
    assert stat.S_IMODE((tmp_path / "a.py").stat().st_mode) == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "b.py"]


def test_write_refuses_a_file_changed_underneath_and_writes_nothing(tmp_path: Path) -> None:
    result = _two_files(tmp_path)
    (tmp_path / "b.py").write_text(PY + "# edited meanwhile\n", encoding="utf-8")
    with pytest.raises(FileChangedError, match=r"b\.py changed since imageshim scan read it") as info:
        write(result, base=tmp_path)
    assert info.value.path == tmp_path / "b.py"
    assert (tmp_path / "a.py").read_bytes() == b'm = "dall-e-3"\r\n'


def test_write_refuses_a_read_only_file_and_writes_nothing(tmp_path: Path) -> None:
    result = _two_files(tmp_path)
    os.chmod(tmp_path / "b.py", 0o444)  # refused also when the tests run as root, who could write it
    with pytest.raises(
        FileNotWritableError, match=r"b\.py cannot be written: it is read-only \(mode 444\)"
    ) as info:
        write(result, base=tmp_path)
    assert info.value.path == tmp_path / "b.py"
    assert (tmp_path / "a.py").read_bytes() == b'm = "dall-e-3"\r\n'
    assert (tmp_path / "b.py").read_text(encoding="utf-8") == PY
    assert stat.S_IMODE((tmp_path / "b.py").stat().st_mode) == 0o444


@pytest.mark.parametrize(
    ("denied", "why", "named"),
    [
        ("b.py", "no permission to write it", "b.py"),
        (".", "no permission to create a file in its folder", "a.py"),  # the temporary file
    ],
)
def test_write_refuses_what_this_process_may_not_write_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, denied: str, why: str, named: str
) -> None:
    result = _two_files(tmp_path)
    access = os.access

    def deny(path: str | os.PathLike[str], mode: int, **options: bool) -> bool:
        return not (Path(path) == (tmp_path / denied).resolve() and mode & os.W_OK) and access(path, mode)

    monkeypatch.setattr(os, "access", deny)
    with pytest.raises(FileNotWritableError, match=re.escape(why)) as info:
        write(result, base=tmp_path)
    assert info.value.path == tmp_path / named
    assert (tmp_path / "a.py").read_bytes() == b'm = "dall-e-3"\r\n'
    assert (tmp_path / "b.py").read_text(encoding="utf-8") == PY


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _two_files(tmp_path)
    seen: list[tuple[str, str]] = []

    def failing_replace(src: str, dst: str) -> None:
        seen.append((src, dst))
        assert Path(src).read_bytes() == b'm = "gpt-image-2"\r\n'  # the whole new text, before the swap
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write(result, base=tmp_path)
    ((src, dst),) = seen
    assert Path(src).parent == Path(dst).parent == tmp_path
    assert (tmp_path / "a.py").read_bytes() == b'm = "dall-e-3"\r\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "b.py"]  # no temporary file left


def test_write_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    (tmp_path / "real.py").write_text('m = "dall-e-3"\n', encoding="utf-8")
    (tmp_path / "link.py").symlink_to("real.py")
    text = 'm = "dall-e-3"\n'
    result = plan(
        tmp_path, finding("link.py", "python", [edit(text, "dall-e-3", "gpt-image-2", "m", path="link.py")])
    )
    write(result, base=tmp_path)
    assert (tmp_path / "link.py").is_symlink()
    assert (tmp_path / "real.py").read_text(encoding="utf-8") == 'm = "gpt-image-2"\n'


# -- idempotence -------------------------------------------------------------------------------------


def advise(path: str, text: str) -> list[Finding]:
    """A stand-in for the advice module: the edits for retired ids, wide sizes and style, from the text."""
    edits = [
        Edit(
            path, span_at(text, m.start(2), m.end(2)), "gpt-image-2", "retired", "model", original="dall-e-3"
        )
        for m in re.finditer(r"([\"'])(dall-e-3)\1", text)
    ]
    edits += [
        Edit(path, span_at(text, m.start(), m.end()), f"{m[1]}1536x1024{m[1]}", "fit", "size", original=m[0])
        for m in re.finditer(r"([\"'])1792x1024\1", text)
    ]
    edits += [
        Edit(path, span_at(text, m.start(), m.end()), "", STYLE, "style", True, original=m[0])
        for m in re.finditer(r"style(=|: )([\"'])\w+\2", text)
    ]
    language: Language = "python"
    if not path.endswith(".py"):
        language = "typescript"
    return [finding(path, language, edits)] if edits else []


def test_fixing_the_fixed_tree_changes_nothing(tmp_path: Path) -> None:
    sources = {"app.py": PY + 'g(model="dall-e-3", style="vivid")\n', "app.ts": TS}
    for name, text in sources.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    first = [f for name, text in sources.items() for f in advise(name, text)]
    result = plan(tmp_path, *first)
    assert all(fix.changed and fix.refused == () for fix in result.files)
    write(result, base=tmp_path)

    fixed = {name: (tmp_path / name).read_text(encoding="utf-8") for name in sources}
    again = plan(tmp_path, *(f for name, text in fixed.items() for f in advise(name, text)))
    assert again.files == ()
    assert render_diff(again) == ""
    # the first findings, now stale, change nothing either
    stale = plan(tmp_path, *first)
    assert not any(fix.changed for fix in stale.files)
    assert {(tmp_path / name).read_text(encoding="utf-8") for name in sources} == set(fixed.values())


# -- property: random edits in a generated call ------------------------------------------------------

_NAMES = ["model", "prompt", "size", "quality", "style", "user", "background", "moderation"]
_VALUE = st.text(alphabet="abcxyz0123456789-. é☕", max_size=10)
_ARG = st.tuples(
    _VALUE,
    st.sampled_from(['"', "'"]),
    st.one_of(st.none(), st.text(alphabet="abc #é", max_size=8)),
    st.sampled_from(["keep", "replace", "inner", "remove"]),
    _VALUE,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    args=st.lists(_ARG, min_size=1, max_size=len(_NAMES)),
    multiline=st.booleans(),
    trailing=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_random_edits_in_a_call_give_python_that_parses_and_a_diff_that_applies(
    args: list[tuple[str, str, str | None, str, str]], multiline: bool, trailing: bool, newline: str
) -> None:
    text = "result = client.images.generate(" + (newline if multiline else "")
    edits, expected, comments = [], {}, []
    for i, (value, quote, comment, action, new) in enumerate(args):
        name, last = _NAMES[i], i == len(args) - 1
        text += "    " if multiline else ""
        arg_start = len(text)
        text += f"{name}="
        lit_start = len(text)
        text += quote + value + quote
        lit_end = len(text)
        text += "," if not last or trailing else ""
        if multiline:
            text += f"  # {comment}" if comment else ""
            text += newline
        elif not last:
            text += " "
        expected[name] = value
        if action == "replace":
            edits.append(Edit("gen.py", span_at(text, lit_start, lit_end), f"{quote}{new}{quote}", "r", name))
            expected[name] = new
        elif action == "inner" and value:
            edits.append(Edit("gen.py", span_at(text, lit_start + 1, lit_end - 1), "gpt-image-2", "r", name))
            expected[name] = "gpt-image-2"
        elif action == "remove":
            edits.append(
                Edit("gen.py", span_at(text, arg_start, lit_end), "", "r", name, remove_argument=True)
            )
            del expected[name]
        elif comment and multiline:
            comments.append(f"# {comment}")
    text += ")" + newline

    with tempfile.TemporaryDirectory() as temp:
        base = Path(temp)
        (base / "gen.py").write_bytes(text.encode())
        result = plan(base, finding("gen.py", "python", edits))
        fix = result.files[0] if result.files else FileFix("gen.py", text, text, (), ())
        assert fix.refused == ()
        assert result.manual == ()
        (call,) = [node for node in ast.walk(ast.parse(fix.after)) if isinstance(node, ast.Call)]
        assert {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords} == expected
        assert all(comment in fix.after for comment in comments)
        assert newline == "\r\n" or "\r" not in fix.after
        diff = render_diff(result)
        assert (diff == "") == (fix.after == text)
        if not diff:
            return
        patch = base / "fix.patch"
        patch.write_bytes(diff.encode())
        applied = git(base, "apply", str(patch))
        assert applied.returncode == 0, applied.stderr
        assert (base / "gen.py").read_bytes() == fix.after.encode()


_PROP = st.tuples(
    _VALUE,
    st.sampled_from(['"', "'"]),
    st.sampled_from([None, "// note", "/* note */"]),
    st.sampled_from(["keep", "replace", "inner", "remove"]),
    _VALUE,
)


def _object_entries(source: str) -> dict[str, str]:
    """The properties of the one object literal in ``source`` (key -> string value), via tree-sitter."""
    parse = fix_text._parser("javascript")
    data = source.encode()
    tree = parse(data)
    assert not tree.root_node.has_error, source
    stack, entries = [tree.root_node], {}
    while stack:
        node = stack.pop()
        if node.type == "pair":
            key, value = node.child_by_field_name("key"), node.child_by_field_name("value")
            entries[data[key.start_byte : key.end_byte].decode()] = data[
                value.start_byte + 1 : value.end_byte - 1
            ].decode()
        stack.extend(node.children)
    return entries


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    props=st.lists(_PROP, min_size=1, max_size=len(_NAMES)),
    multiline=st.booleans(),
    trailing=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_random_edits_in_an_object_give_javascript_without_errors(
    props: list[tuple[str, str, str | None, str, str]], multiline: bool, trailing: bool, newline: str
) -> None:
    text = "f({" + (newline if multiline else " ")
    edits, expected, notes = [], {}, 0
    for i, (value, quote, comment, action, new) in enumerate(props):
        name, last = _NAMES[i], i == len(props) - 1
        text += "  " if multiline else ""
        prop_start = len(text)
        text += f"{name}: "
        lit_start = len(text)
        text += quote + value + quote
        lit_end = len(text)
        text += "," if not last or trailing else ""
        if comment and (multiline or comment.startswith("/*")):
            text += f" {comment}"
            notes += action != "remove"
        text += newline if multiline else " "
        expected[name] = value
        if action == "replace":
            edits.append(Edit("gen.js", span_at(text, lit_start, lit_end), f"{quote}{new}{quote}", "r", name))
            expected[name] = new
        elif action == "inner" and value:
            edits.append(Edit("gen.js", span_at(text, lit_start + 1, lit_end - 1), "gpt-image-2", "r", name))
            expected[name] = "gpt-image-2"
        elif action == "remove":
            edits.append(
                Edit("gen.js", span_at(text, prop_start, lit_end), "", "r", name, remove_argument=True)
            )
            del expected[name]
    text += "});" + newline

    with tempfile.TemporaryDirectory() as temp:
        base = Path(temp)
        (base / "gen.js").write_bytes(text.encode())
        result = plan(base, finding("gen.js", "javascript", edits))
        fix = result.files[0] if result.files else FileFix("gen.js", text, text, (), ())
        assert fix.refused == ()
        assert _object_entries(fix.after) == expected
        assert fix.after.count("note") >= notes  # the comments of the properties kept are kept
        assert newline == "\r\n" or "\r" not in fix.after
