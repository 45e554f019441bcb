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


def web_image_tar():
    global _WEB_TAR  # pylint: disable=global-statement
    if _WEB_TAR is not None:
        return _WEB_TAR
    bb = busybox_path()
    applets = out([bb, "--list"]).split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        def entry(name, type_, mode, data=None, link=None):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime, ti.uid, ti.gid = type_, mode, 0, 0, 0
            if link:
                ti.linkname = link
            if data is not None:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
        for d in ("bin", "etc", "www", "root", "proc", "sys", "dev", "var", "run"):
            entry(d, tarfile.DIRTYPE, 0o755)
        entry("tmp", tarfile.DIRTYPE, 0o1777)
        with open(bb, "rb") as f:
            entry("bin/busybox", tarfile.REGTYPE, 0o755, data=f.read())
        for a in applets:
            if a != "busybox" and "/" not in a:
                entry("bin/" + a, tarfile.SYMTYPE, 0o777, link="busybox")
        entry("etc/passwd", tarfile.REGTYPE, 0o644,
              data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        entry("etc/group", tarfile.REGTYPE, 0o644, data=b"root:x:0:\nnogroup:x:65534:\n")
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
