"""``imageshim scan --fix``: apply the safe local edits findings carry, as a unified diff or in place.

::

    result = plan_fixes(report, base=root)   # reads the files, changes nothing on disk
    print(render_diff(result))               # `git apply` takes it, run from result.apply_from
    print(render_manual(result))             # the steps left to a person, one a line
    write(result, base=root)                 # --write: each changed file replaced atomically

Per file, the edits are first checked against the text as read now (as :func:`.files.read` gives it:
UTF-8, line ends kept, a leading BOM not counted): the span lies in the file, its line and column agree
with its offset, and it still holds the edit's ``original`` text when the edit records one. Identical
edits (two calls sharing a constant), and overlapping ones that make the same change, are merged; of
other overlapping edits the first (in report order) is kept. Then the file's language fixer
applies them and verifies the result: :mod:`.fix_python` (libcst; the result must pass ``ast.parse``),
:mod:`.fix_text` (JS/TS with tree-sitter: no new syntax errors; config files: still load). Every edit
not applied becomes a manual step with the reason, beside the findings' own ``manual`` steps.

The diff's paths are relative to the top of the git repository holding ``base`` (the nearest folder with
a ``.git``), else to ``base``, and its first line says to run ``git apply`` there: ``git apply`` run in a
subfolder skips paths outside it. A file outside that folder, or reached through a symbolic link (which
``git apply`` neither follows nor writes through), is left out of the diff with a manual step;
``--write`` still edits it. File names are quoted in the diff's headers as git quotes them; every other
line that is not the files' own text (the comments above each file, the manual steps, error messages)
has its control, bidirectional-override and lone surrogate characters escaped, so a crafted file name
can neither add lines to the diff nor drive the terminal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from imageshim._core.errors import ImageShimError
from imageshim._scan.findings import Edit, ScanReport
from imageshim._scan.fix_text import INSTALL_HINT, apply_config, apply_script, grammar_for
from imageshim._scan.positions import TextPositions
from imageshim._scan.report_text import safe_text

__all__ = [
    "FileChangedError",
    "FileFix",
    "FileNotWritableError",
    "FixResult",
    "plan_fixes",
    "render_diff",
    "render_manual",
    "write",
]

Refusal = tuple[Edit, str]
_Fixer = Callable[[str, Sequence[Edit]], tuple[str, list[Refusal]]]
_BOM = "\ufeff"
_LINE = re.compile(r"[^\n]*\n|[^\n]+")


@dataclasses.dataclass(frozen=True)
class FileFix:
    """One file's edits: its text as read and as fixed, what was applied, and what was not and why."""

    path: str
    before: str
    after: str
    applied: tuple[Edit, ...]
    refused: tuple[tuple[Edit, str], ...]
    #: its path in the diff ("/"-separated, relative to :attr:`FixResult.apply_from`); None: not in the diff
    diff_path: str | None = None

    @property
    def changed(self) -> bool:
        return self.after != self.before


@dataclasses.dataclass(frozen=True)
class FixResult:
    files: tuple[FileFix, ...]
    #: ("path:line:col", step): the findings' manual steps and the edits not applied
    manual: tuple[tuple[str, str], ...]
    #: the folder ``git apply`` runs from: the top of the git repository holding ``base``, else ``base``
    apply_from: Path | None = None
    #: ("path:line:col", step): the applied edits of the changed files the diff leaves out, with why
    left_out: tuple[tuple[str, str], ...] = ()


class FileChangedError(ImageShimError):
    """A file changed on disk after ``--fix`` read it: nothing more is written."""

    def __init__(self, path: Path, *, written: Sequence[Path] = ()) -> None:
        done = f" (already written: {safe_text(', '.join(map(str, written)))})" if written else ""
        super().__init__(
            f"{safe_text(str(path))} changed since imageshim scan read it; not written{done}. Scan again."
        )
        self.path = path


class FileNotWritableError(ImageShimError):
    """A file ``--fix --write`` would change cannot or must not be written: nothing is written."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{safe_text(str(path))} cannot be written: {why}. Nothing was written.")
        self.path = path


def plan_fixes(report: ScanReport, *, base: Path) -> FixResult:
    """Every edit of ``report`` applied to its file's text (read relative to ``base``), nothing written."""
    edits: dict[str, list[Edit]] = {}
    language: dict[str, str] = {}
    manual: list[tuple[tuple[str, int, int], str]] = []
    for finding in report.findings:
        manual.extend(
            ((finding.path, finding.span.line, finding.span.column), step) for step in finding.manual
        )
        for edit in finding.edits:
            edits.setdefault(edit.path, []).append(edit)
            language.setdefault(edit.path, finding.language)
    root, root_name = _apply_root(base)
    files = []
    left_out: list[tuple[tuple[str, int, int], str]] = []
    for path in sorted(edits):
        fix = _fix_file(base / path, path, language[path], edits[path])
        if fix.changed:
            diff_path, why = _diff_path(root, root_name, base / path)
            fix = dataclasses.replace(fix, diff_path=diff_path)
            left_out.extend(
                ((e.path, e.span.line, e.span.column), _manual_step(e, f"the diff leaves it out: {why}"))
                for e in (fix.applied if diff_path is None else ())
            )
        files.append(fix)
        manual.extend(((e.path, e.span.line, e.span.column), _manual_step(e, why)) for e, why in fix.refused)
    return FixResult(tuple(files), _steps(manual), root, _steps(left_out))


def _steps(steps: Sequence[tuple[tuple[str, int, int], str]]) -> tuple[tuple[str, str], ...]:
    ordered = sorted(dict.fromkeys(steps), key=lambda item: item[0])
    return tuple((f"{p}:{line}:{col}", step) for (p, line, col), step in ordered)


def _apply_root(base: Path) -> tuple[Path, str]:
    """The folder the diff's paths start from, and its name in messages: the top of the git repository
    holding ``base`` (the nearest folder with a ``.git``: a folder, or a worktree's or submodule's file),
    else ``base``."""
    here = Path(os.path.abspath(base))
    for folder in (here, *here.parents):
        if os.path.lexists(folder / ".git"):
            return folder, f"the git repository at {folder}"
    return here, f"{here}, where the scan ran"


def _diff_path(root: Path, root_name: str, file: Path) -> tuple[str | None, str]:
    """``file``'s path in the diff (relative to ``root``), or None and why it cannot be in it."""
    try:
        relative = os.path.relpath(os.path.abspath(file), root)
    except ValueError:  # another drive
        relative = os.pardir
    parts = Path(relative).parts
    if not parts or parts[0] == os.pardir or os.path.isabs(relative):
        return None, f"it is outside {root_name}, whose paths the diff holds (--fix --write edits it)"
    for depth in range(1, len(parts) + 1):
        if os.path.islink(root.joinpath(*parts[:depth])):
            return None, (
                f"{'/'.join(parts[:depth])} is a symbolic link, which git apply does not write through "
                "(--fix --write edits the file it points to)"
            )
    return "/".join(parts), ""


def _fix_file(file: Path, path: str, language: str, edits: Sequence[Edit]) -> FileFix:
    try:
        raw = file.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else f"cannot read it ({exc.strerror})"
        return FileFix(path, "", "", (), tuple((edit, why) for edit in edits))
    # Spans index the text as files.read gives it: without a leading BOM. The diff and the write keep it.
    bom = _BOM if raw.startswith(_BOM) else ""
    text = raw[len(bom) :]
    kept, refused = _screen(text, edits)
    fixer = _fixer(language, path)
    if isinstance(fixer, str):
        refused += [(edit, fixer) for edit in kept]
        return FileFix(path, raw, raw, (), tuple(refused))
    after, not_applied = fixer(text, kept) if kept else (text, [])
    failed = {id(edit) for edit, _ in not_applied}
    applied = tuple(edit for edit in kept if id(edit) not in failed)
    return FileFix(path, raw, bom + after, applied, (*refused, *not_applied))


def _screen(text: str, edits: Sequence[Edit]) -> tuple[list[Edit], list[Refusal]]:
    """The edits to apply (checked, merged, first of overlapping ones), and the others with why."""
    positions = TextPositions(text)
    kept: list[Edit] = []
    refused: list[Refusal] = []
    seen: set[tuple[int, int, str, bool]] = set()
    for edit in edits:
        span = edit.span
        key = (span.offset, span.end_offset, edit.replacement, edit.remove_argument)
        if key in seen:
            continue
        why = _stale(positions, edit)
        if (
            why is None
            and not edit.remove_argument
            and text[span.offset : span.end_offset] == edit.replacement
        ):
            continue  # already done (the fixed tree scanned again)
        clash = next(
            (k for k in kept if k.span.offset < span.end_offset and span.offset < k.span.end_offset), None
        )
        if why is None and clash is not None:
            if _same_result(text, clash, edit):
                continue  # the same change written two ways (the whole literal, the id inside it)
            why = f"it overlaps the {clash.setting} edit at {clash.span.line}:{clash.span.column}"
        if why is None:
            seen.add(key)
            kept.append(edit)
        else:
            refused.append((edit, why))
    return kept, refused


def _same_result(text: str, a: Edit, b: Edit) -> bool:
    """Whether two replacements turn ``text`` into the same text."""
    if a.remove_argument or b.remove_argument:
        return False
    one = text[: a.span.offset] + a.replacement + text[a.span.end_offset :]
    return one == text[: b.span.offset] + b.replacement + text[b.span.end_offset :]


def _stale(positions: TextPositions, edit: Edit) -> str | None:
    text, span = positions.text, edit.span
    if not 0 <= span.offset < span.end_offset <= len(text):
        return "the span is not in the file (the file changed since the scan?)"
    # The end column's convention is the extractors' business; start, end line and offsets must agree.
    position = positions.position
    if position(span.offset) != (span.line, span.column) or position(span.end_offset)[0] != span.end_line:
        return f"the file changed since the scan (offset {span.offset} is no longer line {span.line}, column {span.column})"
    found = text[span.offset : span.end_offset]
    if edit.original is not None and found != edit.original:
        return f"the file changed since the scan: {_short(found)} where {_short(edit.original)} was"
    return None


def _fixer(language: str, path: str) -> _Fixer | str:
    """The function that applies a file's edits, or why there is none."""
    if language == "python":
        try:
            from imageshim._scan.fix_python import apply_python
        except ImportError:
            return f"libcst is not installed: {INSTALL_HINT}"
        return apply_python
    if language in ("javascript", "typescript"):
        return functools.partial(apply_script, grammar=grammar_for(path))
    if language == "config":
        return functools.partial(apply_config, path=path)
    return "documentation is not rewritten"


def _manual_step(edit: Edit, why: str) -> str:
    if edit.remove_argument:
        action = f"remove the {edit.setting} argument"
    else:
        action = f"change the {edit.setting} to {_show(edit.replacement)}"
    return f"{action} ({_one_line(edit.reason)}); not done automatically: {why}"


def render_manual(result: FixResult, *, written: bool = False) -> str:
    """The steps ``--fix`` leaves to a person, one a line: ``path:line:col  step``. ``written``: the
    changes were written (``--write``), so the files the diff would leave out are no steps."""
    steps = result.manual if written else (*result.manual, *result.left_out)
    return "".join(safe_text(f"{where}  {step}") + "\n" for where, step in steps)


def render_diff(result: FixResult) -> str:
    """A unified diff for ``git apply`` run from ``result.apply_from`` (its first line says so), each
    file's edits listed above its header."""
    out: list[str] = []
    for fix in result.files:
        if not fix.changed or fix.diff_path is None:
            continue
        if not out and result.apply_from is not None:
            out.append(
                safe_text(f"# run git apply from {result.apply_from} (the paths below start there)") + "\n"
            )
        for edit in sorted(fix.applied, key=lambda e: e.span.offset):
            where = f"{fix.path}:{edit.span.line}:{edit.span.column}"
            out.append(safe_text(f"# {where}  {_summary(fix.before, edit)}") + "\n")
        a, b = _git_path("a/", fix.diff_path), _git_path("b/", fix.diff_path)
        out.append(f"diff --git {a} {b}\n--- {a}\n+++ {b}\n")
        out.extend(_hunks(_LINE.findall(fix.before), _LINE.findall(fix.after)))
    return "".join(out)


def _summary(text: str, edit: Edit) -> str:
    old = _one_line(text[edit.span.offset : edit.span.end_offset])
    change = (
        f"{old} removed"
        if edit.remove_argument
        else f"{edit.setting} {_show(old)} -> {_show(edit.replacement)}"
    )
    return f"{change}: {_one_line(edit.reason)}"


def _hunks(a: list[str], b: list[str]) -> Iterator[str]:
    """Unified-diff hunks of two lists of lines (line ends kept), as git writes them."""
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(3):
        first, last = group[0], group[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n"
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                yield from (_line(" ", line) for line in a[a1:a2])
                continue
            yield from (_line("-", line) for line in a[a1:a2])
            yield from (_line("+", line) for line in b[b1:b2])


def _range(start: int, stop: int) -> str:
    length = stop - start
    if length == 1:
        return f"{start + 1}"
    return f"{start + 1 if length else start},{length}"


def _line(prefix: str, line: str) -> str:
    return prefix + line if line.endswith("\n") else f"{prefix}{line}\n\\ No newline at end of file\n"


def _git_path(prefix: str, path: str) -> str:
    """``prefix + path`` as git writes it in a diff: C-quoted when it holds ``"``, ``\\``, a control
    character or a byte above 0x7e (in octal). A name that is not UTF-8 (decoded with ``surrogateescape``,
    as :func:`os.fsdecode` does) gets its own bytes back."""
    name = prefix + path.replace(os.sep, "/")
    try:
        data = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that was not a byte: its UTF-8-like bytes, quoted
        data = name.encode("utf-8", "surrogatepass")
    if not any(byte in b'"\\' or byte < 0x20 or byte >= 0x7F for byte in data):
        return name
    escapes = {ord(k): v for k, v in _GIT_ESCAPES.items()}
    quoted = "".join(
        escapes.get(byte) or (chr(byte) if 0x20 <= byte < 0x7F else f"\\{byte:03o}") for byte in data
    )
    return f'"{quoted}"'


#: the characters git writes as C escapes in a quoted file name (the other controls in octal)
_GIT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v"}
_GIT_ESCAPES |= {"\f": "\\f", "\r": "\\r"}


def write(result: FixResult, *, base: Path) -> list[Path]:
    """Write every changed file of ``result`` in place (relative to ``base``): the files written.

    Each file is replaced atomically (a temporary file in its directory, then ``os.replace``) and keeps its
    mode bits (not its owner, nor other hard links to it; a symlink's target is written). Nothing is
    written when a file is no longer what was read (:class:`FileChangedError` names it), nor when one
    cannot be written (:class:`FileNotWritableError`): a read-only file (no write permission bit, even
    for root: the replacement would only need its folder's permission), one this process may not write,
    or one in a folder where it may not create the temporary file.
    """
    targets = [(fix, base / fix.path) for fix in result.files if fix.changed]
    for fix, path in targets:
        _check_unchanged(fix, path, written=())
    for _, path in targets:
        _check_writable(path)
    written: list[Path] = []
    for fix, path in targets:
        _check_unchanged(fix, path, written=written)
        _replace(path, fix.after.encode("utf-8"))
        written.append(path)
    return written


def _check_unchanged(fix: FileFix, path: Path, *, written: Sequence[Path]) -> None:
    try:
        same = path.read_bytes() == fix.before.encode("utf-8")
    except OSError:
        same = False
    if not same:
        raise FileChangedError(path, written=written)


def _check_writable(path: Path) -> None:
    real = Path(os.path.realpath(path))
    try:
        mode = real.stat().st_mode
    except OSError as exc:
        raise FileNotWritableError(path, exc.strerror or str(exc)) from None
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        why = f"it is read-only (mode {stat.S_IMODE(mode):o})"
    elif not _may(real, os.W_OK):
        why = "no permission to write it"
    elif not _may(real.parent, os.W_OK | os.X_OK):
        why = f"no permission to create a file in its folder {real.parent}"
    else:
        return
    raise FileNotWritableError(path, why)


def _may(path: Path, mode: int) -> bool:
    """Whether this process may access ``path`` so (with its effective ids where the platform can)."""
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


def _replace(path: Path, data: bytes) -> None:
    real = Path(os.path.realpath(path))
    mode = stat.S_IMODE(real.stat().st_mode)
    fd, temp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".imageshim")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _show(text: str) -> str:
    """A value for a message: its quotes stripped, in single quotes."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1]
    return f"'{text}'"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
