"""What the extractors see in source files, before any catalog or mapping knowledge is applied.

Extractors (:mod:`.python_sites`, :mod:`.js_sites`, :mod:`.text_sites`) turn one file into
:class:`CallSite` and :class:`LiteralSite` records; :mod:`.advice` turns those into findings. Positions
are 1-based lines and 1-based columns counted in Unicode code points (SARIF ``unicodeCodePoints``);
``offset`` / ``end_offset`` are character offsets into the file's decoded text, for edits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

__all__ = [
    "CallSite",
    "Language",
    "LiteralSite",
    "Origin",
    "SiteContext",
    "Span",
    "Value",
]

Language = Literal["python", "javascript", "typescript", "config", "docs"]
#: where a literal model id was found: code, a config file, or documentation (Markdown, reST, docstrings)
SiteContext = Literal["code", "config", "doc"]
#: where an option's value comes from
#: - literal: written at the call site
#: - constant: a module-level ``NAME = <literal>`` in the same file (``span`` is that literal)
#: - assignment: a simple ``name = <literal>`` earlier in the same function or file (``span`` is that literal)
#: - computed: anything else (an expression, a parameter, an attribute): not visible
#: - spread: the option may come from ``**kwargs`` / ``...options``: not visible
Origin = Literal["literal", "constant", "assignment", "computed", "spread"]


@dataclasses.dataclass(frozen=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int
    offset: int
    end_offset: int


@dataclasses.dataclass(frozen=True)
class Value:
    """An option's value as written: its source text, and the value itself when it is visible."""

    text: str
    #: the value (str, int, float, bool or None) when ``origin`` is literal, constant or assignment
    value: str | int | float | bool | None
    origin: Origin
    #: where the value's source text is, quotes included (for a constant or assignment: the literal it
    #: was read from)
    span: Span
    #: the name it was read through (``SIZE`` for ``size=SIZE``), else None
    via: str | None = None

    @property
    def visible(self) -> bool:
        return self.origin in ("literal", "constant", "assignment")


@dataclasses.dataclass(frozen=True)
class CallSite:
    """One image call: an openai client's ``images.generate / edit / create_variation`` (sync, async or
    ``with_raw_response``), the 0.x ``openai.Image.create``, the AI SDK's ``generateImage`` with
    ``openai.image("...")``, or LangChain's ``DallEAPIWrapper(...)``.

    ``options`` uses OpenAI's names (``model``, ``size``, ``quality``, ``style``, ``n``,
    ``response_format``, ...) whatever the API spells them; ``option_paths`` keeps the spelling at the site
    when it differs (``providerOptions.openai.quality``). ``model`` is also in ``options`` when given.
    """

    path: str
    language: Language
    #: "images.generate", "images.edit", "images.create_variation", "Image.create", "Image.create_edit",
    #: "Image.create_variation", "generateImage", "DallEAPIWrapper"
    api: str
    span: Span
    options: Mapping[str, Value]
    #: what the scanner could not see: "**kwargs", "...options", "positional arguments", ...
    hidden: tuple[str, ...] = ()
    #: reads of ``.url`` / ``["url"]`` on this call's result in the same scope
    url_reads: tuple[Span, ...] = ()
    #: why the result's URL is read when it is implied by the API (LangChain's wrapper reads item.url)
    implied_url_read: str | None = None
    option_paths: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: the whole argument or property of each option (``style="vivid"``, ``style: 'vivid'``), for removal
    arg_spans: Mapping[str, Span] = dataclasses.field(default_factory=dict)
    #: for an async call, a raw-response call, ...: shown beside the api
    flavour: str | None = None


@dataclasses.dataclass(frozen=True)
class LiteralSite:
    """A catalog model id written as a whole string (code), a whole value (config) or a word (docs).

    ``written`` is the text as it appears (``"openai/dall-e-3"``); ``model`` the id or alias it names.
    ``span`` covers exactly the characters of ``model`` inside it (no quotes, no ``openai/`` prefix), so
    replacing that span with another id is the whole edit.
    """

    path: str
    language: Language
    context: SiteContext
    span: Span
    model: str
    written: str
