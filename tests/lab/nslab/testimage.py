"""The test image: a busybox-static rootfs made without any registry,
whose CMD serves HTTP on port 80 answering its hostname."""

import io
import os
import tarfile

from .engine_api import image_present, import_image
from .util import die, out

TEST_IMAGE = "nslab/web:1"


def busybox_path():
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.exists(p):
            return p
    die("busybox not found (apt-get install busybox-static)")


_WEB_TAR = None


class Rootfs:
    """Writes an image's root file system into the tar file ``tf``: entries
    owned by root (or ``uid``) with mtime 0, so the same content gives the
    same tarball."""

    def __init__(self, tf):
        self.tf = tf

    def entry(self, name, type_, mode, data=None, link=None, uid=0):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime, ti.uid, ti.gid = type_, mode, 0, uid, uid
        if link:
            ti.linkname = link
        if data is not None:
            ti.size = len(data)
            self.tf.addfile(ti, io.BytesIO(data))
        else:
            self.tf.addfile(ti)

    def copy(self, src, dest):
        with open(src, "rb") as f:
            self.entry(dest, tarfile.REGTYPE, 0o755, data=f.read())

    def base(self, dirs, home):
        """The directories, /tmp, busybox with a link per applet, and root's
        and nobody's accounts (nobody's home ``home``)."""
        for d in dirs:
            self.entry(d, tarfile.DIRTYPE, 0o755)
        self.entry("tmp", tarfile.DIRTYPE, 0o1777)
        bb = busybox_path()
        self.copy(bb, "bin/busybox")
        for a in out([bb, "--list"]).split():
            if a != "busybox" and "/" not in a:
                self.entry("bin/" + a, tarfile.SYMTYPE, 0o777, link="busybox")
        self.entry("etc/passwd", tarfile.REGTYPE, 0o644,
                   data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:%s:/bin/false\n" % home)
        self.entry("etc/group", tarfile.REGTYPE, 0o644, data=b"root:x:0:\nnogroup:x:65534:\n")


def web_image_tar():
    global _WEB_TAR  # pylint: disable=global-statement
    if _WEB_TAR is not None:
        return _WEB_TAR
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        Rootfs(tf).base(("bin", "etc", "www", "root", "proc", "sys", "dev", "var", "run"), b"/nonexistent")
    _WEB_TAR = buf.getvalue()
    return _WEB_TAR


WEB_IMAGE_CHANGES = [
    'CMD ["/bin/sh", "-c", "mkdir -p /www; hostname >/www/index.html; '
    'trap \'exit 0\' TERM INT; httpd -f -p 80 -h /www & wait"]',
    "EXPOSE 80/tcp",
    "ENV PATH=/bin",
]


def load_test_image(url):
    if not image_present(url, TEST_IMAGE):
        import_image(url, TEST_IMAGE, web_image_tar(), WEB_IMAGE_CHANGES)
