"""The benchmark's table (stdout), JSON and PNG chart. A ratio key is
'<measured variant>/<baseline variant>'; a goal is [operator, ratio]."""

import json
import operator

OPERATORS = {'<=': operator.le, '<': operator.lt}


def _seconds(summary):
    if not summary or summary.get('median') is None:
        return 'failed'
    if summary['min'] == summary['max']:
        return '%.2fs' % summary['median']
    return '%.2fs (%.2f–%.2f)' % (summary['median'], summary['min'], summary['max'])


def _ratio(summary):
    if not summary:
        return 'n/a'
    if summary['min'] == summary['max']:
        return '%.2f×' % summary['median']
    return '%.2f× (%.2f–%.2f)' % (summary['median'], summary['min'], summary['max'])


def goal_met(row, key):
    """True/False when the row has a goal for ``key`` (or a changed=0 goal),
    None when it has none."""
    goal = row['goals'].get(key)
    if goal is None:
        return row['changed_goal_met'] if 'changed_goal_met' in row else None
    ratio = row['ratios'].get(key)
    met = bool(ratio) and OPERATORS[goal[0]](ratio['median'], goal[1])
    if 'changed_goal_met' in row:
        met = met and row['changed_goal_met']
    if 'load_goal_met' in row:
        met = met and row['load_goal_met']
    return met


def task_rounds_met(row, path):
    """True/False: the ``ran`` count of ``path`` against the row's task-round
    goal; None when it was not measured."""
    rounds = row.get('task_rounds', {}).get(path)
    goal = row.get('task_rounds_goal')
    if not rounds or not goal:
        return None
    return OPERATORS[goal[0]](rounds['ran'], goal[1])


def footer_lines(result):
    """The lines under the table: task rounds, the first manager's CPU,
    the module no-op paths, memory per node, errors."""
    out = []
    for row in result['rows']:
        if row.get('task_rounds'):
            goal = row['task_rounds_goal']
            parts = []
            for path, rounds in row['task_rounds'].items():
                if rounds is None:
                    parts.append('%s: failed' % path)
                    continue
                met = task_rounds_met(row, path)
                parts.append('%s: %d tasks, %d ran %s' % (path, rounds['tasks'], rounds['ran'], '✓' if met else '✗'))
            out.append('%s task rounds (goal: ran %s %d): %s'
                       % (row['case'], goal[0].replace('<=', '≤'), goal[1], '; '.join(parts)))
    cpus = result.get('meta', {}).get('cpus') or 1
    for row in result['rows']:
        if row['case'] == 'P1':
            used = ['%s %.1fs' % (name, v['cpu_seconds']['median'])
                    for name, v in row['variants'].items() if v.get('cpu_seconds')]
            if used:
                out.append('%s CPU of the command and every process under it (ansible-playbook: its workers and '
                           'modules), medians: %s' % (row['case'], ', '.join(used)))
    for row in result['rows']:
        cpu = row.get('manager_cpu')
        if cpu:
            measured = next(iter(row['ratios'])).split('/', 1)[0]
            line = ("%s %s, %s: first manager's dockerd+containerd CPU %.1fs, %.1f%% of the run's wall time"
                    % (row['case'], row.get('path', ''), measured, cpu['seconds']['median'],
                       cpu['percent_of_wall']['median']))
            variant = row['variants'].get(measured, {})
            if cpu.get('engines') and variant.get('cpu_seconds'):
                playbook_cpu, engines_cpu = variant['cpu_seconds']['median'], cpu['engines']['median']
                line += ('; all engines %.1fs, ansible-playbook and its modules %.1fs: the work alone keeps %d '
                         'core(s) busy for %.1fs of the run\'s %.1fs'
                         % (engines_cpu, playbook_cpu, cpus, (engines_cpu + playbook_cpu) / cpus, variant['median']))
            out.append(line)
    for row in result['rows']:
        if row.get('load'):
            load, quorum = row['load'], row['quorum']
            out.append('%s under load (goal: 0 failed, quorum held): %d failed of %d requests (%d retried on the next '
                       'address, longest gap %.2fs, %d client task(s)); a majority of the managers up at every poll: %s '
                       '(%d polls, %d during a leader election); leader at the end: %s; restarts of the floor: %s'
                       % (row['case'], load['failed'], load['total'], load['retried'], load['longest_gap_s'],
                          load['client_instances'], 'yes' if quorum['majority_up_at_every_poll'] else 'NO',
                          quorum['polls'], quorum['election_polls'], quorum['leader_at_end'] or 'none',
                          ', '.join('%s %.1fs' % kv for kv in row.get('restarts', {}).items())))
    for row in result['rows']:
        if row.get('api_calls'):
            out.append('%s no-op path: %s' % (row['module'], ', '.join(row['api_calls'])))
    for key, entry in result.get('memory', {}).items():
        samples = entry['samples']
        out.append('lab memory per node, %s (%s of dockerd+containerd+shims, %d nodes, %d samples): '
                   'median %.0f MB, peak %.0f MB'
                   % (key, entry['source'], entry['nodes'], len(samples),
                      max(s['median'] for s in samples) / 2 ** 20, max(s['max'] for s in samples) / 2 ** 20))
    for error in result.get('errors', []):
        out.append('ERROR: %s' % error)
    return out


def table_rows(rows):
    """[(case, what, measured, baseline, ratio, goal, met)] for every ratio of every row."""
    lines = []
    for row in rows:
        if 'note' in row:
            lines.append((row['case'], row['what'], row['note'], '', '', '', '–'))
            continue
        for key, ratio in row['ratios'].items():
            measured, baseline = key.split('/', 1)
            goal = row['goals'].get(key)
            goal_text = '%s %g×' % (goal[0].replace('<=', '≤'), goal[1]) if goal else 'report'
            what = '%s (%s vs %s)' % (row['what'], measured, baseline)
            if 'changed' in row:
                goal_text += ', changed=0'
                what += '; re-run changed=%s' % ','.join(str(c) for c in row['changed'])
            if 'api_calls' in row:
                what += '; %d API calls%s' % (len(row['api_calls']), '; REDUNDANT: %s' % ', '.join(
                    row['redundant_calls']) if row['redundant_calls'] else '')
            met = goal_met(row, key)
            lines.append((row['case'], what, _seconds(row['variants'].get(measured)),
                          _seconds(row['variants'].get(baseline)), _ratio(ratio), goal_text,
                          '–' if met is None else ('✓' if met else '✗')))
    return lines


def render(result):
    header = ('case', 'what', 'measured', 'baseline', 'ratio (min–max)', 'goal', 'met')
    lines = [header] + table_rows(result['rows'])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ['  '.join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in lines]
    out.insert(1, '  '.join('-' * w for w in widths))
    meta = result['meta']
    out.append('')
    out.append('%d repetition(s), each on fresh engines (lab %s); medians, spread = min–max; %s'
               % (meta['reps'], meta['lab'], meta['started']))
    out += footer_lines(result)
    return '\n'.join(out)


def write_json(result, path):
    with open(path, 'w') as handle:
        json.dump(result, handle, indent=2, ensure_ascii=False)
        handle.write('\n')


def write_png(result, path):
    """A bar per ratio (median, min–max whiskers) and its goal; False when
    matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    bars = [(' '.join(part for part in (row.get('module', row['case']), row.get('path'), key) if part),
             row['ratios'][key], row['goals'].get(key))
            for row in result['rows'] for key in row['ratios'] if row['ratios'][key]]
    if not bars:
        return False
    fig, axis = plt.subplots(figsize=(8, 0.45 * len(bars) + 1.2), dpi=100)
    for y, (_label, ratio, goal) in enumerate(bars):
        axis.barh(y, ratio['median'], xerr=[[ratio['median'] - ratio['min']], [ratio['max'] - ratio['median']]],
                  color='#4c72b0', capsize=3)
        if goal:
            axis.plot([goal[1], goal[1]], [y - 0.4, y + 0.4], color='#c44e52', linewidth=2)
    axis.set_yticks(range(len(bars)))
    axis.set_yticklabels([b[0] for b in bars], fontsize=8)
    axis.invert_yaxis()
    axis.axvline(1.0, color='grey', linewidth=0.8, linestyle=':')
    axis.set_xlabel('ratio to baseline (bar: median, whiskers: min–max, red: goal)')
    axis.set_title('nativeswarm.cluster benchmark (median, min–max)', fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
