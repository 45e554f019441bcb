# Copyright: nativeswarm.cluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate the grafana role's dashboards (../files/dashboards/<uid>.json)
from their definitions in dashboards.yml.

    python3 roles/grafana/dashboards-src/generate.py          # write the files
    python3 roles/grafana/dashboards-src/generate.py --check  # exit 1 if they differ

The JSON follows Grafana's dashboard model (schemaVersion 39): every panel
has an id, type, title, gridPos, the Prometheus datasource (uid prometheus,
as the role provisions it) and one target per query.
"""

import json
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEFINITIONS = os.path.join(HERE, 'dashboards.yml')
OUTPUT = os.path.join(os.path.dirname(HERE), 'files', 'dashboards')

SCHEMA_VERSION = 39
DATASOURCE = {'type': 'prometheus', 'uid': 'prometheus'}
# panel type: (width, height) on Grafana's 24-column grid
SIZES = {'stat': (4, 4), 'timeseries': (12, 8)}


def load(path=DEFINITIONS):
    with open(path) as f:
        return yaml.safe_load(f)['dashboards']


def targets(panel):
    """[(expr, legend)] of a panel definition."""
    if 'targets' in panel:
        return [(t['expr'], t.get('legend', '')) for t in panel['targets']]
    return [(panel['expr'], panel.get('legend', ''))]


def build_panel(panel, panel_id, pos):
    width, height = SIZES[panel['type']]
    out = {
        'id': panel_id,
        'type': panel['type'],
        'title': panel['title'],
        'datasource': dict(DATASOURCE),
        'gridPos': {'h': height, 'w': width, 'x': pos[0], 'y': pos[1]},
        'targets': [{'refId': chr(ord('A') + i), 'datasource': dict(DATASOURCE), 'expr': expr,
                     'legendFormat': legend or '__auto', 'range': panel['type'] != 'stat',
                     'instant': panel['type'] == 'stat'}
                    for i, (expr, legend) in enumerate(targets(panel))],
        'fieldConfig': {'defaults': {'unit': panel.get('unit', 'short')}, 'overrides': []},
        'options': {},
    }
    if panel['type'] == 'stat':
        out['options'] = {'reduceOptions': {'calcs': ['lastNotNull'], 'fields': '', 'values': False},
                          'colorMode': 'value', 'graphMode': 'none'}
    else:
        out['options'] = {'legend': {'displayMode': 'list', 'placement': 'bottom', 'showLegend': True},
                          'tooltip': {'mode': 'multi', 'sort': 'none'}}
    if panel.get('source'):
        out['description'] = 'Source: %s.' % panel['source']
    return out


def build_variable(var):
    return {
        'name': var['name'],
        'label': var['name'],
        'type': 'query',
        'datasource': dict(DATASOURCE),
        'query': {'query': var['query'], 'refId': 'variable'},
        'definition': var['query'],
        'refresh': 2,
        'includeAll': True,
        'allValue': '.+',
        'multi': True,
        'current': {'selected': True, 'text': ['All'], 'value': ['$__all']},
        'sort': 1,
    }


def build(dashboard):
    """The Grafana dashboard model of one definition."""
    panels = []
    x = y = row_height = 0
    for i, panel in enumerate(dashboard['panels']):
        width, height = SIZES[panel['type']]
        if x + width > 24:
            x, y, row_height = 0, y + row_height, 0
        panels.append(build_panel(panel, i + 1, (x, y)))
        x, row_height = x + width, max(row_height, height)
    return {
        'uid': dashboard['uid'],
        'title': dashboard['title'],
        'description': dashboard.get('description', ''),
        'tags': ['swarm', 'nativeswarm'],
        'timezone': 'browser',
        'editable': False,
        'graphTooltip': 1,
        'schemaVersion': SCHEMA_VERSION,
        'version': 1,
        'refresh': '30s',
        'time': {'from': 'now-1h', 'to': 'now'},
        'timepicker': {},
        'annotations': {'list': []},
        'links': [],
        'templating': {'list': [build_variable(v) for v in dashboard.get('variables', [])]},
        'panels': panels,
    }


def render(dashboard):
    return json.dumps(build(dashboard), indent=2, sort_keys=True) + '\n'


def main(argv):
    check = '--check' in argv
    stale = []
    for dashboard in load():
        path = os.path.join(OUTPUT, dashboard['uid'] + '.json')
        text = render(dashboard)
        current = open(path).read() if os.path.exists(path) else None
        if current != text:
            stale.append(path)
            if not check:
                with open(path, 'w') as f:
                    f.write(text)
    if check and stale:
        sys.stderr.write('out of date (run generate.py): %s\n' % ', '.join(stale))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
