"""Starts the kernel that nbval runs the chapters in, after checking it is where the tests say it is.

The root ``conftest.py`` writes a kernelspec whose ``argv`` runs this script with the Binder
environment's Python (see ``tests/envs.py``, :func:`envs.write_offline_kernelspec`)::

    [unshare -n] BINDER/bin/python tests/kernel_launcher.py --net {unshare|guard} --prefix BINDER \
        --data-root DIR [--report FILE] [--check-only] -f {connection_file}

Before it replaces itself with ``python -m ipykernel_launcher -f {connection_file}`` (same process,
same network namespace, same environment), it makes sure that:

- ``sys.prefix`` is ``--prefix`` (the kernel runs in the Binder environment, not the project's venv);
- the network is off: with ``--net unshare`` (started under ``unshare -n``, a network namespace of
  its own; the kernel then talks to nbval over ``ipc`` sockets, which a namespace does not cut) the
  only interface is the loopback one (brought up here); with ``--net guard`` the sitecustomize socket
  guard is installed; in both a name lookup (``pypi.org``) and a connection to a public address
  (``1.1.1.1:443``) must fail, and fail at once;
- ``AECOURSE_DATA`` is a folder of its own, ``DIR/<the connection file's name>``, which must not
  exist yet or be empty (no chapter may count on data that is already there).

Otherwise it exits with status 3 and one clear message, on stderr and (``--report``) in ``FILE``,
which the conftest quotes (nbval sends a kernel's stderr to /dev/null). Standard library only: it
runs with any environment's Python.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import socket
import struct
import sys
from pathlib import Path

REFUSED = 3
PUBLIC_ADDRESS = ("1.1.1.1", 443)
PUBLIC_NAME = "pypi.org"


class Refused(Exception):
    pass


def loopback_up() -> None:
    """Bring ``lo`` up (a fresh network namespace starts with it down); SIOCGIFFLAGS / SIOCSIFFLAGS."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0))[:18])[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 0x1))


def check_prefix(expected: str) -> None:
    if os.path.realpath(sys.prefix) != os.path.realpath(expected):
        raise Refused(f"the kernel would run in {sys.prefix}, not in the Binder environment {expected} "
                      f"(started with {sys.executable})")


def check_network_off(how: str) -> None:
    if how == "unshare":
        names = sorted(name for _, name in socket.if_nameindex())
        if names != ["lo"]:
            raise Refused(f"the network is on: interfaces {names}, expected only 'lo' "
                          "(`--net unshare` needs `unshare -n` around the launcher)")
        try:
            loopback_up()
        except OSError as err:
            raise Refused(f"could not bring up the loopback interface of the kernel's namespace ({err})") from None
    elif how == "guard":
        if getattr(socket.getaddrinfo, "__module__", "") != "sitecustomize":
            raise Refused("the network is on: the sitecustomize socket guard is not installed "
                          "(its folder must come first on PYTHONPATH)")
    else:
        raise Refused(f"--net must be 'unshare' or 'guard', not {how!r}")
    try:
        socket.getaddrinfo(PUBLIC_NAME, 443)
    except OSError:
        pass
    else:
        raise Refused(f"the network is on: {PUBLIC_NAME} resolves")
    try:
        socket.create_connection(PUBLIC_ADDRESS, timeout=3).close()
    except TimeoutError:
        raise Refused(f"the network is on: a connection to {PUBLIC_ADDRESS[0]} timed out instead of failing "
                      "at once") from None
    except OSError:
        pass
    else:
        raise Refused(f"the network is on: connected to {PUBLIC_ADDRESS[0]}:{PUBLIC_ADDRESS[1]}")


def data_folder(root: str, connection_file: str) -> Path:
    """``root/<connection file name>``: new or empty, else :class:`Refused`."""
    folder = Path(root) / Path(connection_file).stem
    if folder.exists():
        if not folder.is_dir():
            raise Refused(f"the data folder {folder} is not a folder")
        found = sorted(p.name for p in folder.iterdir())
        if found:
            raise Refused(f"the data folder {folder} is not empty ({', '.join(found[:5])}): chapters must run "
                          "with no data on disk")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--report")
    parser.add_argument("--check-only", action="store_true", help="exit 0 after the checks (for the tests)")
    parser.add_argument("-f", dest="connection_file", required=True)
    args, rest = parser.parse_known_args(argv)
    try:
        check_prefix(args.prefix)
        check_network_off(args.net)
        data = data_folder(args.data_root, args.connection_file)
    except Refused as err:
        message = f"aecourse kernel launcher: refusing to start the kernel: {err}"
        print(message, file=sys.stderr, flush=True)
        if args.report:
            Path(args.report).write_text(message + "\n")
        return REFUSED
    if args.check_only:
        print(f"aecourse kernel launcher: checks passed (data folder {data})")
        return 0
    os.environ["AECOURSE_DATA"] = str(data)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", args.connection_file, *rest])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
