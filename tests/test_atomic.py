"""io/atomic: permissions of new outputs, and cleanup when the writing block fails."""

from __future__ import annotations

import os
import stat

import pytest

from rnatracker_cli.errors import OutputExistsError
from rnatracker_cli.io.atomic import atomic_path, current_umask, open_output


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring it afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_mode_follows_umask_like_open(tmp_path, umask, mask, expected):
    umask(mask)
    assert current_umask() == mask
    with open_output(tmp_path / "out.tsv") as handle:
        handle.write("a\n")
    with atomic_path(tmp_path / "out.bin") as tmp:
        tmp.write_bytes(b"x")
    with open(tmp_path / "plain.txt", "w") as handle:  # what open() does, for reference
        handle.write("a\n")
    for name in ("out.tsv", "out.bin", "plain.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name


def test_exception_inside_block_leaves_no_temp_file_and_no_output(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with open_output(tmp_path / "out.tsv") as handle:
            handle.write("half a file\n")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_interrupt_inside_block_keeps_existing_output(tmp_path):
    out = tmp_path / "out.tsv"
    out.write_text("previous run\n")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(out, force=True) as tmp:
            tmp.write_text("new run, half written")
            raise KeyboardInterrupt
    assert out.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]


def test_existing_output_without_force_is_refused_before_writing(tmp_path):
    out = tmp_path / "out.tsv"
    out.write_text("keep\n")
    with pytest.raises(OutputExistsError, match="--force"):
        with open_output(out) as handle:
            handle.write("never\n")
    assert out.read_text() == "keep\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]


def test_success_replaces_with_force(tmp_path):
    out = tmp_path / "out.tsv"
    out.write_text("old\n")
    with open_output(out, force=True) as handle:
        handle.write("new\n")
    assert out.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]
