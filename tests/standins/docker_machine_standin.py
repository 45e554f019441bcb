# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A stand-in for docker-machine 0.16.2 (Python standard library + openssl).

It reproduces the command line's contract that nativeswarm.cluster's
docker_machine module and community.docker's docker_machine inventory plugin
rely on: command names and flags, the storage path (``-s``,
MACHINE_STORAGE_PATH, ``~/.docker/machine``) and its layout
(``certs/{ca,ca-key,cert,key}.pem``,
``machines/<name>/{config.json,ca.pem,cert.pem,key.pem,server.pem,server-key.pem,id_rsa}``),
``inspect`` JSON (ConfigVersion 3), ``ls`` columns, filters and templates,
``status`` words, ``env``/``config`` output, exit codes (3 for a failed
pre-create check) and the error messages of 0.16.2.

Drivers:

* ``none`` (``--url``): records an existing engine URL (``tcp://`` with TLS,
  or ``unix://``); always Running; cannot start, stop, restart or kill.
* ``generic``: an existing host at ``--generic-ip-address``. Certificates
  are made as docker-machine makes them (server certificate for the address,
  signed by the storage path's CA, copies of the CA and client certificate in
  the machine directory); the provisioning over SSH is not reproduced: the
  engine at ``ip:--generic-engine-port`` must already serve TLS with a
  certificate signed by that CA. Its state is Running when the SSH port
  accepts a connection, as the real driver decides. Cannot start, stop or kill.
* ``virtualbox``: a simulated VM (its state in the machine directory), for
  start/stop/restart/kill; the pre-create check needs ``VBoxManage`` in PATH.
* ``amazonec2``, ``digitalocean``, ``openstack``: flags are accepted; the
  pre-create check fails (no network), exit 3.
"""

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile

VERSION = 'docker-machine version 0.16.2, build bd45ab13'
NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9\-\.]*$')
STATES = ('Running', 'Paused', 'Saved', 'Stopped', 'Stopping', 'Starting', 'Error', 'Timeout')

ENGINE_FLAGS = {
    'engine-install-url': 'str', 'engine-opt': 'multi', 'engine-insecure-registry': 'multi',
    'engine-registry-mirror': 'multi', 'engine-label': 'multi', 'engine-env': 'multi',
    'engine-storage-driver': 'str', 'tls-san': 'multi',
    'swarm': 'bool', 'swarm-image': 'str', 'swarm-master': 'bool', 'swarm-discovery': 'str',
    'swarm-strategy': 'str', 'swarm-opt': 'multi', 'swarm-host': 'str', 'swarm-addr': 'str',
    'swarm-experimental': 'bool', 'no-vtx-check': 'bool',
}
CLOUD_FLAGS = {
    'amazonec2': ['access-key', 'secret-key', 'session-token', 'ami', 'region', 'vpc-id', 'zone', 'subnet-id',
                  'security-group*', 'open-port*', 'tags', 'instance-type', 'root-size', 'volume-type',
                  'iam-instance-profile', 'ssh-user', 'ssh-keypath', 'keypair-name', 'private-address-only?',
                  'use-private-address?', 'request-spot-instance?', 'spot-price', 'userdata', 'monitoring?',
                  'use-ebs-optimized-instance?', 'device-name', 'endpoint', 'retries', 'ssh-port'],
    'digitalocean': ['access-token', 'image', 'region', 'size', 'ssh-key-fingerprint', 'ssh-key-path',
                     'ssh-user', 'ssh-port', 'ipv6?', 'private-networking?', 'backups?', 'userdata',
                     'monitoring?', 'tags'],
    'openstack': ['auth-url', 'username', 'password', 'tenant-name', 'tenant-id', 'domain-name', 'domain-id',
                  'region', 'flavor-name', 'flavor-id', 'image-name', 'image-id', 'net-name', 'net-id',
                  'sec-groups', 'floatingip-pool', 'keypair-name', 'private-key-file', 'ssh-user', 'ssh-port',
                  'insecure?', 'availability-zone', 'endpoint-type', 'active-timeout', 'ip-version',
                  'nova-network?', 'user-data-file', 'config-drive?', 'application-credential-id',
                  'application-credential-secret', 'application-credential-name', 'cacert'],
    'virtualbox': ['memory', 'cpu-count', 'disk-size', 'boot2docker-url', 'hostonly-cidr', 'no-share?',
                   'import-boot2docker-vm', 'hostonly-nictype', 'hostonly-nicpromisc', 'nat-nictype',
                   'dns-proxy?', 'host-dns-resolver?', 'no-vtx-check?', 'share-folder', 'ui-type'],
}


class Fail(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def missing(name):
    return Fail('Docker machine "%s" does not exist. Use "docker-machine ls" to list machines. '
                'Use "docker-machine create" to add a new one.' % name)


# ------------------------------------------------------------------ flags

def driver_flags(driver):
    if driver == 'none':
        return {'url': 'str'}
    if driver == 'generic':
        names = ('ip-address', 'ssh-user', 'ssh-key', 'ssh-port', 'engine-port')
        return dict(('generic-' + f, 'str') for f in names)
    flags = {}
    for spec in CLOUD_FLAGS.get(driver, []):
        kind = 'bool' if spec.endswith('?') else 'multi' if spec.endswith('*') else 'str'
        flags['%s-%s' % (driver, spec.rstrip('?*'))] = kind
    return flags


def parse_flags(args, spec, aliases=None):
    """urfave/cli style: flags before the positional arguments."""
    aliases = aliases or {}
    values, rest = {}, list(args)
    while rest and rest[0].startswith('-') and rest[0] != '-':
        arg = rest.pop(0)
        if arg == '--':
            break
        name, _sep, inline = arg.lstrip('-').partition('=')
        name = aliases.get(name, name)
        kind = spec.get(name)
        if kind is None:
            raise Fail('Incorrect Usage: flag provided but not defined: -%s' % name)
        if kind == 'bool':
            values[name] = inline.lower() not in ('false', '0') if inline else True
            continue
        if not inline and '=' not in arg:
            if not rest:
                raise Fail('Incorrect Usage: flag needs an argument: -%s' % name)
            inline = rest.pop(0)
        if kind == 'multi':
            values.setdefault(name, []).append(inline)
        else:
            values[name] = inline
    return values, rest


# ------------------------------------------------------------------ storage

class Store:
    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.certs = os.path.join(self.path, 'certs')
        self.machines = os.path.join(self.path, 'machines')

    def dir(self, name):
        return os.path.join(self.machines, name)

    def names(self):
        if not os.path.isdir(self.machines):
            return []
        return sorted(n for n in os.listdir(self.machines)
                      if os.path.isfile(os.path.join(self.machines, n, 'config.json')))

    def load(self, name):
        path = os.path.join(self.dir(name), 'config.json')
        if not os.path.isfile(path):
            raise missing(name)
        with open(path) as handle:
            return json.load(handle)

    def save(self, config):
        os.makedirs(self.dir(config['Name']), exist_ok=True)
        with open(os.path.join(self.dir(config['Name']), 'config.json'), 'w') as handle:
            json.dump(config, handle, indent=4)

    def vm_state(self, name, value=None):
        path = os.path.join(self.dir(name), 'standin-vm-state')
        if value is not None:
            with open(path, 'w') as handle:
                handle.write(value)
        with open(path) as handle:
            return handle.read().strip()


def openssl(*args):
    proc = subprocess.run(['openssl'] + list(args), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise Fail('Error generating certificates: %s' % proc.stderr.strip())


def sign(store, key, cert, subject, extensions):
    """A key and a certificate signed by the storage path's CA."""
    with tempfile.TemporaryDirectory() as tmp:
        csr, ext = os.path.join(tmp, 'req.csr'), os.path.join(tmp, 'ext.cnf')
        with open(ext, 'w') as handle:
            handle.write(extensions + '\n')
        openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', subject)
        openssl('x509', '-req', '-in', csr, '-CA', os.path.join(store.certs, 'ca.pem'),
                '-CAkey', os.path.join(store.certs, 'ca-key.pem'), '-set_serial',
                str(int.from_bytes(os.urandom(8), 'big')), '-days', '1095', '-extfile', ext, '-out', cert)
    os.chmod(key, 0o600)


def bootstrap_certs(store, out):
    """certs/ca.pem and certs/cert.pem, made once per storage path."""
    os.makedirs(store.certs, exist_ok=True)
    user = os.environ.get('USER', 'root')
    ca, ca_key = os.path.join(store.certs, 'ca.pem'), os.path.join(store.certs, 'ca-key.pem')
    if not os.path.isfile(ca):
        out('Creating CA: %s' % ca)
        openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', ca_key, '-out', ca, '-days', '1095',
                '-subj', '/O=%s' % user, '-addext', 'basicConstraints=critical,CA:TRUE',
                '-addext', 'keyUsage=critical,keyCertSign,digitalSignature,keyEncipherment')
        os.chmod(ca_key, 0o600)
    cert = os.path.join(store.certs, 'cert.pem')
    if not os.path.isfile(cert):
        out('Creating client certificate: %s' % cert)
        sign(store, os.path.join(store.certs, 'key.pem'), cert, '/O=%s.<bootstrap>' % user,
             'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment')


def server_cert(store, config):
    auth = config['HostOptions']['AuthOptions']
    ip = config['Driver'].get('IPAddress') or '127.0.0.1'
    sans = ['IP:%s' % ip if re.match(r'^[0-9.]+$|:', ip) else 'DNS:%s' % ip, 'DNS:localhost']
    for san in auth.get('ServerCertSANs') or []:
        sans.append(('IP:%s' if re.match(r'^[0-9.]+$|:', san) else 'DNS:%s') % san)
    sign(store, auth['ServerKeyPath'], auth['ServerCertPath'],
         '/O=%s.%s' % (os.environ.get('USER', 'root'), config['Name']),
         'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment'
         % ','.join(sans))
    for name in ('ca.pem', 'cert.pem', 'key.pem'):
        shutil.copyfile(os.path.join(store.certs, name), os.path.join(store.dir(config['Name']), name))


# ------------------------------------------------------------------ drivers

def url_of(config):
    drv = config['Driver']
    if config['DriverName'] == 'none':
        return drv.get('URL', '')
    if config['DriverName'] == 'virtualbox' and state_of(None, config) != 'Running':
        return ''
    return 'tcp://%s:%s' % (drv['IPAddress'], drv.get('EnginePort') or 2376)


def state_of(store, config, timeout=10):
    driver = config['DriverName']
    if driver == 'none':
        return 'Running'
    if driver == 'generic':
        drv = config['Driver']
        try:
            socket.create_connection((drv['IPAddress'], int(drv['SSHPort'])), timeout=min(timeout, 2)).close()
            return 'Running'
        except OSError:
            return 'Stopped'
    if driver == 'virtualbox':
        path = os.path.join(config['HostOptions']['AuthOptions']['StorePath'], 'standin-vm-state')
        with open(path) as handle:
            return handle.read().strip()
    return 'Error'


def docker_version(config, timeout=10):
    """The engine's version, asked of the engine (GET /version)."""
    url = url_of(config)
    auth = config['HostOptions']['AuthOptions']
    if config['DriverName'] != 'none' and config['DriverName'] != 'generic':
        return 'Unknown', 'Unable to query docker version: the stand-in makes no %s host' % config['DriverName']
    try:
        if url.startswith('unix://'):
            conn = http.client.HTTPConnection('localhost', timeout=timeout)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(url[len('unix://'):])
            conn.sock = sock
        else:
            match = re.match(r'^tcp://\[?([^\]]+?)\]?:([0-9]+)$', url)
            if not match:
                return 'Unknown', 'unsupported URL %r' % url
            context = ssl.create_default_context(cafile=auth['CaCertPath'])
            context.check_hostname = False
            context.load_cert_chain(auth['ClientCertPath'], auth['ClientKeyPath'])
            conn = http.client.HTTPSConnection(match.group(1), int(match.group(2)), timeout=timeout, context=context)
        conn.request('GET', '/version')
        response = conn.getresponse()
        data = json.loads(response.read().decode())
        conn.close()
        return 'v' + data['Version'], ''
    except (OSError, ValueError, KeyError, http.client.HTTPException) as exc:
        return 'Unknown', 'Unable to query docker version: %s' % exc


def new_config(store, name, driver, flags, engine):
    machine_dir = store.dir(name)
    drv = {'IPAddress': '', 'MachineName': name, 'SSHUser': '', 'SSHPort': 0, 'SSHKeyPath': '',
           'StorePath': store.path}
    if driver == 'none':
        if not flags.get('url'):
            raise Fail('--url option is required when no driver is selected')
        drv['URL'] = flags['url']
        match = re.match(r'^[a-z]+://\[?([^\]/:]*)', flags['url'])
        drv['IPAddress'] = match.group(1) if match and not flags['url'].startswith('unix://') else ''
    elif driver == 'generic':
        if not flags.get('generic-ip-address'):
            raise Fail('generic driver requires the --generic-ip-address option')
        drv.update(IPAddress=flags['generic-ip-address'], SSHUser=flags.get('generic-ssh-user', 'root'),
                   SSHPort=int(flags.get('generic-ssh-port', 22)),
                   EnginePort=int(flags.get('generic-engine-port', 2376)), SSHKey=flags.get('generic-ssh-key', ''))
        drv['SSHKeyPath'] = os.path.join(machine_dir, 'id_rsa') if drv['SSHKey'] else ''
    elif driver == 'virtualbox':
        drv.update(IPAddress='192.168.99.%d' % (100 + len(store.names()) % 150), SSHUser='docker',
                   SSHPort=50000 + len(store.names()), SSHKeyPath=os.path.join(machine_dir, 'id_rsa'),
                   CPU=int(flags.get('virtualbox-cpu-count', 1)), Memory=int(flags.get('virtualbox-memory', 1024)),
                   DiskSize=int(flags.get('virtualbox-disk-size', 20000)))
    else:
        if driver == 'digitalocean' and not flags.get('digitalocean-access-token'):
            raise Fail('digitalocean driver requires the --digitalocean-access-token option')
        drv.update(dict((k[len(driver) + 1:].title().replace('-', ''), v) for k, v in flags.items()))
    return {
        'ConfigVersion': 3,
        'Driver': drv,
        'DriverName': driver,
        'HostOptions': {
            'Driver': '', 'Memory': 0, 'Disk': 0,
            'EngineOptions': {
                'ArbitraryFlags': engine.get('engine-opt', []), 'Dns': None, 'GraphDir': '',
                'Env': engine.get('engine-env', []), 'Ipv6': False,
                'InsecureRegistry': engine.get('engine-insecure-registry', []),
                'Labels': engine.get('engine-label', []), 'LogLevel': '',
                'StorageDriver': engine.get('engine-storage-driver', ''), 'SelinuxEnabled': False,
                'TlsVerify': True, 'RegistryMirror': engine.get('engine-registry-mirror', []),
                'InstallURL': engine.get('engine-install-url', 'https://get.docker.com'),
            },
            'SwarmOptions': {'IsSwarm': bool(engine.get('swarm')), 'Address': '', 'Discovery': '', 'Agent': False,
                             'Master': False, 'Host': 'tcp://0.0.0.0:3376', 'Image': 'swarm:latest',
                             'Strategy': 'spread', 'Heartbeat': 0, 'Overcommit': 0, 'ArbitraryFlags': [],
                             'ArbitraryJoinFlags': [], 'Env': None, 'IsExperimental': False},
            'AuthOptions': {
                'CertDir': store.certs,
                'CaCertPath': os.path.join(store.certs, 'ca.pem'),
                'CaPrivateKeyPath': os.path.join(store.certs, 'ca-key.pem'),
                'CaCertRemotePath': '',
                'ServerCertPath': os.path.join(machine_dir, 'server.pem'),
                'ServerKeyPath': os.path.join(machine_dir, 'server-key.pem'),
                'ClientKeyPath': os.path.join(store.certs, 'key.pem'),
                'ServerCertRemotePath': '', 'ServerKeyRemotePath': '',
                'ClientCertPath': os.path.join(store.certs, 'cert.pem'),
                'ServerCertSANs': engine.get('tls-san', []),
                'StorePath': machine_dir,
            },
        },
        'Name': name,
    }


def pre_create_check(driver, flags):
    if driver == 'generic' and flags.get('generic-ssh-key') and not os.path.isfile(flags['generic-ssh-key']):
        raise Fail('Error with pre-create check: "SSH key does not exist: \\"%s\\""' % flags['generic-ssh-key'], 3)
    if driver == 'virtualbox' and not shutil.which('VBoxManage'):
        raise Fail('Error with pre-create check: "VBoxManage not found. Make sure VirtualBox is installed and '
                   'VBoxManage is in the path"', 3)
    endpoints = {'amazonec2': 'ec2.us-east-1.amazonaws.com', 'digitalocean': 'api.digitalocean.com',
                 'openstack': 'keystone'}
    if driver in endpoints:
        raise Fail('Error with pre-create check: "dial tcp: lookup %s: no such host"' % endpoints[driver], 3)


# ------------------------------------------------------------------ commands

def cmd_create(store, args, out):
    known = dict(ENGINE_FLAGS, driver='str')
    driver = os.environ.get('MACHINE_DRIVER', 'virtualbox')
    # the driver decides which flags exist: find it first
    for index, arg in enumerate(args):
        if arg in ('-d', '--driver') and index + 1 < len(args):
            driver = args[index + 1]
        elif arg.startswith(('-d=', '--driver=')):
            driver = arg.split('=', 1)[1]
    if driver not in ('none', 'generic', 'virtualbox') and driver not in CLOUD_FLAGS:
        raise Fail('Driver "%s" not found. Do you have the plugin binary "docker-machine-driver-%s" accessible in '
                   'your PATH?' % (driver, driver))
    known.update(driver_flags(driver))
    flags, rest = parse_flags(args, known, {'d': 'driver'})
    if not rest:
        raise Fail('Error: No machine name specified')
    name = rest[0]
    if not NAME_RE.match(name):
        raise Fail('Error creating machine: Invalid hostname specified. Allowed hostname chars are: 0-9a-zA-Z . -')
    if name in store.names():
        raise Fail('Docker machine "%s" already exists' % name)
    config = new_config(store, name, driver, flags, flags)
    out('Running pre-create checks...')
    pre_create_check(driver, flags)
    out('Creating machine...')
    bootstrap_certs(store, out)
    os.makedirs(store.dir(name), exist_ok=True)
    drv = config['Driver']
    if driver == 'generic' and drv.get('SSHKey'):
        shutil.copyfile(drv['SSHKey'], drv['SSHKeyPath'])
        os.chmod(drv['SSHKeyPath'], 0o600)
    if driver == 'virtualbox':
        with open(drv['SSHKeyPath'], 'w') as handle:
            handle.write('stand-in key\n')
        store.vm_state(name, 'Running')
    store.save(config)
    if driver != 'none':
        out('Copying certs to the local machine directory...')
        server_cert(store, config)
        out('Docker is up and running!')
    out('To see how to connect your Docker Client to the Docker Engine running on this virtual machine, run: '
        'docker-machine env %s' % name)


def cmd_rm(store, args, out):
    flags, names = parse_flags(args, {'f': 'bool', 'force': 'bool', 'y': 'bool'}, {'force': 'f'})
    if not names:
        raise Fail('Error: Expected to get one or more machine names as arguments')
    configs = [store.load(name) for name in names]
    out('About to remove %s' % ', '.join(names))
    out('WARNING: This action will delete both local reference and remote instance.')
    if not (flags.get('y') or flags.get('f')):
        sys.stdout.write('Are you sure? (y/n): ')
        sys.stdout.flush()
        answer = sys.stdin.readline()
        if not answer:
            raise Fail('Error: EOF while asking "Are you sure? (y/n)"')
        if answer.strip().lower() not in ('y', 'yes'):
            raise Fail('Error: Cancelled removal of %s' % ', '.join(names))
    for config in configs:
        shutil.rmtree(store.dir(config['Name']))
        out('Successfully removed %s' % config['Name'])


def field(data, path):
    for part in [p for p in path.split('.') if p]:
        data = data.get(part) if isinstance(data, dict) else None
    return data


def render(template, data):
    """The part of Go templates that scripts use: {{.A.B}}, {{json .A}}, {{prettyjson .A}}."""
    def one(match):
        func, path = match.group(1), match.group(2)
        value = field(data, path)
        if func == 'json':
            return json.dumps(value, separators=(',', ':'))
        if func == 'prettyjson':
            return json.dumps(value, indent=4)
        if isinstance(value, bool):
            return 'true' if value else 'false'
        return '' if value is None else str(value)
    return re.sub(r'\{\{\s*(?:(json|prettyjson)\s+)?\.([A-Za-z0-9_.]*)\s*\}\}', one, template)


def ls_row(store, config, timeout):
    state = state_of(store, config, timeout)
    url = url_of(config) if state == 'Running' else ''
    version, error = docker_version(config, timeout) if state == 'Running' else ('Unknown', '')
    active = '*' if url and os.environ.get('DOCKER_HOST') == url else '-'
    return {'Name': config['Name'], 'Active': active, 'ActiveHost': active == '*', 'ActiveSwarm': False,
            'DriverName': config['DriverName'], 'State': state, 'URL': url, 'Swarm': '', 'Error': error,
            'DockerVersion': version, 'ResponseTime': '0s'}


def cmd_ls(store, args, out):
    flags, _rest = parse_flags(args, {'q': 'bool', 'quiet': 'bool', 'filter': 'multi', 't': 'str', 'timeout': 'str',
                                      'f': 'str', 'format': 'str'}, {'quiet': 'q', 'timeout': 't', 'format': 'f'})
    timeout = int(flags.get('t', 10))
    filters = {}
    for item in flags.get('filter', []):
        key, _sep, value = item.partition('=')
        if key not in ('driver', 'state', 'name', 'label', 'swarm'):
            raise Fail('Unsupported filter key \'%s\'' % key)
        filters.setdefault(key, []).append(value)
    rows = []
    for name in store.names():
        config = store.load(name)
        if filters.get('driver') and config['DriverName'].lower() not in [d.lower() for d in filters['driver']]:
            continue
        if filters.get('name') and not any(re.search(n, name) for n in filters['name']):
            continue
        labels = config['HostOptions']['EngineOptions'].get('Labels') or []
        if filters.get('label') and not all(label in labels for label in filters['label']):
            continue
        row = ls_row(store, config, timeout)
        if filters.get('state') and row['State'].lower() not in [s.lower() for s in filters['state']]:
            continue
        rows.append(row)
    if flags.get('q'):
        for row in rows:
            out(row['Name'])
    elif flags.get('f'):
        for row in rows:
            out(render(flags['f'], row))
    else:
        table = [('NAME', 'ACTIVE', 'DRIVER', 'STATE', 'URL', 'SWARM', 'DOCKER', 'ERRORS')]
        table += [(r['Name'], r['Active'], r['DriverName'], r['State'], r['URL'], r['Swarm'], r['DockerVersion'],
                   r['Error']) for r in rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        for r in table:
            out('   '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def one_name(args, spec=None, aliases=None):
    flags, rest = parse_flags(args, spec or {}, aliases)
    if not rest:
        raise Fail('Error: No machine name(s) specified and no "default" machine exists')
    return flags, rest[0]


def cmd_inspect(store, args, out):
    flags, name = one_name(args, {'f': 'str', 'format': 'str'}, {'format': 'f'})
    config = store.load(name)
    out(render(flags['f'], config) if flags.get('f') else json.dumps(config, indent=4))


def running_config(store, name):
    config = store.load(name)
    if state_of(store, config) != 'Running':
        raise Fail('Host is not running')
    return config


def cmd_status(store, args, out):
    out(state_of(store, store.load(one_name(args)[1])))


def cmd_ip(store, args, out):
    config = running_config(store, one_name(args)[1])
    out(config['Driver']['IPAddress'] or re.sub(r'^[a-z]+://\[?([^\]/:]*).*$', r'\1', url_of(config)))


def cmd_url(store, args, out):
    out(url_of(running_config(store, one_name(args)[1])))


def cmd_env(store, args, out):
    flags, name = one_name(args, {'shell': 'str', 'u': 'bool', 'unset': 'bool', 'no-proxy': 'bool', 'swarm': 'bool'},
                           {'unset': 'u'})
    config = running_config(store, name)
    shell = flags.get('shell') or os.path.basename(os.environ.get('SHELL', 'sh'))
    if shell not in ('sh', 'bash', 'zsh', 'fish', 'powershell', 'cmd', 'tcsh', 'emacs'):
        raise Fail('Error: Unknown shell')
    env = [('DOCKER_TLS_VERIFY', '1'), ('DOCKER_HOST', url_of(config)),
           ('DOCKER_CERT_PATH', config['HostOptions']['AuthOptions']['StorePath']), ('DOCKER_MACHINE_NAME', name)]
    for key, value in env:
        if shell == 'fish':
            out('set -gx %s "%s";' % (key, value))
        elif shell == 'powershell':
            out('$Env:%s = "%s"' % (key, value))
        elif shell == 'cmd':
            out('SET %s=%s' % (key, value))
        elif shell == 'tcsh':
            out('setenv %s "%s";' % (key, value))
        elif shell == 'emacs':
            out('(setenv "%s" "%s")' % (key, value))
        else:
            out('export %s="%s"' % (key, value))
    out('# Run this command to configure your shell: ')
    out('# eval $(docker-machine env %s)' % name)


def cmd_config(store, args, out):
    config = running_config(store, one_name(args, {'swarm': 'bool'})[1])
    auth = config['HostOptions']['AuthOptions']
    out('--tlsverify\n--tlscacert="%s"\n--tlscert="%s"\n--tlskey="%s"\n-H=%s'
        % (auth['CaCertPath'], auth['ClientCertPath'], auth['ClientKeyPath'], url_of(config)))


NO_POWER = {
    'none': 'hosts without a driver cannot be %s',
    'generic': 'generic driver does not support %s',
}


def power(store, args, out, verb):
    _flags, name = one_name(args)
    config = store.load(name)
    driver = config['DriverName']
    if driver == 'none':
        doing = {'start': 'starting', 'stop': 'stopping', 'restart': 'restarting', 'kill': 'killing'}[verb]
        done = {'start': 'started', 'stop': 'stopped', 'restart': 'restarted', 'kill': 'killed'}[verb]
        raise Fail('Error %s machine: %s' % (doing, NO_POWER['none'] % done))
    if driver == 'generic':
        if verb == 'restart':
            raise Fail('Error restarting machine: ssh command error: command : sudo shutdown -r now err : exit '
                       'status 255 (the stand-in does not reproduce SSH)')
        raise Fail('Error %s machine: %s' % (verb, NO_POWER['generic'] % verb))
    if driver != 'virtualbox':
        raise Fail('Error %s machine: the stand-in has no %s host for %s' % (verb, driver, name))
    current = store.vm_state(name)
    if verb == 'start':
        if current == 'Running':
            raise Fail('Machine "%s" is already running.' % name)
        out('Starting "%s"...' % name)
        store.vm_state(name, 'Running')
        out('Machine "%s" was started.' % name)
    elif verb in ('stop', 'kill'):
        if current == 'Stopped':
            raise Fail('Machine "%s" is already stopped.' % name)
        out('Stopping "%s"...' % name)
        store.vm_state(name, 'Stopped')
        out('Machine "%s" was stopped.' % name)
    else:
        out('Restarting "%s"...' % name)
        store.vm_state(name, 'Running')
        out('Restarted machines may have new IP addresses. You may need to re-run the `docker-machine env` command.')


def cmd_regenerate_certs(store, args, out):
    flags, names = parse_flags(args, {'f': 'bool', 'force': 'bool', 'client-certs': 'bool'}, {'force': 'f'})
    if not names:
        raise Fail('Error: Expected to get one or more machine names as arguments')
    if not flags.get('f'):
        sys.stdout.write('Regenerate TLS machine certs?  Warning: this is irreversible. (y/n): ')
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ('y', 'yes'):
            return
    for name in names:
        config = store.load(name)
        out('Regenerating TLS certificates')
        if flags.get('client-certs'):
            for file_name in ('cert.pem', 'key.pem'):
                os.remove(os.path.join(store.certs, file_name))
            bootstrap_certs(store, out)
        if config['DriverName'] != 'none':
            server_cert(store, config)


def cmd_active(store, args, out):
    host = os.environ.get('DOCKER_HOST')
    for name in store.names():
        config = store.load(name)
        if host and url_of(config) == host:
            out(name)
            return
    raise Fail('No active host found')


def cmd_version(store, args, out):
    if args:
        config = running_config(store, args[0])
        out(docker_version(config)[0].lstrip('v'))
    else:
        out(VERSION)


def cmd_unsupported(store, args, out):
    raise Fail('the stand-in does not reproduce this command (no SSH to the machines)')


COMMANDS = {
    'create': cmd_create, 'rm': cmd_rm, 'ls': cmd_ls, 'inspect': cmd_inspect, 'status': cmd_status, 'ip': cmd_ip,
    'url': cmd_url, 'env': cmd_env, 'config': cmd_config, 'regenerate-certs': cmd_regenerate_certs,
    'active': cmd_active, 'version': cmd_version,
    'start': lambda s, a, o: power(s, a, o, 'start'), 'stop': lambda s, a, o: power(s, a, o, 'stop'),
    'restart': lambda s, a, o: power(s, a, o, 'restart'), 'kill': lambda s, a, o: power(s, a, o, 'kill'),
    'ssh': cmd_unsupported, 'scp': cmd_unsupported, 'mount': cmd_unsupported, 'provision': cmd_unsupported,
    'upgrade': cmd_unsupported,
}
GLOBAL = {'D': 'bool', 'debug': 'bool', 's': 'str', 'storage-path': 'str', 'tls-ca-cert': 'str', 'tls-ca-key': 'str',
          'tls-client-cert': 'str', 'tls-client-key': 'str', 'github-api-token': 'str', 'native-ssh': 'bool',
          'bugsnag-api-token': 'str', 'v': 'bool', 'version': 'bool', 'h': 'bool', 'help': 'bool'}


def main(argv):
    def out(line):
        print(line)
    try:
        flags, rest = parse_flags(argv, GLOBAL, {'debug': 'D', 'storage-path': 's', 'version': 'v', 'help': 'h'})
        if flags.get('v'):
            out(VERSION)
            return 0
        if not rest or flags.get('h') or rest[0] == 'help':
            out('Usage: docker-machine [OPTIONS] COMMAND [arg...]\n\nCommands:\n  ' + '\n  '.join(sorted(COMMANDS)))
            return 0
        command = COMMANDS.get(rest[0])
        if command is None:
            raise Fail('docker-machine: \'%s\' is not a docker-machine command.\nSee \'docker-machine --help\'.'
                       % rest[0])
        storage = flags.get('s') or os.environ.get('MACHINE_STORAGE_PATH') or os.path.join(
            os.path.expanduser('~'), '.docker', 'machine')
        command(Store(storage), rest[1:], out)
        return 0
    except Fail as exc:
        sys.stdout.flush()
        sys.stderr.write('%s\n' % exc)
        return exc.code


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
