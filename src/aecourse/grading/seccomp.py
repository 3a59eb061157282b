"""The grading box's system-call filter: a classic-BPF seccomp program for ``bwrap --seccomp``.

Namespaces and an unprivileged uid already stop a submission from mounting,
tracing the grader or seeing other processes.  What they do not stop is a
process *creating* fresh namespaces of its own (unprivileged user namespaces
are enabled on most distributions), which hands it a private "root" and the
kernel's whole namespace attack surface.  Flatpak puts the same kind of filter
on its bubblewrap sandboxes; Docker's default profile blocks the same calls.

Refused with ``EPERM`` (the caller sees "Operation not permitted"):

* ``unshare``, ``setns`` and ``clone`` with any ``CLONE_NEW*`` flag;
* ``mount``, ``umount2``, ``pivot_root`` and the new mount API (``open_tree`` ...
  ``mount_setattr``);
* ``ptrace``, ``process_vm_readv``/``writev``;
* ``keyctl``, ``add_key``, ``request_key`` (kernel keyrings), ``bpf``,
  ``perf_event_open``, ``userfaultfd``, and ``io_uring_*``.

``clone3`` answers ``ENOSYS``: its flags live in a struct a BPF filter cannot
read, and glibc falls back to ``clone`` (which the filter *can* check) on
``ENOSYS``, so threads and subprocesses still work.  System calls of another
ABI (32-bit x86, x32) are refused outright.

Built for x86-64 and AArch64; on other machines :func:`program` returns
``None`` and the box runs without the filter (the namespaces still hold).
"""

from __future__ import annotations

import errno
import platform
import struct

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
_NR, _ARCH, _ARG0_LOW = 0, 4, 16          # args[0]'s low 32 bits (little endian)

_LD_ABS = 0x20                            # BPF_LD | BPF_W | BPF_ABS
_JEQ, _JGE, _JSET = 0x15, 0x35, 0x45      # BPF_JMP | BPF_{JEQ,JGE,JSET} | BPF_K
_RET = 0x06                               # BPF_RET | BPF_K

_ALLOW = 0x7FFF0000                       # SECCOMP_RET_ALLOW
_ERRNO = 0x00050000                       # SECCOMP_RET_ERRNO | errno

# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

# The syscall numbers the filter names, per architecture (from the kernel's syscall tables).
_BLOCKED_NAMES = ("unshare", "setns", "mount", "umount2", "pivot_root", "ptrace", "process_vm_readv",
                  "process_vm_writev", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
                  "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "open_tree",
                  "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr")
_NEW_MOUNT_API = {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
                  "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
                  "mount_setattr": 442}
ARCHES = {
    # machine: (AUDIT_ARCH_*, syscall numbers, refuse nr >= this (x32's bit) or None)
    "x86_64": (0xC000003E, {
        "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "ptrace": 101,
        "process_vm_readv": 310, "process_vm_writev": 311, "keyctl": 250, "add_key": 248,
        "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "clone": 56, "clone3": 435, **_NEW_MOUNT_API}, 0x40000000),
    "aarch64": (0xC00000B7, {
        "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41, "ptrace": 117,
        "process_vm_readv": 270, "process_vm_writev": 271, "keyctl": 219, "add_key": 217,
        "request_key": 218, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
        "clone": 220, "clone3": 435, **_NEW_MOUNT_API}, None),
}
ARCHES["arm64"] = ARCHES["aarch64"]
ARCHES["amd64"] = ARCHES["x86_64"]


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    """One ``struct sock_filter`` (u16 code, u8 jt, u8 jf, u32 k), native byte order."""
    return struct.pack("=HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes | None:
    """The filter as bytes for ``bwrap --seccomp FD``, or ``None`` on an unsupported machine.

    Parameters
    ----------
    machine : str, optional
        ``platform.machine()`` by default.

    Returns
    -------
    bytes or None
        ``8 * n`` bytes: ``n`` BPF instructions.
    """
    spec = ARCHES.get((machine or platform.machine()).lower())
    if spec is None:
        return None
    audit_arch, nrs, foreign_from = spec
    eperm, enosys = _ERRNO | errno.EPERM, _ERRNO | errno.ENOSYS
    out = [_insn(_LD_ABS, _ARCH),
           _insn(_JEQ, audit_arch, jt=1, jf=0),   # our ABI: skip the refusal below
           _insn(_RET, eperm),
           _insn(_LD_ABS, _NR)]
    if foreign_from is not None:                  # x32 system calls carry bit 30 in the number
        out += [_insn(_JGE, foreign_from, jt=0, jf=1), _insn(_RET, eperm)]
    for name in _BLOCKED_NAMES:
        out += [_insn(_JEQ, nrs[name], jt=0, jf=1), _insn(_RET, eperm)]
    out += [_insn(_JEQ, nrs["clone3"], jt=0, jf=1), _insn(_RET, enosys),
            _insn(_JEQ, nrs["clone"], jt=0, jf=3),  # not clone: jump to ALLOW
            _insn(_LD_ABS, _ARG0_LOW),
            _insn(_JSET, CLONE_NEW_FLAGS, jt=0, jf=1),
            _insn(_RET, eperm),
            _insn(_RET, _ALLOW)]
    return b"".join(out)
