"""The JavaScript / TypeScript extractor: calls, options and their origins, ``.url`` reads, model-id strings,
positions, syntax errors and the missing ``scan`` extra.

``FIXTURE_CALLS`` / ``FIXTURE_LITERALS`` hold the expected sites of every file under
``tests/scan/fixtures/tree/js/`` as data, for reuse by the scan's end-to-end tests.
"""

from __future__ import annotations

import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageshim import builtin_catalog
from imageshim._scan import js_sites
from imageshim._scan.js_sites import JsSites, extract
from imageshim._scan.sites import CallSite, LiteralSite

from .spans import check_sites, check_span, cut

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tree" / "js"
MODELS = builtin_catalog().names()
#: what each ``.url`` read ends with
_URL_READ = r"""(\burl|\[\s*["']url["']\s*\]|\burl\s*:\s*\w+)$"""
_DIALECTS: dict[str, js_sites.Dialect] = {
    ".ts": "typescript",
    ".tsx": "tsx",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
}


# -- helpers ----------------------------------------------------------------------------------------


def scan(source: str, dialect: js_sites.Dialect = "typescript") -> JsSites:
    found = extract("t.ts", source, dialect, MODELS)
    check_spans(source, found.calls, found.literals)
    return found


def only_call(source: str, dialect: js_sites.Dialect = "typescript") -> CallSite:
    calls = scan(source, dialect).calls
    assert len(calls) == 1, calls
    return calls[0]


def check_spans(text: str, calls: list[CallSite], literals: list[LiteralSite]) -> None:
    """Every span is where it says, and covers exactly what it names."""
    check_sites(text, calls, literals, url_read=_URL_READ)
    assert all(site.context == "code" for site in literals)


def options(call: CallSite) -> dict[str, tuple[str, str, object, str | None]]:
    return {name: (v.origin, v.text, v.value, v.via) for name, v in call.options.items()}


def lit(text: str, value: object) -> tuple[str, str, object, None]:
    return ("literal", text, value, None)


def computed(text: str) -> tuple[str, str, None, None]:
    return ("computed", text, None, None)


def models_found(source: str, dialect: js_sites.Dialect = "typescript") -> list[str]:
    return [site.written for site in scan(source, dialect).literals]


def url_reads(source: str) -> list[str]:
    return [cut(source, span) for call in scan(source).calls for span in call.url_reads]


# -- the fixture tree, as data ----------------------------------------------------------------------


class ExpectedCall(NamedTuple):
    line: int
    column: int
    api: str
    flavour: str | None
    #: name -> (origin, text, value, via)
    options: dict[str, tuple[str, str, object, str | None]]
    hidden: tuple[str, ...] = ()
    #: (line, column, text) of each read of ``url``
    url_reads: tuple[tuple[int, int, str], ...] = ()
    implied_url_read: bool = False
    option_paths: dict[str, str] = {}  # noqa: RUF012 (a NamedTuple default, never mutated)
    #: name -> (line, column) of each option's value (for constants: where the constant is)
    value_at: dict[str, tuple[int, int]] = {}  # noqa: RUF012


_OPENAI_PATHS = {
    "quality": "providerOptions.openai.quality",
    "style": "providerOptions.openai.style",
}

FIXTURE_CALLS: dict[str, list[ExpectedCall]] = {
    "openai_node.ts": [
        ExpectedCall(
            8,
            26,
            "images.generate",
            None,
            {
                "model": lit('"dall-e-3"', "dall-e-3"),
                "prompt": computed("prompt"),
                "n": lit("1", 1),
                "size": lit('"1792x1024"', "1792x1024"),
                "quality": lit('"hd"', "hd"),
                "style": lit('"vivid"', "vivid"),
                "response_format": lit('"url"', "url"),
            },
            url_reads=((17, 10, "response.data?.[0]?.url"),),
            value_at={"model": (9, 12), "size": (12, 11), "style": (14, 12)},
        ),
        ExpectedCall(
            21,
            24,
            "images.edit",
            None,
            {
                "model": lit('"gpt-image-1"', "gpt-image-1"),
                "image": computed('await toFile(fs.createReadStream(path), null, { type: "image/png" })'),
                "prompt": computed("prompt"),
                "size": lit('"1024x1024"', "1024x1024"),
            },
        ),
        ExpectedCall(
            31,
            26,
            "images.create_variation",
            None,
            {
                "model": lit('"dall-e-2"', "dall-e-2"),
                "image": computed("fs.createReadStream(path)"),
                "n": lit("3", 3),
                "size": lit('"512x512"', "512x512"),
            },
            url_reads=((37, 38, "image.url"),),
        ),
        # raw.url (the HTTP response's) is not an image URL
        ExpectedCall(
            41,
            49,
            "images.generate",
            "withResponse",
            {
                "model": lit('"dall-e-3"', "dall-e-3"),
                "prompt": computed("prompt"),
                "size": lit('"1024x1024"', "1024x1024"),
            },
            url_reads=((45, 10, "images.data?.[0]?.url"),),
        ),
    ],
    "ai_sdk.ts": [
        ExpectedCall(
            5,
            27,
            "generateImage",
            None,
            {
                "model": lit('"dall-e-3"', "dall-e-3"),
                "prompt": computed("prompt"),
                "size": lit('"1024x1792"', "1024x1792"),
                "n": lit("1", 1),
                "seed": lit("42", 42),
                "quality": lit('"hd"', "hd"),
                "style": lit('"natural"', "natural"),
            },
            option_paths=_OPENAI_PATHS,
            value_at={"model": (6, 25), "quality": (12, 26)},
        ),
        ExpectedCall(
            19,
            28,
            "generateImage",
            None,
            {
                "model": lit('"gpt-image-1"', "gpt-image-1"),
                "prompt": computed("prompt"),
                "aspectRatio": lit('"16:9"', "16:9"),
                "quality": lit('"high"', "high"),
            },
            option_paths={"quality": "providerOptions.openai.quality"},
        ),
        ExpectedCall(29, 31, "openai.image", None, {"model": lit('"gpt-image-1-mini"', "gpt-image-1-mini")}),
    ],
    "ai_sdk_alias.mjs": [
        ExpectedCall(
            8,
            27,
            "generateImage",
            None,
            {
                "model": ("constant", '"dall-e-3"', "dall-e-3", "IMAGE_MODEL"),
                "prompt": computed("prompt"),
                "size": lit('"1024x1024"', "1024x1024"),
                "style": lit('"vivid"', "vivid"),
                "response_format": lit('"b64_json"', "b64_json"),
            },
            option_paths={
                "style": "providerOptions.openai.style",
                "response_format": "providerOptions.openai.response_format",
            },
            value_at={"model": (5, 21)},
        ),
    ],
    "gateway_string.js": [
        ExpectedCall(
            5,
            24,
            "generateImage",
            None,
            {
                "model": lit('"openai/dall-e-3"', "openai/dall-e-3"),
                "prompt": computed("prompt"),
                "n": lit("2", 2),
            },
        ),
    ],
    "langchain.js": [
        ExpectedCall(
            3,
            22,
            "DallEAPIWrapper",
            None,
            {
                "n": lit("1", 1),
                "model": lit('"dall-e-3"', "dall-e-3"),
                "size": lit('"1792x1024"', "1792x1024"),
                "quality": lit('"hd"', "hd"),
                "style": lit('"natural"', "natural"),
            },
            implied_url_read=True,
            option_paths={"model": "modelName"},
        ),
        ExpectedCall(
            12,
            28,
            "DallEAPIWrapper",
            None,
            {"model": lit('"dall-e-2"', "dall-e-2"), "response_format": lit('"b64_json"', "b64_json")},
            option_paths={"response_format": "dallEResponseFormat"},
        ),
    ],
    "constants.ts": [
        ExpectedCall(
            17,
            21,
            "images.generate",
            None,
            {
                "model": ("constant", '"dall-e-3"', "dall-e-3", "MODEL"),
                "prompt": (
                    "constant",
                    '"A lighthouse at dusk, oil painting"',
                    "A lighthouse at dusk, oil painting",
                    "params.prompt",
                ),
                "size": ("constant", '"1792x1024"', "1792x1024", "SIZE"),
                "quality": ("constant", '"hd"', "hd", "params.quality"),
                "style": ("constant", '"vivid"', "vivid", "params.style"),
            },
            url_reads=((19, 10, "first?.url"),),
            value_at={"model": (3, 22), "size": (4, 14), "quality": (12, 12)},
        ),
        ExpectedCall(
            27,
            10,
            "images.generate",
            None,
            {
                "model": ("constant", '"dall-e-3"', "dall-e-3", "MODEL"),
                "prompt": lit('"A lighthouse"', "A lighthouse"),
                "size": ("assignment", '"1024x1024"', "1024x1024", "size"),
                "quality": ("assignment", '"standard"', "standard", "quality"),
                "style": computed("style"),  # let style = ...; if (calm) style = ...
            },
            value_at={"size": (26, 16), "quality": (23, 17), "style": (27, 88)},
        ),
    ],
    "spread.ts": [
        ExpectedCall(
            8,
            10,
            "images.generate",
            None,
            {
                "prompt": lit('"A city skyline at night"', "A city skyline at night"),
                "model": computed("model"),
                "size": computed('options.size ?? "1024x1024"'),
            },
            hidden=("...options",),
        ),
        ExpectedCall(17, 10, "images.generate", None, {}, hidden=("arguments not visible",)),
    ],
    # a fetch to the app's own route: no image call, only the model ids
    "component.tsx": [],
    "deprecated.cjs": [
        ExpectedCall(
            7,
            21,
            "images.generate",
            None,
            {
                "model": lit('"gpt-image-1-mini"', "gpt-image-1-mini"),
                "prompt": computed("prompt"),
                "size": lit('"1024x1024"', "1024x1024"),
                "quality": lit('"low"', "low"),
                "output_format": lit('"webp"', "webp"),
            },
        ),
    ],
    "negatives.js": [],
}

#: file -> (line, column, model, written)
FIXTURE_LITERALS: dict[str, list[tuple[int, int, str, str]]] = {
    "openai_node.ts": [
        (9, 13, "dall-e-3", "dall-e-3"),
        (22, 13, "gpt-image-1", "gpt-image-1"),
        (32, 13, "dall-e-2", "dall-e-2"),
        (42, 25, "dall-e-3", "dall-e-3"),
    ],
    "ai_sdk.ts": [
        (6, 26, "dall-e-3", "dall-e-3"),
        (20, 31, "gpt-image-1", "gpt-image-1"),
        (29, 45, "gpt-image-1-mini", "gpt-image-1-mini"),
    ],
    "ai_sdk_alias.mjs": [(5, 22, "dall-e-3", "dall-e-3")],
    "gateway_string.js": [(6, 20, "dall-e-3", "openai/dall-e-3")],
    "langchain.js": [(5, 15, "dall-e-3", "dall-e-3"), (13, 11, "dall-e-2", "dall-e-2")],
    "constants.ts": [(3, 23, "dall-e-3", "dall-e-3")],
    "spread.ts": [(7, 35, "gpt-image-1.5", "gpt-image-1.5"), (7, 53, "dall-e-3", "dall-e-3")],
    # the const and the JSX attribute string; the JSX text "Generate with gpt-image-1.5" is not a string
    "component.tsx": [(3, 22, "gpt-image-1.5", "gpt-image-1.5"), (19, 45, "gpt-image-1.5", "gpt-image-1.5")],
    "deprecated.cjs": [(8, 13, "gpt-image-1-mini", "gpt-image-1-mini")],
    # comments, JSDoc, "dall-e-3 is great", "my-dall-e-3-cache", "dall-e-30", templates with a substitution
    # and a regular expression are not sites
    "negatives.js": [],
}


def read_fixture(name: str) -> str:
    with open(FIXTURES / name, encoding="utf-8", newline="") as handle:
        return handle.read()


def test_every_fixture_file_has_expectations() -> None:
    assert sorted(path.name for path in FIXTURES.iterdir()) == sorted(FIXTURE_CALLS)
    assert sorted(FIXTURE_LITERALS) == sorted(FIXTURE_CALLS)


@pytest.mark.parametrize("name", sorted(FIXTURE_CALLS))
def test_fixture_file(name: str) -> None:
    text = read_fixture(name)
    dialect = _DIALECTS[Path(name).suffix]
    found = extract(f"js/{name}", text, dialect, MODELS)
    check_spans(text, found.calls, found.literals)
    expected = FIXTURE_CALLS[name]
    assert len(found.calls) == len(expected), [call.api for call in found.calls]
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
            {name: (call.options[name].span.line, call.options[name].span.column) for name in want.value_at},
        )
        for call, want in zip(found.calls, expected, strict=True)
    ]
    assert got == expected
    assert [(s.span.line, s.span.column, s.model, s.written) for s in found.literals] == FIXTURE_LITERALS[
        name
    ]
    language = "javascript" if dialect == "javascript" else "typescript"
    assert {(site.path, site.language) for site in [*found.calls, *found.literals]} <= {
        (f"js/{name}", language)
    }
    assert found.errors == ()
    assert not found.had_errors


# -- which calls ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "api", "flavour"),
    [
        ("client.images.generate({ prompt: 'p' });", "images.generate", None),
        ("async function f() { await this.openai.images.edit({ prompt: 'p' }); }", "images.edit", None),
        ("new OpenAI().images.createVariation({ image });", "images.create_variation", None),
        ("openai.images\n  .generate({ prompt: 'p' });", "images.generate", None),
        ("client.images?.generate({ prompt: 'p' });", "images.generate", None),
        ("await client.images.generate({ prompt: 'p' }).withResponse();", "images.generate", "withResponse"),
        ("await client.images.edit({ prompt: 'p' }).asResponse();", "images.edit", "asResponse"),
        ("import { generateImage } from 'ai';\ngenerateImage({ prompt: 'p' });", "generateImage", None),
        (
            "import { experimental_generateImage as gen } from 'ai';\ngen({ prompt: 'p' });",
            "generateImage",
            None,
        ),
        (
            "const { experimental_generateImage: gen } = require('ai');\ngen({ prompt: 'p' });",
            "generateImage",
            None,
        ),
        ("import * as ai from 'ai';\nai.experimental_generateImage({ prompt: 'p' });", "generateImage", None),
        ("const ai = require('ai');\nai.generateImage({ prompt: 'p' });", "generateImage", None),
        # a global (a snippet, a bundle): the AI SDK's when called with an options object
        ("experimental_generateImage({ prompt: 'p' });", "generateImage", None),
        ("import { openai } from '@ai-sdk/openai';\nconst m = openai.image('x');", "openai.image", None),
        ("const m = openai.imageModel('x');", "openai.image", None),
        (
            "import { createOpenAI } from '@ai-sdk/openai';\nconst p = createOpenAI({});\np.image('x');",
            "openai.image",
            None,
        ),
        ("import { createOpenAI as mk } from '@ai-sdk/openai';\nmk({}).image('x');", "openai.image", None),
        (
            "import { DallEAPIWrapper } from '@langchain/openai';\nnew DallEAPIWrapper({});",
            "DallEAPIWrapper",
            None,
        ),
        (
            "import { DallEAPIWrapper as D } from '@langchain/openai';\nnew D({ n: 1 });",
            "DallEAPIWrapper",
            None,
        ),
        ("const lc = require('@langchain/openai');\nnew lc.DallEAPIWrapper();", "DallEAPIWrapper", None),
    ],
)
def test_recognised_calls(source: str, api: str, flavour: str | None) -> None:
    call = only_call(source)
    assert (call.api, call.flavour) == (api, flavour)
    assert call.path == "t.ts"
    assert call.language == "typescript"


@pytest.mark.parametrize(
    "source",
    [
        "client.images.list();",
        "client.image.generate({ prompt: 'p' });",
        "images.generate({ prompt: 'p' });",
        "client.images.generate;",
        "const editor = { images: { generate: () => null } };",
        # a function of the user's own, or imported from elsewhere, that happens to be called generateImage
        "function generateImage(prompt) { return prompt; }\ngenerateImage({ prompt: 'p' });",
        "import { generateImage } from './lib/images';\ngenerateImage({ prompt: 'p' });",
        "generateImage('a cat');",
        "import * as ai from './ai';\nai.generateImage({ prompt: 'p' });",
        # another provider's image model; the openai-node client (no .image method there)
        "import { fal } from '@ai-sdk/fal';\nfal.image('fal-ai/flux');",
        "const openai = new OpenAI();\nopenai.image('x');",
        "new DallEAPIWrapperFactory();",
        "import { DallEAPIWrapper as D } from '@langchain/openai';\nnew E();",
        "// client.images.generate({ model: 'dall-e-3' })",
        "const s = 'client.images.generate({})';",
    ],
)
def test_not_calls(source: str) -> None:
    assert scan(source).calls == []


def test_a_model_handle_read_by_generate_image_is_not_a_site_of_its_own() -> None:
    source = (
        "import { generateImage } from 'ai';\nimport { openai } from '@ai-sdk/openai';\n"
        "const model = openai.image('dall-e-3');\n"
        "async function f(prompt) {\n  return generateImage({ model, prompt });\n}\n"
        "const other = openai.image('gpt-image-1');"
    )
    calls = scan(source).calls
    assert [call.api for call in calls] == ["generateImage", "openai.image"]
    assert options(calls[0])["model"] == ("constant", "'dall-e-3'", "dall-e-3", "model")
    assert options(calls[1]) == {"model": lit("'gpt-image-1'", "gpt-image-1")}
    assert cut(source, calls[1].arg_spans["model"]) == "'gpt-image-1'"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("openai.image('dall-e-3')", lit("'dall-e-3'", "dall-e-3")),
        ("openai.imageModel(`gpt-image-1`)", lit("`gpt-image-1`", "gpt-image-1")),
        ("custom.image(M)", ("constant", "'dall-e-2'", "dall-e-2", "M")),
        ("createOpenAI({ baseURL }).image('dall-e-3')", lit("'dall-e-3'", "dall-e-3")),
        ("'openai/dall-e-3'", lit("'openai/dall-e-3'", "openai/dall-e-3")),
        ("M", ("constant", "'dall-e-2'", "dall-e-2", "M")),
        ("fal.image('fal-ai/flux')", computed("fal.image('fal-ai/flux')")),
        ("openai.image(pick())", computed("pick()")),
        ("openai.image()", computed("openai.image()")),
    ],
)
def test_generate_image_model_forms(model: str, expected: tuple[str, str, object, str | None]) -> None:
    source = (
        "import { generateImage } from 'ai';\nimport { openai, createOpenAI } from '@ai-sdk/openai';\n"
        "import { fal } from '@ai-sdk/fal';\nconst M = 'dall-e-2';\nconst custom = createOpenAI({});\n"
        f"generateImage({{ model: {model}, prompt: 'p' }});"
    )
    calls = scan(source).calls
    assert [call.api for call in calls] == ["generateImage"]
    assert options(calls[0])["model"] == expected


def test_provider_options_are_read_by_openai_names() -> None:
    source = (
        "const OPENAI = { style: 'vivid' };\n"
        "generateImage({ prompt: 'p', size: '1024x1024', maxRetries: 2, abortSignal: s,\n"
        "  providerOptions: { fal: { quality: 'x' }, openai: { quality: 'hd', ...more, 'response_format': 'url' } } });\n"
        "generateImage({ prompt: 'p', providerOptions: { openai: OPENAI } });\n"
        "generateImage({ prompt: 'p', providerOptions: opts });\n"
        "generateImage({ prompt: 'p', providerOptions: { openai: pick() } });"
    )
    first, second, third, fourth = scan(source).calls
    assert options(first) == {
        "prompt": lit("'p'", "p"),
        "size": lit("'1024x1024'", "1024x1024"),
        "quality": lit("'hd'", "hd"),
        "response_format": lit("'url'", "url"),
    }
    assert first.option_paths == {
        "quality": "providerOptions.openai.quality",
        "response_format": "providerOptions.openai.response_format",
    }
    assert first.hidden == ("...more",)
    assert cut(source, first.arg_spans["quality"]) == "quality: 'hd'"
    assert options(second)["style"] == ("constant", "'vivid'", "vivid", "OPENAI.style")
    assert cut(source, second.arg_spans["style"]) == "style: 'vivid'"
    assert (third.hidden, list(third.options)) == (("providerOptions: opts",), ["prompt"])
    assert fourth.hidden == ("providerOptions.openai: pick()",)


def test_langchain_wrapper() -> None:
    source = (
        "new DallEAPIWrapper({ modelName: 'dall-e-3', responseFormat: 'url', apiKey: 'sk-secret-1',\n"
        "  openAIApiKey: 'sk-secret-2', organization: 'org-1', baseUrl: 'http://x' });\n"
        "new DallEAPIWrapper({ dallEResponseFormat: fmt });\n"
        "new DallEAPIWrapper();"
    )
    first, second, third = scan(source).calls
    assert options(first) == {"model": lit("'dall-e-3'", "dall-e-3"), "response_format": lit("'url'", "url")}
    assert first.option_paths == {"model": "modelName", "response_format": "responseFormat"}
    assert "sk-secret" not in repr([first, second, third])
    # the wrapper hands back the URL unless it visibly asks for base64
    assert all(call.implied_url_read for call in (first, second, third))
    assert third.options == {}


# -- option values ----------------------------------------------------------------------------------


def test_literal_values() -> None:
    source = (
        "c.images.generate({ size: '1x1', quality: \"hd\", style: `vivid`, n: 2, seed: -3, w: 1.5e3, h: 0x10,\n"
        "  big: 1_000n, stream: true, partial: false, user: null, other: undefined, 'output_format': 'png',\n"
        "  prompt: 'it\\'s \\u00e9', x: `a${b}`, background: 'trans' + 'parent' });"
    )
    assert options(only_call(source)) == {
        "size": lit("'1x1'", "1x1"),
        "quality": lit('"hd"', "hd"),
        "style": lit("`vivid`", "vivid"),
        "n": lit("2", 2),
        "seed": lit("-3", -3),
        "w": lit("1.5e3", 1500.0),
        "h": lit("0x10", 16),
        "big": lit("1_000n", 1000),
        "stream": lit("true", True),
        "partial": lit("false", False),
        "user": lit("null", None),
        "other": lit("undefined", None),
        "output_format": lit("'png'", "png"),
        "prompt": lit("'it\\'s \\u00e9'", "it's é"),
        "x": computed("`a${b}`"),
        "background": computed("'trans' + 'parent'"),
    }


def test_arg_spans_cover_the_whole_property() -> None:
    source = (
        "const size = '1x1';\nc.images.generate({ model: 'dall-e-3' /* old */, size, 'style': 'vivid' });"
    )
    call = only_call(source)
    assert {name: cut(source, span) for name, span in call.arg_spans.items()} == {
        "model": "model: 'dall-e-3'",
        "size": "size",
        "style": "'style': 'vivid'",
    }


def test_module_constant() -> None:
    source = (
        "export const MODEL = 'dall-e-3';\nconst SIZE: string = ('1792x1024' as const);\nvar N = 2;\n"
        "const CONFIG = { quality: 'hd', nested: { style: 'vivid' } } as const;\n"
        "function f() {\n  return c.images.generate({ model: MODEL, size: SIZE, n: N, quality: CONFIG.quality,\n"
        "    style: CONFIG.nested.style, user: LATER });\n}\nconst LATER = 'u1';"
    )
    call = only_call(source)
    assert options(call) == {
        "model": ("constant", "'dall-e-3'", "dall-e-3", "MODEL"),
        "size": ("constant", "'1792x1024'", "1792x1024", "SIZE"),
        "n": ("assignment", "2", 2, "N"),  # var: never reassigned, but not a const
        "quality": ("constant", "'hd'", "hd", "CONFIG.quality"),
        "style": ("constant", "'vivid'", "vivid", "CONFIG.nested.style"),
        "user": ("constant", "'u1'", "u1", "LATER"),  # a function runs after the module body
    }
    model = call.options["model"]
    assert (model.span.line, model.span.column) == (1, 22)


def test_function_assignment() -> None:
    source = (
        "const Q = 'standard';\nfunction f() {\n  const Q = 'hd';\n  let s = '1x1';\n  const alias = s;\n"
        "  if (x) {\n    const n = 3;\n    c.images.generate({ quality: Q, size: alias, n });\n  }\n}"
    )
    assert options(only_call(source)) == {
        "quality": ("assignment", "'hd'", "hd", "Q"),
        "size": ("assignment", "'1x1'", "1x1", "alias"),
        "n": ("assignment", "3", 3, "n"),
    }


@pytest.mark.parametrize(
    "source",
    [
        # a parameter, a later declaration, a reassignment, a destructured name, a block that is not ours
        "function f(Q) { c.images.generate({ quality: Q }); }",
        "const Q = 'hd';\nconst f = (Q = 'low') => c.images.generate({ quality: Q });",
        "function f() { c.images.generate({ quality: Q }); const Q = 'hd'; }",
        "function f() { let Q = 'hd'; Q = 'low'; c.images.generate({ quality: Q }); }",
        "let Q = 'hd';\nfunction f() { Q += 'x'; }\nc.images.generate({ quality: Q });",
        "function f() { const { Q } = opts; c.images.generate({ quality: Q }); }",
        "function f() { if (a) { const Q = 'hd'; } c.images.generate({ quality: Q }); }",
        "function f() { for (const Q of qs) c.images.generate({ quality: Q }); }",
        "import { Q } from './config';\nc.images.generate({ quality: Q });",
        "var Q = 'hd';\nvar Q = 'low';\nc.images.generate({ quality: Q });",
        "const Q = pick();\nc.images.generate({ quality: Q });",
        "const C = { quality: 'hd' };\nC.quality = 'low';\nc.images.generate(C);",
    ],
)
def test_names_that_are_not_visible(source: str) -> None:
    call = only_call(source)
    if call.options:
        assert call.options["quality"].origin == "computed"
        assert call.options["quality"].value is None
    else:
        assert call.hidden == ("arguments not visible",)


def test_an_argument_bound_to_an_object() -> None:
    source = (
        "const BASE = { model: 'dall-e-3', size: SIZE, ...extra };\nconst SIZE = '1x1';\n"
        "function f() {\n  const params = { quality: 'hd' };\n  c.images.generate(params);\n"
        "  c.images.generate(BASE);\n  c.images.generate(make());\n  c.images.generate('a cat');\n}"
    )
    local, module, made, positional = scan(source).calls
    assert options(local) == {"quality": ("assignment", "'hd'", "hd", "params.quality")}
    assert cut(source, local.arg_spans["quality"]) == "quality: 'hd'"
    assert options(module) == {
        "model": ("constant", "'dall-e-3'", "dall-e-3", "BASE.model"),
        "size": ("constant", "'1x1'", "1x1", "SIZE"),
    }
    assert module.hidden == ("...extra",)
    assert (made.options, made.hidden) == ({}, ("arguments not visible",))
    assert (positional.options, positional.hidden) == ({}, ("arguments not visible",))


def test_spreads_and_computed_keys_are_hidden() -> None:
    call = only_call("c.images.generate({ ...defaults, [key]: 'x', model: 'dall-e-3', ...(a ? b : c) });")
    assert call.hidden == ("...defaults", "[key]: 'x'", "...(a ? b : c)")
    assert options(call) == {"model": lit("'dall-e-3'", "dall-e-3")}


# -- url reads --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "reads"),
    [
        ("const r = await c.images.generate({});\nr.data[0].url;", ["r.data[0].url"]),
        ("const r = await c.images.generate({});\nuse(r.data?.[0]?.url);", ["r.data?.[0]?.url"]),
        ("const r = await c.images.generate({});\nr.data[0]['url'];", ["r.data[0]['url']"]),
        ("const r = await c.images.generate({});\nconst { url } = r.data[0];", ["url"]),
        ("const r = await c.images.generate({});\nconst [{ url: u }] = r.data;", ["url: u"]),
        ("const { data: [{ url }] } = await c.images.generate({});", ["url"]),
        ("const { data } = await c.images.generate({});\ndata[0].url;", ["data[0].url"]),
        ("const r = await c.images.generate({});\nconst first = r.data[0];\nfirst.url;", ["first.url"]),
        ("const r = await c.images.generate({});\nfor (const img of r.data) use(img.url);", ["img.url"]),
        ("const r = await c.images.generate({});\nr.data.map((d) => d.url);", ["d.url"]),
        ("const r = await c.images.generate({});\nr.data.forEach(({ url }) => use(url));", ["url"]),
        ("c.images.generate({}).then((r) => r.data[0].url);", ["r.data[0].url"]),
        ("(await c.images.generate({})).data[0].url;", ["(await c.images.generate({})).data[0].url"]),
        ("let r;\nr = await c.images.generate({});\nr.data[0].url;", ["r.data[0].url"]),
        ("const r = await c.images.generate({});\nfunction g() { return r.data[0].url; }", ["r.data[0].url"]),
        (
            "const { data: out, response } = await c.images.generate({}).withResponse();\nresponse.url; out.data[0].url;",
            ["out.data[0].url"],
        ),
        ("const r = await c.images.generate({});\n(r.data ?? []).map((d) => d.url);", ["d.url"]),
    ],
)
def test_url_reads(source: str, reads: list[str]) -> None:
    assert url_reads(source) == reads


@pytest.mark.parametrize(
    "source",
    [
        "const r = await c.images.generate({});\nr.data[0].b64_json;",
        "const r = await c.images.generate({});\nother.url;",
        "r.url;\nconst r = await c.images.generate({});",
        "let r = await c.images.generate({});\nr = await fetch(x);\nr.url;",
        "function f() { const r = await c.images.generate({}); }\nfunction g() { return r.data[0].url; }",
        "const r = await c.images.generate({});\nfunction g(r) { return r.url; }",
        "const r = await c.images.edit({}).asResponse();\nr.url;",
        "const r = await c.images.generate({ image: prev.url });",
        "const { image } = await generateImage({ prompt: 'p' });\nimage.url;",
        "const tool = new DallEAPIWrapper({});\ntool.url;",
    ],
)
def test_not_url_reads(source: str) -> None:
    assert url_reads(source) == []


# -- model-id strings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "written"),
    [
        ("const m = 'dall-e-3';", ["dall-e-3"]),
        ('const m = "gpt-image-1.5";', ["gpt-image-1.5"]),
        ("const m = `gpt-image-1-mini`;", ["gpt-image-1-mini"]),
        ("const m = 'gpt-image-2-2026-04-21';", ["gpt-image-2-2026-04-21"]),
        ("const m = { 'dall-e-2': 0.02 };", ["dall-e-2"]),
        ("type Model = 'dall-e-2' | 'dall-e-3';", ["dall-e-2", "dall-e-3"]),
        ("const m = ['openai/dall-e-3', 'azure/gpt-image-1'];", ["openai/dall-e-3", "azure/gpt-image-1"]),
        ("c.images.generate({ model: 'dall-e-3' });", ["dall-e-3"]),
    ],
)
def test_model_literals(source: str, written: list[str]) -> None:
    assert models_found(source) == written


@pytest.mark.parametrize(
    "source",
    [
        "// dall-e-3",
        "/** @param model 'dall-e-3' */",
        "/* 'gpt-image-1' */ const x = 1;",
        "const s = 'dall-e-3 is great';",
        "const s = 'my-dall-e-3-cache';",
        "const s = 'dall-e-30';",
        "const s = 'OpenAI/dall-e-3';",
        "const s = `dall-e-3${suffix}`;",
        "const s = `${p}dall-e-3`;",
        "const s = /dall-e-3/;",
        "const s = 'dall-e-3/weights';",
        # escapes: the value is the id, but no span covers exactly the id's own characters
        "const s = 'dall\\u002de-3';",
        "const s = 'dall-e-\\x33';",
        "const s = '';",
    ],
)
def test_not_model_literals(source: str) -> None:
    assert models_found(source) == []


def test_jsx_attributes_are_strings_and_jsx_text_is_not() -> None:
    source = "export const A = () => <Img model='dall-e-3' title={`dall-e-2`}>dall-e-3</Img>;"
    assert models_found(source, "tsx") == ["dall-e-3", "dall-e-2"]
    assert models_found(source.replace("export const A = () => ", ""), "javascript") == [
        "dall-e-3",
        "dall-e-2",
    ]


def test_provider_prefix_span_covers_the_id_only() -> None:
    source = "const m = 'openai/dall-e-3';"
    (site,) = scan(source).literals
    assert (site.model, site.written, cut(source, site.span)) == ("dall-e-3", "openai/dall-e-3", "dall-e-3")
    assert site.span.offset == source.index("dall")


def test_no_models_no_literals() -> None:
    found = extract(
        "t.ts", "const m = 'dall-e-3';\nc.images.generate({ model: 'dall-e-3' });", "typescript", ()
    )
    assert found.literals == []
    assert [call.api for call in found.calls] == ["images.generate"]


# -- positions --------------------------------------------------------------------------------------


def test_non_ascii_before_the_call_on_the_same_line_and_crlf() -> None:
    line = "const t = 'Ωmega 🎨'; const r = await c.images.generate({ model: 'dall-e-3', size: SIZE });"
    source = f"// é\r\nconst SIZE = '1024x1024';\r\n{line}\r\nr.data[0].url;\r\n"
    call = only_call(source)
    # columns count code points: "🎨" is one column (four UTF-8 bytes, two UTF-16 units)
    assert (call.span.line, call.span.column) == (3, line.index("c.images") + 1) == (3, 38)
    assert (call.options["model"].span.line, call.options["model"].span.column) == (
        3,
        line.index("'dall") + 1,
    )
    assert (call.options["size"].span.line, call.options["size"].span.column) == (2, 14)
    assert [(s.line, s.column) for s in call.url_reads] == [(4, 1)]
    (site,) = scan(source).literals
    assert (site.span.line, site.span.column, site.span.offset) == (
        3,
        line.index("dall") + 1,
        source.index("dall"),
    )


def test_lone_cr_line_breaks_and_a_bom() -> None:
    source = "\ufeffconst x = 1;\rc.images.generate({ model: 'dall-e-3' });\r"
    call = only_call(source)
    assert (call.span.line, call.span.column, call.span.offset) == (2, 1, 14)


def test_multiline_template_value() -> None:
    source = "c.images.generate({\r\n  prompt: `a\r\nb`,\r\n});"
    call = only_call(source)
    # a template literal's value has "\n" where the source has "\r\n" (as in JavaScript)
    assert options(call) == {"prompt": lit("`a\r\nb`", "a\nb")}
    assert (call.options["prompt"].span.line, call.options["prompt"].span.end_line) == (2, 3)


# -- syntax errors, the fast path, threads -----------------------------------------------------------


def test_syntax_errors_are_reported_and_sites_still_found() -> None:
    source = "const = ;\nconst r = await client.images.generate({ model: 'dall-e-3' });\nr.data[0].url;\nfunction (\n"
    found = scan(source)
    assert [call.api for call in found.calls] == ["images.generate"]
    assert [site.model for site in found.literals] == ["dall-e-3"]
    assert found.had_errors
    assert found.errors
    assert found.errors[0].line == 1
    for span in found.errors:
        check_span(source, span)


def test_only_the_first_few_errors_are_listed() -> None:
    source = "\n".join(["const = ;"] * 40 + ["c.images.generate({ model: 'dall-e-3' });"])
    found = scan(source)
    assert [call.api for call in found.calls] == ["images.generate"]
    assert 1 <= len(found.errors) <= 5
    assert [span.line for span in found.errors] == sorted(span.line for span in found.errors)


@pytest.mark.parametrize(
    ("source", "models"),
    [
        # lone surrogates (a file decoded with surrogateescape) and a NUL byte
        ("const s = '\udcff'; c.images.generate({ model: 'dall-e-3' });", ["dall-e-3"]),
        (
            "\udcffc.images.generate({ model: 'dall-e-3', size: '\ud800' });\x00 'dall-e-2'",
            ["dall-e-3", "dall-e-2"],
        ),
        # deep nesting and an unclosed call
        ("x = " + "[" * 3000 + "'dall-e-3'" + "]" * 3000 + ";", ["dall-e-3"]),
        ("c.images.generate({ model: 'dall-e-3' " + "(" * 5000, ["dall-e-3"]),
    ],
)
def test_odd_input_never_raises(source: str, models: list[str]) -> None:
    found = extract("t.js", source, "javascript", MODELS)
    assert [site.model for site in found.literals] == models
    for site in found.literals:
        assert cut(source, site.span) == site.model


def test_unpacks_as_calls_and_literals_first() -> None:
    calls, literals, errors = scan("c.images.generate({ model: 'dall-e-3' });")
    assert ([c.api for c in calls], [s.model for s in literals], errors) == (
        ["images.generate"],
        ["dall-e-3"],
        (),
    )


def test_a_file_with_nothing_to_find_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parser(dialect: str) -> None:
        raise AssertionError(f"parsed a {dialect} file with nothing to find")

    monkeypatch.setattr(js_sites, "_parser", no_parser)
    assert extract("t.ts", "export const images = [];\nfunction edit() {}\n", "typescript", MODELS) == (
        [],
        [],
        (),
    )


def test_threads_share_languages_but_not_parsers() -> None:
    names = sorted(FIXTURE_CALLS)
    texts = {name: read_fixture(name) for name in names}

    def run(name: str) -> JsSites:
        return extract(f"js/{name}", texts[name], _DIALECTS[Path(name).suffix], MODELS)

    serial = [run(name) for name in names * 3]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(run, names * 3))
    assert parallel == serial


# -- without the scan extra -------------------------------------------------------------------------


def test_available_with_the_extra() -> None:
    assert js_sites.available() is None


@pytest.mark.parametrize("module", ["tree_sitter", "tree_sitter_javascript", "tree_sitter_typescript"])
def test_available_names_the_extra_when_an_import_fails(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    monkeypatch.setattr(js_sites, "_LANGUAGES", {})
    monkeypatch.setattr(js_sites, "_LOCAL", type(js_sites._LOCAL)())
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    reason = js_sites.available()
    assert reason is not None
    assert "pip install 'imageshim[scan]'" in reason
    assert module in reason
    with pytest.raises(RuntimeError, match=re.escape("pip install 'imageshim[scan]'")):
        extract("t.ts", "c.images.generate({ model: 'dall-e-3' });", "typescript", MODELS)


def test_available_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> object:
        raise OSError("cannot load the grammar's shared library")

    monkeypatch.setattr(js_sites, "_LANGUAGES", {})
    monkeypatch.setattr(js_sites.importlib, "import_module", broken)
    reason = js_sites.available()
    assert reason is not None
    assert "OSError" in reason
    assert "imageshim[scan]" in reason


# -- property ---------------------------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\"'`\\$"),
    max_size=12,
).filter(lambda text: not any(model in text for model in MODELS))  # filler: never a site of its own


@settings(max_examples=150, deadline=None)
@given(prefix=_TEXT, newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_spans_match_the_text_whatever_comes_before(prefix: str, newline: str) -> None:
    lines = [
        f"// {prefix} dall-e-3",
        f"/** {prefix} */",
        "import OpenAI from 'openai';",
        f"const SIZE = '1792x1024'; // {prefix}",
        "const client = new OpenAI();",
        f"const label = '{prefix}'; const resp = await client.images.generate({{ model: 'dall-e-3', size: SIZE, quality: `{prefix}` }});",
        f"console.log('{prefix}', resp.data[0].url);",
    ]
    source = newline.join(lines) + newline
    found = scan(source)  # checks every slice and every line/column against its offset
    (call,) = found.calls
    assert (call.span.line, call.span.column) == (
        6,
        len(f"const label = '{prefix}'; const resp = await ") + 1,
    )
    assert options(call) == {
        "model": lit("'dall-e-3'", "dall-e-3"),
        "size": ("constant", "'1792x1024'", "1792x1024", "SIZE"),
        "quality": lit(f"`{prefix}`", prefix),
    }
    assert cut(source, call.arg_spans["size"]) == "size: SIZE"
    assert [(s.line, s.column, cut(source, s)) for s in call.url_reads] == [
        (7, len(f"console.log('{prefix}', ") + 1, "resp.data[0].url")
    ]
    assert [(s.span.line, s.model) for s in found.literals] == [(6, "dall-e-3")]
    assert found.errors == ()
