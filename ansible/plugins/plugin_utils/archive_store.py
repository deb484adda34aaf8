# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# The archives brought home, on the controller: DEST/HOST/FILE, under the same trust rule as
# the report document (module_utils/trust.py). An archive is as sensitive as the database:
# DEST and DEST/HOST are directories of the controller user's alone (0700), never reached
# through a link at their own names; each archive is a 0600 file written through an O_EXCL
# temp file renamed within HOST's directory, checked against holdctl's SHA-256 first.
from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile

from ansible_collections.holdkit.fleet.plugins.module_utils.trust import (
    TrustError,
    create_private,
    kind,
    open_parent,
    private_dir,
    remove_stale,
    sha256_of,
    user_name,
    writable_by_others_than,
)

CHUNK = 1024 * 1024


class ArchiveStoreError(Exception):
    """Why an archive cannot be kept or read on the controller; the message says what to do."""


class ArchiveStore(object):
    """DEST/HOST on the controller, opened (and with CREATE, made) under the trust rule."""

    def __init__(self, dest, host, create):
        self.caller = os.geteuid()
        self.dest = os.path.join(os.getcwd(), os.path.expanduser(dest))
        self.host_dir = os.path.join(self.dest, host)
        self.host_fd = None
        if "/" in host or host in ("", ".", ".."):
            raise ArchiveStoreError("host name %r cannot name a directory of holdkit archives" % host)
        try:
            parent_fd, name = open_parent(
                self.dest, self.caller, "holdkit archive directory",
                "keep the archives in a directory of your own (-e holdkit_archive_dir=PATH)")
        except TrustError as e:
            raise ArchiveStoreError(str(e))
        try:
            st = os.fstat(parent_fd)
            if writable_by_others_than(st, self.caller):
                raise ArchiveStoreError(
                    "the holdkit archive directory's parent %s can be written by users other than %s"
                    " (owner %s, mode %04o), who could plant a link or a directory there: nothing was"
                    " written; keep the archives in a directory of your own (-e holdkit_archive_dir=PATH)"
                    % (os.path.dirname(self.dest), user_name(self.caller), user_name(st.st_uid),
                       stat.S_IMODE(st.st_mode)))
            dest_fd = self._dir(parent_fd, name, self.dest, create)
        finally:
            os.close(parent_fd)
        try:
            self.host_fd = self._dir(dest_fd, host, self.host_dir, create)
        finally:
            os.close(dest_fd)

    def _dir(self, dir_fd, name, shown, create):
        if not create:
            try:
                os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                raise ArchiveStoreError("%s does not exist: the controller holds no archive there" % shown)
        try:
            return private_dir(dir_fd, name, self.caller, shown)[0]
        except TrustError as e:
            raise ArchiveStoreError("holdkit archive directory: %s" % e)

    def close(self):
        if self.host_fd is not None:
            os.close(self.host_fd)
            self.host_fd = None

    def path(self, name):
        return os.path.join(self.host_dir, name)

    def read(self, name):
        """(sha256, bytes) of the copy NAME, or None when there is none; refused when it is not
        a regular file of the caller's alone."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=self.host_fd)
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise ArchiveStoreError("%s: %s" % (self.path(name), e.strerror))
            st = os.stat(name, dir_fd=self.host_fd, follow_symlinks=False)
            raise ArchiveStoreError("%s is %s: an archive is never read through a link; remove it"
                                    % (self.path(name), kind(st)))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != self.caller or st.st_mode & 0o077:
                raise ArchiveStoreError(
                    "%s is %s owned by %s, mode %04o, not a file only %s can read: it is not used;"
                    " look at who put it there" % (self.path(name), kind(st), user_name(st.st_uid),
                                                   stat.S_IMODE(st.st_mode), user_name(self.caller)))
            return sha256_of(fd)
        finally:
            os.close(fd)

    def local_path(self, name):
        """A path the connection may read NAME through: the directory's descriptor in /proc
        (no ancestor renamed meanwhile can redirect it), else its path."""
        proc = "/proc/%d/fd/%d" % (os.getpid(), self.host_fd)
        if os.path.isdir(proc):
            return os.path.join(proc, name)
        return self.path(name)

    def receive(self, name, expected, fetch):
        """Brings NAME home: FETCH(path) writes it into a private temp directory; its SHA-256
        must be EXPECTED; then it is moved (or copied) into HOST's directory, 0600, fsynced,
        renamed into place. Returns (sha256, bytes)."""
        scratch = tempfile.mkdtemp(prefix="holdkit-archive-")
        try:
            landed = os.path.join(scratch, "archive")
            fetch(landed)
            fd = os.open(landed, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                digest, size = sha256_of(fd)
            finally:
                os.close(fd)
            if digest != expected:
                raise ArchiveStoreError(
                    "the copy of %s fetched from the host has SHA-256 %s, not %s (holdctl's): it was"
                    " not kept, and the host's archive is left in place" % (name, digest, expected))
            part = ".%s.%d.part" % (name, os.getpid())
            remove_stale(self.host_fd, part)
            try:
                os.rename(landed, part, dst_dir_fd=self.host_fd)
            except OSError as e:
                if e.errno != errno.EXDEV:
                    raise
                self._copy_in(landed, part)
            fd = os.open(part, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.host_fd)
            try:
                os.fchmod(fd, 0o600)
                if sha256_of(fd)[0] != expected:
                    os.unlink(part, dir_fd=self.host_fd)
                    raise ArchiveStoreError("the copy of %s changed while it was put in place: run the"
                                            " task again" % name)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(part, name, src_dir_fd=self.host_fd, dst_dir_fd=self.host_fd)
            os.fsync(self.host_fd)
            return digest, size
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _copy_in(self, src, part):
        out = create_private(self.host_fd, part)
        try:
            with open(src, "rb") as source:
                while True:
                    chunk = source.read(CHUNK)
                    if not chunk:
                        break
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(out, view):]
        finally:
            os.close(out)
