#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# One holdkit archive file on the host, checked against the SHA-256 holdctl recorded for it:
# read, removed (only that file), or put in place from a copy, under the tools' trust rule,
# as pgtruncate --undo will accept it.
from __future__ import annotations

DOCUMENTATION = r"""
module: archive_file
short_description: Check, remove or put back a holdkit archive on the host, by its SHA-256
description:
  - Works on one archive C(holdctl hibernate --archive) wrote (a C(.sql.gz) file the hold record
    names), judged by the SHA-256 holdctl recorded for it. The C(holdkit.fleet.hold_archive) action
    uses it to bring archives to the controller and back; it can be used on its own.
  - The archive's directory is reached under the holdkit tools' trust rule (a symlink on the way
    is followed only when root, the caller or the owner of its target made it) and must be
    writable by no one but root and the caller. An archive already there must be a regular file
    of the caller's with one link, writable by no one else; anything else is refused and left alone.
  - The module never overwrites a file and never removes one that is not the archive (its
    SHA-256 differs).
version_added: 0.2.0
author: holdkit maintainers (@holdkit)
options:
  path:
    description: The archive on the host, as the hold record names it.
    type: path
    required: true
  sha256:
    description: Its SHA-256 as holdctl recorded it (hex, what C(sha256sum) prints).
    type: str
    required: true
  state:
    description:
      - C(query) reads the archive (whether it is there, its SHA-256 and size) and changes nothing.
      - C(present) checks that the archive is there with that SHA-256; when it is missing and
        O(src) is given, puts a copy of O(src) there first. The copy is written beside it (a new
        file, mode 0600, owned by the caller, fsynced), its SHA-256 checked, and only then
        linked in under the archive's name; a copy that does not match is refused and removed.
        A missing archive directory is created 0700 (as holdctl creates it), in a directory
        no one but root and the caller may write.
      - C(absent) removes the archive, only when its SHA-256 is the one given.
    type: str
    choices: [query, present, absent]
    default: query
  src:
    description:
      - With O(state=present), a file on the host to put the archive back from (the
        C(holdkit.fleet.hold_archive) action uploads the controller's copy to a temporary file
        and names it here). It is read only, never moved.
    type: path
"""

EXAMPLES = r"""
- name: Is the hold's archive still on the host?
  holdkit.fleet.archive_file:
    path: "{{ held.archive.path }}"
    sha256: "{{ held.archive.sha256 }}"
  register: on_host

- name: Free its space, once a verified copy is elsewhere
  holdkit.fleet.archive_file:
    path: "{{ held.archive.path }}"
    sha256: "{{ held.archive.sha256 }}"
    state: absent
"""

RETURN = r"""
archive_file:
  description:
    - The archive on the host after the task. C(exists) whether it is there, C(sha256) and
      C(bytes) what it holds (null when missing), C(matches) whether that is the SHA-256 given.
  returned: always, unless the path was refused
  type: dict
  sample:
    path: /var/lib/holdkit/archives/cornice1-20261205T140000Z-cornice.sql.gz
    exists: true
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    bytes: 1048576
    matches: true
error_kind:
  description: Why it failed, in the tools' words (C(refused), C(not_found), C(failed), C(usage)).
  returned: failure
  type: str
  sample: refused
msg:
  description: What went wrong and what to do.
  returned: failure
  type: str
"""

import errno
import hashlib
import os
import re
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.holdkit.fleet.plugins.module_utils.trust import (
    TrustError,
    create_private,
    kind,
    open_parent,
    remove_stale,
    sha256_of,
    user_name,
    writable_by_others_than,
)

CHUNK = 1024 * 1024


class Archive(object):
    def __init__(self, module, path, sha256, create_dir=False):
        self.module = module
        self.path = path
        self.sha256 = sha256
        self.caller = os.geteuid()
        self.dir_fd = None
        if create_dir:
            self.create_dir()
        elif not os.path.lexists(os.path.dirname(path)):
            return  # no directory, no archive: read() says it is missing
        try:
            self.dir_fd, self.name = open_parent(
                path, self.caller, "holdkit archive",
                "keep archives in a directory only root can write (holdctl --archive=DIR)")
        except TrustError as e:
            self.fail(str(e), "refused")
        except OSError as e:
            self.fail("holdkit archive %s: %s" % (path, e.strerror), "failed")
        st = os.fstat(self.dir_fd)
        if writable_by_others_than(st, self.caller):
            self.fail("the archive's directory %s can be written by users other than %s (owner %s,"
                      " mode %04o), who could swap the archive: nothing was done; keep archives in a"
                      " directory only root can write"
                      % (os.path.dirname(path), user_name(self.caller), user_name(st.st_uid),
                         stat.S_IMODE(st.st_mode)),
                      "refused")

    def create_dir(self):
        """Creates the archive's directory 0700 when it is missing (as holdctl creates
        STATE_DIR/archives), in a directory no one but root and the caller may write."""
        directory = os.path.dirname(self.path)
        try:
            parent_fd, name = open_parent(directory, self.caller, "holdkit archive directory",
                                          "create it as root, mode 0700")
        except TrustError as e:
            self.fail(str(e), "refused")
        try:
            st = os.fstat(parent_fd)
            if writable_by_others_than(st, self.caller):
                self.fail("the archive's directory %s is missing, and its parent can be written by users"
                          " other than %s: it is not created; create it as root, mode 0700"
                          % (directory, user_name(self.caller)), "refused")
            try:
                os.mkdir(name, 0o700, dir_fd=parent_fd)
            except FileExistsError:
                pass
        finally:
            os.close(parent_fd)

    def fail(self, msg, error_kind, **extra):
        self.module.fail_json(msg=msg, error_kind=error_kind, **extra)

    def read(self):
        """The archive's (sha256, bytes), or None when it is missing; refused when it is
        not a file of the caller's alone."""
        if self.dir_fd is None:
            return None
        try:
            fd = os.open(self.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=self.dir_fd)
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno != errno.ELOOP:
                self.fail("holdkit archive %s: %s" % (self.path, e.strerror), "failed")
            fd = None
        st = os.fstat(fd) if fd is not None else os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        try:
            if (not stat.S_ISREG(st.st_mode) or st.st_uid != self.caller or st.st_mode & 0o022
                    or st.st_nlink != 1):
                self.fail("holdkit archive %s is %s owned by %s, mode %04o, with %d link(s), not a file"
                          " of %s's alone: it is not used nor touched; look at who put it there"
                          % (self.path, kind(st), user_name(st.st_uid), stat.S_IMODE(st.st_mode),
                             st.st_nlink, user_name(self.caller)), "refused")
            return sha256_of(fd)
        finally:
            if fd is not None:
                os.close(fd)

    def state(self, found):
        sha256, size = found if found else (None, None)
        return dict(path=self.path, exists=found is not None, sha256=sha256, bytes=size,
                    matches=sha256 == self.sha256)

    def put(self, src):
        """Copies SRC in beside the archive, checks it, links it in; returns the new state."""
        try:
            src_fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            self.fail("the copy to put back, %s: %s" % (src, e.strerror), "not_found")
        tmp = ".%s.%d.part" % (self.name, os.getpid())
        try:
            if not stat.S_ISREG(os.fstat(src_fd).st_mode):
                self.fail("the copy to put back, %s, is not a regular file" % src, "usage")
            remove_stale(self.dir_fd, tmp)
            out = create_private(self.dir_fd, tmp)
            h = hashlib.sha256()
            size = 0
            try:
                os.fchmod(out, 0o600)
                while True:
                    chunk = os.read(src_fd, CHUNK)
                    if not chunk:
                        break
                    h.update(chunk)
                    size += len(chunk)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(out, view):]
                os.fsync(out)
            finally:
                os.close(out)
            if h.hexdigest() != self.sha256:
                os.unlink(tmp, dir_fd=self.dir_fd)
                self.fail("the copy to put back at %s has SHA-256 %s, not %s (holdctl's): it is corrupt"
                          " or another archive; nothing was put back" % (self.path, h.hexdigest(), self.sha256),
                          "refused")
            try:
                # A link, not a rename: it never replaces a file that appeared meanwhile.
                os.link(tmp, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
            except FileExistsError:
                self.fail("holdkit archive %s appeared while its copy was written: nothing was"
                          " replaced; run the task again" % self.path, "busy")
            finally:
                try:
                    os.unlink(tmp, dir_fd=self.dir_fd)
                except FileNotFoundError:
                    pass
            os.fsync(self.dir_fd)
            return h.hexdigest(), size
        finally:
            os.close(src_fd)

    def remove(self):
        os.unlink(self.name, dir_fd=self.dir_fd)
        os.fsync(self.dir_fd)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            sha256=dict(type="str", required=True),
            state=dict(type="str", choices=["query", "present", "absent"], default="query"),
            src=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    sha256 = p["sha256"].strip().lower()
    if not re.match(r"^[0-9a-f]{64}$", sha256):
        module.fail_json(msg="sha256 must be 64 hex digits, not %r" % p["sha256"], error_kind="usage")
    if not p["path"].startswith("/"):
        module.fail_json(msg="path must be absolute, not %r" % p["path"], error_kind="usage")
    archive = Archive(module, p["path"], sha256,
                      create_dir=p["state"] == "present" and bool(p["src"]) and not module.check_mode)
    found = archive.read()
    changed = False
    if p["state"] == "present":
        if found is None and not p["src"]:
            archive.fail("holdkit archive %s is missing on the host: give src (a copy), or put it back"
                         " from the controller with holdkit.fleet.hold_archive (state=restored)" % p["path"],
                         "not_found", archive_file=archive.state(found))
        if found is not None and found[0] != sha256:
            archive.fail("holdkit archive %s has SHA-256 %s, not %s (holdctl's): it was changed since"
                         " the hold; it is left as it is" % (p["path"], found[0], sha256),
                         "refused", archive_file=archive.state(found))
        if found is None:
            changed = True
            if not module.check_mode:
                found = archive.put(p["src"])
    elif p["state"] == "absent" and found is not None:
        if found[0] != sha256:
            archive.fail("holdkit archive %s has SHA-256 %s, not %s (holdctl's): it is not the archive"
                         " of the hold and is not removed" % (p["path"], found[0], sha256),
                         "refused", archive_file=archive.state(found))
        changed = True
        if not module.check_mode:
            archive.remove()
            found = None
    module.exit_json(changed=changed, archive_file=archive.state(found))


if __name__ == "__main__":
    main()
