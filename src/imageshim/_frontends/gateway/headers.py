"""Headers a client can see on image replies: the requested and served model, what the call costs (the
estimate before anything is sent, ``x-imageshim-estimate-usd``, beside the cost charged,
``x-imageshim-cost-usd``; a budget's refusal names its window and when it resets), and the requested model's
lifecycle as the HTTP standards say it.

- ``Deprecation: @<unix-seconds>`` (RFC 9745: a structured-field date, never ``true``): when the model was
  deprecated (the catalog's notice date);
- ``Sunset: <HTTP-date>`` (RFC 8594): when it shuts down (or did);
- ``Link: <source>; rel="deprecation"`` (RFC 9745 section 3) and ``rel="sunset"`` (RFC 8594 section 3):
  the page the dates come from.

Sent for a requested model that is deprecated or retired on the gateway's date (its clock), so a client
that never reads the warnings header still has something its tooling understands. A model with a
shutdown date but no recorded notice date gets ``Sunset`` without ``Deprecation``: the catalog does not
know when it was announced, and an invented date would be misinformation.
"""

from __future__ import annotations

import calendar
from datetime import date
from email.utils import formatdate

from imageshim._core.catalog import ModelSpec
from imageshim._core.errors import redact_exact

__all__ = ["EXPOSED", "lifecycle_headers", "model_headers"]

#: the response headers a browser page may read (CORS ``Access-Control-Expose-Headers``)
EXPOSED = (
    "x-request-id",
    "x-should-retry",
    "retry-after",
    "deprecation",
    "sunset",
    "link",
    "idempotent-replayed",
    "x-imageshim-route",
    "x-imageshim-warnings",
    "x-imageshim-cost-usd",
    "x-imageshim-estimate-usd",
    "x-imageshim-budget-window",
    "x-imageshim-budget-resets-at",
    "x-imageshim-requested-model",
    "x-imageshim-model",
    "x-imageshim-successor",
    "x-imageshim-intent",
    "x-imageshim-provider-request-id",
)


def _epoch(day: date) -> int:
    return calendar.timegm(day.timetuple())


def lifecycle_headers(spec: ModelSpec | None, today: date) -> dict[str, str]:
    if spec is None or spec.status_on(today) == "active":
        return {}
    headers: dict[str, str] = {}
    links: list[str] = []
    if spec.notice_on is not None:
        headers["deprecation"] = f"@{_epoch(spec.notice_on)}"
        if spec.lifecycle_source:
            links.append(f'<{spec.lifecycle_source}>; rel="deprecation"; type="text/html"')
    if spec.shutdown_on is not None:
        headers["sunset"] = formatdate(_epoch(spec.shutdown_on), usegmt=True)
        if spec.lifecycle_source:
            links.append(f'<{spec.lifecycle_source}>; rel="sunset"; type="text/html"')
    if links:
        headers["link"] = ", ".join(links)
    return headers


def model_headers(requested: str, route: str | None) -> dict[str, str]:
    """``x-imageshim-requested-model`` and (when images came back) ``x-imageshim-model``, the model that
    made them (the part of the route's ``provider:model`` after the provider)."""
    headers = {"x-imageshim-requested-model": _printable(requested)}
    if route:
        headers["x-imageshim-model"] = _printable(route.partition(":")[2] or route)
    return headers


def _printable(value: str) -> str:
    """A header-safe copy of a client-chosen name: printable ASCII, at most 200 characters, no key in it."""
    return redact_exact("".join(c if " " <= c <= "~" else "?" for c in value[:200]))
