"""Model ids in config files (YAML, TOML, JSON, .env, INI) and in docs (Markdown, reST, text).

Config: a model id counts when it is a whole scalar, a value or a key (``model: dall-e-3``,
``- "openai/dall-e-3"``, ``"dall-e-3" = [...]``, ``IMAGE_MODEL=dall-e-3``), never in a comment nor inside
a longer value (``description: we used dall-e-3``, ``cache: my-dall-e-3-cache``). The scanners of
:mod:`.scalars` and :mod:`.scalars_yaml` find the whole scalars; the shared :class:`ModelMatcher` says
which are model ids (``openai/dall-e-3`` included).

Docs: every word-bounded mention, code blocks included (they are still docs, listed apart).

Positions: columns are 1-based code points; ``end_column`` and ``end_offset`` are exclusive; lines end at
``\\r\\n``, ``\\r`` or ``\\n``. The span covers exactly the id, so replacing it with another id is the
whole edit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

from imageshim._scan.matching import ModelMatcher, matcher_for
from imageshim._scan.positions import TextPositions
from imageshim._scan.scalars import scan_env, scan_ini, scan_json, scan_toml
from imageshim._scan.scalars_yaml import scan_yaml
from imageshim._scan.sites import LiteralSite

__all__ = ["CONFIG_FORMATS", "ModelMatcher", "extract_config", "extract_docs", "matcher_for"]

_Scanner = Callable[[str, TextPositions], Iterable[tuple[int, int]]]
_SCANNERS: dict[str, _Scanner] = {
    "yaml": scan_yaml,
    "toml": scan_toml,
    "json": scan_json,
    "env": scan_env,
    "ini": scan_ini,
}
#: the ``config_format`` values :func:`extract_config` reads
CONFIG_FORMATS = frozenset(_SCANNERS)


def _site(
    path: str, text: str, index: TextPositions, matcher: ModelMatcher, start: int, end: int
) -> LiteralSite | None:
    written = text[start:end]
    whole = matcher.whole(written)
    if whole is None:
        return None
    offset = start + whole.start
    span = index.span(offset, offset + len(whole.model))
    return LiteralSite(path, "config", "config", span, whole.model, written)


def extract_config(path: str, text: str, fmt: str, models: Collection[str]) -> list[LiteralSite]:
    """The model ids written as whole scalars (keys or values) in a config file of format ``fmt``."""
    scanner = _SCANNERS.get(fmt)
    if scanner is None:
        raise ValueError(f"unknown config format {fmt!r}; expected one of {sorted(_SCANNERS)}")
    matcher = matcher_for(models)
    if not matcher.search(text):
        return []
    index = TextPositions(text)
    sites = (_site(path, text, index, matcher, start, end) for start, end in scanner(text, index))
    unique = {site.span.offset: site for site in sites if site is not None}
    return [unique[offset] for offset in sorted(unique)]


def extract_docs(path: str, text: str, models: Collection[str]) -> list[LiteralSite]:
    """Every word-bounded mention of a model id in Markdown, reStructuredText or plain text."""
    matcher = matcher_for(models)
    mentions = list(matcher.mentions(text))
    if not mentions:
        return []
    index = TextPositions(text)
    return [
        LiteralSite(
            path,
            "docs",
            "doc",
            index.span(m.start(), m.end()),
            m.group(),
            (matcher.provider_before(text, m.start()) or "") + m.group(),
        )
        for m in mentions
    ]
