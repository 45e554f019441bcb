"""nslab -- run N real Docker engines as N separate hosts on this one machine.

Commands (see tests/lab/README.md for the full story):

  lab up --managers M --workers W [--kind engine|host]
  lab status [--json]
  lab info [--json]           (the lab itself: kind, owner, creation id)
  lab caps [--json]
  lab inventory
  lab image [--json]          (host kind: build/import the node image only)
  lab stop [--kill] NODE...   (take nodes' engines down)
  lab start NODE...
  lab down [--purge] [--instance ID]

Environment:
  NSLAB_NAME       lab name, [a-z0-9]{1,6}, default "nslab"; namespaces everything
  NSLAB_INVENTORY  where `up` writes the Ansible inventory (default:
                   <repo>/inventories/lab/hosts.yml for the lab "nslab",
                   <repo>/inventories/lab/NAME.yml for any other)
  NSLAB_DEBIAN_MIRROR  mirror used to debootstrap the host-kind node image
  NSLAB_OWNER      who creates the lab, recorded in its state at creation and
                   never changed afterwards (default: a token made up then)
  NSLAB_RECORD     a file to which creating a lab appends "<name> <creation id>"
                   (CI takes down exactly the labs its run created)

Python 3 standard library only; needs root, iproute2, iptables, dockerd
(and debootstrap + the docker CLI for the host kind).

Modules, one concern each: util (commands, files, locks), proc (/proc),
engine_api (the Docker Engine API), state (names, paths, state, owner),
network (bridge, veths, iptables), shared (what labs share on the machine),
caps (kernel capabilities), testimage (the busybox test image), processes
(what the lab started, and ending it), engine (engine kind), host (host
kind), inventory (status and the Ansible inventory), cli (the commands);
client is the Python wrapper over the command line for tests and tools.
"""
