"""Topology: a boundary declared as data (:mod:`~harness.topology.declaration`), raised as a
stack (:mod:`~harness.topology.stack`), turned into a suite's fixtures by pytest
(:mod:`~harness.topology.plugin`), explored by hand (:mod:`~harness.topology.explore`)."""
