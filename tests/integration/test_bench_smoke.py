"""The benchmark's smoke run (P1 and P2, one repetition), so `python -m bench`
cannot rot: it starts its own lab, measures the floor, the peer and site.yml
by its role path and its controller path, re-runs each path, counts the task
rounds, writes the JSON, and takes the lab down. Timings are recorded, never
judged here."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lab'))

from labkit import OWNER, lab_leftovers, lab_name, lab_skip_reason  # noqa: E402


def _positive(summary):
    return isinstance(summary.get('median'), (int, float)) and summary['median'] > 0 \
        and all(isinstance(v, (int, float)) and v > 0 for v in summary['values'])


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp('bench')
    name = lab_name('bs')
    cmd = [sys.executable, '-m', 'bench', '--smoke', '--lab', name,
           '--json', str(out / 'smoke.json'), '--png', str(out / 'smoke.png')]
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, NSLAB_OWNER=OWNER),
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out / 'smoke.json') as handle:
        result = json.load(handle)
    return name, result, proc.stdout


def test_rows_p1_and_p2_with_positive_timings(smoke):
    _name, result, stdout = smoke
    assert result['errors'] == []
    rows = result['rows']
    assert sorted(row['case'] for row in rows) == ['P1', 'P2', 'P2']
    assert result['meta']['reps'] == 1
    for row in rows:
        for variant in row['variants'].values():
            assert _positive(variant), row
            assert all(run['ok'] for run in variant['runs']), variant['runs']
        for ratio in row['ratios'].values():
            assert _positive(ratio), row
    assert 'P1' in stdout and 'P2' in stdout


def test_floor_peer_and_both_paths_measured(smoke):
    p1 = next(row for row in smoke[1]['rows'] if row['case'] == 'P1')
    assert sorted(p1['variants']) == ['controller', 'floor', 'peer', 'role path']
    assert sorted(p1['ratios']) == ['controller/floor', 'controller/peer', 'role path/floor', 'role path/peer']


def test_task_rounds_counted_for_both_paths(smoke):
    p1 = next(row for row in smoke[1]['rows'] if row['case'] == 'P1')
    assert p1['task_rounds_goal'] == ['<=', 15]
    rounds = p1['task_rounds']
    assert sorted(rounds) == ['controller', 'role path']
    for path, counts in rounds.items():
        assert 0 < counts['ran'] <= counts['tasks'], (path, counts)
        run = p1['variants'][path]['runs'][0]
        assert (run['tasks'], run['ran']) == (counts['tasks'], counts['ran'])
    # each variant ran its own path whatever the lab's inventory chooses: the
    # controller path makes one module call where the role path runs the roles
    assert rounds['controller']['ran'] < rounds['role path']['ran']
    assert 'task rounds' in smoke[2]


def test_each_path_rerun_recorded_changed_zero(smoke):
    p2 = dict((row['path'], row) for row in smoke[1]['rows'] if row['case'] == 'P2')
    assert sorted(p2) == ['controller', 'role path']
    for row in p2.values():
        assert row['changed'] == [0], row
        assert row['variants']['rerun']['runs'][0]['changed'] == 0
        assert row['changed_goal_met'] is True
    assert p2['role path']['goals'] == {'rerun/first run': ['<=', 0.4]}
    assert p2['controller']['goals'] == {}


def test_its_lab_is_gone(smoke):
    name = smoke[0]
    assert not os.path.exists('/var/lib/nslab/%s' % name)
    assert lab_leftovers(name) == []
