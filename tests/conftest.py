"""Fixtures shared by the daemon test modules: each module provides its own `daemon` (a backend and
flags of its choice, bridge.testing.osc_daemon.Daemon) and gets a fresh OSC client to it per test."""
import pytest


@pytest.fixture
def client(daemon):
    c = daemon.client()
    yield c
    c.close()
