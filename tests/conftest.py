"""Fixtures shared by the daemon test modules: each module provides its own `daemon` (a backend and
flags of its choice, bridge.testing.osc_daemon.Daemon) and gets a fresh OSC client to it per test."""
import pytest
import torch


@pytest.fixture
def client(daemon):
    c = daemon.client()
    yield c
    c.close()


@pytest.fixture(params=["0", "1"], ids=["cpu-bf16-off", "cpu-bf16-on"])
def cpu_bf16(request, monkeypatch):
    """Runs a dtype test as on a CPU without bfloat16 units and as on one with them, whatever this CPU is."""
    monkeypatch.setenv("LATENT_SYNTH_CPU_BF16", request.param)
    return request.param == "1"


@pytest.fixture
def one_torch_thread():
    # The tiny models run fastest single-threaded; both sides of each comparison run alike.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
