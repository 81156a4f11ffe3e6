"""One compiled matcher per set of model ids: what counts as a model id, built once and shared.

The extractors ask it two questions: is this whole string a model id (``"dall-e-3"``, LiteLLM's
``"openai/dall-e-3"``), and where are the word-bounded mentions in a text (docs). The scan asks it a
third, before parsing anything: could this file hold a site at all (a cheap substring test)?

A string is a model id when it equals an id or alias, or is ``<provider>/<id>`` with a lower-case
provider word; ``"dall-e-3 is great"``, ``"my-dall-e-3-cache"`` and ``"dall-e-30"`` are not.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Collection, Iterable, Iterator

__all__ = ["CALL_TRIGGERS", "ModelMatcher", "WholeMatch", "matcher_for"]

#: substrings without which a code file holds no image call the extractors recognise: the openai
#: clients' ``.images`` (``client.images.generate``, also split over lines), the 0.x
#: ``openai.Image.create`` / ``acreate``, the AI SDK's ``generateImage`` and ``openai.image(...)`` /
#: ``openai.imageModel(...)``, and LangChain's ``DallEAPIWrapper``
CALL_TRIGGERS = (
    ".images",
    "images.",
    "Image.create",
    "Image.acreate",
    "generateImage",
    ".image(",
    ".imageModel(",
    "DallEAPIWrapper",
)

_PROVIDER = re.compile(r"[a-z][a-z0-9_-]*\Z")
#: a "provider/" word right before a mention in prose (searched with ``endpos`` at the mention)
_PROVIDER_BEFORE = re.compile(r"(?<![A-Za-z0-9_.\-/])[a-z][a-z0-9_-]*/\Z")
_NEVER = re.compile(r"(?!)")


@dataclasses.dataclass(frozen=True)
class WholeMatch:
    """A whole string that is a model id: the id, and where it starts inside the string."""

    model: str
    start: int


class ModelMatcher:
    """Model ids and aliases, compiled once (use :func:`matcher_for` to share one per set of models)."""

    def __init__(self, models: Iterable[str]) -> None:
        self.models = frozenset(m for m in models if m)
        # Longest first, so "gpt-image-1.5" is tried before "gpt-image-1" at the same place.
        ordered = sorted(self.models, key=lambda m: (-len(m), m))
        if ordered:
            alternation = "|".join(re.escape(m) for m in ordered)
            # Not preceded by a word, "." or "-" (a "provider/" prefix is fine); not followed by a word
            # character or "-", nor by "." + a word character ("dall-e-3." ends a sentence,
            # "dall-e-3.5" is another name).
            self._mention = re.compile(rf"(?<![A-Za-z0-9_.\-])(?:{alternation})(?![A-Za-z0-9_\-]|\.\w)")
        else:
            self._mention = _NEVER
        # The ids no other id contains: a text holds some id only if it holds one of these.
        self._needles = tuple(m for m in ordered if not any(o != m and o in m for o in self.models))

    def search(self, text: str) -> bool:
        """Whether ``text`` contains any model id at all (a substring test: fast, may say yes wrongly)."""
        return any(needle in text for needle in self._needles)

    def might_contain_sites(self, text: str) -> bool:
        """Whether a code file could hold a site: a model id or one of :data:`CALL_TRIGGERS`."""
        return self.search(text) or any(trigger in text for trigger in CALL_TRIGGERS)

    def whole(self, value: str) -> WholeMatch | None:
        """``value`` as a model id: the id itself, or ``<provider>/<id>``; else None."""
        if value in self.models:
            return WholeMatch(value, 0)
        provider, slash, rest = value.partition("/")
        if slash and rest in self.models and _PROVIDER.match(provider):
            return WholeMatch(rest, len(provider) + 1)
        return None

    def mentions(self, text: str) -> Iterator[re.Match[str]]:
        """Word-bounded mentions of a model id in prose (the match covers exactly the id)."""
        if not self.search(text):
            return iter(())
        return self._mention.finditer(text)

    @staticmethod
    def provider_before(text: str, offset: int) -> str | None:
        """The ``provider/`` written right before ``offset`` (``"openai/"``), else None."""
        match = _PROVIDER_BEFORE.search(text, max(0, offset - 64), offset)
        return match.group() if match else None


@functools.lru_cache(maxsize=8)
def _cached(models: frozenset[str]) -> ModelMatcher:
    return ModelMatcher(models)


def matcher_for(models: Collection[str]) -> ModelMatcher:
    """The shared matcher for ``models`` (built once per distinct set)."""
    return _cached(frozenset(models))
