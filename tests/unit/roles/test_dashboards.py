# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The grafana role's dashboards and provisioning files: generated from
their definitions (roles/grafana/dashboards-src), shaped as Grafana's
dashboard model and provisioning format require, and the panels that read
cAdvisor use only cAdvisor's documented metric and label names (no cAdvisor
runs in the lab). Every expression is also evaluated against a live
Prometheus in tests/integration/test_monitoring.py."""

from __future__ import annotations

import importlib.util
import json
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(ROOT, 'roles', 'grafana')
SPEC = importlib.util.spec_from_file_location('generate', os.path.join(ROLE, 'dashboards-src', 'generate.py'))
generate = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(generate)

DEFINITIONS = generate.load()
# Documented in cAdvisor's docs/storage/prometheus.md (metric names) and its
# container label export (container_label_<sanitised Docker label>).
CADVISOR_METRICS = {
    'container_cpu_usage_seconds_total', 'container_cpu_user_seconds_total', 'container_cpu_system_seconds_total',
    'container_memory_usage_bytes', 'container_memory_working_set_bytes', 'container_memory_rss',
    'container_network_receive_bytes_total', 'container_network_transmit_bytes_total',
    'container_fs_usage_bytes', 'container_last_seen', 'container_spec_memory_limit_bytes',
}
CADVISOR_LABELS = {'container_label_com_docker_swarm_service_name', 'container_label_com_docker_swarm_task_name',
                   'container_label_com_docker_swarm_node_id', 'name', 'image', 'id'}
# Metric names the prometheus role's targets expose (node-exporter, the
# engine's metrics-addr, Prometheus' own `up`)
NON_CADVISOR_PREFIXES = ('node_', 'engine_daemon_', 'swarm_', 'up')
PROMQL_WORDS = {'sum', 'max', 'min', 'avg', 'count', 'by', 'without', 'rate', 'floor', 'on', 'and', 'or',
                'unless', 'scalar', 'vector', 'predict_linear', 'label_values', 'ignoring', 'group_left'}


def dashboards():
    out = {}
    for name in sorted(os.listdir(os.path.join(ROLE, 'files', 'dashboards'))):
        with open(os.path.join(ROLE, 'files', 'dashboards', name)) as f:
            out[name] = json.load(f)
    return out


def metric_names(expr):
    """Identifiers of an expression that are metric names (not functions,
    keywords, label names or strings)."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r'\{[^}]*\}', '{}', expr)
    expr = re.sub(r'\b(by|without|on|ignoring)\s*\([^)]*\)', '', expr)
    expr = re.sub(r'\[[^\]]*\]', '', expr)
    names = set(re.findall(r'[a-zA-Z_:][a-zA-Z0-9_:]*', expr))
    return set(n for n in names if n not in PROMQL_WORDS and not re.match(r'^\d', n))


def test_the_json_files_are_what_the_definitions_generate():
    assert generate.main(['--check']) == 0
    assert sorted(d['uid'] + '.json' for d in DEFINITIONS) == sorted(dashboards())


def test_the_role_ships_every_generated_dashboard():
    with open(os.path.join(ROLE, 'vars', 'main.yml')) as f:
        shipped = yaml.safe_load(f)['_grafana_dashboards']
    assert sorted(shipped) == sorted(d['uid'] for d in DEFINITIONS)


@pytest.mark.parametrize('name', sorted(dashboards()))
def test_dashboard_has_the_fields_grafana_requires(name):
    d = dashboards()[name]
    assert isinstance(d['uid'], str) and 0 < len(d['uid']) <= 40 and re.match(r'^[a-zA-Z0-9_-]+$', d['uid'])
    assert d['title'] and isinstance(d['schemaVersion'], int) and d['schemaVersion'] >= 36
    assert isinstance(d['panels'], list) and d['panels']
    assert isinstance(d['templating']['list'], list) and isinstance(d['annotations']['list'], list)
    assert d['time'] == {'from': 'now-1h', 'to': 'now'}
    ids = [p['id'] for p in d['panels']]
    assert len(set(ids)) == len(ids) and all(isinstance(i, int) for i in ids)
    cells = set()
    for p in d['panels']:
        assert p['type'] in ('stat', 'timeseries') and p['title']
        pos = p['gridPos']
        assert set(pos) == {'h', 'w', 'x', 'y'} and pos['x'] + pos['w'] <= 24 and pos['w'] > 0 and pos['h'] > 0
        mine = set((x, y) for x in range(pos['x'], pos['x'] + pos['w']) for y in range(pos['y'], pos['y'] + pos['h']))
        assert not cells & mine, 'panel %r overlaps another' % p['title']
        cells |= mine
        assert p['datasource'] == {'type': 'prometheus', 'uid': 'prometheus'}
        assert p['targets'] and [t['refId'] for t in p['targets']] == [chr(65 + i) for i in range(len(p['targets']))]
        assert all(t['expr'].strip() and t['datasource'] == p['datasource'] for t in p['targets'])
        assert isinstance(p['fieldConfig']['defaults'], dict) and p['fieldConfig']['overrides'] == []
    for var in d['templating']['list']:
        assert var['type'] == 'query' and var['name'] and var['query']['query'] == var['definition']
        assert any('$' + var['name'] in t['expr'] for p in d['panels'] for t in p['targets']), var['name']


@pytest.mark.parametrize('name', sorted(dashboards()))
def test_cadvisor_panels_use_its_documented_names_and_the_others_none_of_them(name):
    for p in dashboards()[name]['panels']:
        for t in p['targets']:
            names = metric_names(t['expr'])
            if 'cadvisor' in p.get('description', ''):
                assert names <= CADVISOR_METRICS, (p['title'], names - CADVISOR_METRICS)
                labels = set(re.findall(r'(container_label_[a-z_]+|\b[a-z_]+)\s*=~', t['expr']))
                assert labels <= CADVISOR_LABELS, (p['title'], labels)
            else:
                assert names and all(n.startswith(NON_CADVISOR_PREFIXES) for n in names), (p['title'], names)


def test_metric_names_reads_promql():
    assert metric_names('sum by (node) (rate(node_cpu_seconds_total{mode="idle"}[5m]))') == {'node_cpu_seconds_total'}
    assert metric_names('count(up{job="a"} == 1) - floor(count(up) / 2)') == {'up'}


def test_provisioning_files_follow_grafanas_format():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined
    env = Environment(loader=FileSystemLoader(os.path.join(ROLE, 'templates')), undefined=StrictUndefined)
    env.filters['to_json'] = json.dumps
    values = {'grafana_prometheus_url': 'http://monitoring_prometheus:9090', 'grafana_dashboards_folder': 'Swarm',
              '_grafana_dashboards_path': '/etc/grafana/dashboards'}
    ds = yaml.safe_load(env.get_template('datasources.yaml.j2').render(values))
    assert ds['apiVersion'] == 1
    [source] = ds['datasources']
    assert source == {'name': 'Prometheus', 'uid': 'prometheus', 'type': 'prometheus', 'access': 'proxy',
                      'url': 'http://monitoring_prometheus:9090', 'isDefault': True, 'editable': False}
    dash = yaml.safe_load(env.get_template('dashboards.yaml.j2').render(values))
    assert dash['apiVersion'] == 1
    [provider] = dash['providers']
    assert provider['type'] == 'file' and provider['orgId'] == 1 and provider['folder'] == 'Swarm'
    assert provider['options'] == {'path': '/etc/grafana/dashboards'}
    with open(os.path.join(ROLE, 'vars', 'main.yml')) as f:
        assert yaml.safe_load(f)['_grafana_dashboards_path'] == '/etc/grafana/dashboards'
