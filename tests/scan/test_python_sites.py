"""The Python extractor: calls, options and their origins, ``.url`` reads, model-id literals, positions.

``FIXTURE_CALLS`` / ``FIXTURE_LITERALS`` hold the expected sites of every file under
``tests/scan/fixtures/tree/py/`` as data (line, column, api, options ...), for reuse by the scan's
end-to-end tests.

Choice documented by ``negatives.py``: any ``<receiver>.images.generate(...)`` is reported, even on an
object that is not an openai client. The scanner cannot know the receiver's type; a reported false positive
is judged by a person, a missed call breaks on the shutdown day.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageshim import builtin_catalog
from imageshim._scan.python_sites import extract
from imageshim._scan.sites import CallSite, LiteralSite

from .factories import MODELS
from .spans import check_sites, cut

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tree" / "py"
#: what each ``.url`` read ends with
_URL_READ = r"""(\.url|\[\s*["']url["']\s*\]|\.get\(\s*["']url["']\s*\))$"""


# -- helpers ----------------------------------------------------------------------------------------


def scan(source: str) -> tuple[list[CallSite], list[LiteralSite]]:
    calls, literals = extract("t.py", source, MODELS)
    check_spans(source, calls, literals)
    return calls, literals


def only_call(source: str) -> CallSite:
    calls, _ = scan(source)
    assert len(calls) == 1, calls
    return calls[0]


def check_spans(text: str, calls: list[CallSite], literals: list[LiteralSite]) -> None:
    """Every span is where it says, and covers exactly what it names."""
    check_sites(text, calls, literals, url_read=_URL_READ)
    # an option is a keyword argument: its span starts at the keyword, before the value
    for call in calls:
        for name, value in call.options.items():
            assert value.origin != "literal" or call.arg_spans[name].offset < value.span.offset


def options(call: CallSite) -> dict[str, tuple[str, str, object, str | None]]:
    return {name: (v.origin, v.text, v.value, v.via) for name, v in call.options.items()}


def models_found(source: str, context: str = "code") -> list[str]:
    return [site.written for site in scan(source)[1] if site.context == context]


# -- the fixture tree, as data ----------------------------------------------------------------------


class ExpectedCall(NamedTuple):
    line: int
    column: int
    api: str
    flavour: str | None
    #: name -> (origin, text, value, via)
    options: dict[str, tuple[str, str, object, str | None]]
    hidden: tuple[str, ...] = ()
    #: (line, column, text) of each read of ``.url`` / ``["url"]``
    url_reads: tuple[tuple[int, int, str], ...] = ()
    implied_url_read: bool = False
    option_paths: dict[str, str] = {}  # noqa: RUF012 (a NamedTuple default, never mutated)


def lit(text: str, value: object) -> tuple[str, str, object, None]:
    return ("literal", text, value, None)


def computed(text: str) -> tuple[str, str, None, None]:
    return ("computed", text, None, None)


FIXTURE_CALLS: dict[str, list[ExpectedCall]] = {
    "app_sync.py": [
        ExpectedCall(
            9,
            12,
            "images.generate",
            None,
            {
                "model": lit('"dall-e-3"', "dall-e-3"),
                "prompt": computed("prompt"),
                "size": lit('"1792x1024"', "1792x1024"),
                "quality": lit('"hd"', "hd"),
                "style": lit('"vivid"', "vivid"),
                "response_format": lit('"url"', "url"),
                "n": lit("1", 1),
            },
            url_reads=((18, 12, "resp.data[0].url"),),
        )
    ],
    "app_async.py": [
        ExpectedCall(
            11,
            20,
            "images.generate",
            "async",
            {
                "model": lit('"dall-e-3"', "dall-e-3"),
                "prompt": computed("prompt"),
                "size": lit('"1024x1024"', "1024x1024"),
            },
            url_reads=((12, 13, "image.url"),),
        ),
        ExpectedCall(
            16,
            17,
            "images.generate",
            "async, with_raw_response",
            {
                "model": lit('"dall-e-2"', "dall-e-2"),
                "prompt": computed("prompt"),
                "size": lit('"256x256"', "256x256"),
            },
            url_reads=((23, 12, "images.data[0].url"),),
        ),
    ],
    "legacy_0x.py": [
        ExpectedCall(
            7,
            16,
            "Image.create",
            "openai 0.x",
            {
                "prompt": computed("description"),
                "n": lit("1", 1),
                "size": lit('"512x512"', "512x512"),
                "response_format": lit('"url"', "url"),
            },
            url_reads=((13, 12, 'response["data"][0]["url"]'),),
        ),
        ExpectedCall(
            18,
            20,
            "Image.create_variation",
            "openai 0.x",
            {"image": computed("image"), "n": lit("2", 2), "size": lit('"256x256"', "256x256")},
            url_reads=((19, 13, 'item["url"]'),),
        ),
    ],
    "langchain_tool.py": [
        ExpectedCall(
            5,
            9,
            "DallEAPIWrapper",
            None,
            {
                "model": lit('"dall-e-3"', "dall-e-3"),
                "size": lit('"1024x1024"', "1024x1024"),
                "quality": lit('"hd"', "hd"),
                "n": lit("1", 1),
            },
            implied_url_read=True,
        ),
        ExpectedCall(
            6,
            11,
            "DallEAPIWrapper",
            None,
            {"model": lit('"dall-e-2"', "dall-e-2"), "size": lit('"256x256"', "256x256")},
            implied_url_read=True,
            option_paths={"model": "model_name"},
        ),
    ],
    "constants.py": [
        ExpectedCall(
            13,
            14,
            "images.generate",
            None,
            {
                "model": ("constant", '"dall-e-3"', "dall-e-3", "MODEL"),
                "prompt": computed("prompt"),
                "size": ("constant", '"1024x1792"', "1024x1792", "SIZE"),
                "quality": ("assignment", '"standard"', "standard", "quality"),
            },
        )
    ],
    "dynamic.py": [
        ExpectedCall(
            11,
            16,
            "images.generate",
            None,
            {"model": computed("model"), "prompt": computed("prompt")},
            hidden=("**params",),
            url_reads=((12, 12, "response.data[0].url"),),
        ),
        ExpectedCall(
            16,
            16,
            "images.generate",
            None,
            {
                "model": computed('os.environ.get("IMAGE_MODEL", "dall-e-3")'),
                "prompt": computed("prompt"),
                "size": computed('os.environ["IMAGE_SIZE"]'),
            },
        ),
    ],
    "edits.py": [
        ExpectedCall(
            12,
            18,
            "images.edit",
            None,
            {
                "model": lit('"gpt-image-1"', "gpt-image-1"),
                "image": computed("source"),
                "mask": computed("alpha"),
                "prompt": computed("prompt"),
                "size": lit('"1024x1024"', "1024x1024"),
            },
        ),
        ExpectedCall(
            24,
            18,
            "images.create_variation",
            None,
            {
                "model": lit('"dall-e-2"', "dall-e-2"),
                "image": computed("source"),
                "n": lit("3", 3),
                "size": lit('"512x512"', "512x512"),
            },
            url_reads=((25, 13, "item.url"),),
        ),
    ],
    "deprecated.py": [
        ExpectedCall(
            15,
            14,
            "images.generate",
            None,
            {
                "model": computed("TIERS[tier]"),
                "prompt": computed("prompt"),
                "quality": lit('"low"', "low"),
                "background": lit('"transparent"', "transparent"),
            },
        ),
        ExpectedCall(
            20,
            12,
            "images.generate",
            None,
            {
                "model": lit('"gpt-image-1-mini"', "gpt-image-1-mini"),
                "prompt": computed("prompt"),
                "size": lit('"1024x1024"', "1024x1024"),
            },
        ),
    ],
    "active.py": [
        ExpectedCall(
            11,
            14,
            "images.generate",
            None,
            {
                "model": lit('"gpt-image-2"', "gpt-image-2"),
                "prompt": computed("prompt"),
                "size": lit('"1536x1024"', "1536x1024"),
                "quality": lit('"high"', "high"),
                "output_format": lit('"png"', "png"),
            },
        )
    ],
    # litellm.image_generation is not a recognised API: only its model literals are sites
    "litellm_style.py": [],
    "no_model.py": [
        ExpectedCall(
            9,
            12,
            "images.generate",
            None,
            {"prompt": computed("prompt"), "n": lit("1", 1), "size": lit('"1024x1024"', "1024x1024")},
            url_reads=((9, 12, 'client.images.generate(prompt=prompt, n=1, size="1024x1024").data[0].url'),),
        )
    ],
    # the documented choice: an unrelated ``.images.generate`` is reported
    "negatives.py": [ExpectedCall(25, 12, "images.generate", None, {"thumbnails": lit("True", True)})],
}

#: file -> (context, line, column, model, written)
FIXTURE_LITERALS: dict[str, list[tuple[str, int, int, str, str]]] = {
    "app_sync.py": [("code", 10, 16, "dall-e-3", "dall-e-3")],
    "app_async.py": [("code", 11, 50, "dall-e-3", "dall-e-3"), ("code", 17, 16, "dall-e-2", "dall-e-2")],
    "legacy_0x.py": [],
    "langchain_tool.py": [("code", 5, 32, "dall-e-3", "dall-e-3"), ("code", 6, 39, "dall-e-2", "dall-e-2")],
    "constants.py": [("code", 5, 10, "dall-e-3", "dall-e-3")],
    "dynamic.py": [("code", 17, 46, "dall-e-3", "dall-e-3")],
    "edits.py": [("code", 13, 20, "gpt-image-1", "gpt-image-1"), ("code", 24, 56, "dall-e-2", "dall-e-2")],
    "deprecated.py": [
        ("code", 8, 17, "gpt-image-1.5", "gpt-image-1.5"),
        ("code", 9, 16, "gpt-image-1-mini", "gpt-image-1-mini"),
        ("code", 10, 14, "chatgpt-image-latest", "chatgpt-image-latest"),
        ("code", 20, 42, "gpt-image-1-mini", "gpt-image-1-mini"),
    ],
    "active.py": [("code", 12, 16, "gpt-image-2", "gpt-image-2")],
    "litellm_style.py": [
        ("code", 5, 23, "dall-e-3", "openai/dall-e-3"),
        ("code", 14, 54, "dall-e-3", "azure/dall-e-3"),
    ],
    "no_model.py": [],
    # only docstring mentions (context "doc"); the comment, "dall-e-3 is great", "my-dall-e-3-cache",
    # "dall-e-30", "backups/dall-e-3.tar" and b"dall-e-3" are not sites
    "negatives.py": [("doc", 3, 20, "dall-e-3", "dall-e-3"), ("doc", 17, 30, "gpt-image-1", "gpt-image-1")],
}


def test_every_fixture_file_has_expectations() -> None:
    assert sorted(path.name for path in FIXTURES.glob("*.py")) == sorted(FIXTURE_CALLS)
    assert sorted(FIXTURE_LITERALS) == sorted(FIXTURE_CALLS)


@pytest.mark.parametrize("name", sorted(FIXTURE_CALLS))
def test_fixture_file(name: str) -> None:
    with open(FIXTURES / name, encoding="utf-8", newline="") as handle:
        text = handle.read()
    calls, literals = extract(f"py/{name}", text, builtin_catalog().names())
    check_spans(text, calls, literals)
    got = [
        ExpectedCall(
            call.span.line,
            call.span.column,
            call.api,
            call.flavour,
            options(call),
            call.hidden,
            tuple((read.line, read.column, cut(text, read)) for read in call.url_reads),
            call.implied_url_read is not None,
            dict(call.option_paths),
        )
        for call in calls
    ]
    assert got == FIXTURE_CALLS[name]
    assert [
        (s.context, s.span.line, s.span.column, s.model, s.written) for s in literals
    ] == FIXTURE_LITERALS[name]
    assert all(site.path == f"py/{name}" for site in [*calls, *literals])
    assert {site.language for site in calls} <= {"python"}
    assert {(s.context, s.language) for s in literals} <= {("code", "python"), ("doc", "docs")}


# -- calls ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "api", "flavour"),
    [
        ("client.images.generate(prompt='p')", "images.generate", None),
        ("self.client.images.edit(prompt='p')", "images.edit", None),
        ("OpenAI().images.create_variation(image=f)", "images.create_variation", None),
        ("openai.images.generate(prompt='p')", "images.generate", None),
        ("AzureOpenAI(api_version='2024-02-01').images.generate(model='deploy')", "images.generate", None),
        ("client.images.with_raw_response.generate(prompt='p')", "images.generate", "with_raw_response"),
        ("client.images.with_streaming_response.edit(prompt='p')", "images.edit", "with_streaming_response"),
        ("async def f():\n    await client.images.generate(prompt='p')", "images.generate", "async"),
        (
            "async def f():\n    await c.images.with_raw_response.generate(prompt='p')",
            "images.generate",
            "async, with_raw_response",
        ),
        (
            "async def f():\n    async with c.images.with_streaming_response.generate(prompt='p') as r:\n        pass",
            "images.generate",
            "async, with_streaming_response",
        ),
        ("import openai\nopenai.Image.create(prompt='p')", "Image.create", "openai 0.x"),
        ("import openai as oai\noai.Image.create_edit(prompt='p')", "Image.create_edit", "openai 0.x"),
        ("openai.Image.create_variation(image=f)", "Image.create_variation", "openai 0.x"),
        ("openai.Image.acreate(prompt='p')", "Image.create", "openai 0.x, async"),
        ("async def f():\n    await openai.Image.acreate(prompt='p')", "Image.create", "openai 0.x, async"),
        ("from openai import Image\nImage.create(prompt='p')", "Image.create", "openai 0.x"),
        ("from openai import Image as I\nI.create(prompt='p')", "Image.create", "openai 0.x"),
        ("DallEAPIWrapper(model='dall-e-3')", "DallEAPIWrapper", None),
        (
            "from langchain.utilities.dalle_image_generator import DallEAPIWrapper as D\nD()",
            "DallEAPIWrapper",
            None,
        ),
        ("dalle_image_generator.DallEAPIWrapper(n=1)", "DallEAPIWrapper", None),
    ],
)
def test_recognised_calls(source: str, api: str, flavour: str | None) -> None:
    call = only_call(source)
    assert (call.api, call.flavour, call.language) == (api, flavour, "python")
    assert call.span.offset == source.rindex(cut(source, call.span))


@pytest.mark.parametrize(
    "source",
    [
        "client.generate(prompt='p')",
        "images.generate(prompt='p')",
        "client.images.list()",
        "client.image.generate(prompt='p')",
        "client.images.generate",
        "client.images.raw.generate(prompt='p')",
        "Image.create(prompt='p')",
        "from PIL import Image\nImage.create(size=(1, 1))",
        "other.Image.create(prompt='p')",
        "litellm.image_generation(model='dall-e-3', prompt='p')",
        "DallE(model='dall-e-3')",
    ],
)
def test_not_calls(source: str) -> None:
    assert scan(source)[0] == []


def test_call_inside_an_fstring_and_a_lambda() -> None:
    calls, _ = scan("f = lambda p: c.images.generate(prompt=p)\nprint(f\"{c.images.edit(prompt='é')} é\")")
    assert [call.api for call in calls] == ["images.generate", "images.edit"]
    assert options(calls[1]) == {"prompt": lit("'é'", "é")}


def test_langchain_model_name_is_the_model_option() -> None:
    call = only_call("w = DallEAPIWrapper(model_name='dall-e-3', quality='hd')")
    assert options(call)["model"] == lit("'dall-e-3'", "dall-e-3")
    assert dict(call.option_paths) == {"model": "model_name"}
    assert cut("w = DallEAPIWrapper(model_name='dall-e-3', quality='hd')", call.arg_spans["model"]) == (
        "model_name='dall-e-3'"
    )
    assert call.implied_url_read is not None
    assert "item.url" in call.implied_url_read
    assert "langchain-community#663" in call.implied_url_read
    assert call.url_reads == ()


def test_model_keyword_spellings_are_kept_for_other_apis() -> None:
    call = only_call("c.images.generate(model_name='dall-e-3')")
    assert list(call.options) == ["model_name"]


# -- options ----------------------------------------------------------------------------------------


def test_literal_values() -> None:
    call = only_call(
        "c.images.generate(a='x', b=2, c=2.5, d=True, e=None, f=-1, g=+3, h=r'''y''', i=b'z', j=1j, k=f'{x}')"
    )
    assert options(call) == {
        "a": lit("'x'", "x"),
        "b": lit("2", 2),
        "c": lit("2.5", 2.5),
        "d": lit("True", True),
        "e": lit("None", None),
        "f": lit("-1", -1),
        "g": lit("+3", 3),
        "h": lit("r'''y'''", "y"),
        "i": computed("b'z'"),
        "j": computed("1j"),
        "k": computed("f'{x}'"),
    }
    assert all(call.options[name].visible for name in "abcdefgh")
    assert not any(call.options[name].visible for name in "ijk")


def test_arg_spans_cover_the_whole_keyword() -> None:
    source = "c.images.generate(\n    style = 'vivid',  # comment\n    n=1)"
    call = only_call(source)
    assert cut(source, call.arg_spans["style"]) == "style = 'vivid'"
    assert cut(source, call.arg_spans["n"]) == "n=1"


def test_module_constant() -> None:
    source = "SIZE: str = '1792x1024'\nMODEL = 'dall-e-3'\ndef f():\n    c.images.generate(size=SIZE, model=MODEL)\n"
    call = only_call(source)
    assert options(call) == {
        "size": ("constant", "'1792x1024'", "1792x1024", "SIZE"),
        "model": ("constant", "'dall-e-3'", "dall-e-3", "MODEL"),
    }
    assert call.options["size"].span.line == 1
    assert call.options["model"].span.line == 2


@pytest.mark.parametrize(
    "source",
    [
        "SIZE = '1x1'\nSIZE = '2x2'\nc.images.generate(size=SIZE)",
        "SIZE = '1x1'\ndef f():\n    global SIZE\n    SIZE = '2x2'\ndef g():\n    c.images.generate(size=SIZE)",
        "SIZE = '1x1'\nSIZE += 'x'\nc.images.generate(size=SIZE)",
        "SIZE = '1x1'\ndel SIZE\nc.images.generate(size=SIZE)",
        "for _ in range(2):\n    SIZE = '1x1'\nc.images.generate(size=SIZE)",
        "SIZE = '1x1'\nfrom settings import *\nc.images.generate(size=SIZE)",
        "c.images.generate(size=SIZE)\nSIZE = '1x1'",
        "SIZE = choose()\nc.images.generate(size=SIZE)",
        "SIZE, Q = '1x1', 'hd'\nc.images.generate(size=SIZE)",
        "import SIZE\nc.images.generate(size=SIZE)",
        "def f(SIZE='1x1'):\n    c.images.generate(size=SIZE)",
        "c.images.generate(size=SIZE)",
    ],
)
def test_names_that_are_not_constants(source: str) -> None:
    assert only_call(source).options["size"].origin == "computed"
    assert only_call(source).options["size"].text == "SIZE"
    assert only_call(source).options["size"].via is None


def test_star_import_before_the_constant_is_fine() -> None:
    call = only_call("from settings import *\nSIZE = '1x1'\ndef f():\n    c.images.generate(size=SIZE)")
    assert call.options["size"].origin == "constant"


def test_function_assignment() -> None:
    source = "def f(p):\n    q = 'hd'\n    if p:\n        c.images.generate(quality=q)\n"
    call = only_call(source)
    assert options(call) == {"quality": ("assignment", "'hd'", "hd", "q")}
    assert call.options["quality"].span.line == 2


@pytest.mark.parametrize(
    "source",
    [
        "def f(q):\n    c.images.generate(quality=q)",
        "def f(q):\n    q = 'hd'\n    c.images.generate(quality=q)",
        "def f():\n    q = 'hd'\n    q = 'standard'\n    c.images.generate(quality=q)",
        "def f():\n    for _ in x:\n        q = 'hd'\n    c.images.generate(quality=q)",
        "def f():\n    while x:\n        q = 'hd'\n        c.images.generate(quality=q)",
        "def f():\n    c.images.generate(quality=q)\n    q = 'hd'",
        "def f():\n    q = 'hd'\n    def g():\n        c.images.generate(quality=q)",
        "def f():\n    q = 'hd'\n    def g():\n        nonlocal q\n        q = 'x'\n    c.images.generate(quality=q)",
        "def f():\n    q = 'hd'\n    [c.images.generate(quality=q) for q in qs]",
        "def f():\n    q = 'hd'\n    with x as q:\n        c.images.generate(quality=q)",
        "def f():\n    q = 'hd'\n    try:\n        pass\n    except E as q:\n        c.images.generate(quality=q)",
        "def f():\n    q = g()\n    c.images.generate(quality=q)",
        "def f():\n    (q := 'hd')\n    q = 'x'\n    c.images.generate(quality=q)",
        "class K:\n    q = 'hd'\n    c.images.generate(quality=q)",
    ],
)
def test_names_that_are_not_assignments(source: str) -> None:
    value = only_call(source).options["quality"]
    assert (value.origin, value.text, value.value, value.via) == computed("q")


def test_a_module_constant_shadowed_in_the_function_is_not_the_constant() -> None:
    source = "Q = 'hd'\ndef f(Q):\n    c.images.generate(quality=Q)"
    assert only_call(source).options["quality"].origin == "computed"
    source = "Q = 'hd'\nclass K:\n    Q = 'low'\n    def m(self):\n        c.images.generate(quality=Q)"
    # a method does not see its class body's names: Q is the module constant
    assert options(only_call(source))["quality"] == ("constant", "'hd'", "hd", "Q")


def test_hidden_arguments() -> None:
    call = only_call("c.images.generate('p', *rest, model=m, **params, **{'size': '1x1'})")
    assert call.hidden == ("positional arguments", "*rest", "**params")
    assert options(call) == {"model": computed("m"), "size": lit("'1x1'", "1x1")}


def test_dict_literal_spread_is_expanded() -> None:
    source = "S = '1x1'\nc.images.generate(**{'size': S, \"quality\": 'hd'}, n=2)"
    call = only_call(source)
    assert call.hidden == ()
    assert options(call) == {
        "size": ("constant", "'1x1'", "1x1", "S"),
        "quality": lit("'hd'", "hd"),
        "n": lit("2", 2),
    }
    assert cut(source, call.arg_spans["quality"]) == "\"quality\": 'hd'"


def test_dict_spread_that_cannot_be_read_is_hidden() -> None:
    call = only_call("c.images.generate(**{'size': '1x1', **extra}, prompt='p')")
    assert call.hidden == ("**{'size': '1x1', **extra}",)
    assert list(call.options) == ["prompt"]


def test_credentials_never_reach_the_options() -> None:
    source = "openai.Image.create(api_key='sk-secret-1', prompt='p')\nDallEAPIWrapper(openai_api_key='sk-secret-2')"
    calls, _ = scan(source)
    assert [list(call.options) for call in calls] == [["prompt"], []]
    assert "sk-secret" not in repr(calls)


# -- url reads --------------------------------------------------------------------------------------


def url_reads(source: str) -> list[str]:
    calls, _ = scan(source)
    return [cut(source, span) for call in calls for span in call.url_reads]


@pytest.mark.parametrize(
    ("source", "reads"),
    [
        ("r = c.images.generate()\nr.data[0].url", ["r.data[0].url"]),
        ("r: T = c.images.generate()\nprint(r.data[0].url)", ["r.data[0].url"]),
        ("async def f():\n    r = await c.images.generate()\n    return r.data[0].url", ["r.data[0].url"]),
        ("r = c.images.generate()\ndata = r.data\nfirst = data[0]\nfirst.url", ["first.url"]),
        ("r = c.images.generate()\nfor item in r.data:\n    use(item.url)", ["item.url"]),
        ("r = c.images.generate()\nfor i, item in enumerate(r.data):\n    use(item.url)", ["item.url"]),
        ("r = c.images.generate()\nurls = [d.url for d in r.data]", ["d.url"]),
        ("r = c.images.generate()\nurls = [r.url for r in r.data]", ["r.url"]),
        ("r = c.images.generate()\nurls = {d.url: 1 for d in r.data if d.url}", ["d.url", "d.url"]),
        ("c.images.generate().data[0].url", ["c.images.generate().data[0].url"]),
        ("(c.images.generate()).data[0].url", ["(c.images.generate()).data[0].url"]),
        ("raw = c.images.with_raw_response.generate()\nraw.parse().data[0].url", ["raw.parse().data[0].url"]),
        (
            "with c.images.with_streaming_response.generate() as resp:\n    img = resp.parse()\n    img.data[0].url",
            ["img.data[0].url"],
        ),
        ("r = openai.Image.create()\nr['data'][0]['url']", ["r['data'][0]['url']"]),
        ("r = openai.Image.create()\nr.get('data')[0].get('url')", ["r.get('data')[0].get('url')"]),
        ("r = c.images.generate()\nr.model_dump()['data'][0]['url']", ["r.model_dump()['data'][0]['url']"]),
        ("if (r := c.images.generate()):\n    r.data[0].url", ["r.data[0].url"]),
        ("r = c.images.generate()\nr = r.data\nr[0].url", ["r[0].url"]),
    ],
)
def test_url_reads(source: str, reads: list[str]) -> None:
    assert url_reads(source) == reads


def test_each_read_goes_to_the_call_bound_last() -> None:
    source = (
        "def f():\n    r = c.images.generate()\n    a = r.data[0].url\n"
        "    r = c.images.edit()\n    for d in r.data:\n        b = d.url\n"
    )
    calls, _ = scan(source)
    assert [(call.api, [cut(source, s) for s in call.url_reads]) for call in calls] == [
        ("images.generate", ["r.data[0].url"]),
        ("images.edit", ["d.url"]),
    ]


@pytest.mark.parametrize(
    "source",
    [
        "r = c.images.generate()\nr.data[0].b64_json",
        "r = c.images.generate()\nr = other()\nr.url",
        "r.url\nr = c.images.generate()",
        "r = c.images.generate()\ndef g():\n    return r.data[0].url",
        "def f():\n    r = c.images.generate()\ndef g():\n    return r.data[0].url",
        "r = c.images.generate()\nn = len(r.data)\nn.url",
        "r = c.images.generate()\nother.url\nr['urls']",
        "r = c.images.generate()\nr.data[0].url = 'x'",
        "w = DallEAPIWrapper()\nw.url",
        "r = client.chat.completions.create()\nr.url",
    ],
)
def test_not_url_reads(source: str) -> None:
    assert url_reads(source) == []


# -- literals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "written"),
    [
        ("x = 'dall-e-3'", ["dall-e-3"]),
        ('x = "gpt-image-1.5"', ["gpt-image-1.5"]),
        ("x = '''gpt-image-1-mini'''", ["gpt-image-1-mini"]),
        ("x = r'gpt-image-2-2026-04-21'", ["gpt-image-2-2026-04-21"]),
        ("x = U'chatgpt-image-latest'", ["chatgpt-image-latest"]),
        ("x = 'openai/dall-e-3'", ["openai/dall-e-3"]),
        ("x = 'azure/dall-e-2'", ["azure/dall-e-2"]),
        ("x = {'dall-e-3': 1}", ["dall-e-3"]),
        ("if m == 'dall-e-3':\n    pass", ["dall-e-3"]),
        ("x = ('dall-e-3'  # dall-e-3 here\n)", ["dall-e-3"]),
        ("x = 'dall-e-3' ''  # dall-e-3", ["dall-e-3"]),
        ("def f():\n    x = 1\n    'dall-e-3'", ["dall-e-3"]),
        ("x = f'{\"dall-e-3\"}'", ["dall-e-3"]),
        ("c.images.generate(model='dall-e-3')", ["dall-e-3"]),
    ],
)
def test_model_literals(source: str, written: list[str]) -> None:
    assert models_found(source) == written


@pytest.mark.parametrize(
    "source",
    [
        "# dall-e-3\nx = 1",
        "x = 1  # model='dall-e-3'",
        "x = 'dall-e-3 is great'",
        "x = 'my-dall-e-3-cache'",
        "x = 'dall-e-30'",
        "x = 'DALL-E-3'",
        "x = ' dall-e-3'",
        "x = 'OpenAI/dall-e-3'",
        "x = 'a/b/dall-e-3'",
        "x = '/dall-e-3'",
        "x = b'dall-e-3'",
        "x = f'dall-e-3'",
        "x = f'dall-e-3{y}'",
        "x = 'dall-' 'e-3'",
        "x = 'dall\\x2de-3'",
        "x = ('dall-e-3'  # dall-e-3\n     '')",
    ],
)
def test_not_model_literals(source: str) -> None:
    assert scan(source)[1] == []


def test_a_concatenation_that_still_holds_the_id_once_points_at_it() -> None:
    source = "x = (''\n     'dall-e-3')"
    (site,) = scan(source)[1]
    assert (site.span.line, site.span.column) == (2, 7)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ('"""Uses dall-e-3."""', ["dall-e-3"]),
        ('"""See openai/dall-e-3, then gpt-image-1-mini."""', ["openai/dall-e-3", "gpt-image-1-mini"]),
        ('class K:\n    """Was dall-e-2 (now gpt-image-2)."""', ["dall-e-2", "gpt-image-2"]),
        ('def f():\n    """dall-e-3"""\n    return 1', ["dall-e-3"]),
        ('async def f():\n    r"""\n    On `gpt-image-1.5`.\n    """', ["gpt-image-1.5"]),
        ('"""Not dall-e-3.5, my-dall-e-3, dall-e-30, x.dall-e-3 or dall-e-3_x."""', []),
        ('"""Before dall-e-3. After: dall-e-3-ish, Dall-E-3, DALL·E 3."""', ["dall-e-3"]),
    ],
)
def test_docstring_mentions(source: str, found: list[str]) -> None:
    calls, literals = scan(source)
    assert calls == []
    assert [site.written for site in literals] == found
    assert all((site.context, site.language) == ("doc", "docs") for site in literals)


def test_a_docstring_that_is_exactly_an_id_is_still_a_doc() -> None:
    (site,) = scan('"""dall-e-3"""\nx = 1')[1]
    assert (site.context, site.model, site.span.column) == ("doc", "dall-e-3", 4)


def test_no_models_no_literals() -> None:
    calls, literals = extract("t.py", '"""dall-e-3"""\nc.images.generate(model="dall-e-3")', ())
    assert literals == []
    assert [call.api for call in calls] == ["images.generate"]


# -- positions --------------------------------------------------------------------------------------


def test_non_ascii_before_the_call_on_the_same_line_and_crlf() -> None:
    line = "t = 'Ωmega 🎨'; r = c.images.generate(model='dall-e-3', size=SIZE)"
    source = f"# é\r\nSIZE = '1024x1024'\r\n{line}\r\nr.data[0].url\r\n"
    call = only_call(source)
    # columns count code points: "🎨" is one column (four UTF-8 bytes, two UTF-16 units)
    assert (call.span.line, call.span.column) == (3, len("t = 'Ωmega 🎨'; r = ") + 1) == (3, 20)
    assert cut(source, call.span).startswith("c.images.generate(")
    assert (call.options["model"].span.line, call.options["model"].span.column) == (
        3,
        line.index("'dall") + 1,
    )
    assert cut(source, call.options["size"].span) == "'1024x1024'"
    assert [(s.line, s.column) for s in call.url_reads] == [(4, 1)]
    (site,) = scan(source)[1]
    assert (site.span.line, site.span.column) == (3, line.index("dall") + 1)
    assert site.span.offset == source.index("dall-e-3")


def test_lone_cr_line_breaks_and_a_bom() -> None:
    source = "\ufeffx = 1\rc.images.generate(model='dall-e-3')\r"
    call = only_call(source)
    assert (call.span.line, call.span.column, call.span.offset) == (2, 1, 7)
    source = "\ufeffc.images.generate(model='dall-e-3')"
    assert (only_call(source).span.column, only_call(source).span.offset) == (2, 1)


def test_multiline_value_and_docstring_spans() -> None:
    source = 'def f():\r\n    """Text\r\n    about dall-e-2.\r\n    """\r\n    c.images.generate(prompt=(\r\n        "a"\r\n        "b"))\r\n'
    calls, literals = scan(source)
    assert options(calls[0]) == {"prompt": lit('"a"\r\n        "b"', "ab")}
    assert (calls[0].options["prompt"].span.line, calls[0].options["prompt"].span.end_line) == (6, 7)
    assert [(s.span.line, s.span.column) for s in literals] == [(3, 11)]


# -- errors and scale -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "def f(:\n",
        "x = 1\x00",
        "x = '\udcff'",
        "x = " + "(" * 300 + ")" * 300,
        "x = " + " + ".join(["a"] * 30000),
    ],
)
def test_unparseable_files_raise_syntax_error(source: str) -> None:
    with pytest.raises(SyntaxError):
        extract("bad.py", source, MODELS)


def test_invalid_escapes_do_not_warn() -> None:
    # filterwarnings = error: a parse-time warning would fail this test
    assert models_found("import re\nx = re.compile('\\d+')\ny = 'dall-e-3'") == ["dall-e-3"]


def test_deep_expressions_do_not_exhaust_the_stack() -> None:
    source = "x = " + " + ".join(["'dall-e-3'"] * 900) + "\nc.images.generate(model=" + "-" * 500 + "1)"
    calls, literals = scan(source)
    assert len(literals) == 900
    assert calls[0].options["model"].origin == "computed"


# -- property ---------------------------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\"'\\"),
    max_size=12,
).filter(lambda text: not any(model in text for model in MODELS))  # filler: never a site of its own


@settings(max_examples=150, deadline=None)
@given(prefix=_TEXT, newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_spans_match_the_text_whatever_comes_before(prefix: str, newline: str) -> None:
    lines = [
        f'"""{prefix} dall-e-3 docs."""',
        "from openai import OpenAI",
        f"SIZE = '1792x1024'  # {prefix}",
        "client = OpenAI()",
        f"label = '{prefix}'; resp = client.images.generate(model='dall-e-3', size=SIZE, quality='{prefix}')",
        f"print('{prefix}', resp.data[0].url)",
    ]
    source = newline.join(lines) + newline
    calls, literals = scan(source)  # checks every slice and every line/column against its offset
    (call,) = calls
    assert (call.span.line, call.span.column) == (5, len(f"label = '{prefix}'; resp = ") + 1)
    assert options(call) == {
        "model": lit("'dall-e-3'", "dall-e-3"),
        "size": ("constant", "'1792x1024'", "1792x1024", "SIZE"),
        "quality": lit(f"'{prefix}'", prefix),
    }
    assert call.options["size"].span.line == 3
    assert [(span.line, cut(source, span)) for span in call.url_reads] == [(6, "resp.data[0].url")]
    assert [(s.context, s.span.line) for s in literals] == [("doc", 1), ("code", 5)]
    assert literals[0].span.column == len(f'"""{prefix} ') + 1
