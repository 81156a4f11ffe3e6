"""What a walk leaves out by rule: ``.gitignore`` files (git's own rules) and ``--exclude`` patterns.

git's rules come from pathspec's ``GitIgnoreSpec`` (the ``scan`` extra): each ``.gitignore`` applies to the
folder holding it and below, with paths relative to that folder; a deeper file overrides a shallower one;
within a file the last matching rule wins, so ``!`` re-includes; ``.git/info/exclude`` ranks below every
``.gitignore``. A folder git ignores is not entered, so nothing inside it can be re-included (as in git).
Without pathspec, :class:`IgnoreRules` reads nothing and ``--exclude`` falls back to shell globs.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["Frame", "IgnoreRules", "Rules", "ignored", "work_tree"]

#: compiled rules: a path ("a/b", or "a/b/" for a folder) -> ignored (True), re-included (False), or None
#: when no rule speaks
Rules = Callable[[str], bool | None]
#: rules in force in a folder: (rules, that folder's path relative to the rules' folder, "" or "a/b/")
Frame = tuple[Rules, str]


def ignored(frames: Sequence[Frame], name: str, folder: bool) -> bool:
    """git's verdict on one entry of the folder ``frames`` describe: the deepest rules that speak decide."""
    tail = name + "/" if folder else name
    for rules, prefix in reversed(frames):
        verdict = rules(prefix + tail)
        if verdict is not None:
            return verdict
    return False


def work_tree(path: str) -> str | None:
    """The nearest folder at or above ``path`` that holds ``.git`` (a folder, or a file for a worktree)."""
    while not os.path.exists(os.path.join(path, ".git")):
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
    return path


def _relative(folder: str, path: str) -> str:
    rel = os.path.relpath(path, folder)
    return "" if rel == "." else Path(rel).as_posix() + "/"


def _compiler() -> Callable[[Sequence[str]], Rules] | None:
    try:
        import pathspec
    except ImportError:
        return None

    def compile_rules(lines: Sequence[str]) -> Rules:
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
        return lambda path: spec.check_file(path).include

    return compile_rules


def _globs(patterns: Sequence[str]) -> Rules:
    """Shell globs on the name, or on the whole path when a pattern holds "/" ("dir/" only for folders)."""

    def check(path: str) -> bool | None:
        folder = path.endswith("/")
        path = path.rstrip("/")
        name = path.rsplit("/", 1)[-1]
        for pattern in patterns:
            if pattern.endswith("/") and not folder:
                continue
            glob = pattern.strip("/")
            if fnmatch.fnmatchcase(path if "/" in glob else name, glob):
                return True
        return None

    return check


class IgnoreRules:
    """Reads and compiles ignore files for one walk (pathspec is imported when the walk starts)."""

    def __init__(self) -> None:
        self._compile = _compiler()
        #: a file with rules was found: without pathspec the walk says they were not applied
        self.found_rules = False

    @property
    def available(self) -> bool:
        return self._compile is not None

    def patterns(self, patterns: Sequence[str]) -> Rules:
        """``--exclude``: gitignore-style with pathspec, shell globs without."""
        return self._compile(patterns) if self._compile is not None else _globs(patterns)

    def file(self, path: str) -> Rules | None:
        """The rules of one ``.gitignore`` / ``info/exclude``; None when absent, empty or not applied."""
        try:
            lines = Path(path).read_bytes().decode("utf-8", "replace").splitlines()
        except OSError:  # absent, a folder, unreadable
            return None
        if not any(line.strip() and not line.startswith("#") for line in lines):
            return None
        self.found_rules = True
        return self._compile(lines) if self._compile is not None else None

    def repository(self, top: str) -> list[Rules]:
        """``info/exclude`` of the repository at ``top`` (``.git`` may be a file: a worktree, a submodule)."""
        gitdir = os.path.join(top, ".git")
        if os.path.isfile(gitdir):
            try:
                pointer = Path(gitdir).read_text("utf-8", "replace").strip()
                gitdir = os.path.join(top, pointer.removeprefix("gitdir:").strip())
                common = os.path.join(gitdir, "commondir")
                if os.path.isfile(common):
                    gitdir = os.path.join(gitdir, Path(common).read_text("utf-8", "replace").strip())
            except OSError:
                return []
        rules = self.file(os.path.join(gitdir, "info", "exclude"))
        return [rules] if rules is not None else []

    def above(self, root: str) -> list[Frame]:
        """The rules from the work tree's root down to ``root``'s parent, as seen from inside ``root``.

        Empty outside a work tree (the walk then reads the ``.gitignore`` files from ``root`` down), and
        when ``root`` is itself ignored: it was named, so it is walked, and rules that ignore it (and so
        everything in it) cannot say anything useful inside it.
        """
        top = work_tree(root)
        if top is None or top == root:
            return []
        chain = [os.path.dirname(root)]
        while chain[-1] != top:
            chain.append(os.path.dirname(chain[-1]))
        ruled = [(rules, top) for rules in self.repository(top)]
        for folder in reversed(chain):
            rules = self.file(os.path.join(folder, ".gitignore"))
            if rules is not None:
                ruled.append((rules, folder))
        parent = os.path.dirname(root)
        if ignored(
            [(rules, _relative(folder, parent)) for rules, folder in ruled], os.path.basename(root), True
        ):
            return []
        return [(rules, _relative(folder, root)) for rules, folder in ruled]
