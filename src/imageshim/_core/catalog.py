"""Model facts as typed, immutable records, built once from :mod:`.catalog_data` plus user overrides."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any, Literal

from imageshim._core import catalog_data as _catalog_data

__all__ = ["Catalog", "ModelSpec", "SizeRule", "Status", "TokenRule", "builtin_catalog"]

Status = Literal["active", "deprecated", "retired"]


@dataclasses.dataclass(frozen=True)
class SizeRule:
    """A size rule instead of a fixed list (GPT Image 2): every edge a multiple, ratio and pixel bounds."""

    multiple_of: int = 16
    min_edge: int = 16
    max_edge: int = 3840
    max_ratio: float = 3.0
    min_pixels: int = 0
    max_pixels: int = 1 << 62

    def allows(self, width: int, height: int) -> bool:
        long, short = max(width, height), min(width, height)
        return (
            width % self.multiple_of == 0
            and height % self.multiple_of == 0
            and self.min_edge <= short
            and long <= self.max_edge
            and long <= self.max_ratio * short
            and self.min_pixels <= width * height <= self.max_pixels
        )

    def describe(self) -> str:
        return (
            f"WIDTHxHEIGHT with both edges multiples of {self.multiple_of} between {self.min_edge} and "
            f"{self.max_edge}, long:short at most {self.max_ratio:g}:1, {self.min_pixels:,} to "
            f"{self.max_pixels:,} pixels"
        )


@dataclasses.dataclass(frozen=True)
class TokenRule:
    """Output image tokens of any size, for token-billed models whose sizes are a rule (GPT Image 2).

    ``f`` is the quality's factor; with ``long`` and ``short`` the image's edges, the tokens per image are
    ``ceil(f * s * (area_offset + width * height) / area_divisor)`` where
    ``s = floor((2 * f * short + long) / (2 * long))``. The default numbers are OpenAI's GPT Image 2
    calculator as a developer read it from the pricing page's code (see ``catalog_data``: UNCERTAIN, not a
    formula OpenAI states; it gives every figure OpenAI's calculator and price tables show).
    """

    quality_factors: Mapping[str, int]
    area_offset: int = 2_000_000
    area_divisor: int = 4_000_000

    def tokens(self, width: int, height: int, quality: str) -> int | None:
        """Output tokens of one ``width`` x ``height`` image at ``quality`` (None: no factor for it)."""
        factor = self.quality_factors.get(quality)
        if factor is None or width <= 0 or height <= 0:
            return None
        long, short = max(width, height), min(width, height)
        short_factor = (2 * factor * short + long) // (2 * long)
        return -(-factor * short_factor * (self.area_offset + width * height) // self.area_divisor)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What one model accepts, and when it stops.

    A size is valid when it is in ``sizes`` or, with a ``size_rule``, when the rule allows it
    (``"auto"`` is valid only when listed in ``sizes`` or ``auto_size`` is true).

    The openai SDK 3.57 parameters are facts too: ``complexities`` (the ``complexity`` values taken; empty:
    none), ``"gif"`` / ``"svg"`` in ``output_formats`` (GIF output also takes ``frame_count`` and
    ``frame_duration_ms``, SVG output the ``svg`` object), ``"xhigh"`` / ``"max"`` in ``qualities``, and
    ``safety_identifier`` (the end-user id may be sent under that name; else only as ``user``).
    ``fact_sources`` names the source of each of these where it differs from ``capability_source``. The
    defaults say "not taken", so a provider profile that does not know a fact leaves it off.

    Prices (:mod:`imageshim._core.cost` turns them into estimates): ``price_per_image`` (quality -> size ->
    USD, what per-image models charge), ``price_per_token`` (``text_input`` / ``image_input`` / ``output``:
    USD per token), ``output_tokens`` (quality -> size -> image tokens per image, the published table) and
    ``output_token_rule`` (a :class:`TokenRule` for sizes the table does not list); ``price_source`` cites
    them and ``price_as_of`` is the day they were read. A provider's profile may change them (Runware).
    """

    id: str
    name: str
    sizes: tuple[str, ...]
    default_size: str
    qualities: tuple[str, ...]
    default_quality: str
    styles: tuple[str, ...]
    max_n: int
    prompt_max: int
    response_formats: tuple[str, ...]
    output_formats: tuple[str, ...]
    backgrounds: tuple[str, ...]
    moderations: tuple[str, ...]
    end_user_id: bool
    revised_prompt: bool
    streaming: bool
    usage: bool
    notice_on: date | None
    shutdown_on: date | None
    successor: str | None
    lifecycle_source: str | None
    capability_source: str | None
    size_rule: SizeRule | None = None
    auto_size: bool = True
    prompt_min: int = 1
    price_per_image: Mapping[str, Mapping[str, float]] | None = None
    price_per_token: Mapping[str, float] | None = None
    price_source: str | None = None
    output_tokens: Mapping[str, Mapping[str, int]] | None = None
    output_token_rule: TokenRule | None = None
    price_as_of: date | None = None
    complexities: tuple[str, ...] = ()
    safety_identifier: bool = False
    #: the source of a fact (``"complexities"``, ``"output_formats"`` ...) when not ``capability_source``
    fact_sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: the facts set by the user's ``[[models]]`` entries: a provider's profile leaves them as they are
    user_fields: frozenset[str] = frozenset()

    def status_on(self, day: date) -> Status:
        if self.shutdown_on is not None and day >= self.shutdown_on:
            return "retired"
        announced = self.notice_on is None or day >= self.notice_on
        if (self.shutdown_on is not None and announced) or (
            self.notice_on is not None and day >= self.notice_on
        ):
            return "deprecated"
        return "active"

    def days_left(self, day: date) -> int | None:
        return None if self.shutdown_on is None else (self.shutdown_on - day).days

    def size_allowed(self, width: int, height: int) -> bool:
        if f"{width}x{height}" in self.sizes:
            return True
        return self.size_rule is not None and self.size_rule.allows(width, height)

    @property
    def accepts_auto_size(self) -> bool:
        return "auto" in self.sizes or (self.size_rule is not None and self.auto_size)

    def describe_sizes(self) -> str:
        fixed = [s for s in self.sizes if s != "auto"]
        parts = [", ".join(repr(s) for s in fixed)] if fixed else []
        if self.size_rule is not None:
            parts.append(self.size_rule.describe())
        if self.accepts_auto_size:
            parts.append("'auto'")
        return "; or ".join(parts)

    def source_of(self, fact: str) -> str | None:
        """Where ``fact`` (a field name) comes from."""
        if fact in self.user_fields:
            return self.capability_source
        return self.fact_sources.get(fact, self.capability_source)

    def with_changes(self, changes: Mapping[str, Any]) -> ModelSpec:
        """A copy with ``changes`` applied (values already of the field's type, or raw data). Prices are
        checked against the qualities the copy will have."""
        qualities = changes.get("qualities", self.qualities)
        return dataclasses.replace(self, **_coerce(changes, tuple(qualities or ())))


#: the facts a ``[[models]]`` entry may set
FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(ModelSpec)) - {"user_fields"}
_LIFECYCLE_FIELDS = frozenset({"notice_on", "shutdown_on", "successor"})
_DATE_FIELDS = ("notice_on", "shutdown_on", "price_as_of")
#: facts about what a model costs (a [[models]] entry that sets one cites the configuration for prices)
PRICE_FIELDS = frozenset({"price_per_image", "price_per_token", "output_tokens", "output_token_rule"})
_TUPLE_FIELDS = (
    "sizes",
    "qualities",
    "styles",
    "response_formats",
    "output_formats",
    "backgrounds",
    "moderations",
    "complexities",
)


def _coerce(raw: Mapping[str, Any], qualities: tuple[str, ...]) -> dict[str, Any]:
    out = dict(raw)
    for key in _DATE_FIELDS:
        if isinstance(out.get(key), str):
            out[key] = date.fromisoformat(out[key])
    for key in _TUPLE_FIELDS:
        if key in out and not isinstance(out[key], tuple):
            out[key] = tuple(out[key])
    rule = out.get("size_rule")
    if isinstance(rule, Mapping):
        out["size_rule"] = SizeRule(**rule)
    _check_prices(out, qualities)
    tokens = out.get("output_token_rule")
    if isinstance(tokens, Mapping):
        out["output_token_rule"] = TokenRule(**tokens)
    return out


# ----- prices: checked where they enter (the catalog's data, a provider's profile, [[models]]) ---------
#: the highest figure each price fact may hold: far above any real price, low enough that no sum of them
#: overflows (a price of 1e308 made every budget's micro-dollar sum infinite)
_CEILING = {"price_per_image": 1e6, "price_per_token": 1.0, "output_tokens": 10**8}
_TOKEN_PRICES = ("text_input", "image_input", "output")
_RULE_KEYS = {"quality_factors": (1, 10**4), "area_offset": (0, 10**12), "area_divisor": (1, 10**12)}


def _check_prices(facts: Mapping[str, Any], qualities: tuple[str, ...]) -> None:
    """Prices must be finite numbers >= 0 (token counts and the rule's figures whole numbers), under the
    qualities the model has and at ``WIDTHxHEIGHT`` sizes; raises ValueError naming the fact, the value
    and what is allowed."""
    for field in ("price_per_image", "output_tokens"):
        table = facts.get(field)
        if table is not None:
            for quality, sizes in _table(field, table).items():
                where = f"{field}.{quality}"
                _check_quality(where, quality, qualities)
                for size, value in _table(where, sizes).items():
                    _check_size(f"{where}.{size}", size)
                    _check_number(f"{where}.{size}", value, field)
    per_token = facts.get("price_per_token")
    if per_token is not None:
        unknown = set(_table("price_per_token", per_token)) - set(_TOKEN_PRICES)
        if unknown:
            raise ValueError(
                f"price_per_token takes text_input, image_input and output (USD per token); got {sorted(unknown)}"
            )
        for key, value in per_token.items():
            _check_number(f"price_per_token.{key}", value, "price_per_token")
    rule = facts.get("output_token_rule")
    if rule is None or isinstance(rule, TokenRule):
        return
    allowed = ", ".join(_RULE_KEYS)
    if not isinstance(rule, Mapping):
        raise ValueError(f"output_token_rule must be a table of {allowed} (got {rule!r})")
    unknown = set(rule) - set(_RULE_KEYS)
    if unknown or "quality_factors" not in rule:
        raise ValueError(f"output_token_rule takes {allowed} (quality_factors required); got {sorted(rule)}")
    for key, value in rule.items():
        if key == "quality_factors":
            for quality, factor in _table("output_token_rule.quality_factors", value).items():
                where = f"output_token_rule.quality_factors.{quality}"
                _check_quality(where, quality, qualities)
                _check_whole(where, factor, *_RULE_KEYS[key])
        else:
            _check_whole(f"output_token_rule.{key}", value, *_RULE_KEYS[key])


def _table(where: str, table: Any) -> Mapping[str, Any]:
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a table, not {type(table).__name__} ({table!r})")
    return table


def _check_quality(where: str, quality: str, qualities: tuple[str, ...]) -> None:
    priced = [q for q in qualities if q != "auto"]
    if quality not in priced:
        raise ValueError(
            f"{where}: {quality!r} is not a quality of this model (allowed: {', '.join(priced) or 'none'}; "
            "'auto' is priced as its highest level)"
        )


def _check_size(where: str, size: str) -> None:
    width, sep, height = size.partition("x")
    if not (sep and width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise ValueError(f"{where}: sizes are written WIDTHxHEIGHT, such as 1024x1024 (got {size!r})")


def _check_number(where: str, value: Any, field: str) -> None:
    ceiling = _CEILING[field]
    if field == "output_tokens":
        _check_whole(where, value, 0, int(ceiling))
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= ceiling:
        unit = "USD per token" if field == "price_per_token" else "USD per image"
        raise ValueError(f"{where} must be a number >= 0 and at most {ceiling:g} ({unit}); got {value!r}")


def _check_whole(where: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{where} must be a whole number from {low} to {high:,} (got {value!r})")


def _merged(base: Any, change: Any, depth: int) -> Any:
    """``change``'s cells over ``base``'s (a table of ``depth`` levels): a [[models]] price corrects the
    cells it names and keeps the others. An empty table takes that level away (``price_per_image = {}``:
    no per-image price); anything that is not a table replaces (and is then checked as it stands)."""
    if not (isinstance(base, Mapping) and isinstance(change, Mapping)) or not change:
        return change
    out = dict(base)
    for key, value in change.items():
        out[key] = _merged(base.get(key), value, depth - 1) if depth > 1 else value
    return out


def _cells(table: Any, depth: int) -> int:
    if not isinstance(table, Mapping):
        return 1
    return sum(_cells(value, depth - 1) if depth > 1 else 1 for value in table.values())


#: the price tables merged cell by cell, with their depth (quality -> size -> figure; name -> rate)
_MERGED_TABLES = {"price_per_image": 2, "output_tokens": 2, "price_per_token": 1}


def _corrected(base: ModelSpec, data: dict[str, Any]) -> list[str]:
    """Merge ``data``'s price tables into ``base``'s (in place); the fields where some of the catalog's
    cells are kept beside the ones the entry sets."""
    kept = []
    for field, depth in _MERGED_TABLES.items():
        if field in data:
            merged = _merged(getattr(base, field), data[field], depth)
            if _cells(merged, depth) > _cells(data[field], depth):
                kept.append(field)
            data[field] = merged
    return kept


class Catalog:
    """An immutable set of :class:`ModelSpec`, looked up by id or dated alias."""

    def __init__(self, specs: Iterable[ModelSpec], aliases: Mapping[str, str] | None = None) -> None:
        self._specs = {s.id: s for s in specs}
        self._aliases = dict(aliases or {})

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.canonical(model) in self._specs

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def canonical(self, model: str) -> str:
        return self._aliases.get(model, model)

    def get(self, model: str) -> ModelSpec | None:
        return self._specs.get(self.canonical(model))

    def ids(self) -> list[str]:
        return list(self._specs)

    def names(self) -> list[str]:
        """Every name that finds a model: the ids and the dated aliases."""
        return [*self._specs, *(alias for alias in self._aliases if alias not in self._specs)]

    def first_active_successor(self, model: str, day: date) -> ModelSpec | None:
        """Follow ``successor`` links from ``model`` to the first model not retired on ``day``."""
        seen: set[str] = set()
        spec = self.get(model)
        while spec is not None and spec.id not in seen:
            seen.add(spec.id)
            if spec.status_on(day) != "retired" and spec.id != self.canonical(model):
                return spec
            spec = self.get(spec.successor) if spec.successor else None
        return None

    def with_overrides(self, entries: Iterable[Mapping[str, Any]], source: str | None = None) -> Catalog:
        """Apply ``[[models]]`` entries: change fields of a known id, or add a model ``like`` another.

        Facts changed by configuration cite the configuration as their source unless the entry gives one.
        Price tables (``price_per_image``, ``output_tokens``, ``price_per_token``) are merged cell by cell
        into the model's: an entry corrects the cells it names and keeps the others (an empty table takes
        that table away); the price source then cites both.
        """
        specs = dict(self._specs)
        cited = f"your configuration ({source or 'defaults'})"
        for entry in entries:
            data = dict(entry)
            if _LIFECYCLE_FIELDS & set(data):
                data.setdefault("lifecycle_source", cited)
            if set(data) - _LIFECYCLE_FIELDS - {"id", "like", "lifecycle_source", "name"}:
                data.setdefault("capability_source", cited)
            model_id = str(data.pop("id"))
            base_id = data.pop("like", None)
            base = specs.get(self.canonical(model_id)) if base_id is None else specs.get(str(base_id))
            if base is None:
                raise KeyError(str(base_id) if base_id is not None else model_id)
            # Price tables are merged cell by cell: correcting one cell keeps the catalog's others.
            kept = _corrected(base, data)
            if kept and base.price_source:  # both cite: yours for the cells you set, the catalog's else
                named = ", ".join(kept)
                data.setdefault(
                    "price_source", f"{cited} for the {named} cells it sets; else {base.price_source}"
                )
            elif PRICE_FIELDS & set(data):  # your prices: your citation, and no date unless you give one
                data.setdefault("price_source", cited)
                data.setdefault("price_as_of", None)
            name = data.get("name", base.name if base_id is None else model_id)
            inherited = base.user_fields if base_id is None else frozenset()
            user = inherited | (frozenset(entry) - {"id", "like"})
            specs[model_id] = base.with_changes({**data, "id": model_id, "name": name, "user_fields": user})
        return Catalog(specs.values(), self._aliases)


_BUILTIN: Catalog | None = None


def builtin_catalog() -> Catalog:
    """The catalog shipped with this release (built once, on first use)."""
    global _BUILTIN
    if _BUILTIN is None:
        specs = [
            ModelSpec(**_coerce({"id": mid, **raw}, tuple(raw["qualities"])))
            for mid, raw in _catalog_data.MODELS.items()
        ]
        _BUILTIN = Catalog(specs, _catalog_data.ALIASES)
    return _BUILTIN
