#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# Documentation only: the work is the action plugin's (plugins/action/hold_archive.py), on
# the controller, with holdkit.fleet.archive_file on the host.
from __future__ import annotations

DOCUMENTATION = r"""
module: hold_archive
short_description: Bring a hold's archive home to the controller, or put it back on the host
description:
  - Runs on the controller (an action plugin); its steps on the host are M(holdkit.fleet.archive_file)'s.
  - O(state=fetched) copies the archive C(holdctl hibernate --archive) wrote on the host
    (the C(archive) that M(holdkit.fleet.hold) returns) to C(DEST/HOST/FILE) on the controller and checks its
    SHA-256 against holdctl's (O(sha256)), not only the transfer's. With O(keep_remote=false) the
    host's archive is removed after that check passed, never before, so its disk is freed and the
    data is off the host.
  - An archive is as sensitive as the database. One that holds the auth group (O(holds_auth), the
    users and their secrets) leaves its host only with O(fetch_auth=true); otherwise it is neither
    fetched nor removed, whatever O(keep_remote) says, and C(note) in RV(controller_archive) says so.
  - O(state=restored) puts the controller's copy back where the hold record names it, when the host
    no longer has it, before C(holdctl wake --restore). The copy's SHA-256 must be O(sha256) on the
    controller (a corrupt copy is refused and nothing is sent) and again on the host, where it is
    written beside the archive's name (mode 0600, the caller's), fsynced and only then linked in,
    as C(pgtruncate --undo) accepts it. An archive already on the host with that SHA-256 is left as
    it is; one with another is refused.
  - On the controller, C(DEST) is resolved under the holdkit tools' trust rule (a symlink on the way
    is followed only when root, the controller's user or its target's owner made it); its
    directory must be writable by the controller's user alone; C(DEST) and C(DEST/HOST) are never
    reached through a link at their own names, are created 0700 and must be the controller user's
    with no access for anyone else; each archive is a 0600 file, written through an C(O_EXCL) temp
    file renamed into place.
version_added: 0.2.0
author: holdkit maintainers (@holdkit)
options:
  state:
    description: C(fetched) brings the archive to the controller; C(restored) puts it back on the host.
    type: str
    choices: [fetched, restored]
    default: fetched
  path:
    description: The archive on the host, as holdctl reports it (the hold record's path).
    type: str
    required: true
  sha256:
    description: Its SHA-256 as holdctl reports it.
    type: str
    required: true
  holds_auth:
    description: The hold emptied the auth group, so the archive holds users and secrets
      (C(archive.holds_auth) of M(holdkit.fleet.hold)).
    type: bool
    default: false
  fetch_auth:
    description: Bring an archive that holds the auth group to the controller too (O(state=fetched)).
    type: bool
    default: false
  keep_remote:
    description:
      - With O(state=fetched), C(false) removes the host's archive once the controller's copy
        matches O(sha256) (never one that holds the auth group and was not fetched).
      - Removing data is an opt-in; the default keeps it.
    type: bool
    default: true
  dest:
    description:
      - The controller's directory of archives; each host's go to C(DEST/HOST/). A relative path
        is taken from the directory ansible-playbook runs in.
    type: str
    default: holdkit-archives
  report_file:
    description:
      - The JSON document of the M(holdkit.fleet.hold) task (host name to report). RV(controller_archive)
        is recorded in the host's entry, under C(controller_archive), next to holdctl's report
        (same trust rules and lock).
    type: str
  report_lock_timeout:
    description: Seconds to wait for the report's lock.
    type: float
    default: 60
notes:
  - The archive is read and written on the host as the connection's user (root, as holdctl runs).
"""

EXAMPLES = r"""
- name: Put the host on hold, its emptied rows archived
  holdkit.fleet.hold:
    archive: true
  register: held

- name: Bring the archive home and free the host of it
  holdkit.fleet.hold_archive:
    path: "{{ held.archive.path }}"
    sha256: "{{ held.archive.sha256 }}"
    holds_auth: "{{ held.archive.holds_auth }}"
    keep_remote: false
  when: held.archive

- name: Before a wake --restore, put it back where the hold record says
  holdkit.fleet.hold_archive:
    state: restored
    path: "{{ held.archive.path }}"
    sha256: "{{ held.archive.sha256 }}"
"""

RETURN = r"""
controller_archive:
  description:
    - What became of the archive. C(path) is the copy on the controller (null when there is none),
      C(sha256) holdctl's, C(bytes) the copy's size, C(verified) whether the controller's copy
      matches C(sha256), C(fetched) whether it was copied from the host now, C(remote_path) the
      archive on the host, C(remote_removed) whether the host no longer has it (removed now or
      before), C(put_back) whether it was copied back onto the host now, C(holds_auth) as given,
      C(note) why nothing was done (an archive with the auth group left on the host), C(error)
      why it failed.
  returned: always
  type: dict
  sample:
    state: fetched
    path: /home/ops/holdkit-archives/cornice1/cornice1-20261205T140000Z-cornice.sql.gz
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    bytes: 1048576
    verified: true
    fetched: true
    holds_auth: false
    remote_path: /var/lib/holdkit/archives/cornice1-20261205T140000Z-cornice.sql.gz
    remote_removed: true
    put_back: false
    note: null
    error: null
error_kind:
  description: Why it failed (C(refused), C(not_found), C(failed)).
  returned: failure
  type: str
msg:
  description: What went wrong and what to do.
  returned: failure
  type: str
"""
