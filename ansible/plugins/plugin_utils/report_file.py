# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# The operator's JSON report document, written on the controller (often as root) under the
# holdkit tools' trust rule: nothing another user controls may steer where root writes.
#
# - The path is resolved one component at a time from directory descriptors; a symlink on
#   the way is followed only when root, the controller's user, or the owner of what it
#   points to owns it. The report itself is never reached through a link.
# - The directory must be writable by the controller's user alone (or root): in a directory
#   another user may write, they could plant a link, a file or the lock.
# - Everything after that works on the directory's descriptor: the document is read with
#   O_NOFOLLOW, written to an O_EXCL temp file and renamed within the directory.
# - The lock beside it is opened without following links, must be the controller user's
#   own, and is waited for a bounded time.
from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import time

from ansible_collections.holdkit.fleet.plugins.module_utils.trust import (
    TrustError,
    create_private,
    kind as _kind,
    remove_stale,
    resolve,
    user_name,
    writable_by_others_than,
)

# The largest report document read back (it holds one report per host).
MAX_DOCUMENT = 64 * 1024 * 1024
# How long a fork waits for another to finish writing, unless told otherwise.
DEFAULT_LOCK_TIMEOUT = 60
# Fields another task adds to a host's entry (holdkit.fleet.hold_archive's), kept when the
# same run records the host's holdctl report after it.
KEPT_FIELDS = ("controller_archive",)


class ReportFileError(Exception):
    """Why the report document cannot be written; the message says what to do."""


def _resolve(path, caller):
    """(directory fd, final name) of the report's path under the trust rule."""
    try:
        return resolve(path, caller, "holdkit report",
                       "write the report in a directory of your own (-e holdkit_report=PATH)")
    except TrustError as e:
        raise ReportFileError(str(e))


def run_id():
    """Names this ansible-playbook run: the controller process the workers were forked
    from, and when it started."""
    parent = os.getppid()
    try:
        with open("/proc/%d/stat" % parent) as stat_file:
            started = stat_file.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        started = "?"
    return "%d:%s" % (parent, started)


def _lock_holders(st):
    """Pids holding a flock on the file st describes, from the kernel's own table."""
    wanted = "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    pids = []
    try:
        with open("/proc/locks") as table:
            for line in table:
                fields = line.split()
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted:
                    if fields[4].isdigit() and int(fields[4]) not in pids:
                        pids.append(int(fields[4]))
    except OSError:
        pass
    return pids


class ReportFile(object):
    """The report document at path, its directory opened and judged at once (before any host
    is touched); record() merges one host's entry into it."""

    def __init__(self, path, lock_timeout=DEFAULT_LOCK_TIMEOUT):
        self.caller = os.geteuid()
        self.path = os.path.join(os.getcwd(), os.path.expanduser(path))
        self.lock_timeout = lock_timeout
        self.dir_fd = None
        fd, self.name = _resolve(self.path, self.caller)
        try:
            self.dir_fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)
        self.lock_name = ".%s.lock" % self.name
        directory = os.path.dirname(self.path)
        st = os.fstat(self.dir_fd)
        if writable_by_others_than(st, self.caller):
            self.close()
            raise ReportFileError(
                "the holdkit report's directory %s can be written by users other than %s (owner %s,"
                " mode %04o), who could plant a link, a file or the lock there: nothing was run;"
                " run ansible-playbook from a directory only you can write, or set"
                " -e holdkit_report=PATH to one"
                % (directory, user_name(self.caller), user_name(st.st_uid), stat.S_IMODE(st.st_mode)))
        self._check_document()

    def close(self):
        if self.dir_fd is not None:
            os.close(self.dir_fd)
            self.dir_fd = None

    def _stat(self, name):
        try:
            return os.stat(name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def _check_document(self):
        st = self._stat(self.name)
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise ReportFileError(
                "the holdkit report %s is %s: the report is never written through a link or into"
                " anything but a regular file; nothing was run: remove it, or choose another"
                " holdkit_report" % (self.path, _kind(st)))

    def _open_lock(self):
        shown = os.path.join(os.path.dirname(self.path), self.lock_name)
        try:
            fd = os.open(self.lock_name,
                         os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC,
                         0o600, dir_fd=self.dir_fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ReportFileError("the holdkit report's lock %s is a symlink: it is never followed;"
                                      " remove it" % shown)
            raise ReportFileError("the holdkit report's lock %s: %s" % (shown, e.strerror))
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != self.caller or st.st_nlink != 1:
            os.close(fd)
            raise ReportFileError(
                "the holdkit report's lock %s is %s owned by %s with %d link(s), not a lock of %s's"
                " own: it is not used; remove it" % (
                    shown, _kind(st), user_name(st.st_uid), st.st_nlink, user_name(self.caller)))
        return os.fdopen(fd, "r+"), st, shown

    def _lock(self):
        lock, st, shown = self._open_lock()
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return lock
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
        lock.close()
        holders = ", ".join("pid %d" % pid for pid in _lock_holders(st)) or "another process"
        raise ReportFileError(
            "the holdkit report's lock %s was held by %s for more than %ss: this host's report was"
            " not recorded in %s; let that run finish, or raise holdkit_report_lock_timeout"
            % (shown, holders, self.lock_timeout, self.path))

    def _read_document(self):
        try:
            fd = os.open(self.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=self.dir_fd)
        except OSError:
            return {}
        with os.fdopen(fd) as existing:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return {}
            try:
                document = json.loads(existing.read(MAX_DOCUMENT))
            except ValueError:
                return {}
        return document if isinstance(document, dict) else {}

    def record(self, run_id, host, entry, field=None, fallback=None):
        """Merges {host: entry} into the document under the lock (forks write at the same
        time), through an O_EXCL temp file renamed within the directory; with FIELD, sets
        that field of the host's entry instead (the entry the same run recorded before, else
        FALLBACK). A whole entry keeps the KEPT_FIELDS the same run set before. The lock file
        names the run that wrote the document last: a new run starts afresh."""
        with self._lock() as lock:
            self._check_document()
            document = {}
            if lock.read(256).strip() == run_id:
                document = self._read_document()
            else:
                lock.seek(0)
                lock.truncate()
                lock.write(run_id)
                lock.flush()
            current = document.get(host)
            current = current if isinstance(current, dict) else None
            if field is None:
                kept = dict((k, current[k]) for k in KEPT_FIELDS if current and k in current)
                document[host] = dict(kept, **entry)
            else:
                document[host] = dict(current if current is not None else (fallback or {}), **{field: entry})
            tmp = ".%s.%d.tmp" % (self.name, os.getpid())
            remove_stale(self.dir_fd, tmp)
            out_fd = create_private(self.dir_fd, tmp)
            with os.fdopen(out_fd, "w") as out:
                json.dump(document, out, indent=2, sort_keys=True)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.rename(tmp, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
            os.fsync(self.dir_fd)
