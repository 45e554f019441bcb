"""Roles prometheus and grafana on a real swarm: 3 managers + 2 workers of
the lab's host kind (Debian bookworm, systemd, their own dockerd), formed by
site.yml, monitored by monitoring.yml. One lab for the whole module.

Images: Prometheus, node-exporter and Alertmanager are the lab's own, built
from Debian bookworm's packages (`lab monitoring-images`), which also sets
every engine's metrics-addr. cAdvisor has no Debian package and no registry
is reachable: it is switched off here, and the panels that read it are
checked against cAdvisor's documented metric names in the unit tests
(tests/unit/roles/test_dashboards.py). Grafana cannot run here either: its
service runs the lab's test image as a stand-in, so that the secret and the
configs are really mounted where Grafana reads them.

The kernel has no IPVS: Prometheus is published in host mode on its node
(endpoint mode dnsrr) and queried there; scrape targets are reached over the
overlay (task addresses) and the nodes' own addresses. Truth is read from
Prometheus' API and the engines, never from the playbooks' output."""

import json
import os
import re
import urllib.parse

import pytest
import yaml

from ansible_run import ROOT, changed_count, playbook
from labkit import http_get, wait_for

SITE = os.path.join(ROOT, 'playbooks', 'site.yml')
MONITORING = os.path.join(ROOT, 'playbooks', 'monitoring.yml')
DASHBOARDS = os.path.join(ROOT, 'roles', 'grafana', 'files', 'dashboards')
NODES = ['manager1', 'manager2', 'manager3', 'worker1', 'worker2']
PASSWORD = 'lab-admin-password-1'
DEMO = 'demo-metrics'

pytestmark = pytest.mark.parametrize('lab_host', [{'managers': 3, 'workers': 2}], indirect=True)


def lab_vars(lab_role_vars, **extra):
    """What `lab monitoring-images --ansible-vars` gives (the lab's images,
    host-mode publishing, no cAdvisor, Grafana's stand-in), plus the test's
    own: short intervals, Alertmanager, an alert that fires at once."""
    out = dict(lab_role_vars)
    out.update({
        'prometheus_alertmanager_enabled': True,
        'prometheus_scrape_interval': '2s',
        'prometheus_evaluation_interval': '2s',
        'prometheus_sd_refresh_interval': '2s',
        'prometheus_alert_durations': {'SwarmServiceTasksNotRunning': '0s'},
        'grafana_admin_password': PASSWORD,
        # one exec per task into the host-kind nodes instead of three
        'ansible_pipelining': True,
    })
    out.update(extra)
    return out


class Monitored:
    """The lab after site.yml and monitoring.yml: engines and Prometheus."""

    def __init__(self, lab, role_vars):
        self.lab = lab
        self.role_vars = role_vars
        self.api = lab.client('manager1').api
        self.report = []

    def vars(self, **extra):
        return lab_vars(self.role_vars, **extra)

    def service(self, name):
        return self.api.inspect_service(name)

    def running_task(self, service):
        tasks = [t for t in self.api.tasks(filters={'service': service, 'desired-state': 'running'})
                 if t['Status']['State'] == 'running']
        return tasks[0] if len(tasks) == 1 else None

    def prometheus_url(self):
        task = wait_for('a running Prometheus task', lambda: self.running_task('monitoring_prometheus'), 120)
        return 'http://%s:9090' % self.api.inspect_node(task['NodeID'])['Status']['Addr']

    def prom(self, path, **params):
        url = self.prometheus_url() + path + ('?' + urllib.parse.urlencode(params) if params else '')
        status, body = http_get(url, timeout=10)
        assert status == 200
        return json.loads(body)['data']

    def targets(self):
        return self.prom('/api/v1/targets', state='active')['activeTargets']

    def rules(self):
        return [r for g in self.prom('/api/v1/rules')['groups'] for r in g['rules']]

    def query(self, expr):
        url = self.prometheus_url() + '/api/v1/query?' + urllib.parse.urlencode({'query': expr})
        try:
            status, body = http_get(url, timeout=10)
        except Exception as e:  # HTTP 400: the expression is not valid
            raise AssertionError('%s: %s' % (expr, getattr(e, 'read', lambda: b'')().decode() or e))
        out = json.loads(body)
        assert status == 200 and out['status'] == 'success', (expr, out)
        return out['data']['result']

    def exec_in(self, service, cmd):
        """Run cmd in the running task of a service, on its node; output."""
        task = wait_for('a running %s task' % service, lambda: self.running_task(service), 120)
        node = self.api.inspect_node(task['NodeID'])['Description']['Hostname']
        api = self.lab.client(node).api
        exec_id = api.exec_create(task['Status']['ContainerStatus']['ContainerID'], cmd)
        return api.exec_start(exec_id).decode()


@pytest.fixture(scope='module')
def monitored(lab_host):
    role_vars = json.loads(lab_host.cli('monitoring-images', '--ansible-vars', '--engine-metrics', '0.0.0.0:9323').stdout)
    rc, out = playbook(SITE, lab_host.inventory, extra_vars={'ansible_pipelining': True})
    assert rc == 0, out
    m = Monitored(lab_host, role_vars)
    rc, out = playbook(MONITORING, lab_host.inventory, extra_vars=m.vars(monitoring_report=True))
    assert rc == 0, out
    assert changed_count(out) > 0
    m.report = [t['hosts']['localhost'].get('msg', '') for p in out['plays'] for t in p['tasks']
                if t['task']['name'].endswith('Say where Prometheus answers and how many targets are up')
                and 'msg' in t['hosts'].get('localhost', {})]
    # a service of our own that opts in to scraping with the service labels
    m.api.create_service(
        {'ContainerSpec': {'Image': lab_host.test_image,
                           'Command': ['/bin/sh', '-c', 'mkdir -p /www; printf "demo_up 1\\n" >/www/metrics; '
                                       'exec httpd -f -p 8080 -h /www']},
         'Networks': [{'Target': 'monitoring'}]},
        name=DEMO, labels={'prometheus.port': '8080', 'prometheus.path': '/metrics'},
        mode={'Replicated': {'Replicas': 2}})
    return m


def test_every_node_exporter_and_engine_and_the_opted_in_service_are_up(monitored):
    def all_up():
        ts = monitored.targets()
        by_job = {}
        for t in ts:
            if t['health'] == 'up':
                by_job.setdefault(t['labels']['job'], []).append(t['labels'])
        done = (sorted(t['node'] for t in by_job.get('node-exporter', [])) == NODES
                and sorted(t['node'] for t in by_job.get('docker-engine', [])) == NODES
                and len([t for t in by_job.get('swarm-services', []) if t.get('service') == DEMO]) == 2)
        return by_job if done else None
    by_job = wait_for('5 of 5 node-exporters, 5 of 5 engines and 2 demo tasks up', all_up, 180, 1)
    # what monitoring.yml -e monitoring_report=true said at its end
    assert len(monitored.report) == 1
    assert 'node-exporter 5 of 5 up' in monitored.report[0] and 'docker-engine 5 of 5 up' in monitored.report[0]
    assert ':9090' in monitored.report[0]
    assert sorted(t['node_role'] for t in by_job['docker-engine']) == ['manager'] * 3 + ['worker'] * 2
    demo = [t for t in by_job['swarm-services'] if t['service'] == DEMO]
    assert sorted(t['slot'] for t in demo) == ['1', '2']
    assert all(t['node'] in NODES for t in demo)
    # Alertmanager opts in too, and Prometheus found it over the overlay
    assert [t['service'] for t in by_job['swarm-services'] if t['service'] == 'monitoring_alertmanager']
    alertmanagers = monitored.prom('/api/v1/alertmanagers')['activeAlertmanagers']
    assert len(alertmanagers) == 1


def test_services_secret_and_configs_on_the_swarm(monitored):
    prom = monitored.service('monitoring_prometheus')['Spec']
    task = prom['TaskTemplate']
    assert task['Placement']['Constraints'] == ['node.role == manager']
    assert task['ContainerSpec']['Image'] == monitored.role_vars['prometheus_image'] == 'nslab/prometheus:2.42.0'
    assert sorted(c['ConfigName'] for c in task['ContainerSpec']['Configs']) == [
        'monitoring_prometheus-yml_v1', 'monitoring_rules-swarm_v1']
    mounts = dict((m['Target'], m) for m in task['ContainerSpec']['Mounts'])
    assert mounts['/prometheus']['Type'] == 'volume' and mounts['/var/run/docker.sock']['ReadOnly']
    assert 'Global' in monitored.service('monitoring_node-exporter')['Spec']['Mode']
    # Grafana: the password only in a secret, the provisioning files and
    # dashboards as configs, mounted where Grafana reads them
    spec = monitored.service('monitoring_grafana')['Spec']['TaskTemplate']['ContainerSpec']
    assert 'GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/grafana-admin-password' in spec['Env']
    assert not [e for e in spec['Env'] if PASSWORD in e]
    assert [s['SecretName'] for s in spec['Secrets']] == ['monitoring_grafana-admin-password_v1']
    assert monitored.exec_in('monitoring_grafana', ['cat', '/run/secrets/grafana-admin-password']) == PASSWORD
    datasources = yaml.safe_load(monitored.exec_in(
        'monitoring_grafana', ['cat', '/etc/grafana/provisioning/datasources/prometheus.yaml']))
    assert datasources['apiVersion'] == 1
    assert datasources['datasources'][0]['type'] == 'prometheus'
    assert datasources['datasources'][0]['url'] == 'http://monitoring_prometheus:9090'
    providers = yaml.safe_load(monitored.exec_in(
        'monitoring_grafana', ['cat', '/etc/grafana/provisioning/dashboards/swarm.yaml']))
    path = providers['providers'][0]['options']['path']
    for name in sorted(os.listdir(DASHBOARDS)):
        with open(os.path.join(DASHBOARDS, name)) as f:
            assert json.loads(monitored.exec_in('monitoring_grafana', ['cat', path + '/' + name])) == json.load(f)


def dashboard_queries():
    """(dashboard, panel title, source, expr) of every shipped panel, with
    Grafana's variables replaced as Grafana does for "All"."""
    out = []
    for name in sorted(os.listdir(DASHBOARDS)):
        with open(os.path.join(DASHBOARDS, name)) as f:
            dashboard = json.load(f)
        for var in dashboard['templating']['list']:
            # label_values(<selector>, <label>): the selector is PromQL
            selector, label = re.match(r'^label_values\((.+),\s*(\w+)\)$', var['query']['query']).groups()
            source = 'cadvisor' if label.startswith('container_label_') else ''
            out.append((name, 'variable ' + var['name'], source, 'count by (%s) (%s)' % (label, selector)))
        for panel in dashboard['panels']:
            for target in panel['targets']:
                expr = re.sub(r'\$(node|service)\b', '.+', target['expr']).replace('$__rate_interval', '1m')
                out.append((name, panel['title'], panel.get('description', ''), expr))
    return out


def test_every_dashboard_and_rule_expression_is_valid_and_the_panels_show_data(monitored):
    queries = dashboard_queries()
    assert len(queries) > 20

    def empty_panels():
        return [(d, t) for d, t, source, expr in queries
                if 'cadvisor' not in source and not monitored.query(expr)]
    # rates need two samples: wait until every panel that does not read
    # cAdvisor shows data
    wait_for('data in every panel', lambda: not empty_panels(), 120, 2)
    for _d, _t, source, expr in queries:
        if 'cadvisor' in source:
            monitored.query(expr)  # valid PromQL, no data without cAdvisor
    rules = monitored.rules()
    assert sorted(r['name'] for r in rules if r['type'] == 'alerting') == [
        'NodeDiskFilling', 'NodeHighCpu', 'NodeHighMemory', 'SwarmManagerUnreachable', 'SwarmNodeDown',
        'SwarmQuorumAtRisk', 'SwarmServiceTasksNotRunning']
    for rule in rules:
        monitored.query(rule['query'])
        assert rule['health'] == 'ok', rule
    # a healthy swarm raises none of the swarm alerts (the node alerts tell
    # the truth about this machine's CPU, memory and disks: not asserted).
    # The test fires SwarmServiceTasksNotRunning at once (for: 0s), so a task
    # of the stack still starting on a slow machine raises it for a moment:
    # the alerts must all be quiet once it has started.

    def no_swarm_alert():
        active = [r['name'] for r in monitored.rules() if r['name'].startswith('Swarm') and r['state'] != 'inactive']
        assert active == [], active  # named in wait_for's message if it stays
        return True
    wait_for('no swarm alert', no_swarm_alert, 90, 2)


def test_rerun_changes_nothing(monitored):
    before = dict((s['Spec']['Name'], s['Version']['Index']) for s in monitored.api.services())
    rc, out = playbook(MONITORING, monitored.lab.inventory, extra_vars=monitored.vars())
    assert rc == 0 and changed_count(out) == 0, out
    assert dict((s['Spec']['Name'], s['Version']['Index']) for s in monitored.api.services()) == before


def test_a_bad_rule_fails_the_play_and_prometheus_keeps_its_config(monitored):
    before = monitored.service('monitoring_prometheus')['Version']['Index']
    configs = sorted(c['Spec']['Name'] for c in monitored.api.configs())
    bad = [{'name': 'broken', 'rules': [{'alert': 'Broken', 'expr': 'sum(up'}]}]
    rc, out = playbook(MONITORING, monitored.lab.inventory, extra_vars=monitored.vars(prometheus_extra_rules=bad))
    assert rc != 0
    [msg] = [r['msg'] for p in out['plays'] for t in p['tasks'] for r in t['hosts'].values() if r.get('failed')]
    assert msg.startswith('The monitoring files are not valid, so nothing was deployed'), msg
    assert 'extra.yml' in msg and 'parse error' in msg, msg  # promtool's own words
    assert monitored.service('monitoring_prometheus')['Version']['Index'] == before
    assert sorted(c['Spec']['Name'] for c in monitored.api.configs()) == configs
    assert 'Broken' not in [r['name'] for r in monitored.rules()]


def test_a_changed_rule_file_rolls_prometheus_to_it(monitored):
    extra = [{'name': 'lab', 'rules': [{'alert': 'LabCanary', 'expr': 'vector(1)', 'labels': {'severity': 'none'}}]}]
    rc, out = playbook(MONITORING, monitored.lab.inventory, extra_vars=monitored.vars(prometheus_extra_rules=extra))
    assert rc == 0 and changed_count(out) > 0, out
    task = monitored.service('monitoring_prometheus')['Spec']['TaskTemplate']['ContainerSpec']
    assert 'monitoring_rules-extra_v1' in [c['ConfigName'] for c in task['Configs']]
    wait_for('the new rule loaded by the rolled Prometheus',
             lambda: 'LabCanary' in [r['name'] for r in monitored.rules()], 120, 1)


def test_a_service_below_its_desired_replicas_fires_the_alert(monitored):
    def state():
        return [r['state'] for r in monitored.rules() if r['name'] == 'SwarmServiceTasksNotRunning']
    assert state() == ['inactive']
    # no node has this label: both replicas stay pending
    monitored.api.create_service({'ContainerSpec': {'Image': monitored.lab.test_image},
                                  'Placement': {'Constraints': ['node.labels.nowhere == true']}},
                                 name='below-desired', mode={'Replicated': {'Replicas': 2}})
    try:
        wait_for('SwarmServiceTasksNotRunning firing', lambda: state() == ['firing'], 120, 1)
    finally:
        monitored.api.remove_service('below-desired')
