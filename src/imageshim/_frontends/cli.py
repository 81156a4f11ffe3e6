"""The ``imageshim`` command: ``generate``, ``estimate`` (:mod:`.cli_estimate`), ``models``, ``serve`` and
``scan`` (:mod:`imageshim._scan.command`).

``generate`` writes the image files and prints where, the route and every warning. With no provider key
and no config it runs on the mock adapter and says so (the library itself never does that silently).
Exit codes: 0 ok, 1 the request failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TextIO

__all__ = ["add_request_flags", "main"]

Clock = Callable[[], date]
_EXT = {"png": "png", "jpeg": "jpg", "webp": "webp"}
_MEDIA_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def add_request_flags(command: argparse.ArgumentParser, *, out_help: str) -> None:
    """The flags of a generate call, shared by ``generate`` and ``estimate`` (which takes the same call)."""
    command.add_argument("prompt")
    command.add_argument("--model", default="dall-e-3")
    command.add_argument("--size")
    command.add_argument("--quality")
    command.add_argument("--style")
    command.add_argument("-n", type=int, default=1)
    command.add_argument("--out", help=out_help)
    command.add_argument("--config", help="config file (default: discovered)")
    command.add_argument("--adapter", help="send every route to this adapter (like IMAGESHIM_ADAPTER)")
    command.add_argument("--json", action="store_true", help="print a JSON report instead of text")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imageshim", description="DALL·E 3-style image generation that outlives its models."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate images and write them to files")
    add_request_flags(gen, out_help="a file (n=1) or a directory; default: the current directory")

    models = sub.add_parser("models", help="list the model catalog with each model's status on a date")
    models.add_argument("--on", help="YYYY-MM-DD (default: today)")
    models.add_argument("--json", action="store_true")
    models.add_argument("--config")

    serve = sub.add_parser("serve", help="run the OpenAI-compatible gateway")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--config")
    serve.add_argument(
        "--public-url",
        help="the base URL clients reach the gateway at, for hosted image URLs (e.g. https://img.example.com; "
        "default: the address the server is bound to)",
    )
    # [gateway] settings; each flag overrides the config file's value (README, "Gateway settings").
    serve.add_argument(
        "--log-format", choices=["text", "json"], help="access and error lines (default: text)"
    )
    serve.add_argument("--store", choices=["memory", "file"], help="where hosted images live")
    serve.add_argument("--store-dir", help="the directory of --store file")
    serve.add_argument(
        "--ttl", type=float, dest="ttl_seconds", help="seconds hosted URLs and stored results live"
    )
    serve.add_argument("--retry-window", type=float, dest="retry_window_seconds", metavar="SECONDS")
    serve.add_argument("--max-connections", type=int)
    serve.add_argument("--max-concurrency-per-key", type=int, metavar="N")
    serve.add_argument("--header-timeout", type=float, metavar="SECONDS")
    serve.add_argument("--body-timeout", type=float, metavar="SECONDS")
    serve.add_argument("--idle-timeout", type=float, metavar="SECONDS")
    serve.add_argument("--drain-seconds", type=float, help="how long SIGTERM waits for requests in flight")
    serve.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        metavar="ORIGIN",
        help="repeatable; '*' for any",
    )
    from imageshim._scan.command import add_parser as add_scan

    add_scan(sub)
    from imageshim._frontends.cli_estimate import add_parser as add_estimate

    add_estimate(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    args = _parser().parse_args(argv)
    from imageshim._core.errors import APIError, ConfigurationError, ImageShimError

    try:
        if args.command == "generate":
            return _generate(args, clock, sys.stdout, sys.stderr)
        if args.command == "models":
            return _models(args, clock or date.today, sys.stdout)
        if args.command == "estimate":
            from imageshim._frontends.cli_estimate import run as estimate

            return estimate(args, clock, sys.stdout, sys.stderr)
        if args.command == "scan":
            from imageshim._scan.command import run as scan

            return scan(args, (clock or date.today)(), sys.stdout, sys.stderr)
        return _serve(args)
    except (ConfigurationError, ValueError) as exc:
        print(f"imageshim: error: {exc}", file=sys.stderr)
        return 2
    except APIError as exc:
        print(f"imageshim: request failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except ImageShimError as exc:
        print(f"imageshim: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


# ----- generate -----------------------------------------------------------------------------------------
def _needs_mock(config: Any) -> bool:
    """No route configured and no key for any default provider: the CLI falls back to the mock."""
    from imageshim._core.routing import DEFAULT_PROVIDERS

    if config.force_adapter or config.routes:
        return False
    return not any(config.provider(p).resolve_key(env) for p, env in DEFAULT_PROVIDERS)


def _generate(args: argparse.Namespace, clock: Clock | None, out: TextIO, err: TextIO) -> int:
    import imageshim

    if args.adapter:
        os.environ["IMAGESHIM_ADAPTER"] = args.adapter
    config = imageshim.load_config(args.config)
    mocked = _needs_mock(config)
    if mocked:
        print(
            "imageshim: no OPENAI_API_KEY or RUNWARE_API_KEY and no [routes] configured: using the MOCK adapter "
            "(placeholder images, no network). Set a key to generate real images.",
            file=err,
        )
        os.environ["IMAGESHIM_ADAPTER"] = "mock"
        config = imageshim.load_config(args.config)
    client = imageshim.OpenAI(config=config, clock=clock)
    kwargs = {"size": args.size, "quality": args.quality, "style": args.style}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", imageshim.ImageShimWarning)
        # Files are the output: ask for base64 so no URL needs to be synthesised (or fetched).
        resp = client.images.generate(
            prompt=args.prompt, model=args.model, n=args.n, response_format="b64_json", **kwargs
        )
    del caught  # the same warnings are on resp.imageshim.warnings, printed below once
    files = _write(resp, args.out, args.prompt)
    report: dict[str, Any] = {
        "files": [str(f) for f in files],
        "urls": [d.url for d in resp.data if d.url and not d.url.startswith(("data:", "file:"))],
        "route": resp.imageshim.route,
        "requested_model": resp.imageshim.requested_model,
        "mock": mocked or resp.imageshim.route.startswith("mock:"),
        "warnings": [w.to_dict() for w in resp.imageshim.warnings],
        "cost_usd": resp.imageshim.cost_usd,
        "estimate_usd": resp.imageshim.estimate_usd,
    }
    if args.json:
        print(json.dumps(report, indent=2), file=out)
        return 0
    for path in report["files"]:
        print(f"wrote {path}", file=out)
    for url in report["urls"]:
        print(f"image at {url}", file=out)
    print(f"route: {report['route']} (requested {report['requested_model']})", file=out)
    for record in resp.imageshim.warnings:
        print(f"warning: {record.category.__name__}: {record.reason}", file=out)
    if resp.imageshim.estimate_usd is not None:
        print(f"estimate before the call: ${resp.imageshim.estimate_usd:.4f}", file=out)
    if resp.imageshim.cost_usd is not None:
        if report["mock"]:
            print(
                f"cost: nothing charged (mock); the same call would cost about ${resp.imageshim.cost_usd:.4f}",
                file=out,
            )
        else:
            print(f"cost: ${resp.imageshim.cost_usd:.4f} ({resp.imageshim.cost_source})", file=out)
    return 0


def _slug(prompt: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:48] or "image"


def _write(resp: Any, out: str | None, prompt: str) -> list[Path]:
    """Write every image that has bytes (base64 or a data/file URL); https URLs are printed instead."""
    blobs: list[tuple[bytes, str]] = []
    for item in resp.data:
        if item.b64_json:
            blobs.append((base64.b64decode(item.b64_json), _EXT.get(resp.output_format or "png", "png")))
        elif item.url and item.url.startswith("data:"):
            head, _, b64 = item.url.partition(",")
            blobs.append((base64.b64decode(b64), _MEDIA_EXT.get(head[5:].split(";")[0], "png")))
        elif item.url and item.url.startswith("file://"):
            from urllib.parse import unquote, urlparse

            path = Path(unquote(urlparse(item.url).path))
            blobs.append((path.read_bytes(), path.suffix.lstrip(".") or "png"))
    target = Path(out) if out else Path.cwd()
    single_file = out is not None and len(blobs) == 1 and target.suffix != "" and not target.is_dir()
    paths: list[Path] = []
    for index, (raw, ext) in enumerate(blobs):
        if single_file:
            path = target
        else:
            target.mkdir(parents=True, exist_ok=True)
            suffix = f"-{index + 1}" if len(blobs) > 1 else ""
            path = target / f"{_slug(prompt)}{suffix}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
        paths.append(path.resolve())
    return paths


# ----- models -------------------------------------------------------------------------------------------
def _models(args: argparse.Namespace, clock: Clock, out: TextIO) -> int:
    from imageshim._core.catalog import builtin_catalog
    from imageshim._core.config import load_config
    from imageshim._core.models_api import model_of

    day = date.fromisoformat(args.on) if args.on else clock()
    config = load_config(args.config)
    rows: list[dict[str, Any]] = []
    for spec in builtin_catalog().with_overrides(config.models, config.source):
        fields = model_of(spec, day).model_dump(
            include={"status", "shutdown_on", "days_left", "successor", "source"}
        )
        rows.append({"id": spec.id, "name": spec.name, **fields})
    if args.json:
        print(json.dumps(rows, indent=2), file=out)
        return 0
    print(f"models on {day.isoformat()}", file=out)
    print(f"{'id':<24} {'status':<11} {'shutdown':<11} {'when':<20} successor", file=out)
    for row in rows:
        left = row["days_left"]
        when = "" if left is None else f"{left} days left" if left >= 0 else f"retired {-left} days ago"
        print(
            f"{row['id']:<24} {row['status']:<11} {row['shutdown_on'] or '-':<11} {when:<20} {row['successor'] or '-'}",
            file=out,
        )
    return 0


# ----- serve --------------------------------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    try:  # the gateway extra: imported here so that a missing package is a clear message, not a traceback
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401

        from imageshim._frontends.gateway import serve
    except ImportError as exc:
        print(
            f"imageshim: the gateway needs extra packages: pip install 'imageshim[gateway]' ({exc})",
            file=sys.stderr,
        )
        return 2
    settings = {name: getattr(args, name) for name in _SERVE_SETTINGS}
    serve(host=args.host, port=args.port, config=args.config, public_url=args.public_url, **settings)
    return 0


_SERVE_SETTINGS = (
    "log_format",
    "store",
    "store_dir",
    "ttl_seconds",
    "retry_window_seconds",
    "max_connections",
    "max_concurrency_per_key",
    "header_timeout",
    "body_timeout",
    "idle_timeout",
    "drain_seconds",
    "cors_origins",
)
