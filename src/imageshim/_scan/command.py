"""``imageshim scan``: arguments -> scan -> report or fixes, and the exit status.

Exit status: 0 when no finding reaches ``--fail-on`` (default ``retired``); 1 when one does; 2 for a usage
or configuration error (a path that does not exist, a report or fix that could not be written). Documentation mentions never count, nor do calls whose model is not visible or
calls made through imageshim's own client (they keep working). With ``--fix`` the status is still that of the scan (the findings before any edit).
"""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the parser is built for every command; the scan's modules load when it runs
    from imageshim._scan.findings import ScanReport

__all__ = ["add_parser", "run"]

_FAIL_LEVELS = {"retired": ("retired",), "deprecated": ("retired", "deprecated"), "never": ()}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scan = sub.add_parser(
        "scan",
        help="find the calls and model ids a retirement breaks, and say what imageshim would change",
        description="Find image calls and model ids of retired or deprecated models in Python, JavaScript, "
        "TypeScript and config files; say what each becomes, what it costs, and how to fix it.",
    )
    scan.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or folders (default: the current folder)"
    )
    scan.add_argument("--on", help="YYYY-MM-DD: the day to judge on (default: today)")
    scan.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    scan.add_argument(
        "--fail-on",
        choices=list(_FAIL_LEVELS),
        default="retired",
        help="exit 1 when a finding has this status or worse (default: retired)",
    )
    scan.add_argument("--fix", action="store_true", help="print the safe edits as a unified diff")
    scan.add_argument("--write", action="store_true", help="with --fix: apply the edits to the files")
    scan.add_argument(
        "--include-docs", action="store_true", help="also list mentions in Markdown, reST and docstrings"
    )
    scan.add_argument("--config", help="imageshim config whose [[models]] and [routes] apply")
    scan.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="a .gitignore-style pattern; repeatable",
    )
    scan.add_argument(
        "--no-default-excludes",
        action="store_true",
        help="also scan vendored and build folders (node_modules, vendor, build, dist, virtualenvs ...)",
    )
    scan.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of stdout")


def run(args: argparse.Namespace, today: date, out: TextIO, err: TextIO) -> int:
    from imageshim._core.config import load_config
    from imageshim._core.errors import ImageShimError
    from imageshim._scan.scan import scan

    if args.write and not args.fix:
        raise ValueError("--write applies the edits of --fix: use --fix --write")
    on = date.fromisoformat(args.on) if args.on else today
    base = Path.cwd()
    roots = [Path(p) for p in args.paths] or [base]
    missing = [str(root) for root in roots if not os.path.lexists(root)]
    if missing:  # a typo must not pass CI as a clean scan
        raise ValueError(f"no such file or folder: {', '.join(missing)}")
    if args.fix and args.format != "text":
        raise ValueError("--fix prints a unified diff: --format applies to reports, not to --fix")
    report = scan(
        roots,
        on=on,
        config=load_config(args.config),
        base=base,
        include_docs=args.include_docs,
        default_excludes=not args.no_default_excludes,
        excludes=args.exclude,
        workers=min(os.cpu_count() or 1, 8),  # the command holds no threads: forked workers are safe
    )
    try:
        if args.fix:
            _fix(report, base, write=args.write, output=args.output, out=out, err=err)
        else:
            _emit(_render(report, args.format, base), args.output, out)
    except (OSError, ImageShimError) as exc:  # a file not written: a usage error (2), not "findings" (1)
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    return 1 if _fails(report, args.fail_on) else 0


def _emit(text: str, output: str | None, out: TextIO) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        out.write(text)


def _render(report: ScanReport, fmt: str, base: Path) -> str:
    if fmt == "json":
        from imageshim._scan import report_json

        return report_json.render(report)
    if fmt == "sarif":
        from importlib.metadata import version

        from imageshim._scan import report_sarif

        return report_sarif.render(
            report, tool_version=version("imageshim"), root_uri=base.resolve().as_uri() + "/"
        )
    from imageshim._scan import report_text

    return report_text.render(report)


def _fix(
    report: ScanReport, base: Path, *, write: bool, output: str | None, out: TextIO, err: TextIO
) -> None:
    from imageshim._scan import fix

    result = fix.plan_fixes(report, base=base)
    if write:
        from imageshim._scan.report_text import safe_text

        for path in fix.write(result, base=base):
            print(f"fixed {safe_text(str(path))}", file=out)
    else:
        _emit(fix.render_diff(result), output, out)
    manual = fix.render_manual(result, written=write)
    if manual:
        err.write(manual)


def _fails(report: ScanReport, level: str) -> bool:
    from imageshim._scan.advice import through_imageshim

    statuses = _FAIL_LEVELS[level]
    return any(f.status in statuses for f in report.findings if f.kind != "doc" and not through_imageshim(f))
