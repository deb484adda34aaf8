# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# The holdkit tools' trust rule for paths, for the collection's own files on the controller
# (the report, the archives brought home) and on the host (an archive put back): nothing
# another user controls may steer where root reads or writes.
#
# - A path is resolved one component at a time from directory descriptors; a symlink on the
#   way is followed only when root, the caller, or the owner of what it points to owns it.
#   The last component is never followed: the caller opens it with O_NOFOLLOW.
# - A directory written in must be writable by the caller alone (or root).
from __future__ import annotations

import hashlib
import os
import pwd
import stat

# Symlinks followed before giving up (the kernel's own limit).
MAX_SYMLINKS = 40

# A directory is opened only to be walked through (O_PATH needs no read permission); where
# there is no O_PATH (macOS controllers), for reading.
_WALK = getattr(os, "O_PATH", os.O_RDONLY)


class TrustError(Exception):
    """A path the trust rule refuses; the message says what to do."""


def user_name(uid):
    try:
        return "%s (uid %d)" % (pwd.getpwuid(uid).pw_name, uid)
    except KeyError:
        return "uid %d" % uid


def writable_by_others_than(st, uid):
    """The tools' one rule: someone other than root and uid may write it (its owner is
    someone else, or group or others have write permission)."""
    return (st.st_uid not in (0, uid)) or bool(st.st_mode & 0o022)


def kind(st):
    if stat.S_ISLNK(st.st_mode):
        return "a symlink"
    if stat.S_ISDIR(st.st_mode):
        return "a directory"
    if stat.S_ISFIFO(st.st_mode):
        return "a FIFO"
    if stat.S_ISSOCK(st.st_mode):
        return "a socket"
    if stat.S_ISREG(st.st_mode):
        return "a regular file"
    return "a device"


def open_dir(name, dir_fd):
    return os.open(name, _WALK | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


def _components(path):
    return [c for c in path.split("/") if c not in ("", ".")]


def resolve(path, caller, what, remedy):
    """(directory fd, final name) of an absolute path under the symlink trust rule; the
    final component is not followed. WHAT names the path in messages ("holdkit report"),
    REMEDY says what to do instead ("write the report in a directory of your own ...")."""
    pending = _components(path)
    if not pending or pending[-1] == "..":
        raise TrustError("%s %s names a directory, not a file: give a file name" % (what, path))
    fd = open_dir("/", None)
    walked = ""  # where fd is, for messages
    links = 0
    try:
        while pending:
            name = pending.pop(0)
            here = "%s/%s" % (walked, name)
            if name == "..":
                new = open_dir("..", fd)
                os.close(fd)
                fd = new
                walked = walked.rsplit("/", 1)[0]
                continue
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                if not pending:
                    return fd, name
                raise TrustError("%s %s: the directory %s does not exist: create it, or %s"
                                 % (what, path, here, remedy))
            if not pending:
                return fd, name
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_SYMLINKS:
                    raise TrustError("%s %s: too many symlinks on the way" % (what, path))
                target = os.readlink(name, dir_fd=fd)
                try:
                    target_owner = os.stat(name, dir_fd=fd).st_uid
                except OSError:
                    target_owner = None
                if st.st_uid not in (0, caller) and st.st_uid != target_owner:
                    raise TrustError(
                        "%s %s: the symlink %s (owner %s) points to %s, which %s does not own;"
                        " it is not followed and nothing was run: %s"
                        % (what, path, here, user_name(st.st_uid), target, user_name(st.st_uid), remedy))
                if target.startswith("/"):
                    os.close(fd)
                    fd = open_dir("/", None)
                    walked = ""
                pending[:0] = _components(target)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise TrustError("%s %s: %s is not a directory" % (what, path, here))
            new = open_dir(name, fd)
            os.close(fd)
            fd = new
            walked = here
    except BaseException:
        os.close(fd)
        raise
    raise TrustError("%s %s names a directory, not a file: give a file name" % (what, path))


def open_parent(path, caller, what, remedy):
    """(descriptor of PATH's directory opened for reading, final name), under the rule."""
    fd, name = resolve(path, caller, what, remedy)
    try:
        return os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd), name
    finally:
        os.close(fd)


def private_dir(dir_fd, name, caller, shown):
    """Opens (creating it 0700 first when missing) the directory NAME in DIR_FD, never
    through a link: it must be the caller's, readable and writable by the caller alone.
    SHOWN names it in messages. Returns (fd, created)."""
    created = False
    try:
        os.mkdir(name, 0o700, dir_fd=dir_fd)
        created = True
    except FileExistsError:
        pass
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        raise TrustError(
            "%s is %s owned by %s, not a directory: it is never followed; nothing was written"
            " there: remove it, or choose another directory" % (shown, kind(st), user_name(st.st_uid)))
    st = os.fstat(fd)
    if st.st_uid != caller or stat.S_IMODE(st.st_mode) & 0o077:
        os.close(fd)
        raise TrustError(
            "%s (owner %s, mode %04o) is not a directory only %s can read and write: nothing was"
            " written there; chmod 700 it (as its owner), or choose another directory"
            % (shown, user_name(st.st_uid), stat.S_IMODE(st.st_mode), user_name(caller)))
    return fd, created


def sha256_of(fd, chunk=1024 * 1024):
    """(hex SHA-256, bytes) of an open file, read from its start: how an archive is judged
    on the host and on the controller alike."""
    h = hashlib.sha256()
    size = 0
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        data = os.read(fd, chunk)
        if not data:
            return h.hexdigest(), size
        h.update(data)
        size += len(data)


def remove_stale(dir_fd, name):
    """Removes NAME in DIR_FD, a temp file left by a run that died, if there is one."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def create_private(dir_fd, name):
    """A new file NAME in DIR_FD, mode 0600, created exclusively (never through a link or
    over a file that is there); returns its descriptor, open for writing."""
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                   0o600, dir_fd=dir_fd)
