"""``imageshim estimate``: what a call would cost on each target of its route, and nothing is sent.

The same flags as ``generate``. The call is planned as ``generate`` would plan it (routing, lifecycle,
mapping, ``[routing] prefer``, ``[budget]``), and each target's estimate is printed: the one that would be
tried first, the fallbacks in order, and those the cap leaves out. With no provider key and no ``[routes]``,
the default route is shown as it would be with keys, and the command says so (``generate`` would use the
mock). Exit codes: 0 printed; 1 the call would be refused (the cap, or the request itself); 2 usage or
configuration error.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # the engine loads when the command runs, not when the parser is built
    from imageshim._core.config import Config
    from imageshim._core.errors import BudgetExceededError
    from imageshim._core.mapping import MappedRequest
    from imageshim._frontends.engine import Engine

__all__ = ["add_parser", "run"]

Clock = Callable[[], date]


def _engine(config: Config, clock: Clock | None, assume_keys: bool) -> Engine:
    """The engine that plans the call; with ``assume_keys``, one whose default route has every provider, as
    it would with their keys (nothing is sent, so no key is read)."""
    from imageshim._frontends.engine import Engine, KeylessPlanner

    return (KeylessPlanner if assume_keys else Engine)(config, clock=clock)


def add_parser(sub: Any) -> None:
    from imageshim._frontends.cli import add_request_flags

    est = sub.add_parser(
        "estimate", help="print what a generate call would cost on each target of its route (sends nothing)"
    )
    add_request_flags(est, out_help="accepted as generate takes it; nothing is written")


def run(args: argparse.Namespace, clock: Clock | None, out: TextIO, err: TextIO) -> int:
    from imageshim._core.budget import in_order, spend_policy
    from imageshim._core.config import load_config
    from imageshim._core.errors import BudgetExceededError
    from imageshim._core.request import request_from_kwargs
    from imageshim._frontends.cli import _needs_mock

    if args.adapter:
        os.environ["IMAGESHIM_ADAPTER"] = args.adapter
    config = load_config(args.config)
    assumed = _needs_mock(config)
    if assumed:
        print(
            "imageshim: no OPENAI_API_KEY or RUNWARE_API_KEY and no [routes] configured: showing the default "
            "route as it would be with those keys (generate would use the MOCK adapter).",
            file=err,
        )
    engine = _engine(config, clock, assumed)
    fields = {"prompt": args.prompt, "model": args.model, "n": args.n, "size": args.size}
    fields.update(quality=args.quality, style=args.style, response_format="b64_json")
    request = request_from_kwargs(fields)
    targets = engine.map_targets(request)
    refusal: BudgetExceededError | None = None
    try:
        chosen = spend_policy(targets, config.budget, config.routing)
    except BudgetExceededError as exc:
        chosen, refusal = (), exc
    ordered = in_order(targets, config.routing)
    report = _report(request.model, ordered, chosen, config, assumed, refusal)
    if args.json:
        print(json.dumps(report, indent=2), file=out)
    else:
        _print(report, ordered, out)
    return 1 if refusal is not None else 0


def _report(
    model: str,
    ordered: list[MappedRequest],
    chosen: tuple[MappedRequest, ...],
    config: Config,
    assumed: bool,
    refusal: BudgetExceededError | None,
) -> dict[str, Any]:
    rows = []
    for target in ordered:
        priced, call = target.estimate, target.template
        row: dict[str, Any] = {
            "target": target.target,
            "model": target.spec.id,
            "size": call.size,
            "quality": call.quality,
            "n": target.n,
            "in_plan": target in chosen,
            "estimate_usd": None,
        }
        if priced is not None:
            row.update(
                estimate_usd=priced.usd,
                per_image_usd=priced.per_image_usd,
                basis=priced.basis,
                priced_size=priced.size,
                priced_quality=priced.quality,
                output_tokens=priced.output_tokens,
                text_tokens=priced.text_tokens,
                source=priced.source,
                price_as_of=priced.price_as_of.isoformat() if priced.price_as_of else None,
                notes=list(priced.notes),
            )
        rows.append(row)
    return {
        "requested_model": model,
        "sent": False,
        "assumed_keys": assumed,
        "prefer": config.routing.prefer,
        "max_usd_per_call": config.budget.max_usd_per_call,
        "refused": refusal.message if refusal is not None else None,
        "fits": refusal.fits if refusal is not None else None,
        "targets": rows,
        "warnings": [w.to_dict() for w in (ordered[0].warnings if ordered else ())],
    }


def _print(report: dict[str, Any], ordered: list[MappedRequest], out: TextIO) -> None:
    print(f"estimate for {report['requested_model']} (nothing is sent):", file=out)
    for index, (row, target) in enumerate(zip(report["targets"], ordered, strict=True), start=1):
        shape = f"{row['size'] or 'size auto'}, quality {row['quality'] or 'auto'}, n={row['n']}"
        amount = "no price in the catalog" if row["estimate_usd"] is None else f"${row['estimate_usd']:.4f}"
        left_out = "" if row["in_plan"] or report["refused"] else "  (left out: over the cap or unpriced)"
        print(f"  {index}. {row['target']}: {amount} ({shape}){left_out}", file=out)
        priced = target.estimate
        if priced is not None:
            print(f"     {priced.explain()}", file=out)
    for warning in report["warnings"]:
        print(f"warning: {warning['category']}: {warning['reason']}", file=out)
    if report["prefer"] == "cheapest":
        print('order: [routing] prefer = "cheapest" (lowest estimate first)', file=out)
    cap = report["max_usd_per_call"]
    if cap is not None:
        verdict = f"refused: {report['refused']}" if report["refused"] else "the call fits"
        print(f"budget: [budget] max_usd_per_call = ${cap:.4f}: {verdict}", file=out)
