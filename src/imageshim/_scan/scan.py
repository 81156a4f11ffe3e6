"""The scan itself: walk the files, extract the sites of each, and turn them into a report.

Files are read once and pre-filtered with one compiled pattern (a model id, or a word that starts an image
call) before any parser runs, so a tree of unrelated code costs about what ``grep`` costs. Files whose
language cannot be parsed here (JS/TS without the ``scan`` extra), that do not parse, or that cannot be
decoded are listed in the report with the reason: a scan never skips a candidate file silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

from imageshim._core.catalog import Catalog, builtin_catalog
from imageshim._core.config import Config
from imageshim._scan import files, js_sites, python_sites, text_sites
from imageshim._scan.advice import Advisor
from imageshim._scan.findings import Finding, ScanReport, Skipped
from imageshim._scan.sites import CallSite, LiteralSite

__all__ = ["scan"]


def catalog_for(config: Config) -> Catalog:
    """The built-in catalog with the user's ``[[models]]`` corrections: the ids the scan looks for."""
    return builtin_catalog().with_overrides(config.models, config.source)


def scan(
    roots: Sequence[Path],
    *,
    on: date,
    config: Config,
    base: Path,
    include_docs: bool = False,
    default_excludes: bool = True,
    excludes: Sequence[str] = (),
    workers: int = 1,
) -> ScanReport:
    """Scan ``roots`` (files or folders) and report every site on ``on``; paths are shown relative to ``base``.

    ``workers`` > 1 reads and parses the files in that many forked processes once there are enough of them
    to pay for it (the command line uses one per CPU; a library caller's process may hold threads, which a
    fork does not take along safely, so the default is 1).
    """
    catalog = catalog_for(config)
    models = tuple(catalog.names())
    walk = files.walk(
        roots, base=base, include_docs=include_docs, default_excludes=default_excludes, excludes=excludes
    )
    found = _Found()
    for part in _extract_all(walk, models, workers):
        found.merge(part)
    advisor = Advisor(config, catalog, on)
    findings = advisor.advise(found.calls, found.literals, include_docs=include_docs)
    notes = list(walk.notes)
    if found.recovered:
        notes.append(
            f"{len(found.recovered)} JavaScript/TypeScript file(s) have syntax errors; the parser recovered "
            f"and scanned the rest of each: {', '.join(found.recovered[:5])}"
            + (f" and {len(found.recovered) - 5} more" if len(found.recovered) > 5 else "")
        )
    return ScanReport(
        on=on,
        roots=tuple(_shown(root, base) for root in roots),
        findings=tuple(sorted(findings, key=_order)),
        skipped=tuple(found.skipped + list(walk.skipped)),
        files_scanned=found.scanned,
        notes=tuple(notes),
    )


@dataclasses.dataclass
class _Found:
    """The sites of some files, and what could not be scanned."""

    calls: list[CallSite] = dataclasses.field(default_factory=list)
    literals: list[LiteralSite] = dataclasses.field(default_factory=list)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    recovered: list[str] = dataclasses.field(default_factory=list)
    scanned: int = 0

    def merge(self, other: _Found) -> None:
        self.calls.extend(other.calls)
        self.literals.extend(other.literals)
        self.skipped.extend(other.skipped)
        self.recovered.extend(other.recovered)
        self.scanned += other.scanned


#: below this many files, starting processes costs more than it saves
_PARALLEL_FROM = 400


def _extract_all(walk: Iterable[files.SourceFile], models: tuple[str, ...], workers: int) -> list[_Found]:
    """The sites of every file of ``walk``; with ``workers`` > 1, parsed in that many forked processes."""
    import multiprocessing

    sources = list(walk)
    # fork only: a spawned worker would import everything again, which costs more than it saves, and
    # Windows has no fork (there the scan runs in this process).
    forks = "fork" in multiprocessing.get_all_start_methods()
    if workers <= 1 or len(sources) < _PARALLEL_FROM or not forks:
        return [_extract(sources, models)]
    from concurrent.futures import ProcessPoolExecutor

    # Interleaved shares: candidate files cluster in folders, and each worker should get its part of them.
    shares = [sources[i::workers] for i in range(workers)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(_extract, shares, [models] * workers))


def _extract(sources: Sequence[files.SourceFile], models: tuple[str, ...]) -> _Found:
    """Read and parse ``sources``: one compiled pattern first, a parser only for files it matches."""
    matcher = text_sites.matcher_for(models)
    js_missing = js_sites.available()
    out = _Found()
    for source in sources:
        if source.kind in _JS and js_missing is not None:
            out.skipped.append(Skipped(source.rel, js_missing))
            continue
        text = files.read(source)
        if isinstance(text, Skipped):
            out.skipped.append(text)
            continue
        out.scanned += 1
        kind = source.kind
        if kind == "python" or kind == "javascript" or kind == "typescript" or kind == "tsx":
            if not matcher.might_contain_sites(text):
                continue
            if kind == "python":
                try:
                    calls, literals = python_sites.extract(source.rel, text, models)
                except (SyntaxError, ValueError) as exc:  # ValueError: a NUL byte in the source
                    out.skipped.append(Skipped(source.rel, f"not parsed as Python: {_short(exc)}"))
                    out.scanned -= 1
                    continue
            else:
                js = js_sites.extract(source.rel, text, kind, models)
                calls, literals = js.calls, js.literals
                if js.had_errors:
                    out.recovered.append(source.rel)
            out.calls.extend(calls)
            out.literals.extend(literals)
        elif not matcher.search(text):
            continue
        elif kind == "other":  # names a model, but no parser here reads this kind of file
            out.skipped.append(Skipped(source.rel, _NO_PARSER))
            out.scanned -= 1
        elif kind == "config":
            out.literals.extend(
                text_sites.extract_config(source.rel, text, source.config_format or "", models)
            )
        else:
            out.literals.extend(text_sites.extract_docs(source.rel, text, models))
    return out


_JS = ("javascript", "typescript", "tsx")
_NO_PARSER = "holds a model id, but the scanner has no parser for this kind of file: check it by hand"


def _order(finding: Finding) -> tuple[str, int, int]:
    return finding.path, finding.span.line, finding.span.column


def _shown(root: Path, base: Path) -> str:
    try:
        return root.resolve().relative_to(base.resolve()).as_posix() or "."
    except ValueError:
        return root.resolve().as_posix()


def _short(exc: Exception) -> str:
    line = getattr(exc, "lineno", None)
    where = f" (line {line})" if line else ""
    return f"{type(exc).__name__}: {getattr(exc, 'msg', None) or exc}{where}"
