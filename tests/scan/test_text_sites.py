"""Model ids in config files and docs: the fixture tree's expected sites, each format's positives and
negatives, CRLF, random text that never breaks the scanners, and generated configs rendered by real
emitters (json, PyYAML) or checked by real parsers (tomllib, configparser)."""

from __future__ import annotations

import configparser
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageshim._scan import scalars, scalars_yaml
from imageshim._scan.files import classify
from imageshim._scan.matching import CALL_TRIGGERS, ModelMatcher, WholeMatch, matcher_for
from imageshim._scan.sites import LiteralSite
from imageshim._scan.text_sites import CONFIG_FORMATS, extract_config, extract_docs

from .factories import MODELS
from .spans import check_span, cut

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TREE = Path(__file__).resolve().parent / "fixtures" / "tree"

#: every site in the fixture tree's config and docs files: (file, line, column, model, as written)
FIXTURE_SITES = [
    ("config/.env.example", 2, 13, "gpt-image-1-mini", "gpt-image-1-mini"),
    ("config/.env.example", 4, 30, "dall-e-2", "dall-e-2"),
    ("config/app.cfg", 2, 9, "gpt-image-1.5", "gpt-image-1.5"),
    ("config/app.cfg", 6, 2, "dall-e-2", "dall-e-2"),
    ("config/imageshim.toml", 4, 2, "dall-e-3", "dall-e-3"),
    ("config/imageshim.toml", 11, 7, "gpt-image-1.5", "gpt-image-1.5"),
    ("config/imageshim.toml", 12, 14, "gpt-image-2", "gpt-image-2"),
    ("config/litellm_config.yaml", 6, 21, "dall-e-3", "openai/dall-e-3"),
    ("config/litellm_config.yaml", 10, 21, "dall-e-2", "azure/dall-e-2"),
    ("config/settings.json", 3, 18, "dall-e-3", "dall-e-3"),
    ("config/settings.json", 4, 23, "gpt-image-1", "gpt-image-1"),
    ("config/settings.json", 4, 45, "gpt-image-1-mini", "openai/gpt-image-1-mini"),
    ("config/setup.ini", 3, 9, "gpt-image-1", "gpt-image-1"),
    ("config/setup.ini", 5, 5, "dall-e-3", "dall-e-3"),
    ("docs/README.md", 3, 35, "dall-e-3", "dall-e-3"),
    ("docs/README.md", 3, 56, "dall-e-2", "dall-e-2"),
    ("docs/README.md", 9, 40, "dall-e-3", "dall-e-3"),
    ("docs/README.md", 13, 27, "gpt-image-1", "gpt-image-1"),
    ("docs/guide.rst", 4, 26, "gpt-image-2", "gpt-image-2"),
    ("docs/guide.rst", 4, 50, "dall-e-3", "openai/dall-e-3"),
    ("docs/guide.rst", 4, 89, "gpt-image-2", "openai/gpt-image-2"),
    ("docs/guide.rst", 8, 11, "dall-e-3", "dall-e-3"),
    ("generated/kept.yaml", 2, 14, "gpt-image-1", "gpt-image-1"),
]
FIXTURE_FILES = sorted(
    [p.relative_to(TREE).as_posix() for folder in ("config", "docs") for p in (TREE / folder).iterdir()]
    + ["generated/kept.yaml"]
)


def extract(rel: str, text: str) -> list[LiteralSite]:
    found = classify(rel.rsplit("/", 1)[-1])
    assert isinstance(found, tuple), rel
    kind, fmt = found
    if kind == "docs":
        return extract_docs(rel, text, MODELS)
    assert fmt is not None
    return extract_config(rel, text, fmt, MODELS)


def check_spans(text: str, sites: list[LiteralSite]) -> None:
    """Every span is exactly its id, its line and column agree with its offset, and ``written`` ends it."""
    assert [s.span.offset for s in sites] == sorted({s.span.offset for s in sites})
    for site in sites:
        span = site.span
        check_span(text, span)
        assert cut(text, span) == site.model
        assert site.model in MODELS
        assert site.written.endswith(site.model)
        assert text[span.end_offset - len(site.written) : span.end_offset] == site.written
        assert (span.end_line, span.end_column) == (span.line, span.column + len(site.model))


@pytest.mark.parametrize("rel", FIXTURE_FILES)
def test_fixture_files_hold_exactly_the_expected_sites(rel: str) -> None:
    text = (TREE / rel).read_text(encoding="utf-8")
    sites = extract(rel, text)
    assert [(rel, s.span.line, s.span.column, s.model, s.written) for s in sites] == [
        row for row in FIXTURE_SITES if row[0] == rel
    ]
    check_spans(text, sites)
    assert all(s.path == rel for s in sites)
    docs = rel.startswith("docs/")
    assert {(s.language, s.context) for s in sites} <= {("docs", "doc") if docs else ("config", "config")}


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
@pytest.mark.parametrize("rel", FIXTURE_FILES)
def test_other_newlines_give_the_same_lines_and_columns(rel: str, newline: str) -> None:
    text = (TREE / rel).read_text(encoding="utf-8").replace("\n", newline)
    sites = extract(rel, text)
    assert [(rel, s.span.line, s.span.column, s.model, s.written) for s in sites] == [
        row for row in FIXTURE_SITES if row[0] == rel
    ]
    check_spans(text, sites)


def test_the_negative_fixtures_hold_no_site() -> None:
    assert {row[0] for row in FIXTURE_SITES}.isdisjoint({"config/negatives.yaml", "config/tsconfig.json"})
    for rel in ("config/negatives.yaml", "config/tsconfig.json"):
        text = (TREE / rel).read_text(encoding="utf-8")
        assert "dall-e-3" in text
        assert extract(rel, text) == []


# -- each format ----------------------------------------------------------------------------------

#: (format, text, [(model, written)])
CASES = [
    # YAML
    ("yaml", "model: dall-e-3\n", [("dall-e-3", "dall-e-3")]),
    ("yaml", "- dall-e-3\n- - gpt-image-1\n", [("dall-e-3", "dall-e-3"), ("gpt-image-1", "gpt-image-1")]),
    ("yaml", 'model: "openai/dall-e-3"\n', [("dall-e-3", "openai/dall-e-3")]),
    (
        "yaml",
        "dall-e-3:\n  x: 1\n'gpt-image-1': 2\n",
        [("dall-e-3", "dall-e-3"), ("gpt-image-1", "gpt-image-1")],
    ),
    ("yaml", "model:\tdall-e-3   # note\n", [("dall-e-3", "dall-e-3")]),
    (
        "yaml",
        "m: !!str dall-e-3\nn: &a dall-e-2\no: *a\n",
        [("dall-e-3", "dall-e-3"), ("dall-e-2", "dall-e-2")],
    ),
    (
        "yaml",
        "models: [dall-e-2, 'gpt-image-1.5', a b]\n",
        [("dall-e-2", "dall-e-2"), ("gpt-image-1.5", "gpt-image-1.5")],
    ),
    ("yaml", 'x: {"model":"dall-e-3", k: dall-e-2}\n', [("dall-e-3", "dall-e-3"), ("dall-e-2", "dall-e-2")]),
    (
        "yaml",
        "m: [\n  dall-e-2,  # old\n  'dall-e-3'\n]\nnext: gpt-image-1\n",
        [("dall-e-2", "dall-e-2"), ("dall-e-3", "dall-e-3"), ("gpt-image-1", "gpt-image-1")],
    ),
    ("yaml", "note: |\n  dall-e-3\n\n  - dall-e-2\nnext: gpt-image-1\n", [("gpt-image-1", "gpt-image-1")]),
    ("yaml", "- note: >-\n    dall-e-3\n  model: gpt-image-1\n", [("gpt-image-1", "gpt-image-1")]),
    ("yaml", "---\nmodel: dall-e-3\n...\n%YAML 1.2\n", [("dall-e-3", "dall-e-3")]),
    ("yaml", "m: 'dall-e-3'\nn: 'it''s dall-e-3'\n", [("dall-e-3", "dall-e-3")]),
    (
        "yaml",
        "m: ['it''s', dall-e-3, \"a\\\"b\", gpt-image-1]\n",
        [("dall-e-3", "dall-e-3"), ("gpt-image-1", "gpt-image-1")],
    ),
    ("yaml", "# model: dall-e-3\nm: dall-e-3#not-a-comment\n", []),
    ("yaml", "description: we used dall-e-3 for art\ncache: my-dall-e-3-cache\n", []),
    ("yaml", "a: dall-e-30\nb: dall-e-3.5\nc: /x/dall-e-3\nd: OpenAI/dall-e-3\ne: a/b/dall-e-3\n", []),
    ("yaml", 'm: "we used\n  dall-e-3"\nn: plain start\n  dall-e-3\n', []),
    ("yaml", 'm: "dall-e-3" extra\nn: "dall\\"e-3"\n', []),
    ("yaml", "dall-e-3\n", []),
    # plain scalars over several lines: the value is the whole text
    ("yaml", "key:\n  dall-e-3\nnext:\n  - dall-e-2\n", [("dall-e-3", "dall-e-3"), ("dall-e-2", "dall-e-2")]),
    ("yaml", "key:\n  dall-e-3\n  more\nm: dall-e-2\n  is great\n", []),
    (
        "yaml",
        "m: dall-e-3\n\n# c\nn: gpt-image-1\n",
        [("dall-e-3", "dall-e-3"), ("gpt-image-1", "gpt-image-1")],
    ),
    (
        "yaml",
        "- [dall-e-3\n  ]\n- [we used\n  dall-e-2, gpt-image-1]\n",
        [("dall-e-3", "dall-e-3"), ("gpt-image-1", "gpt-image-1")],
    ),
    (
        "yaml",
        "x: [a,\n  dall-e-3\n\n  , b, dall-e-2  # c\n  ]\n",
        [("dall-e-3", "dall-e-3"), ("dall-e-2", "dall-e-2")],
    ),
    # TOML
    (
        "toml",
        "model = \"dall-e-3\"\nother = 'dall-e-2'\n",
        [("dall-e-3", "dall-e-3"), ("dall-e-2", "dall-e-2")],
    ),
    (
        "toml",
        'models = ["dall-e-3", "openai/gpt-image-1"]\n',
        [("dall-e-3", "dall-e-3"), ("gpt-image-1", "openai/gpt-image-1")],
    ),
    (
        "toml",
        '[routes]\n"dall-e-3" = ["x"]\ndall-e-2 = "y"\n',
        [("dall-e-3", "dall-e-3"), ("dall-e-2", "dall-e-2")],
    ),
    (
        "toml",
        '[models."dall-e-2"]\n[[models.dall-e-3]]\n',
        [("dall-e-2", "dall-e-2"), ("dall-e-3", "dall-e-3")],
    ),
    (
        "toml",
        "x = { dall-e-3 = 'gpt-image-1.5', n = 1 }\n",
        [("dall-e-3", "dall-e-3"), ("gpt-image-1.5", "gpt-image-1.5")],
    ),
    (
        "toml",
        'm = [\n  "dall-e-2", # dall-e-3\n  "gpt-image-1",\n]\n',
        [("dall-e-2", "dall-e-2"), ("gpt-image-1", "gpt-image-1")],
    ),
    ("toml", 's = "\\\\"\nm = "dall-e-3"\n', [("dall-e-3", "dall-e-3")]),
    ("toml", '# m = "dall-e-3"\nm = "x" # dall-e-3\n', []),
    ("toml", 'd = """\ndall-e-3"""\ne = \'\'\'dall-e-2\'\'\'\nf = """a\\"""dall-e-3"""\n', []),
    ("toml", 'd = "we used dall-e-3"\nx = dall-e-3\nwhen = 1979-05-27\n', []),
    # JSON / JSONC
    ("json", '{"model": "dall-e-3", "dall-e-2": {}}', [("dall-e-3", "dall-e-3"), ("dall-e-2", "dall-e-2")]),
    (
        "json",
        '["gpt-image-1", "azure/dall-e-2"]',
        [("gpt-image-1", "gpt-image-1"), ("dall-e-2", "azure/dall-e-2")],
    ),
    ("json", '{"a": "//", "m": "dall-e-3"}', [("dall-e-3", "dall-e-3")]),
    ("json", '// "dall-e-3"\n{"a": 1 /* "dall-e-2" */} // "gpt-image-1"', []),
    ("json", '{"d": "we used dall-e-3", "e": "\\"dall-e-3\\"", "u": "http://x//dall-e-3"}', []),
    ("json", '{"a": "unterminated\n"dall-e-3"]', [("dall-e-3", "dall-e-3")]),
    # .env
    ("env", "IMAGE_MODEL=dall-e-3\n", [("dall-e-3", "dall-e-3")]),
    (
        "env",
        "export IMAGE_MODEL=\"dall-e-3\"\nB = 'openai/dall-e-2'\n",
        [("dall-e-3", "dall-e-3"), ("dall-e-2", "openai/dall-e-2")],
    ),
    ("env", "M=dall-e-3 # comment\n", [("dall-e-3", "dall-e-3")]),
    ("env", "# M=dall-e-3\nM=dall-e-3#x\nN=my-dall-e-3-cache\ndall-e-3\n", []),
    ("env", 'M="we used\ndall-e-3"\nN=dall-e-2\n', [("dall-e-2", "dall-e-2")]),
    # INI / .cfg
    ("ini", '[s]\nmodel = dall-e-3\nm2: "dall-e-2"\n', [("dall-e-3", "dall-e-3"), ("dall-e-2", "dall-e-2")]),
    ("ini", "[dall-e-3]\ngpt-image-1\n", [("dall-e-3", "dall-e-3"), ("gpt-image-1", "gpt-image-1")]),
    ("ini", "model = dall-e-3 ; the old one\n", [("dall-e-3", "dall-e-3")]),
    (
        "ini",
        "setenv =\n    IMAGE = dall-e-2\n    gpt-image-1\n",
        [("dall-e-2", "dall-e-2"), ("gpt-image-1", "gpt-image-1")],
    ),
    ("ini", "; model = dall-e-3\n# model = dall-e-3\n  # x\ndescription = we used dall-e-3\n", []),
]


@pytest.mark.parametrize(("fmt", "text", "expected"), CASES)
def test_config_formats(fmt: str, text: str, expected: list[tuple[str, str]]) -> None:
    sites = extract_config("f", text, fmt, MODELS)
    assert [(s.model, s.written) for s in sites] == expected
    check_spans(text, sites)


def test_an_unknown_config_format_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown config format 'xml'"):
        extract_config("f", "dall-e-3", "xml", MODELS)


DOC_CASES = [
    ("Use dall-e-3. Then gpt-image-1.5.", [("dall-e-3", "dall-e-3"), ("gpt-image-1.5", "gpt-image-1.5")]),
    (
        "(`dall-e-3`), dall-e-2; openai/dall-e-3",
        [("dall-e-3", "dall-e-3"), ("dall-e-2", "dall-e-2"), ("dall-e-3", "openai/dall-e-3")],
    ),
    (
        "OPENAI/dall-e-3 and gpt-image-2-2026-04-21",
        [("dall-e-3", "dall-e-3"), ("gpt-image-2-2026-04-21", "gpt-image-2-2026-04-21")],
    ),
    ("dall-e-30 dall-e-3.5 my-dall-e-3-cache x.dall-e-3 _dall-e-3 dall-e-3-hd dall-e-3_x gpt-image-1.6", []),
    ("# Heading dall-e-3\n\n    gpt-image-1\n", [("dall-e-3", "dall-e-3"), ("gpt-image-1", "gpt-image-1")]),
]


@pytest.mark.parametrize(("text", "expected"), DOC_CASES)
def test_doc_mentions_are_word_bounded(text: str, expected: list[tuple[str, str]]) -> None:
    sites = extract_docs("README.md", text, MODELS)
    assert [(s.model, s.written) for s in sites] == expected
    check_spans(text, sites)


def test_columns_count_code_points() -> None:
    text = "DALL·E 3 = dall-e-3\r\n😀 gpt-image-1"
    sites = extract_docs("a.md", text, MODELS)
    assert [(s.span.line, s.span.column, s.span.offset) for s in sites] == [(1, 12, 11), (2, 3, 23)]
    yaml_sites = extract_config("a.yaml", "é: dall-e-3\n", "yaml", MODELS)
    assert [(s.span.column, s.span.end_column) for s in yaml_sites] == [(4, 12)]


# -- the shared matcher ---------------------------------------------------------------------------


def test_one_matcher_per_set_of_models() -> None:
    assert matcher_for(MODELS) is matcher_for(list(reversed(MODELS))) is matcher_for(set(MODELS))
    assert matcher_for(MODELS) is not matcher_for(MODELS[:2])


def test_whole_strings() -> None:
    matcher = matcher_for(MODELS)
    assert matcher.whole("dall-e-3") == WholeMatch("dall-e-3", 0)
    assert matcher.whole("openai/dall-e-3") == WholeMatch("dall-e-3", 7)
    assert matcher.whole("vertex_ai/gpt-image-1") == WholeMatch("gpt-image-1", 10)
    for other in (
        "OpenAI/dall-e-3",
        "a/b/dall-e-3",
        "/dall-e-3",
        "openai/",
        "dall-e-3 ",
        "1x/dall-e-3",
        "dall-e",
    ):
        assert matcher.whole(other) is None, other


def test_search_and_the_code_prefilter() -> None:
    matcher = matcher_for(MODELS)
    assert matcher.search("x = 'my-gpt-image-1.5-cache'")  # a substring test: a candidate, not a site
    assert not matcher.search("dall-e and gpt-image are names")
    assert not matcher.might_contain_sites("import os\nprint(os.getcwd())\n")
    assert matcher.might_contain_sites("MODEL = 'dall-e-2'")
    for trigger_code in (
        "client.images.generate(prompt=p)",
        "resp = (\n    client.images\n    .generate(prompt=p)\n)",
        "openai.Image.create(prompt=p)",
        "await openai.Image.acreate(prompt=p)",
        "await generateImage({ model, prompt })",
        "experimental_generateImage({})",
        "openai.image(name)",
        "openai.imageModel(name)",
        "DallEAPIWrapper(model=m)",
    ):
        assert matcher.might_contain_sites(trigger_code), trigger_code
    assert len(CALL_TRIGGERS) == len(set(CALL_TRIGGERS))


def test_an_empty_set_of_models_matches_nothing() -> None:
    matcher = ModelMatcher([])
    assert not matcher.search("dall-e-3")
    assert list(matcher.mentions("dall-e-3")) == []
    assert matcher.whole("dall-e-3") is None
    assert extract_config("a.yaml", "m: dall-e-3", "yaml", ()) == []


# -- properties -----------------------------------------------------------------------------------

FRAGMENTS = [
    *MODELS,
    "openai/",
    "OpenAI/",
    "my-",
    "-cache",
    ".5",
    "0",
    "/",
    "-",
    "_",
    ".",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "#",
    "# ",
    ";",
    ":",
    ": ",
    "=",
    " = ",
    ",",
    "- ",
    "? ",
    "'",
    '"',
    "''",
    "\\",
    '\\"',
    '"""',
    "'''",
    "[",
    "]",
    "[[",
    "{",
    "}",
    "|",
    ">",
    "|-",
    "!",
    "&a ",
    "*",
    "//",
    "/*",
    "*/",
    "export ",
    "model",
    "key",
    "---",
    "...",
    "%",
    "é",
    "😀",
]
TEXTS = st.one_of(st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join), st.text(max_size=200))


@settings(max_examples=400, deadline=None)
@given(text=TEXTS, fmt=st.sampled_from(sorted(CONFIG_FORMATS)))
def test_any_text_gives_exact_spans_and_never_raises(text: str, fmt: str) -> None:
    check_spans(text, extract_config("f", text, fmt, MODELS))
    check_spans(text, extract_docs("f", text, MODELS))


#: strings a generated config holds: ids, ids with a provider, and near misses of every kind
POOL = [
    *MODELS,
    "openai/dall-e-3",
    "azure/gpt-image-1",
    "OpenAI/dall-e-3",
    "a/b/dall-e-2",
    "dall-e-3/x",
    "my-dall-e-3-cache",
    "dall-e-30",
    "dall-e-3.5",
    "dall-e-3 is great",
    "we used gpt-image-1",
    "a: dall-e-3",
    "x #dall-e-3",
    "dall-e-3 # c",
    "- dall-e-3",
    "[dall-e-3]",
    "dall-e-3,",
    "'dall-e-3'",
    '"dall-e-3"',
    " dall-e-3",
    "dall-e-3 ",
    "dall-e-3\n",
    "line\ndall-e-3",
    "it's",
    "yes",
    "1.5",
    "",
    "model",
    "name",
    "image",
    "x y",
    "ü",
    "k=v",
]
KEYS = st.sampled_from([p for p in POOL if p])
SCALARS = st.sampled_from(POOL)
DATA = st.dictionaries(
    KEYS,
    st.one_of(
        SCALARS,
        st.lists(SCALARS, max_size=4),
        st.dictionaries(KEYS, st.one_of(SCALARS, st.lists(SCALARS, max_size=3)), max_size=3),
    ),
    max_size=6,
)


def strings(data: Any) -> Iterator[str]:
    """Every key and string value in ``data``."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield key
            yield from strings(value)
    elif isinstance(data, list):
        for item in data:
            yield from strings(item)
    elif isinstance(data, str):
        yield data


def expected_ids(data: Any) -> Counter[tuple[str, str]]:
    matcher = matcher_for(MODELS)
    found = Counter[tuple[str, str]]()
    for text in strings(data):
        whole = matcher.whole(text)
        if whole is not None:
            found[(whole.model, text)] += 1
    return found


def found_ids(text: str, fmt: str) -> Counter[tuple[str, str]]:
    sites = extract_config("f", text, fmt, MODELS)
    check_spans(text, sites)
    return Counter((s.model, s.written) for s in sites)


@settings(max_examples=150, deadline=None)
@given(data=DATA, indent=st.sampled_from([None, 2, 4]))
def test_json_written_by_json_dumps(data: dict[str, Any], indent: int | None) -> None:
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    assert found_ids(text, "json") == expected_ids(data)


@settings(max_examples=150, deadline=None)
@given(data=DATA, flow=st.sampled_from([False, True, None]), width=st.sampled_from([20, 80]))
def test_yaml_written_by_pyyaml(data: dict[str, Any], flow: bool | None, width: int) -> None:
    import yaml  # PyYAML: in the test extra through moto[server]

    text = yaml.safe_dump(data, default_flow_style=flow, width=width, allow_unicode=True)
    assert yaml.safe_load(text) == data
    assert found_ids(text, "yaml") == expected_ids(data)


def toml_string(value: str, literal: bool) -> str:
    if literal and "'" not in value and "\n" not in value:
        return f"'{value}'"
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string for these


def toml_key(key: str, literal: bool) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key, literal)


def toml_value(value: Any, literal: bool) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v, literal) for v in value) + "]"
    return toml_string(value, literal)


@settings(max_examples=150, deadline=None)
@given(data=DATA, literal=st.booleans(), comment=st.sampled_from(["", "  # dall-e-3", " # 'gpt-image-1'"]))
def test_toml_checked_by_tomllib(data: dict[str, Any], literal: bool, comment: str) -> None:
    top = [
        f"{toml_key(k, literal)} = {toml_value(v, literal)}{comment}"
        for k, v in data.items()
        if not isinstance(v, dict)
    ]
    tables = []
    for key, table in data.items():
        if isinstance(table, dict):
            tables.append(f"[{toml_key(key, literal)}]{comment}")
            tables += [f"{toml_key(k, literal)} = {toml_value(v, literal)}" for k, v in table.items()]
    text = "\n".join([*top, *tables]) + "\n"
    assert tomllib.loads(text) == data
    assert found_ids(text, "toml") == expected_ids(data)


INI_POOL = [p for p in POOL if p == p.strip() and p and not re.search(r"[\n;#'\"=:\[\]]", p)]


@settings(max_examples=150, deadline=None)
@given(
    sections=st.dictionaries(
        st.sampled_from(INI_POOL),
        st.dictionaries(st.sampled_from(INI_POOL), st.sampled_from(INI_POOL), max_size=4),
        max_size=3,
    ),
    delimiter=st.sampled_from([" = ", "=", ": "]),
)
def test_ini_checked_by_configparser(sections: dict[str, dict[str, str]], delimiter: str) -> None:
    text = "".join(
        f"[{name}]\n" + "".join(f"{k}{delimiter}{v}\n" for k, v in options.items())
        for name, options in sections.items()
    )
    parser = configparser.ConfigParser(interpolation=None, default_section="\0")
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    assert {name: dict(parser[name]) for name in parser.sections()} == sections
    assert found_ids(text, "ini") == expected_ids(sections)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.sampled_from(POOL), max_size=6),
    style=st.sampled_from(["bare", "double", "single"]),
    export=st.booleans(),
)
def test_env_values(values: list[str], style: str, export: bool) -> None:
    lines, shown = [], []
    for i, value in enumerate(values):
        if style == "single" and "'" not in value and "\n" not in value:
            rendered = f"'{value}'"
        elif style == "bare" and not re.search(r"[\s#'\"\\]", value) and value:
            rendered = value
        else:
            rendered = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{'export ' if export else ''}VAR_{i}={rendered}  # dall-e-3")
        # a value spanning lines (quoted, with a raw newline) is never one id
        shown.append(value if "\n" not in value else "")
    text = "\n".join(lines) + "\n"
    assert found_ids(text, "env") == expected_ids(shown)


# -- linear work on one-line files ---------------------------------------------------------------------


class _Counted:
    """A compiled pattern that reports how many characters each search or match went over."""

    def __init__(self, pattern: re.Pattern[str], spend: Callable[[int], None]) -> None:
        self._pattern, self._spend = pattern, spend

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        found = self._pattern.search(string, pos, endpos)
        self._spend((found.end() if found else min(endpos, len(string))) - pos + 1)
        return found

    def match(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        found = self._pattern.match(string, pos, endpos)
        self._spend((found.end() - pos if found else 0) + 1)
        return found


def _one_line(fmt: str, count: int) -> str:
    """A config file of one line of about 32 * ``count`` characters, with one "dall-e-3" near its start."""
    values = ["dall-e-3" if i == 5 else f"x{i}" for i in range(count)]
    if fmt == "json":
        items = [{"id": i, "n": "n", "model": value} for i, value in enumerate(values)]
        return json.dumps(items, separators=(",", ":"))
    if fmt == "toml":
        return (
            "models = ["
            + ", ".join(f'{{ id = {i}, n = "n", model = "{v}" }}' for i, v in enumerate(values))
            + "]"
        )
    return "models: [" + ", ".join(f'{{id: {i}, n: "n", model: {v}}}' for i, v in enumerate(values)) + "]"


@pytest.mark.parametrize("fmt", ["json", "toml", "yaml"])
def test_a_one_line_megabyte_config_is_scanned_in_linear_work(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Minified JSON made the scanner search to the end of the line for every string: quadratic work. Here
    every search, match and character loop the scanners make (their patterns, close_quote, skip_ws, trim)
    reports the characters it went over, and the total must stay within a few times the text's length."""
    text = _one_line(fmt, 32_000)
    assert len(text) > 1_000_000
    budget, work = 4 * len(text), [0]

    def spend(characters: int) -> None:
        work[0] += characters
        if work[0] > budget:  # fail at once rather than run the quadratic scan to its end
            raise AssertionError(f"the {fmt} scanner went over more than {budget} characters of {len(text)}")

    for module in (scalars, scalars_yaml):
        for name, value in list(vars(module).items()):
            if isinstance(value, re.Pattern):
                monkeypatch.setattr(module, name, _Counted(value, spend))
    monkeypatch.setattr(
        scalars.before_comment, "__defaults__", (_Counted(scalars.before_comment.__defaults__[0], spend),)
    )
    close_quote, skip_ws, trim = scalars.close_quote, scalars.skip_ws, scalars.trim

    def counted_close_quote(s: str, i: int, quote: str, escape: str | None, stop: int) -> int:
        end = close_quote(s, i, quote, escape, stop)
        spend((end if end >= 0 else stop) - i + 1)
        return end

    def counted_skip_ws(s: str, i: int) -> int:
        end = skip_ws(s, i)
        spend(end - i + 1)
        return end

    def counted_trim(s: str, start: int, end: int) -> tuple[int, int]:
        spend(end - start + 1)
        return trim(s, start, end)

    for module in (scalars, scalars_yaml):
        monkeypatch.setattr(module, "close_quote", counted_close_quote)
        monkeypatch.setattr(module, "skip_ws", counted_skip_ws)
        monkeypatch.setattr(module, "trim", counted_trim)

    sites = extract_config("f", text, fmt, MODELS)
    assert [(s.model, s.span.line, s.span.column) for s in sites] == [
        ("dall-e-3", 1, text.index("dall-e-3") + 1)
    ]
    assert work[0] > len(text) // 2  # the counting saw the scan
