"""The box's network guard: every Python process of a submission refuses internet sockets.

Imported at start-up by every Python process in the grading box (its folder is
on the box's ``PYTHONPATH``): the kernel, and any ``python`` a submission
starts.  Under bubblewrap the box already has no network but its own loopback;
this guard is what *names* an attempt (the ``network`` flag: every refused
``connect``/``sendto``/``sendmsg`` to an IPv4/IPv6 address is appended to
``$AECOURSE_NET_LOG``), and what still refuses the internet where the box is
off (``--isolation none``).  Unix sockets and the kernel's own zmq sockets (C
code, not Python's ``socket`` module) are untouched.

The trusted driver is spared: its argv carries ``AECOURSE_GRADE_DRIVER``.

It also keeps every process of the box, the driver included, from importing
``rfc3987_syntax``: jsonschema imports it eagerly for its ``iri`` format checks,
and it compiles some 35 Earley parsers at import, 1.3 s of the 3.8 s a small
submission takes to grade (python-jsonschema/jsonschema#1428).  No notebook or
nbgrader schema uses the ``iri`` formats, and jsonschema skips them when the
module cannot be imported; nothing else changes.
"""

import os as _os
import sys as _sys


def _aecourse_block_network():
    if "AECOURSE_GRADE_DRIVER" in getattr(_sys, "orig_argv", _sys.argv):
        return
    import errno
    import socket

    log = _os.environ.get("AECOURSE_NET_LOG")
    families = {socket.AF_INET, getattr(socket, "AF_INET6", socket.AF_INET)}

    def refuse(sock, address, what):
        if sock.family not in families:
            return
        if log:
            try:
                with open(log, "a") as fh:
                    fh.write(f"{what} {address!r}\n")
            except OSError:
                pass
        raise PermissionError(errno.EACCES, f"network access is disabled while grading ({what} {address!r})")

    orig = {name: getattr(socket.socket, name) for name in ("connect", "connect_ex", "sendto", "sendmsg")}

    def connect(self, address):
        refuse(self, address, "connect")
        return orig["connect"](self, address)

    def connect_ex(self, address):
        refuse(self, address, "connect")
        return orig["connect_ex"](self, address)

    def sendto(self, data, *args):
        refuse(self, args[-1] if args else None, "sendto")
        return orig["sendto"](self, data, *args)

    def sendmsg(self, *args):
        if len(args) >= 4:
            refuse(self, args[3], "sendmsg")
        return orig["sendmsg"](self, *args)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.socket.sendto, socket.socket.sendmsg = sendto, sendmsg


class _AecourseSkipSlowImports:
    """A meta path finder that answers "not installed" for modules that only cost start-up time."""

    names = frozenset({"rfc3987_syntax"})

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"{name} is left out of the grading box (start-up time)", name=name)
        return None


try:
    _sys.meta_path.insert(0, _AecourseSkipSlowImports())
    _aecourse_block_network()
except Exception:  # never stop an interpreter from starting
    pass
