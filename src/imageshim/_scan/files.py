"""Which files a scan reads: a fast, deterministic walk that says what it left out and why.

:func:`walk` (a :class:`Walk`) yields the candidate files under the roots in sorted order (by path, folder
by folder) and then holds ``notes`` (what it did not look at, counted, and why) and ``skipped`` (candidate
files it will not hand to an extractor: too large, minified). Other files (images, binaries, ``.sh``) are
not candidates and are not mentioned.

Rules, in the order they apply to each entry of a folder:

- ``.git``, ``.hg`` and ``.svn`` are never entered (git never looks there either) and never mentioned.
- Symlinks are not followed, neither to folders (they can loop) nor to files (the file lives elsewhere,
  may be reached twice, and ``--fix --write`` must not edit outside the tree); linked candidates are
  counted in a note. A root that is itself a symlink is followed: it was named.
- Default excludes (``--no-default-excludes`` turns them off): vendored, build, cache and virtualenv
  folders by name (:data:`DEFAULT_EXCLUDES`, ``*.egg-info``), and any folder holding ``pyvenv.cfg``
  (a virtualenv whatever its name).
- ``.gitignore``, with git's own rules (pathspec's ``GitIgnoreSpec``): every ``.gitignore`` from the
  enclosing work tree's root (the nearest folder holding ``.git``) down to each folder, deeper files
  overriding shallower ones, negations included, plus ``.git/info/exclude``; a folder holding ``.git``
  (a nested repository, a submodule) starts afresh. Outside a work tree, the ``.gitignore`` files from
  each root down apply. Git's global ``core.excludesFile`` is not read. Without pathspec the walk goes
  on with a note.
- ``excludes`` (``--exclude``): gitignore-style patterns matched against the path as shown (relative to
  ``base``; for a root outside ``base``, relative to that root).

A root named explicitly is always walked, even when its name is excluded or ignored (``.gitignore`` rules
from above it then do not apply inside it); a file named explicitly is always read. Paths are shown
relative to ``base`` when under it, else absolute (posix). Roots are walked in the order given; a file
reached twice is yielded once.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from imageshim._scan.findings import Skipped
from imageshim._scan.ignore import Frame, IgnoreRules, ignored

__all__ = [
    "DEFAULT_EXCLUDES",
    "LOCK_FILES",
    "MAX_BYTES",
    "MINIFIED",
    "TOO_LARGE",
    "SourceFile",
    "SourceKind",
    "Walk",
    "classify",
    "read",
    "walk",
    "write",
]

SourceKind = Literal["python", "javascript", "typescript", "tsx", "config", "docs", "other"]

#: larger files are not read: a source file this big is generated (bundles, fixtures, data dumps)
MAX_BYTES = 2 * 1024 * 1024
TOO_LARGE = "larger than 2 MiB, likely generated"
MINIFIED = "minified (*.min.js), generated from a source file"

#: text files the scanner has no parser for but where a model id is still a use (notebooks, components,
#: templates, infrastructure, other languages' SDK calls): read, and listed as not scanned when one holds
#: a model id, so nothing that names a dying model is passed over in silence
_OTHER = (
    *(".ipynb", ".vue", ".svelte", ".astro", ".tf", ".tfvars", ".hcl", ".conf", ".properties", ".j2"),
    *(".jinja", ".jinja2", ".sh", ".bash", ".zsh", ".go", ".java", ".kt", ".kts", ".rb", ".php", ".cs"),
    *(".rs", ".swift", ".dart", ".scala", ".ex", ".exs", ".lua", ".r", ".jl"),
)
_OTHER_NAMES = frozenset({"dockerfile", "containerfile", ".envrc", "procfile", "makefile"})
_KINDS: dict[str, tuple[SourceKind, str | None]] = {
    **dict.fromkeys((".py", ".pyw"), ("python", None)),
    **dict.fromkeys(_OTHER, ("other", None)),
    **dict.fromkeys((".js", ".jsx", ".mjs", ".cjs"), ("javascript", None)),
    **dict.fromkeys((".ts", ".mts", ".cts"), ("typescript", None)),
    ".tsx": ("tsx", None),
    **dict.fromkeys((".yaml", ".yml"), ("config", "yaml")),
    ".toml": ("config", "toml"),
    **dict.fromkeys((".json", ".jsonc"), ("config", "json")),
    **dict.fromkeys((".ini", ".cfg"), ("config", "ini")),
    **dict.fromkeys((".md", ".markdown", ".mdx", ".rst", ".txt"), ("docs", None)),
}
_DECLARATIONS = (".d.ts", ".d.mts", ".d.cts")
_MINIFIED = (".min.js", ".min.mjs", ".min.cjs")
LOCK_FILES = frozenset(
    {"package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lock", "poetry.lock"}
    | {"uv.lock", "Pipfile.lock", "pdm.lock"}
)
_VCS = frozenset({".git", ".hg", ".svn"})
DEFAULT_EXCLUDES = frozenset(
    {"node_modules", "bower_components", "jspm_packages", "vendor", "vendors", "third_party", "third-party"}
    | {"site-packages", "dist", "build", "out", "target", ".venv", "venv", "__pycache__", ".tox", ".nox"}
    | {".mypy_cache", ".pytest_cache", ".ruff_cache", ".next", ".nuxt", ".svelte-kit", "coverage", ".cache"}
    | {".eggs", "_vendor", "_vendored"}
)

_Category = Literal["lock", "stub", "declaration"]


@dataclasses.dataclass(frozen=True)
class SourceFile:
    path: Path
    #: posix, relative to ``base`` when the file is under it, else the absolute posix path
    rel: str
    kind: SourceKind
    #: for config: "yaml" | "toml" | "json" | "env" | "ini"
    config_format: str | None = None


def classify(name: str) -> tuple[SourceKind, str | None] | _Category | None:
    """A file name's kind (and config format); a category that is counted but not read; or None."""
    if name in LOCK_FILES:
        return "lock"
    lower = name.lower()
    ext = os.path.splitext(lower)[1]
    if lower == ".env" or lower.startswith(".env."):  # .env, .env.example, .env.local (.env.json: JSON)
        found = _KINDS.get(ext)
        return found if found is not None and found[0] == "config" else ("config", "env")
    if ext == ".pyi":
        return "stub"
    if lower.endswith(_DECLARATIONS):
        return "declaration"
    if lower in _OTHER_NAMES:
        return ("other", None)
    return _KINDS.get(ext)


def read(file: SourceFile) -> str | Skipped:
    """The file's text as every extractor sees it, or why it cannot be read.

    UTF-8, newlines untouched (``\\r\\n`` stays: offsets index the file as written). A leading BOM is
    removed, so line 1 column 1 is the first character an editor shows and every offset is one less than
    in the raw file; :func:`write` puts the BOM back.
    """
    try:
        data = file.path.read_bytes()
    except OSError as exc:
        return Skipped(file.rel, f"could not be read: {exc.strerror or exc}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Skipped(file.rel, f"not UTF-8 text (undecodable byte at offset {exc.start})")
    return text[1:] if text.startswith("\ufeff") else text


def write(path: Path, text: str) -> None:
    """Write ``text`` (as :func:`read` gave it, edited) back: UTF-8, newlines as they are, BOM restored."""
    try:
        with path.open("rb") as handle:
            bom = handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8
    except FileNotFoundError:
        bom = False
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8"))


class Walk:
    """The candidate files under ``roots`` (see the module's docstring for the rules).

    An iterable of :class:`SourceFile`; ``notes`` and ``skipped`` are complete once it is exhausted.

    Iterating again walks again (and replaces ``notes`` and ``skipped``).
    """

    def __init__(
        self,
        roots: Sequence[Path],
        *,
        base: Path,
        include_docs: bool,
        default_excludes: bool = True,
        excludes: Sequence[str] = (),
    ) -> None:
        self.roots = tuple(Path(root) for root in roots)
        self.base = os.path.abspath(base)
        self.include_docs = include_docs
        self.default_excludes = default_excludes
        self.excludes = tuple(excludes)
        self.notes: list[str] = []
        self.skipped: list[Skipped] = []

    def __iter__(self) -> Iterator[SourceFile]:
        run = _Run(self)
        try:
            yield from run.files()
        finally:
            self.notes = run.notes()
            self.skipped = run.skipped


#: ``walk(roots, base=..., include_docs=...)``: the walk as a verb, the same call as :class:`Walk`
walk = Walk


def _listed(items: Sequence[str], limit: int = 5) -> str:
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f" and {more} more" if more > 0 else "")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


_PATHS = ("file or folder", "files or folders")


@dataclasses.dataclass
class _Tally:
    problems: list[str] = dataclasses.field(default_factory=list)
    excluded: dict[str, int] = dataclasses.field(default_factory=dict)
    venvs: list[str] = dataclasses.field(default_factory=list)
    repositories: list[str] = dataclasses.field(default_factory=list)
    symlinks: list[str] = dataclasses.field(default_factory=list)
    locks: dict[str, int] = dataclasses.field(default_factory=dict)
    ignored: int = 0
    cli_excluded: int = 0
    stubs: int = 0
    declarations: int = 0
    docs: int = 0


class _Run:
    """One pass of a :class:`Walk`: the files, and the tally its notes are made from."""

    def __init__(self, walk: Walk) -> None:
        self.walk = walk
        self.tally = _Tally()
        self.skipped: list[Skipped] = []
        self.seen: set[str] = set()
        self.visited: set[str] = set()
        self.rules = IgnoreRules()
        self.cli = self.rules.patterns(walk.excludes) if walk.excludes else None

    def files(self) -> Iterator[SourceFile]:
        for root in self.walk.roots:
            path = os.path.abspath(root)
            shown = self._shown(path)
            if os.path.isdir(path):
                prefix = "" if shown == "." else shown + "/"
                excl = prefix if self._under_base(path) else ""
                yield from self._folder(path, prefix, excl, self.rules.above(path), explicit=True)
            elif os.path.isfile(path):
                category = classify(os.path.basename(path))
                if category is None:
                    self.tally.problems.append(
                        f"{shown}: not a Python, JavaScript/TypeScript, config or docs file, not scanned"
                    )
                    continue
                found = self._candidate(path, shown, category, functools.partial(os.stat, path))
                if found is not None:
                    yield found
            elif os.path.lexists(path):
                self.tally.problems.append(f"{shown}: not a file or folder, not scanned")
            else:
                self.tally.problems.append(f"{shown}: no such file or folder")

    def _under_base(self, path: str) -> bool:
        base = self.walk.base
        return path == base or path.startswith(base.rstrip(os.sep) + os.sep)

    def _shown(self, path: str) -> str:
        base = self.walk.base
        if path == base:
            return "."
        if self._under_base(path):
            return path[len(base.rstrip(os.sep)) + 1 :].replace(os.sep, "/")
        return Path(path).as_posix()

    def _folder(
        self, path: str, shown: str, excl: str, frames: list[Frame], *, explicit: bool
    ) -> Iterator[SourceFile]:
        """``shown`` / ``excl``: this folder as shown / as ``--exclude`` sees it ("" or ending in "/")."""
        if path in self.visited:
            return
        self.visited.add(path)
        try:
            with os.scandir(path) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            self.tally.problems.append(f"{shown or './'}: folder not read ({exc.strerror or exc})")
            return
        names = {entry.name for entry in entries}
        if "pyvenv.cfg" in names and not explicit and self.walk.default_excludes:
            self.tally.venvs.append(shown.rstrip("/"))
            return
        if ".git" in names and not explicit and self.walk.default_excludes:
            # A repository inside the one scanned (a git submodule, a vendored checkout) is someone else's
            # code, like vendor/: skipped and said, unless named or --no-default-excludes.
            self.tally.repositories.append(shown.rstrip("/"))
            return
        if ".git" in names:  # a repository starts here: the rules from above stop at its root
            frames = [(rules, "") for rules in self.rules.repository(path)]
        if ".gitignore" in names:
            rules = self.rules.file(os.path.join(path, ".gitignore"))
            frames = [*frames, (rules, "")] if rules is not None else frames
        for entry in entries:
            name = entry.name
            if name in _VCS:
                continue
            try:
                link = entry.is_symlink()
                folder = entry.is_dir()  # follows a link: a linked folder is named like a folder
                plain_file = not folder and (link or entry.is_file(follow_symlinks=False))
            except OSError:
                continue
            if folder:
                if self.walk.default_excludes and (name in DEFAULT_EXCLUDES or name.endswith(".egg-info")):
                    self.tally.excluded[name] = self.tally.excluded.get(name, 0) + 1
                elif not self._kept(frames, excl + name, name, folder=not link):  # git sees a link as a file
                    continue
                elif link:
                    self.tally.symlinks.append(shown + name)
                else:
                    inner = [(rules, prefix + name + "/") for rules, prefix in frames]
                    yield from self._folder(
                        entry.path, f"{shown}{name}/", f"{excl}{name}/", inner, explicit=False
                    )
            elif plain_file:
                category = classify(name)
                if category is None or not self._kept(frames, excl + name, name, folder=False):
                    continue
                if link:
                    self.tally.symlinks.append(shown + name)
                    continue
                found = self._candidate(entry.path, shown + name, category, entry.stat)
                if found is not None:
                    yield found

    def _kept(self, frames: Sequence[Frame], excl_path: str, name: str, *, folder: bool) -> bool:
        """Not ignored by .gitignore nor by ``--exclude`` (each counted)."""
        if frames and ignored(frames, name, folder):
            self.tally.ignored += 1
            return False
        if self.cli is not None and self.cli(excl_path + ("/" if folder else "")) is True:
            self.tally.cli_excluded += 1
            return False
        return True

    def _candidate(
        self,
        path: str,
        rel: str,
        category: tuple[SourceKind, str | None] | _Category,
        stat: Callable[[], os.stat_result],
    ) -> SourceFile | None:
        tally = self.tally
        if category == "lock":
            name = os.path.basename(path)
            tally.locks[name] = tally.locks.get(name, 0) + 1
            return None
        if category == "stub" or category == "declaration":
            tally.stubs += category == "stub"
            tally.declarations += category == "declaration"
            return None
        kind, fmt = category
        if kind == "docs" and not self.walk.include_docs:
            tally.docs += 1
            return None
        if path in self.seen:
            return None
        self.seen.add(path)
        if kind == "javascript" and path.lower().endswith(_MINIFIED):
            self.skipped.append(Skipped(rel, MINIFIED))
            return None
        try:
            too_large = stat().st_size > MAX_BYTES
        except OSError as exc:
            self.skipped.append(Skipped(rel, f"could not be read: {exc.strerror or exc}"))
            return None
        if too_large:
            self.skipped.append(Skipped(rel, TOO_LARGE))
            return None
        return SourceFile(Path(path), rel, kind, fmt)

    def notes(self) -> list[str]:
        t, missing = self.tally, not self.rules.available
        folders = _count(sum(t.excluded.values()), "vendored or build folder")
        notes = [
            *t.problems,
            ".gitignore not applied: pip install 'imageshim[scan]'"
            if self.rules.found_rules and missing
            else "",
            "--exclude matched as shell globs, not .gitignore rules: pip install 'imageshim[scan]'"
            if self.walk.excludes and missing
            else "",
            f"skipped {folders}: {', '.join(sorted(t.excluded))} (default excludes; --no-default-excludes "
            "scans them)"
            if t.excluded
            else "",
            f"skipped {_count(len(t.venvs), 'virtualenv')}: {_listed(t.venvs)} (a folder holding pyvenv.cfg; "
            "--no-default-excludes scans it)"
            if t.venvs
            else "",
            f"skipped {_count(len(t.repositories), 'nested repository', 'nested repositories')}: "
            f"{_listed(t.repositories)} (a submodule or vendored checkout; name it or use --no-default-excludes "
            "to scan it)"
            if t.repositories
            else "",
            f"skipped {_count(t.ignored, _PATHS[0], _PATHS[1])} ignored by .gitignore (name one to scan it anyway)"
            if t.ignored
            else "",
            f"skipped {_count(t.cli_excluded, *_PATHS)} matching --exclude" if t.cli_excluded else "",
            f"did not follow {_count(len(t.symlinks), 'symlink')}: {_listed(t.symlinks)} (name the target to "
            "scan it)"
            if t.symlinks
            else "",
            f"skipped {_count(sum(t.locks.values()), 'lock file')}: {', '.join(sorted(t.locks))} (written by "
            "package managers)"
            if t.locks
            else "",
            f"skipped {_count(t.stubs, 'type stub')} (.pyi): declarations, not uses" if t.stubs else "",
            f"skipped {_count(t.declarations, 'TypeScript declaration file')} (.d.ts): declarations, not uses"
            if t.declarations
            else "",
            f"did not read {_count(t.docs, 'docs file')} (Markdown, reST, text): --include-docs lists the model "
            "ids in them"
            if t.docs
            else "",
        ]
        return [note for note in notes if note]
