"""Fixtures shared by the daemon test modules: each module provides its own `daemon` (a backend and
flags of its choice, osc_helpers.Daemon) and gets a fresh OSC client to it per test."""
import pytest


@pytest.fixture
def client(daemon):
    c = daemon.client()
    yield c
    c.close()
