# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure core of docker_machine (private: may change).

Nothing here runs a command. The module runs ``docker-machine`` (0.16.x
command line: upstream's last release and the maintained fork's
``v0.16.2-gitlab.N``); these functions

* check the request (:func:`validate`) and render it to arguments
  (:func:`create_args`, :func:`driver_flags`, :func:`engine_flags`),
* read what the command printed (:func:`parse_inspect`, :func:`parse_ls_row`,
  :func:`is_missing`) into the machine's facts (:func:`machine_facts`),
* plan the commands a state needs (:func:`plan`), refusing before anything
  changes what cannot work (a driver that cannot start or stop machines),
* and say what a failed command means (:func:`explain_failure`).

Errors are :class:`MachineError`, whose message says what to fix.
"""

from __future__ import annotations

import json
import re

NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9\-\.]*$')
DRIVER_RE = re.compile(r'^[a-z0-9][a-z0-9_\-]*$')
OPTION_RE = re.compile(r'^[a-z0-9][a-z0-9_\-]*$')
ENGINE_KEY_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_\-\.\/]*$')

STATES = ('present', 'started', 'stopped', 'restarted', 'absent')
# docker-machine status words
RUNNING = 'Running'
STOPPED_WORDS = ('Stopped', 'Saved', 'Paused', 'Error', 'Timeout', '')

# drivers whose machines docker-machine cannot start, stop or restart
NO_START_STOP = {
    'none': 'the none driver only records an engine URL; docker-machine cannot start, stop or restart it',
    'generic': 'the generic driver manages an existing host it cannot power on or off; docker-machine cannot '
               'start or stop it (restart reboots it over SSH)',
}
NO_RESTART = ('none',)

# parts of driver option names that hold secrets
SECRET_WORDS = ('secret', 'password', 'passwd', 'token', 'access-key', 'api-key', 'apikey', 'private-key',
                'credential', 'passphrase', 'auth-key', 'key-id', 'client-key', 'accesskey', 'application-key')

MASK = '********'
LS_FIELDS = ('Name', 'DriverName', 'State', 'URL', 'DockerVersion', 'Error')
LS_FORMAT = '\t'.join('{{.%s}}' % f for f in LS_FIELDS)

MISSING_RES = (
    re.compile(r'Docker machine "(?P<name>[^"]*)" does not exist'),   # 0.13 and later
    re.compile(r'Host does not exist: "(?P<name>[^"]*)"'),            # before 0.13
)
ALREADY_RE = re.compile(r'(?:Machine|Host) "?(?P<name>[^" ]*)"? is already (?P<state>running|stopped)', re.I)
EXISTS_RE = re.compile(r'Docker machine "(?P<name>[^"]*)" already exists')


class MachineError(Exception):
    """A request that cannot work, or a command that failed; the message
    says what to fix."""


# ------------------------------------------------------------------ the request

def option_flag(driver, key):
    """``--<driver>-<option>`` for a driver option (underscores become
    dashes; a key that already starts with the driver name is not prefixed
    twice). The none driver's only option is ``--url``."""
    name = key.replace('_', '-')
    prefix = driver.replace('_', '-') + '-'
    if driver == 'none' or name.startswith(prefix):
        return '--' + name
    return '--' + prefix + name


def is_secret_option(key):
    """Whether a driver option name looks like it holds a secret."""
    name = key.lower().replace('_', '-')
    return any(word in name for word in SECRET_WORDS)


def _scalar(value, where):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    raise MachineError('%s must be a string, number, boolean or a list of them (not a %s)'
                       % (where, 'mapping' if isinstance(value, dict) else type(value).__name__))


def _values(value, where):
    """A driver option value as a list of scalars (a list repeats the flag)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        result = []
        for index, item in enumerate(value):
            item = _scalar(item, '%s[%d]' % (where, index))
            if isinstance(item, bool):
                raise MachineError('%s[%d] must be a string or number; a boolean flag is not repeated' % (where, index))
            result.append(item)
        return result
    return [_scalar(value, where)]


def driver_flags(driver, options):
    """The driver options (a dict) as command line arguments: a string or
    number gives ``--flag value``, true gives ``--flag``, false or null
    gives nothing (the driver's default), a list repeats the flag."""
    args = []
    for key in sorted(options or {}):
        if not OPTION_RE.match(str(key)):
            raise MachineError('driver option %r is not an option name (lowercase letters, digits, - and _; '
                               'without the --%s- prefix)' % (key, driver))
        flag = option_flag(driver, key)
        for value in _values(options[key], 'driver option %s' % key):
            if value is True:
                args.append(flag)
            elif value is False:
                continue
            else:
                args += [flag, value]
    return args


def _pairs(mapping, where):
    """k=v arguments of a mapping; a list value repeats the key."""
    result = []
    for key in sorted(mapping or {}):
        if not ENGINE_KEY_RE.match(str(key)):
            raise MachineError('%s: %r is not a valid key' % (where, key))
        for value in _values(mapping[key], '%s %s' % (where, key)):
            if isinstance(value, bool):
                value = 'true' if value else 'false'
            result.append('%s=%s' % (key, value))
    return result


def _strings(values, where):
    result = []
    for value in values or []:
        if not isinstance(value, str) or not value.strip():
            raise MachineError('%s must list non-empty strings, not %r' % (where, value))
        result.append(value.strip())
    return result


def engine_flags(params):
    """The engine options and TLS SANs as command line arguments."""
    args = []
    if params.get('engine_install_url'):
        args += ['--engine-install-url', params['engine_install_url']]
    for flag, option in (('--engine-opt', 'engine_opt'), ('--engine-label', 'engine_label'),
                         ('--engine-env', 'engine_env')):
        for pair in _pairs(params.get(option), option):
            args += [flag, pair]
    for flag, option in (('--engine-insecure-registry', 'engine_insecure_registry'),
                         ('--engine-registry-mirror', 'engine_registry_mirror'), ('--tls-san', 'tls_san')):
        for value in _strings(params.get(option), option):
            args += [flag, value]
    if params.get('engine_storage_driver'):
        args += ['--engine-storage-driver', params['engine_storage_driver']]
    return args


def merged_driver_options(params):
    """driver_options and driver_secrets as one dict; a key given in both
    is refused (which one would win is not obvious)."""
    options = dict(params.get('driver_options') or {})
    secrets = params.get('driver_secrets') or {}
    both = sorted(set(options) & set(secrets))
    if both:
        raise MachineError('driver option(s) %s given in both driver_options and driver_secrets; give each once'
                           % ', '.join(both))
    options.update(secrets)
    return options


def secret_values(params):
    """The values never to show: every driver_secrets value and the values
    of driver_options whose names look secret (access keys, tokens...)."""
    found = []
    for source, every in (('driver_secrets', True), ('driver_options', False)):
        for key, value in (params.get(source) or {}).items():
            if every or is_secret_option(str(key)):
                for item in (value if isinstance(value, (list, tuple)) else [value]):
                    if isinstance(item, (str, int, float)) and not isinstance(item, bool) and str(item):
                        found.append(str(item))
    return found


def validate(params):
    """Check every option before anything runs; raise MachineError."""
    name = params.get('name')
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise MachineError('name %r is not a valid machine name: it starts with a letter or digit and has only '
                           'letters, digits, - and .' % (name,))
    state = params.get('state') or 'present'
    if state not in STATES:
        raise MachineError('state must be one of %s' % ', '.join(STATES))
    driver = params.get('driver')
    if driver is not None and not DRIVER_RE.match(driver):
        raise MachineError('driver %r is not a driver name (for example generic, amazonec2, digitalocean)' % (driver,))
    create_args(dict(params, driver=driver or 'none'))  # renders (and so checks) every create option
    if params.get('recreate') and not driver:
        raise MachineError('recreate needs driver (the driver the machine should have)')
    if params.get('storage_path') is not None and not str(params['storage_path']).strip():
        raise MachineError('storage_path must not be empty')
    return True


def global_args(params):
    """Arguments before the command: the storage path."""
    if params.get('storage_path'):
        return ['--storage-path', params['storage_path']]
    return []


def create_args(params):
    """``create -d DRIVER [engine flags] [driver flags] NAME``."""
    driver = params['driver']
    return (['create', '--driver', driver] + engine_flags(params)
            + driver_flags(driver, merged_driver_options(params)) + [params['name']])


def masked(args, secrets):
    """A command line with the secret values replaced, for messages."""
    shown = []
    for arg in args:
        text = str(arg)
        for secret in sorted(secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, MASK)
        shown.append(text)
    return shown


# ------------------------------------------------------------------ reading

def is_missing(text):
    """Whether the command's error says the machine does not exist (either
    spelling: 0.13 and later, or earlier)."""
    return any(r.search(text or '') for r in MISSING_RES)


def parse_inspect(text):
    """The JSON that ``inspect NAME`` prints (the machine's config.json)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise MachineError('docker-machine inspect did not print JSON; is docker_machine_path docker-machine?')
    if not isinstance(data, dict) or not isinstance(data.get('Driver'), dict):
        raise MachineError('docker-machine inspect printed JSON without the Driver section of a machine')
    return data


def parse_ls_row(text, name):
    """The row of machine ``name`` in ``ls --format LS_FORMAT`` output, as
    a dict of LS_FIELDS; None if it is not there."""
    for line in (text or '').splitlines():
        cells = line.split('\t')
        if cells and cells[0] == name:
            cells += [''] * (len(LS_FIELDS) - len(cells))
            return dict(zip(LS_FIELDS, [c.strip() for c in cells[:len(LS_FIELDS)]]))
    return None


def ls_args(name):
    """``ls`` for one machine (the name filter is a regular expression)."""
    return ['ls', '--filter', 'name=^%s$' % name.replace('.', '\\.'), '--format', LS_FORMAT]


def _host_of(url):
    match = re.match(r'^[a-z]+://\[?([^\]/]*?)\]?(?::[0-9]+)?(?:/.*)?$', url or '')
    return match.group(1) if match else ''


def machine_facts(config, row=None):
    """The machine's facts from its inspect JSON and its ls row: what it
    is, where its engine answers and how to reach it (connection options of
    this collection's modules and community.docker's), and the SSH settings
    for Ansible."""
    row = row or {}
    drv = config.get('Driver') or {}
    host_options = config.get('HostOptions') or {}
    auth = host_options.get('AuthOptions') or {}
    engine = host_options.get('EngineOptions') or {}
    driver_name = config.get('DriverName') or ''
    name = config.get('Name') or drv.get('MachineName') or ''
    url = row.get('URL') or drv.get('URL') or ''
    ip = drv.get('IPAddress') or _host_of(url)
    if not url and ip:
        url = 'tcp://%s:%s' % (ip, drv.get('EnginePort') or 2376)
    tls = url.startswith('tcp://') and engine.get('TlsVerify', True) is not False
    storage = auth.get('StorePath') or ''
    if storage.endswith('/machines/' + name):
        storage = storage[:-len('/machines/' + name)]
    else:
        storage = ''
    facts = dict(
        name=name, driver=driver_name, state=row.get('State', ''), ip=ip, url=url,
        docker_version=row.get('DockerVersion', ''), error=row.get('Error', ''),
        storage_path=storage,
        engine_labels=list(engine.get('Labels') or []),
        docker_host=url, tls=tls, validate_certs=tls,
        ca_path=auth.get('CaCertPath') if tls else None,
        client_cert=auth.get('ClientCertPath') if tls else None,
        client_key=auth.get('ClientKeyPath') if tls else None,
        cert_path=auth.get('StorePath') if tls else None,
        ansible_host=ip or None,
        ansible_user=drv.get('SSHUser') or None,
        ansible_port=drv.get('SSHPort') or None,
        ansible_ssh_private_key_file=drv.get('SSHKeyPath') or None,
    )
    env = dict(DOCKER_HOST=url, DOCKER_MACHINE_NAME=name)
    if tls:
        env.update(DOCKER_TLS_VERIFY='1', DOCKER_CERT_PATH=facts['cert_path'] or '')
    facts['docker_env'] = env
    return facts


# ------------------------------------------------------------------ planning

def plan(params, config, status):
    """The commands to run, in order, as lists of arguments (after the
    global ones), and warnings: ``(commands, warnings)``.

    ``config`` is the inspect JSON of the machine (None when it does not
    exist), ``status`` its ``ls`` State. Raises MachineError when the
    request cannot work, before anything has changed."""
    state = params.get('state') or 'present'
    name = params['name']
    driver = params.get('driver')
    commands, warnings = [], []
    exists = config is not None

    if state == 'absent':
        if exists:
            commands.append(['rm', '-y'] + (['-f'] if params.get('force') else []) + [name])
        return commands, warnings

    if state == 'stopped' and not exists:
        raise MachineError('machine %s does not exist; state=stopped needs a machine to stop '
                           '(create it with state=present first)' % name)

    actual = (config or {}).get('DriverName') if exists else None
    if exists and driver and actual and actual != driver:
        if params.get('recreate'):
            commands.append(['rm', '-y', '-f', name])
            exists = False
        else:
            warnings.append('machine %s exists with driver %s, not %s; it is left as it is (recreate=true removes '
                            'it and creates it with %s)' % (name, actual, driver, driver))

    if not exists:
        if not driver:
            raise MachineError('machine %s does not exist and driver is not given: say which driver creates it'
                               % name)
        # a new machine is running: nothing else to start or restart
        commands.append(create_args(params))
        return commands, warnings

    driver = actual or driver
    if params.get('regenerate_certs'):
        commands.append(['regenerate-certs', '--force', name])
    if state == 'started' and status != RUNNING:
        _can('start', driver, name, status)
        commands.append(['start', name])
    elif state == 'stopped' and status not in ('Stopped', 'Saved'):
        _can('stop', driver, name, status)
        commands.append(['stop', name])
    elif state == 'restarted':
        _can('restart', driver, name, status)
        commands.append(['restart', name])
    return commands, warnings


def summary(config, status):
    """What the diff shows of a machine: whether it exists, its driver and
    status."""
    if config is None:
        return dict(exists=False)
    return dict(exists=True, driver=config.get('DriverName') or '', state=status or '')


def predicted(before, commands, driver):
    """The diff's after side of ``commands`` (check mode)."""
    after = dict(before)
    for args in commands:
        if args[0] == 'rm':
            after = dict(exists=False)
        elif args[0] == 'create':
            after = dict(exists=True, driver=driver, state=RUNNING)
        elif args[0] in ('start', 'restart'):
            after['state'] = RUNNING
        elif args[0] == 'stop':
            after['state'] = 'Stopped'
    return after


def _can(verb, driver, name, status):
    if driver in NO_START_STOP and (verb != 'restart' or driver in NO_RESTART):
        raise MachineError('cannot %s machine %s (status %s): %s' % (verb, name, status or 'unknown',
                                                                     NO_START_STOP[driver]))


# ------------------------------------------------------------------ failures

def explain_failure(args, rc, stderr, secrets=()):
    """What a failed command means, in words; None when it is one of the
    answers that mean nothing needs doing (already running or stopped)."""
    text = (stderr or '').strip()
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    command = args[0] if args else ''
    if command in ('start', 'stop') and ALREADY_RE.search(text):
        return None
    if rc == 3 or 'Error with pre-create check' in text:
        return ('docker-machine create refused the request in its pre-create check (exit %d); nothing was '
                'created: %s' % (rc, _last_lines(text)))
    if EXISTS_RE.search(text):
        return 'machine %s already exists (made by someone else meanwhile?): %s' % (args[-1], _last_lines(text))
    if is_missing(text):
        return 'machine %s does not exist (removed meanwhile?): %s' % (args[-1], _last_lines(text))
    if re.search(r'does not support|not supported|cannot be (started|stopped|restarted)', text, re.I):
        return 'the machine\'s driver cannot %s it: %s' % (command, _last_lines(text))
    if 'Are you sure?' in text:
        return 'docker-machine %s asked for a confirmation no one can give here: %s' % (command, _last_lines(text))
    if 'flag provided but not defined' in text or 'Incorrect Usage' in text:
        return ('docker-machine does not know an option that was given (a driver option of another driver, or '
                'a misspelt one): %s' % _last_lines(text))
    return 'docker-machine %s failed (exit %d): %s' % (command, rc, _last_lines(text) or 'no message')


def _last_lines(text, count=6):
    lines = [line for line in (text or '').splitlines() if line.strip()]
    return ' / '.join(lines[-count:])
