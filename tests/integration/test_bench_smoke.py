"""The benchmark's smoke run (P1 and P2, one repetition), so `python -m bench`
cannot rot: it starts its own lab, measures the floor, the peer and the
collection, re-runs site.yml, writes the JSON, and takes the lab down.
Timings are recorded, never judged here."""

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
    rows = dict((row['case'], row) for row in result['rows'])
    assert sorted(rows) == ['P1', 'P2']
    assert result['meta']['reps'] == 1
    for row in rows.values():
        for variant in row['variants'].values():
            assert _positive(variant), row
            assert all(run['ok'] for run in variant['runs']), variant['runs']
        for ratio in row['ratios'].values():
            assert _positive(ratio), row
    assert 'P1' in stdout and 'P2' in stdout


def test_floor_peer_and_collection_measured(smoke):
    p1 = next(row for row in smoke[1]['rows'] if row['case'] == 'P1')
    assert sorted(p1['variants']) == ['collection', 'floor', 'peer']
    assert sorted(p1['ratios']) == ['collection/floor', 'collection/peer']


def test_rerun_recorded_changed_zero(smoke):
    p2 = next(row for row in smoke[1]['rows'] if row['case'] == 'P2')
    assert p2['changed'] == [0]
    assert p2['variants']['rerun']['runs'][0]['changed'] == 0
    assert p2['changed_goal_met'] is True


def test_its_lab_is_gone(smoke):
    name = smoke[0]
    assert not os.path.exists('/var/lib/nslab/%s' % name)
    assert lab_leftovers(name) == []
