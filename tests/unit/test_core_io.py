"""Atomic writes land with the mode the user's umask gives a new file, not the temporary file's private 0600."""

from __future__ import annotations

import os
import stat

import pytest

from tunebench.core.io import atomic_write_json


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_an_atomic_write_gets_the_umasks_mode(tmp_path, umask, mode):
    before = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "results.json", {"a": 1})
    finally:
        os.umask(before)
    assert stat.S_IMODE((tmp_path / "results.json").stat().st_mode) == mode
    assert os.umask(before) == before  # the write left the process's umask as it found it
