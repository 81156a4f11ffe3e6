"""The scan's file walk: kinds, order, default excludes, .gitignore (checked against git's own verdicts),
explicit roots, symlinks, limits, notes; and reading files as the extractors see them."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from imageshim._scan import files
from imageshim._scan.files import MAX_BYTES, MINIFIED, TOO_LARGE, SourceFile, Walk, read, walk, write
from imageshim._scan.findings import Skipped

TREE = Path(__file__).resolve().parent / "fixtures" / "tree"
NO_PATHSPEC = ".gitignore not applied: pip install 'imageshim[scan]'"


def make(root: Path, spec: dict[str, str]) -> Path:
    """Files from ``{"a/b.py": "text"}``; a key ending in "/" makes an empty folder."""
    for rel, text in spec.items():
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def rels(found: Walk | Sequence[SourceFile]) -> list[str]:
    return [f.rel for f in found]


def run(
    roots: Sequence[Path],
    base: Path,
    *,
    include_docs: bool = False,
    default_excludes: bool = True,
    excludes: Sequence[str] = (),
) -> tuple[list[SourceFile], Walk]:
    result = walk(
        roots, base=base, include_docs=include_docs, default_excludes=default_excludes, excludes=excludes
    )
    return list(result), result


# -- kinds and order ------------------------------------------------------------------------------

KINDS = {
    "a.py": ("python", None),
    "b.js": ("javascript", None),
    "c.jsx": ("javascript", None),
    "d.mjs": ("javascript", None),
    "e.cjs": ("javascript", None),
    "f.ts": ("typescript", None),
    "g.mts": ("typescript", None),
    "h.cts": ("typescript", None),
    "i.tsx": ("tsx", None),
    "j.yaml": ("config", "yaml"),
    "k.yml": ("config", "yaml"),
    "l.toml": ("config", "toml"),
    "m.json": ("config", "json"),
    "n.jsonc": ("config", "json"),
    "o.ini": ("config", "ini"),
    "p.cfg": ("config", "ini"),
    ".env": ("config", "env"),
    ".env.example": ("config", "env"),
    ".env.local": ("config", "env"),
    "q.md": ("docs", None),
    "r.markdown": ("docs", None),
    "s.mdx": ("docs", None),
    "t.rst": ("docs", None),
    "u.txt": ("docs", None),
    "V.PY": ("python", None),
    "w.pyw": ("python", None),
    # read only to see whether they name a model (no parser here): listed as not scanned when they do
    "run.sh": ("other", None),
    "Makefile": ("other", None),
    ".envrc": ("other", None),
    "x.ipynb": ("other", None),
    "y.vue": ("other", None),
    "main.go": ("other", None),
    "Dockerfile": ("other", None),
}
NOT_CANDIDATES = ["app.env", "logo.png", "README", "x.pyc"]


def test_every_kind_and_config_format(tmp_path: Path) -> None:
    make(tmp_path, dict.fromkeys([*KINDS, *NOT_CANDIDATES], ""))
    found, result = run([tmp_path], tmp_path, include_docs=True)
    assert {f.rel: (f.kind, f.config_format) for f in found} == KINDS
    assert all(f.path == tmp_path / f.rel for f in found)
    assert result.notes == []
    assert result.skipped == []


def test_docs_are_yielded_only_with_include_docs_and_counted_otherwise(tmp_path: Path) -> None:
    make(tmp_path, {"a.md": "", "b.rst": "", "c.txt": "", "d.py": ""})
    found, result = run([tmp_path], tmp_path)
    assert rels(found) == ["d.py"]
    assert result.notes == [
        "did not read 3 docs files (Markdown, reST, text): --include-docs lists the model ids in them"
    ]


def test_stubs_declarations_and_lock_files_are_counted_not_read(tmp_path: Path) -> None:
    names = ["a.pyi", "b.d.ts", "c.d.mts", "package-lock.json", "yarn.lock", "pnpm-lock.yaml"]
    make(tmp_path, dict.fromkeys([*names, "web/poetry.lock", "web/uv.lock", "main.ts"], ""))
    found, result = run([tmp_path], tmp_path)
    assert rels(found) == ["main.ts"]
    assert result.notes == [
        "skipped 5 lock files: package-lock.json, pnpm-lock.yaml, poetry.lock, uv.lock, yarn.lock "
        "(written by package managers)",
        "skipped 1 type stub (.pyi): declarations, not uses",
        "skipped 2 TypeScript declaration files (.d.ts): declarations, not uses",
    ]


def test_order_is_sorted_folder_by_folder_whatever_the_creation_order(tmp_path: Path) -> None:
    for rel in ["b.py", "a/z.py", "a.py", "A.py", "a/b/c.py", "a/a.py", "_x.py"]:
        make(tmp_path, {rel: ""})
    found, _ = run([tmp_path], tmp_path)
    assert rels(found) == ["A.py", "_x.py", "a/a.py", "a/b/c.py", "a/z.py", "a.py", "b.py"]


def test_walking_again_gives_the_same_files_and_fresh_notes(tmp_path: Path) -> None:
    make(tmp_path, {"a.py": "", "node_modules/x.js": "", "big.min.js": ""})
    result = walk([tmp_path], base=tmp_path, include_docs=False)
    first = list(result)
    notes, skipped = list(result.notes), list(result.skipped)
    assert list(result) == first == [SourceFile(tmp_path / "a.py", "a.py", "python")]
    assert result.notes == notes
    assert len(notes) == 1
    assert result.skipped == skipped == [Skipped("big.min.js", MINIFIED)]


# -- default excludes -----------------------------------------------------------------------------

VENDORED = {
    "app.py": "",
    "node_modules/pkg/index.js": "",
    "web/node_modules/pkg/index.js": "",
    "vendor/lib.py": "",
    "build/out.py": "",
    "dist/bundle.js": "",
    "pkg.egg-info/x.cfg": "",
    "__pycache__/m.py": "",
    ".venv/lib/site.py": "",
    "tools/pyvenv.cfg": "home = /usr/bin\n",
    "tools/lib/python3.11/site-packages/m.py": "",
    ".git/hooks/pre-commit.py": "",
    ".github/workflows/ci.yml": "",
}


def test_default_excludes_skip_vendored_build_and_virtualenv_folders(tmp_path: Path) -> None:
    make(tmp_path, VENDORED)
    found, result = run([tmp_path], tmp_path)
    assert rels(found) == [".github/workflows/ci.yml", "app.py"]
    assert result.notes == [
        "skipped 8 vendored or build folders: .venv, __pycache__, build, dist, node_modules, pkg.egg-info, "
        "vendor (default excludes; --no-default-excludes scans them)",
        "skipped 1 virtualenv: tools (a folder holding pyvenv.cfg; --no-default-excludes scans it)",
    ]


def test_no_default_excludes_scans_them_but_never_version_control_folders(tmp_path: Path) -> None:
    make(tmp_path, VENDORED)
    found, result = run([tmp_path], tmp_path, default_excludes=False)
    assert rels(found) == [
        ".github/workflows/ci.yml",
        ".venv/lib/site.py",
        "__pycache__/m.py",
        "app.py",
        "build/out.py",
        "dist/bundle.js",
        "node_modules/pkg/index.js",
        "pkg.egg-info/x.cfg",
        "tools/lib/python3.11/site-packages/m.py",
        "tools/pyvenv.cfg",
        "vendor/lib.py",
        "web/node_modules/pkg/index.js",
    ]
    assert result.notes == []


def test_a_root_named_explicitly_is_walked_even_when_excluded_by_name(tmp_path: Path) -> None:
    make(tmp_path, VENDORED)
    roots = [tmp_path / "node_modules", tmp_path / "tools", tmp_path / "build" / "out.py"]
    found, result = run(roots, tmp_path)
    assert rels(found) == ["node_modules/pkg/index.js", "tools/pyvenv.cfg", "build/out.py"]
    # only the named root is exempt: the rules still apply inside it
    assert result.notes == [
        "skipped 1 vendored or build folder: site-packages (default excludes; --no-default-excludes scans them)"
    ]


def test_the_fixture_tree_skips_its_vendored_folders_and_keeps_the_reincluded_file() -> None:
    found, result = run([TREE], TREE, include_docs=True)
    shown = rels(found)
    assert not [rel for rel in shown if rel.split("/")[0] in ("node_modules", "vendor", "build", "tools-env")]
    mine = [
        (f.rel, f.kind, f.config_format)
        for f in found
        if f.rel.split("/")[0] in ("config", "docs", "generated")
    ]
    assert mine == [
        ("config/.env.example", "config", "env"),
        ("config/app.cfg", "config", "ini"),
        ("config/imageshim.toml", "config", "toml"),
        ("config/litellm_config.yaml", "config", "yaml"),
        ("config/negatives.yaml", "config", "yaml"),
        ("config/settings.json", "config", "json"),
        ("config/setup.ini", "config", "ini"),
        ("config/tsconfig.json", "config", "json"),
        ("docs/README.md", "docs", None),
        ("docs/guide.rst", "docs", None),
        ("generated/kept.yaml", "config", "yaml"),
    ]
    assert shown == sorted(shown, key=lambda rel: rel.split("/"))
    vendored = next(note for note in result.notes if "vendored or build" in note)
    assert {"build", "node_modules", "vendor"} <= set(vendored.split(": ", 1)[1].split(" (")[0].split(", "))
    assert (
        "skipped 1 virtualenv: tools-env (a folder holding pyvenv.cfg; --no-default-excludes scans it)"
        in result.notes
    )


def test_the_fixture_trees_gitignore_ignores_generated_content_in_a_copy(tmp_path: Path) -> None:
    # Git will not commit an ignored file, so the ignored content is written into a copy of the tree.
    copy = tmp_path / "tree"
    shutil.copytree(TREE, copy, symlinks=True)
    make(copy, {"generated/client.py": 'MODEL = "dall-e-3"\n', "generated/more/x.yaml": "model: dall-e-2\n"})
    found, result = run([copy], copy)
    assert [rel for rel in rels(found) if rel.startswith("generated/")] == ["generated/kept.yaml"]
    assert "skipped 2 files or folders ignored by .gitignore (name one to scan it anyway)" in result.notes


# -- .gitignore -----------------------------------------------------------------------------------

#: a repository whose verdicts were checked with git 2.x (`git status --ignored --untracked-files=all`)
REPO = {
    ".git/info/exclude": "# git's default comment\n*.tmp.py\n",
    ".gitignore": "# comment\n*.log.py\ngenerated/\n/anchored.py\n*.json\n!keep.json\nsecret*\n",
    "anchored.py": "",
    "app.py": "",
    "debug.log.py": "",
    "scratch.tmp.py": "",
    "data.json": "",
    "keep.json": "",
    "secret_settings.yaml": "",
    "generated/x.py": "",
    "sub/.gitignore": "!important.json\n!secret_ok.yaml\nlocal.py\n!generated/\n",
    "sub/anchored.py": "",
    "sub/important.json": "",
    "sub/other.json": "",
    "sub/secret_ok.yaml": "",
    "sub/local.py": "",
    "sub/generated/y.py": "",
    "sub/deep/z.py": "",
    "sub/deep/note.log.py": "",
    # a nested repository: the outer rules stop at its root, its own rules apply
    "inner/.git/": "",
    "inner/.gitignore": "ignored_inner.py\n",
    "inner/data.json": "",
    "inner/ignored_inner.py": "",
    "inner/kept.py": "",
}
#: what git does not ignore (git status "??"), in walk order
REPO_KEPT = [
    "app.py",
    "inner/data.json",
    "inner/kept.py",
    "keep.json",
    "sub/anchored.py",
    "sub/deep/z.py",
    "sub/generated/y.py",
    "sub/important.json",
    "sub/secret_ok.yaml",
]


def test_gitignore_rules_nest_and_negate_as_git_does(tmp_path: Path) -> None:
    make(tmp_path, REPO)
    # the nested repository is a default exclude (a submodule); its own rules are checked with them off
    found, result = run([tmp_path], tmp_path, default_excludes=False)
    assert rels(found) == REPO_KEPT
    assert result.notes == ["skipped 10 files or folders ignored by .gitignore (name one to scan it anyway)"]


def test_a_subfolder_root_gets_the_rules_from_the_work_tree_root_down(tmp_path: Path) -> None:
    make(tmp_path, REPO)
    found, _ = run([tmp_path / "sub"], tmp_path)
    assert rels(found) == [rel for rel in REPO_KEPT if rel.startswith("sub/")]
    found, _ = run([tmp_path / "sub" / "deep"], tmp_path / "sub")
    assert rels(found) == ["deep/z.py"]


def test_ignored_roots_and_files_named_explicitly_are_scanned(tmp_path: Path) -> None:
    make(tmp_path, {**REPO, "generated/nested/w.py": ""})
    roots = [tmp_path / "generated", tmp_path / "debug.log.py", tmp_path / "sub" / "local.py"]
    found, result = run(roots, tmp_path)
    assert rels(found) == ["generated/nested/w.py", "generated/x.py", "debug.log.py", "sub/local.py"]
    assert result.notes == []


def test_a_git_file_points_to_the_repositorys_info_exclude(tmp_path: Path) -> None:
    # a submodule's .git is a file naming its git dir; a worktree's git dir names the common one
    make(
        tmp_path,
        {
            "main/.git/info/exclude": "*.gen.py\n",
            "main/.git/worktrees/wt/commondir": "../..\n",
            "wt/.git": "gitdir: ../main/.git/worktrees/wt\n",
            "wt/a.gen.py": "",
            "wt/b.py": "",
            "mods/sub/info/exclude": "local_*.py\n",
            "sub/.git": "gitdir: ../mods/sub\n",
            "sub/local_x.py": "",
            "sub/y.py": "",
        },
    )
    found, result = run([tmp_path / "wt", tmp_path / "sub"], tmp_path)
    assert rels(found) == ["wt/b.py", "sub/y.py"]
    assert result.notes == ["skipped 2 files or folders ignored by .gitignore (name one to scan it anyway)"]


def test_without_a_work_tree_the_gitignore_files_under_the_root_apply(tmp_path: Path) -> None:
    make(
        tmp_path,
        {".gitignore": "out.py\n", "out.py": "", "in.py": "", "a/.gitignore": "*.yaml\n", "a/b.yaml": ""},
    )
    found, result = run([tmp_path], tmp_path)
    assert rels(found) == ["in.py"]
    assert result.notes == ["skipped 2 files or folders ignored by .gitignore (name one to scan it anyway)"]


def test_without_pathspec_the_walk_goes_on_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pathspec", None)  # import pathspec -> ImportError
    make(tmp_path, {".gitignore": "ignored.py\n", "ignored.py": "", "kept.py": ""})
    found, result = run([tmp_path], tmp_path)
    assert rels(found) == ["ignored.py", "kept.py"]
    assert result.notes == [NO_PATHSPEC]


def test_without_pathspec_and_without_any_gitignore_there_is_no_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pathspec", None)
    make(tmp_path, {"kept.py": "", ".git/info/exclude": "# only git's comment\n"})
    found, result = run([tmp_path], tmp_path)
    assert rels(found) == ["kept.py"]
    assert result.notes == []


# -- --exclude ------------------------------------------------------------------------------------

EXCLUDABLE = {
    "src/app.py": "",
    "src/app_test.py": "",
    "tests/fixtures/a.py": "",
    "tests/test_a.py": "",
    "x.py": "",
}


def test_excludes_are_gitignore_patterns_relative_to_base(tmp_path: Path) -> None:
    make(tmp_path, EXCLUDABLE)
    found, result = run([tmp_path], tmp_path, excludes=["tests/fixtures", "*_test.py", "/x.py"])
    assert rels(found) == ["src/app.py", "tests/test_a.py"]
    assert result.notes == ["skipped 3 files or folders matching --exclude"]
    # from a subfolder root the paths are still matched as shown (relative to base)
    found, _ = run([tmp_path / "tests"], tmp_path, excludes=["tests/fixtures/"])
    assert rels(found) == ["tests/test_a.py"]


def test_excludes_without_pathspec_are_shell_globs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pathspec", None)
    make(tmp_path, EXCLUDABLE)
    found, result = run([tmp_path], tmp_path, excludes=["tests/fixtures", "*_test.py"])
    assert rels(found) == ["src/app.py", "tests/test_a.py", "x.py"]
    assert result.notes == [
        "--exclude matched as shell globs, not .gitignore rules: pip install 'imageshim[scan]'",
        "skipped 2 files or folders matching --exclude",
    ]


# -- roots, paths, symlinks, limits ---------------------------------------------------------------


def test_missing_and_unscannable_roots_are_noted(tmp_path: Path) -> None:
    make(tmp_path, {"logo.png": "", "a.py": ""})
    found, result = run([tmp_path / "nope", tmp_path / "logo.png", tmp_path / "a.py"], tmp_path)
    assert rels(found) == ["a.py"]
    assert result.notes == [
        "nope: no such file or folder",
        "logo.png: not a Python, JavaScript/TypeScript, config or docs file, not scanned",
    ]


def test_paths_outside_base_are_absolute_and_overlapping_roots_yield_once(tmp_path: Path) -> None:
    make(tmp_path, {"proj/a.py": "", "proj/sub/b.py": "", "other/c.py": ""})
    found, _ = run([tmp_path / "proj", tmp_path / "proj" / "sub", tmp_path / "other"], tmp_path / "proj")
    assert rels(found) == ["a.py", "sub/b.py", (tmp_path / "other" / "c.py").as_posix()]
    found, _ = run([tmp_path / "proj" / "sub"], tmp_path / "proj")
    assert rels(found) == ["sub/b.py"]


def test_relative_roots_resolve_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, {"src/a.py": ""})
    monkeypatch.chdir(tmp_path)
    found, _ = run([Path("src")], Path("."))
    assert found == [SourceFile(tmp_path / "src" / "a.py", "src/a.py", "python")]


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="symlinks need a POSIX file system")
def test_symlinks_are_not_followed_so_a_loop_ends(tmp_path: Path) -> None:
    make(tmp_path, {"a/real.py": "", "outside/target.py": "", "outside/more/m.py": ""})
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "a" / "linked.py").symlink_to(tmp_path / "outside" / "target.py")
    (tmp_path / "a" / "logo.png").symlink_to(tmp_path / "outside" / "nothing.png")  # not a candidate: silent
    found, result = run([tmp_path / "a"], tmp_path)
    assert rels(found) == ["a/real.py"]
    assert result.notes == ["did not follow 2 symlinks: a/linked.py, a/loop (name the target to scan it)"]
    # a root that is a symlink was named: it is followed
    (tmp_path / "via").symlink_to(tmp_path / "outside", target_is_directory=True)
    found, _ = run([tmp_path / "via"], tmp_path)
    assert rels(found) == ["via/more/m.py", "via/target.py"]


def test_large_and_minified_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    make(tmp_path, {"app.min.js": "", "lib.min.mjs": "", "ok.js": "", "types.min.ts": ""})
    with (tmp_path / "big.json").open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)
    with (tmp_path / "edge.json").open("wb") as handle:
        handle.truncate(MAX_BYTES)
    found, result = run([tmp_path, tmp_path / "big.json"], tmp_path)
    assert rels(found) == ["edge.json", "ok.js", "types.min.ts"]
    assert result.skipped == [
        Skipped("app.min.js", MINIFIED),
        Skipped("big.json", TOO_LARGE),
        Skipped("lib.min.mjs", MINIFIED),
    ]
    assert TOO_LARGE == "larger than 2 MiB, likely generated"


# -- read / write ---------------------------------------------------------------------------------


def source(path: Path, kind: files.SourceKind = "config") -> SourceFile:
    return SourceFile(path, path.name, kind, "yaml")


def test_read_keeps_crlf_and_strips_a_bom_which_write_restores(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"\xef\xbb\xbfmodel: dall-e-3\r\nnext: x\r\n")
    text = read(source(path))
    assert text == "model: dall-e-3\r\nnext: x\r\n"
    assert isinstance(text, str)
    assert text[7:15] == "dall-e-3"
    write(path, text.replace("dall-e-3", "gpt-image-2"))
    assert path.read_bytes() == b"\xef\xbb\xbfmodel: gpt-image-2\r\nnext: x\r\n"
    plain = tmp_path / "b.yaml"
    plain.write_bytes(b"a: 1\n")
    write(plain, "a: 2\r\n")
    assert plain.read_bytes() == b"a: 2\r\n"


def test_read_reports_undecodable_and_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"model: caf\xe9\n")
    assert read(source(path)) == Skipped("latin.yaml", "not UTF-8 text (undecodable byte at offset 10)")
    gone = read(source(tmp_path / "gone.yaml"))
    assert isinstance(gone, Skipped)
    assert gone.reason.startswith("could not be read: ")


def test_a_nested_repository_is_skipped_and_said_unless_named(tmp_path: Path) -> None:
    make(tmp_path, {"a.py": "", "libs/sub/b.py": "", "libs/sub/.git": "gitdir: ../../.git/modules/sub\n"})
    found, result = run([tmp_path], tmp_path)
    assert [f.rel for f in found] == ["a.py"]
    assert any("nested repository: libs/sub" in note for note in result.notes)
    found, _ = run([tmp_path / "libs" / "sub"], tmp_path)
    assert [f.rel for f in found] == ["libs/sub/b.py"]
    found, _ = run([tmp_path], tmp_path, default_excludes=False)
    assert sorted(f.rel for f in found) == ["a.py", "libs/sub/b.py"]


def test_vendored_underscore_folders_are_default_excludes(tmp_path: Path) -> None:
    make(tmp_path, {"pkg/_vendor/x.py": "", "pkg/y.py": ""})
    found, result = run([tmp_path], tmp_path)
    assert [f.rel for f in found] == ["pkg/y.py"]
    assert any("_vendor" in note for note in result.notes)
