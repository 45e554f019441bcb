"""Benchmarks of the collection against the plain docker CLI (the floor) and
community.docker (the peer), on the lab's real engines: ``python -m bench``."""
