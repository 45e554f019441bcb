"""python -m bench [--reps N] [--smoke] [--p4] [--only P1,P3] [--p3-sizes 4,40] [--p3-large 100] [--json PATH] [--png PATH]

Starts its own lab (NSLAB_NAME nsbnch unless --lab), runs the cases, prints
the table, writes it as JSON and as a PNG chart (when matplotlib is there),
and always takes the lab down, also on a failure or Ctrl-C."""

import argparse
import os
import shutil
import signal
import sys
import time

from bench import report
from bench.cases import P3_LARGE, P3_SIZES, Bench, tempdir
from bench.lab import ROOT, Lab

CASES = ('P1', 'P2', 'P3', 'P4', 'overhead')
RESULTS = os.path.join(ROOT, 'bench', 'results')


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='python -m bench', description=__doc__.split('\n\n')[1])
    parser.add_argument('--reps', type=int, default=3, help='repetitions per case (default 3)')
    parser.add_argument('--smoke', action='store_true', help='P1 and P2 only, one repetition (for CI)')
    parser.add_argument('--p4', action='store_true', help='P4 only, once (a rolling upgrade on its own host-kind lab)')
    parser.add_argument('--only', help='comma-separated cases out of %s' % ','.join(CASES))
    parser.add_argument('--json', help='JSON output (default bench/results/latest.json; smoke.json with --smoke)')
    parser.add_argument('--png', help='PNG chart (default bench/results/latest.png; smoke.png with --smoke)')
    parser.add_argument('--p3-sizes', default='%d,%d' % P3_SIZES,
                        help='P3: the two worker counts compared, small,large (default %(default)s)')
    parser.add_argument('--p3-large', type=int, default=P3_LARGE,
                        help='P3: workers of the one controller-path run after them (default %(default)s; 0 skips it)')
    parser.add_argument('--no-100', dest='p3_large', action='store_const', const=0,
                        help='P3: skip the large controller-path run (same as --p3-large 0)')
    parser.add_argument('--lab', default='nsbnch', help='lab name (NSLAB_NAME, 1-6 of [a-z0-9], default nsbnch)')
    args = parser.parse_args(argv)
    if args.smoke:
        args.reps, args.only = 1, args.only or 'P1,P2'
    if args.p4:
        args.reps, args.only = 1, 'P4'
    stem = 'smoke' if args.smoke else ('p4' if args.p4 else 'latest')
    args.json = args.json or os.path.join(RESULTS, stem + '.json')
    args.png = args.png or os.path.join(RESULTS, stem + '.png')
    args.cases = [c.strip() for c in (args.only or ','.join(CASES)).split(',') if c.strip()]
    unknown = set(args.cases) - set(CASES)
    if unknown:
        parser.error('unknown case(s): %s' % ', '.join(sorted(unknown)))
    if args.reps < 1:
        parser.error('--reps must be at least 1')
    try:
        args.p3_sizes = tuple(int(size) for size in args.p3_sizes.split(','))
    except ValueError:
        args.p3_sizes = ()
    if len(args.p3_sizes) != 2 or not 0 < args.p3_sizes[0] < args.p3_sizes[1]:
        parser.error('--p3-sizes takes two worker counts, the smaller first (e.g. 4,40)')
    if args.p3_large < 0:
        parser.error('--p3-large must be 0 (skip) or a worker count')
    return args


def _interrupted(signum, _frame):
    raise KeyboardInterrupt('signal %d' % signum)


def run(args, bench, rows):
    """Append the rows of the selected cases to ``rows`` as they finish."""
    if 'P1' in args.cases or 'P2' in args.cases:
        rows += [r for r in bench.stand_up(args.reps) if r['case'] in args.cases]
    if 'P3' in args.cases:
        rows += bench.scale(args.reps, args.p3_sizes, args.p3_large)
    if 'P4' in args.cases:
        rows += bench.rolling()
    if 'overhead' in args.cases:
        rows += bench.overhead(args.reps)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupted)
    workdir = tempdir()
    lab = Lab(args.lab, os.path.join(workdir, 'hosts.yml'))
    bench = Bench(lab, workdir, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    result = {'meta': {'reps': args.reps, 'cases': args.cases, 'lab': args.lab,
                       'p3_sizes': list(args.p3_sizes), 'p3_large': args.p3_large,
                       'started': time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()),
                       'cpus': os.cpu_count()},
              'rows': [], 'errors': []}
    start = time.monotonic()
    status = 0
    try:
        run(args, bench, result['rows'])
    except KeyboardInterrupt:
        result['errors'].append('interrupted')
        status = 130
    except Exception as exc:  # the lab still goes down; the table shows what finished
        result['errors'].append('%s: %s' % (type(exc).__name__, exc))
        status = 1
    finally:
        try:
            if lab.exists():
                lab.down()
        except RuntimeError as exc:
            result['errors'].append('lab down: %s' % exc)
            status = status or 1
        shutil.rmtree(workdir, ignore_errors=True)
    result['memory'] = bench.memory
    result['meta']['seconds'] = round(time.monotonic() - start, 1)
    for path in (args.json, args.png):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    report.write_json(result, args.json)
    print(report.render(result))
    print('JSON: %s' % args.json)
    if report.write_png(result, args.png):
        print('PNG: %s' % args.png)
    else:
        print('PNG: skipped (no matplotlib or nothing to chart)')
    return status


if __name__ == '__main__':
    sys.exit(main())
