"""Shared fixtures: tiny simulated datasets, generated once per test session."""

from __future__ import annotations

import pytest
import torch
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


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread per test module: the tests use tiny batches, where extra threads only
    add synchronisation, and several threads thrash when pytest shares the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
