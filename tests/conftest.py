"""Shared fixtures: tiny simulated datasets, generated once per test session."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rnatracker_cli.simulate import simulate_dataset, write_simulation


@pytest.fixture(scope="session")
def sim_data():
    """60 simulated transcripts (≤ 1,500 nt), four fractions, seed 7."""
    return simulate_dataset(n=60, seed=7, max_length=1500)


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory, sim_data):
    """Folder with simulate's files for ``sim_data`` (treat as read-only)."""
    out = tmp_path_factory.mktemp("sim")
    write_simulation(sim_data, out)
    return out


@pytest.fixture
def runner():
    return CliRunner()
