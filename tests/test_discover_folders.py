"""Folder walking of input sources (:func:`mira.ingest.walk.find_files`).

Symbolic links to patient folders and files are followed (loops and second links walked once),
broken links and unreadable folders are errors naming them, and ``include`` patterns keep their
glob semantics. Real DICOM files from pydicom's bundled test files are used throughout, and the
input files are checked unchanged.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from mira.errors import ConfigError, InputError
from mira.ingest import load_series
from mira.ingest.samples import pydicom_test_files
from mira.ingest.walk import find_files

WHERE = "inputs.t"


def _copy(name: str, dst: Path) -> Path:
    """Copy pydicom's bundled test file ``name`` to ``dst`` (parents created)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pydicom_test_files() / name, dst)
    return dst


def _rel(root: Path, entries: list[tuple[Path, bool]]) -> list[tuple[str, bool]]:
    """``find_files`` result as ``(relative posix path, explicit)`` pairs, keeping the order."""
    return [(p.relative_to(root).as_posix(), explicit) for p, explicit in entries]


def _digests(*folders: Path) -> dict[str, str]:
    """sha256 of every real file under ``folders`` (links themselves are not followed)."""
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            if p.is_file() and not p.is_symlink():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _deny(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make ``os.scandir(folder)`` fail as an unreadable folder does (the tests may run as root)."""
    real = os.scandir

    def scandir(path=".", *args, **kwargs):
        if os.path.abspath(os.fspath(path)) == os.path.abspath(folder):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A source folder exercising include patterns; returns the folder ``src``."""
    root = tmp_path / "src"
    _copy("CT_small.dcm", root / "top.dcm")
    _copy("CT_small.dcm", root / "sub" / "a.dcm")
    _copy("MR_small.dcm", root / "sub" / "deep" / "b.dcm")
    _copy("CT_small.dcm", root / "p1" / "x" / "c.dcm")
    _copy("MR_small.dcm", root / "p1" / "y" / "x" / "d.dcm")
    _copy("CT_small.dcm", root / "x" / "e.dcm")
    _copy("CT_small.dcm", root / ".hidden.dcm")
    _copy("MR_small.dcm", root / ".cache" / "f.dcm")
    (root / "notes.txt").write_text("not an image\n")
    return root


# ---------------------------------------------------------------- symbolic links


def test_symlinked_patient_folder_outside_root_is_found_and_ingested(tmp_path):
    root, outside = tmp_path / "src", tmp_path / "elsewhere" / "patB_scan"
    _copy("CT_small.dcm", root / "patA" / "CT_small.dcm")
    ds = pydicom.dcmread(pydicom_test_files() / "CT_small.dcm")
    ds.SeriesInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["mira-test-patB"])
    ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["mira-test-patB-1"])
    outside.mkdir(parents=True)
    ds.save_as(outside / "CT_small.dcm")
    (root / "patB").symlink_to(outside, target_is_directory=True)
    before = _digests(root, outside)

    assert _rel(root, find_files(root, None, True, WHERE)) == [
        ("patA/CT_small.dcm", False), ("patB/CT_small.dcm", False)]
    assert _rel(root, find_files(root, ("*.dcm",), True, WHERE)) == [
        ("patA/CT_small.dcm", False), ("patB/CT_small.dcm", False)]
    assert _rel(root, find_files(root, ("patB/*.dcm",), True, WHERE)) == [("patB/CT_small.dcm", False)]

    cases = load_series(root, "ct")
    assert [c.case_id for c in cases] == ["patA_CT_small", "patB_CT_small"]
    assert cases[1].source == str(root / "patB" / "CT_small.dcm")
    direct = load_series(outside, "ct")
    assert len(direct) == 1 and np.array_equal(cases[1].image, direct[0].image)
    assert cases[1].spacing == direct[0].spacing
    assert _digests(root, outside) == before


def test_symlinked_file_is_that_file(tmp_path):
    root, outside = tmp_path / "src", tmp_path / "elsewhere"
    _copy("CT_small.dcm", outside / "scan.dcm")
    root.mkdir()
    (root / "linked.dcm").symlink_to(outside / "scan.dcm")
    assert _rel(root, find_files(root, None, True, WHERE)) == [("linked.dcm", False)]
    assert _rel(root, find_files(root, ("linked.dcm",), True, WHERE)) == [("linked.dcm", True)]
    assert [c.case_id for c in load_series(root, "ct")] == ["linked"]


def test_symlink_loops_terminate_and_list_each_file_once(tmp_path, caplog):
    root = tmp_path / "src"
    _copy("CT_small.dcm", root / "a" / "ct.dcm")
    _copy("MR_small.dcm", root / "a" / "b" / "mr.dcm")
    (root / "self").symlink_to(root, target_is_directory=True)  # link to root inside root
    (root / "a" / "b" / "up").symlink_to("..", target_is_directory=True)  # link to a parent
    before = _digests(root)
    with caplog.at_level(logging.INFO, logger="mira.ingest"):
        entries = find_files(root, None, True, WHERE)
    assert _rel(root, entries) == [("a/b/mr.dcm", False), ("a/ct.dcm", False)]
    messages = [r.getMessage() for r in caplog.records]
    assert f"{root / 'a/b/up'}: symbolic link loop back to {root / 'a'}, not walked again" in messages
    assert f"{root / 'self'}: symbolic link loop back to {root}, not walked again" in messages
    # patterns going through the loops terminate too, and match each file once
    assert _rel(root, find_files(root, ("**/*.dcm",), False, WHERE)) == [
        ("a/b/mr.dcm", False), ("a/ct.dcm", False)]
    assert _rel(root, find_files(root, ("mr.dcm",), True, WHERE)) == [("a/b/mr.dcm", True)]
    assert _digests(root) == before


def test_two_links_to_one_folder_list_its_files_once(tmp_path, caplog):
    root, outside = tmp_path / "src", tmp_path / "elsewhere"
    _copy("CT_small.dcm", outside / "ct.dcm")
    _copy("MR_small.dcm", outside / "mr.dcm")
    root.mkdir()
    (root / "l2").symlink_to(outside, target_is_directory=True)
    (root / "l1").symlink_to(outside, target_is_directory=True)
    with caplog.at_level(logging.INFO, logger="mira.ingest"):
        entries = find_files(root, None, True, WHERE)
    assert _rel(root, entries) == [("l1/ct.dcm", False), ("l1/mr.dcm", False)]
    assert f"{root / 'l2'}: same folder as {root / 'l1'}, not walked again" in [r.getMessage() for r in caplog.records]
    # a pattern reaching the folder only through the second link finds its files under the first path
    assert _rel(root, find_files(root, ("l1/*.dcm", "l2/mr.dcm"), True, WHERE)) == [
        ("l1/ct.dcm", False), ("l1/mr.dcm", True)]
    assert _rel(root, find_files(root, ("l2/*.dcm",), True, WHERE)) == [("l2/ct.dcm", False), ("l2/mr.dcm", False)]
    # a link to a folder that is also in the tree: walked once, under the first path in sorted order
    _copy("CT_small.dcm", root / "z_real" / "z.dcm")
    (root / "a_link").symlink_to(root / "z_real", target_is_directory=True)
    assert _rel(root, find_files(root, None, True, WHERE)) == [
        ("a_link/z.dcm", False), ("l1/ct.dcm", False), ("l1/mr.dcm", False)]


def test_two_names_of_one_file_list_it_once(tmp_path, caplog):
    root = tmp_path / "src"
    _copy("CT_small.dcm", root / "b_real.dcm")
    (root / "a_alias.dcm").symlink_to("b_real.dcm")
    with caplog.at_level(logging.INFO, logger="mira.ingest"):
        entries = find_files(root, ("*.dcm", "b_real.dcm"), True, WHERE)
    assert _rel(root, entries) == [("a_alias.dcm", True)]
    assert f"{root / 'b_real.dcm'}: same file as {root / 'a_alias.dcm'}, listed once" in [
        r.getMessage() for r in caplog.records]


def test_broken_symlink_is_an_error_naming_it(tmp_path):
    root = tmp_path / "src"
    _copy("CT_small.dcm", root / "good.dcm")
    (root / "ghost.dcm").symlink_to(tmp_path / "deleted.dcm")
    msg = f"{root / 'ghost.dcm'}: broken symbolic link (points to {tmp_path / 'deleted.dcm'})"
    for include in (None, ("*.dcm",), ("ghost.dcm",)):
        with pytest.raises(InputError) as err:
            find_files(root, include, True, WHERE)
        assert str(err.value) == msg
    with pytest.raises(InputError) as err:
        load_series(root, "ct")
    assert str(err.value) == msg
    # an entry no pattern names (nor walks into, as a folder) is not looked at
    assert _rel(root, find_files(root, ("good.dcm",), False, WHERE)) == [("good.dcm", True)]
    assert _rel(root, find_files(root, ("*.png",), False, WHERE)) == []


def test_broken_symlink_to_patient_folder_is_an_error(tmp_path):
    root = tmp_path / "src"
    _copy("CT_small.dcm", root / "patA" / "ct.dcm")
    (root / "patB").symlink_to(tmp_path / "unmounted" / "patB", target_is_directory=True)
    (root / ".snapshot").symlink_to(tmp_path / "gone")  # hidden: never walked
    msg = f"{root / 'patB'}: broken symbolic link (points to {tmp_path / 'unmounted' / 'patB'})"
    # a recursive search, or a pattern whose folder part matches it, would walk into it
    for include, recursive in ((None, True), (None, False), (("*/*.dcm",), False), (("*.dcm",), True),
                               (("ct.dcm",), True)):
        with pytest.raises(InputError) as err:
            find_files(root, include, recursive, WHERE)
        assert str(err.value) == msg
    assert _rel(root, find_files(root, ("patA/*.dcm",), True, WHERE)) == [("patA/ct.dcm", False)]
    assert _rel(root, find_files(root, ("*.dcm",), False, WHERE)) == []


# ---------------------------------------------------------------- unreadable folders


def test_unreadable_folder_is_an_error_naming_it(tmp_path, monkeypatch):
    root = tmp_path / "src"
    _copy("CT_small.dcm", root / "patA" / "ct.dcm")
    _copy("MR_small.dcm", root / "patB" / "mr.dcm")
    before = _digests(root)
    _deny(monkeypatch, root / "patB")
    msg = f"{root / 'patB'}: cannot read folder (Permission denied) ({WHERE})"
    for include in (None, ("*.dcm",), ("patB/mr.dcm",), ("**/*.dcm",)):
        with pytest.raises(InputError) as err:
            find_files(root, include, True, WHERE)
        assert str(err.value) == msg
    with pytest.raises(InputError) as err:
        load_series(root, "ct")
    assert str(err.value) == f"{root / 'patB'}: cannot read folder (Permission denied) (inputs.load_series)"
    # folders that no pattern can reach are not read
    assert _rel(root, find_files(root, ("patA/*.dcm",), True, WHERE)) == [("patA/ct.dcm", False)]
    assert _rel(root, find_files(root, None, False, WHERE)) == []
    monkeypatch.undo()
    assert _digests(root) == before


def test_unreadable_folder_behind_a_symlink(tmp_path, monkeypatch):
    root, outside = tmp_path / "src", tmp_path / "elsewhere"
    _copy("CT_small.dcm", outside / "ct.dcm")
    root.mkdir()
    (root / "patB").symlink_to(outside, target_is_directory=True)
    _deny(monkeypatch, root / "patB")
    with pytest.raises(InputError) as err:
        find_files(root, None, True, WHERE)
    assert str(err.value) == f"{root / 'patB'}: cannot read folder (Permission denied) ({WHERE})"


def test_unreadable_root_is_an_error(tmp_path, monkeypatch):
    root = tmp_path / "src"
    _copy("CT_small.dcm", root / "ct.dcm")
    _deny(monkeypatch, root)
    for include in (None, ("ct.dcm",)):
        with pytest.raises(InputError) as err:
            find_files(root, include, False, WHERE)
        assert str(err.value) == f"{root}: cannot read folder (Permission denied) ({WHERE})"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads folders whatever their permissions")
def test_unreadable_folder_real_permissions(tmp_path):  # pragma: no cover - skipped as root
    root = tmp_path / "src"
    _copy("CT_small.dcm", root / "patA" / "ct.dcm")
    _copy("MR_small.dcm", root / "patB" / "mr.dcm")
    (root / "patB").chmod(0o000)
    try:
        with pytest.raises(InputError) as err:
            find_files(root, None, True, WHERE)
        assert str(err.value) == f"{root / 'patB'}: cannot read folder (Permission denied) ({WHERE})"
    finally:
        (root / "patB").chmod(0o755)


# ---------------------------------------------------------------- include patterns


def test_no_include_lists_every_visible_file(tree):
    assert _rel(tree, find_files(tree, None, True, WHERE)) == [
        ("notes.txt", False), ("p1/x/c.dcm", False), ("p1/y/x/d.dcm", False), ("sub/a.dcm", False),
        ("sub/deep/b.dcm", False), ("top.dcm", False), ("x/e.dcm", False)]


def test_not_recursive_lists_only_top_level(tree):
    assert _rel(tree, find_files(tree, None, False, WHERE)) == [("notes.txt", False), ("top.dcm", False)]
    assert _rel(tree, find_files(tree, ("*.dcm",), False, WHERE)) == [("top.dcm", False)]
    # a pattern with '/' or '**' is a path pattern whatever recursive says
    assert _rel(tree, find_files(tree, ("sub/*.dcm",), False, WHERE)) == [("sub/a.dcm", False)]


def test_wildcard_without_slash_matches_at_any_depth(tree):
    before = _digests(tree)
    assert _rel(tree, find_files(tree, ("*.dcm",), True, WHERE)) == [
        ("p1/x/c.dcm", False), ("p1/y/x/d.dcm", False), ("sub/a.dcm", False), ("sub/deep/b.dcm", False),
        ("top.dcm", False), ("x/e.dcm", False)]
    assert _rel(tree, find_files(tree, ("?.dcm",), True, WHERE)) == [
        ("p1/x/c.dcm", False), ("p1/y/x/d.dcm", False), ("sub/a.dcm", False), ("sub/deep/b.dcm", False),
        ("x/e.dcm", False)]
    assert _rel(tree, find_files(tree, ("[ab].dcm",), True, WHERE)) == [("sub/a.dcm", False), ("sub/deep/b.dcm", False)]
    assert _digests(tree) == before


def test_path_pattern_matches_only_at_that_level(tree):
    assert _rel(tree, find_files(tree, ("sub/*.dcm",), True, WHERE)) == [("sub/a.dcm", False)]
    assert _rel(tree, find_files(tree, ("*/*.dcm",), True, WHERE)) == [("sub/a.dcm", False), ("x/e.dcm", False)]
    assert _rel(tree, find_files(tree, ("sub\\deep\\*.dcm",), True, WHERE)) == [("sub/deep/b.dcm", False)]


def test_double_star_matches_zero_or_more_folders(tree):
    assert _rel(tree, find_files(tree, ("**/x/*.dcm",), True, WHERE)) == [
        ("p1/x/c.dcm", False), ("p1/y/x/d.dcm", False), ("x/e.dcm", False)]
    assert _rel(tree, find_files(tree, ("sub/**/*.dcm",), True, WHERE)) == [
        ("sub/a.dcm", False), ("sub/deep/b.dcm", False)]
    assert _rel(tree, find_files(tree, ("p1/**",), True, WHERE)) == [("p1/x/c.dcm", False), ("p1/y/x/d.dcm", False)]
    with pytest.raises(ConfigError) as err:
        find_files(tree, ("sub**/*.dcm",), True, WHERE)
    assert str(err.value) == (f"{WHERE}.include: pattern 'sub**/*.dcm': '**' must be a whole path segment "
                              "(like '**/x/*.dcm'), not part of 'sub**'")


def test_matching_is_case_sensitive(tree):
    assert _rel(tree, find_files(tree, ("*.DCM",), True, WHERE)) == []
    with pytest.raises(InputError) as err:
        find_files(tree, ("TOP.dcm",), True, WHERE)
    assert str(err.value) == f"{tree / 'TOP.dcm'}: no such file ({WHERE}.include names 'TOP.dcm')"


def test_literal_patterns_may_name_hidden_files_wildcards_skip_them(tree):
    assert _rel(tree, find_files(tree, (".hidden.dcm",), True, WHERE)) == [(".hidden.dcm", True)]
    assert _rel(tree, find_files(tree, (".cache/f.dcm",), True, WHERE)) == [(".cache/f.dcm", True)]
    assert _rel(tree, find_files(tree, ("f.dcm",), True, WHERE)) == [(".cache/f.dcm", True)]
    assert _rel(tree, find_files(tree, (".*",), True, WHERE)) == []
    assert _rel(tree, find_files(tree, (".cache/*.dcm",), True, WHERE)) == []
    assert _rel(tree, find_files(tree, ("*",), False, WHERE)) == [("notes.txt", False), ("top.dcm", False)]


def test_literal_and_wildcard_together_mark_explicit_files(tree):
    assert _rel(tree, find_files(tree, ("top.dcm", "*.dcm"), False, WHERE)) == [("top.dcm", True)]
    assert _rel(tree, find_files(tree, ("sub/a.dcm", "sub/*.dcm", "a.dcm"), True, WHERE)) == [("sub/a.dcm", True)]


def test_missing_literal_file_is_an_error(tree):
    for pattern in ("sub/missing.dcm", "missing.dcm", "sub"):
        with pytest.raises(InputError) as err:
            find_files(tree, ("*.dcm", pattern), True, WHERE)
        assert str(err.value) == f"{tree / pattern}: no such file ({WHERE}.include names {pattern!r})"


def test_two_patterns_over_a_few_thousand_files_list_each_once(tmp_path, monkeypatch):
    """One walk for all patterns: every folder is listed once however many patterns reach it."""
    root = tmp_path / "src"
    for p in range(40):
        folder = root / f"pat{p:02d}" / "series"
        folder.mkdir(parents=True)
        for s in range(100):
            (folder / f"{s:03d}.dcm").write_bytes(b"")
    listed: list[str] = []
    real_scandir = os.scandir

    def counting(path):
        listed.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting)
    entries = find_files(root, ("*.dcm", "**/series/*.dcm"), True, WHERE)
    assert len(entries) == 4000 and len({p for p, _ in entries}) == 4000
    assert len(listed) == len(set(listed)) == 1 + 40 + 40
