"""Stand-ins and drivers for exercising the bridge from outside, shared by tests/ and bench/.

Both folders are scripts beside the package, so the package is the one place both may import from
without reaching into each other through sys.path. The instrument itself never imports this package.

- `osc_daemon`: a python-osc client, `latent-synth serve` in a subprocess, a private JACK server;
- `fault_engine`: a real engine that fails on demand (error, out of memory, NaN audio);
- `stage`: what the stress scenarios (bench/stress.py) play on.
"""
