"""The engine role's molecule scenario (roles/engine/molecule/default) on
host-kind lab nodes: converge, idempotence (changed=0), verify (daemon.json,
the running dockerd's settings, sysctls, package holds, the TLS API from the
controller with and without a client certificate, key modes, no restart of a
swarm node unless allowed), destroy.

The scenario's instances are made by a host-kind lab's base dockerd (a lab of
its own, with no nodes: `lab image`), which molecule reaches through
DOCKER_HOST; the lab is always taken down (`down`, the image cache stays)."""

from ansible_run import molecule_test


def test_engine_role_molecule():
    molecule_test('engine', 're', ('converge', 'idempotence', 'verify'))
