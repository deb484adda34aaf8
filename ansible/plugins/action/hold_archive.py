# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# holdkit.fleet.hold_archive: brings a hold's archive from the host to the controller (and,
# when asked, frees the host of it once the controller's copy matches holdctl's SHA-256), or
# puts the controller's copy back on a host that lost it, before wake --restore. Every step
# on the host is holdkit.fleet.archive_file's; the controller's side is archive_store.py's.
from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.holdkit.fleet.plugins.plugin_utils.archive_store import (
    ArchiveStore,
    ArchiveStoreError,
)
from ansible_collections.holdkit.fleet.plugins.plugin_utils.report_file import (
    DEFAULT_LOCK_TIMEOUT,
    ReportFile,
    ReportFileError,
    run_id,
)

display = Display()

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["fetched", "restored"], default="fetched"),
    path=dict(type="str", required=True),
    sha256=dict(type="str", required=True),
    holds_auth=dict(type="bool", default=False),
    fetch_auth=dict(type="bool", default=False),
    keep_remote=dict(type="bool", default=True),
    dest=dict(type="str", default="holdkit-archives"),
    report_file=dict(type="str"),
    report_lock_timeout=dict(type="float", default=DEFAULT_LOCK_TIMEOUT),
)

FIELD = "controller_archive"


class Failure(Exception):
    def __init__(self, msg, kind="failed"):
        super(Failure, self).__init__(msg)
        self.kind = kind


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        self._vars = task_vars or {}
        host = self._vars.get("inventory_hostname") or self._play_context.remote_addr
        sha256 = args["sha256"].strip().lower()
        name = os.path.basename(args["path"])
        if not args["path"].startswith("/") or name in ("", ".", ".."):
            raise AnsibleActionFail("path must be the archive's absolute path on the host, not %r" % args["path"])
        report = None
        if args["report_file"]:
            try:
                report = ReportFile(args["report_file"], args["report_lock_timeout"])
            except ReportFileError as e:
                raise AnsibleActionFail(str(e))
        entry = dict(state=args["state"], path=None, sha256=sha256, bytes=None, verified=False,
                     holds_auth=args["holds_auth"], remote_path=args["path"], fetched=False,
                     remote_removed=False, put_back=False, note=None, error=None)
        try:
            try:
                if args["state"] == "fetched":
                    changed = self._fetch(args, host, name, sha256, entry)
                else:
                    changed = self._restore(args, host, name, sha256, entry)
            except (Failure, ArchiveStoreError, AnsibleError, OSError) as e:
                # A failure, never "unreachable": the playbooks' rollout stops at failed hosts
                # (Ansible's linear strategy does not count unreachable ones).
                entry["error"] = _message(e)
                result.update(failed=True, msg="%s: %s" % (host, entry["error"]), error_kind=_kind(e))
                changed = entry["fetched"] or entry["put_back"] or entry["remote_removed"]
            result["changed"] = changed
            result[FIELD] = entry
            if report:
                self._record(report, host, entry, result)
        finally:
            if report:
                report.close()
        return result

    def _host_archive(self, path, sha256, state, src=None):
        """holdkit.fleet.archive_file on the host; its archive_file state, or Failure."""
        module_args = dict(path=path, sha256=sha256, state=state)
        if src:
            module_args["src"] = src
        res = self._execute_module(module_name="holdkit.fleet.archive_file", module_args=module_args,
                                   task_vars=self._vars)
        if res.get("failed"):
            raise Failure(res.get("msg") or "holdkit.fleet.archive_file failed", res.get("error_kind") or "failed")
        return res.get("archive_file") or {}

    def _fetch(self, args, host, name, sha256, entry):
        if args["holds_auth"] and not args["fetch_auth"]:
            entry["note"] = (
                "the archive holds the auth group (users and their secrets): it stays on the host,"
                " neither fetched nor removed; set holdkit_archive_fetch_auth=true (fetch_auth) to"
                " bring it home")
            display.warning("%s: %s (%s)" % (host, entry["note"], args["path"]))
            return False
        if self._task.check_mode:
            entry["note"] = "check mode: nothing fetched"
            return False
        store = ArchiveStore(args["dest"], host, create=True)
        try:
            kept = store.read(name)
            remote = self._host_archive(args["path"], sha256, "query")
            if kept is not None and kept[0] == sha256:
                entry.update(path=store.path(name), verified=True, bytes=kept[1],
                             note="the controller had this archive already")
            else:
                if not remote.get("exists"):
                    raise Failure("the archive %s is not on the host and the controller has no copy of it"
                                  " that matches holdctl's SHA-256 %s at %s: nothing can be fetched"
                                  % (args["path"], sha256, store.path(name)), "not_found")
                if not remote.get("matches"):
                    raise Failure("the archive %s on the host has SHA-256 %s, not %s (holdctl's): it was"
                                  " not fetched and is left on the host" % (args["path"], remote.get("sha256"), sha256),
                                  "refused")
                digest, size = store.receive(
                    name, sha256, lambda out: self._connection.fetch_file(args["path"], out))
                entry.update(path=store.path(name), fetched=True, verified=digest == sha256, bytes=size)
            if not remote.get("exists"):
                entry["remote_removed"] = True
            elif not args["keep_remote"]:
                # Only now: the controller's copy matches holdctl's SHA-256.
                self._host_archive(args["path"], sha256, "absent")
                entry["remote_removed"] = True
            return entry["fetched"] or (entry["remote_removed"] and remote.get("exists", False))
        finally:
            store.close()

    def _restore(self, args, host, name, sha256, entry):
        remote = self._host_archive(args["path"], sha256, "query")
        if remote.get("exists"):
            if not remote.get("matches"):
                raise Failure("the archive %s on the host has SHA-256 %s, not %s (the hold record's): it"
                              " is left as it is and nothing was restored" % (args["path"], remote.get("sha256"), sha256),
                              "refused")
            entry["note"] = "the archive is on the host already"
            return False
        store = ArchiveStore(args["dest"], host, create=False)
        try:
            entry["path"] = store.path(name)
            kept = store.read(name)
            if kept is None:
                raise Failure("the archive %s is missing on the host and the controller has no copy at %s:"
                              " nothing was restored" % (args["path"], store.path(name)), "not_found")
            if kept[0] != sha256:
                raise Failure("the controller's copy %s has SHA-256 %s, not %s (the hold record's): it is"
                              " corrupt or another archive, and is refused; nothing was restored and no unit"
                              " was started: put the right copy there and run the wake again"
                              % (store.path(name), kept[0], sha256), "refused")
            entry["verified"], entry["bytes"] = True, kept[1]
            if self._task.check_mode:
                entry["note"] = "check mode: nothing put back"
                return True
            tmp = self._make_tmp_path()
            try:
                upload = self._connection._shell.join_path(tmp, name)
                self._transfer_file(store.local_path(name), upload)
                # archive_file checks the SHA-256 again on the host before it links the copy in.
                self._host_archive(args["path"], sha256, "present", src=upload)
            finally:
                self._remove_tmp_path(tmp, force=True)
            entry["put_back"] = True
            return True
        finally:
            store.close()

    def _record(self, report, host, entry, result):
        fallback = {"ok": False, "msg": result.get("msg"), "error_kind": result.get("error_kind")}
        try:
            report.record(run_id(), host, entry, field=FIELD, fallback=fallback)
        except (ReportFileError, OSError) as e:
            host_msg = result.get("msg")
            result["failed"] = True
            result["msg"] = str(e) if not host_msg else "%s (and: %s)" % (e, host_msg)


def _message(error):
    if isinstance(error, OSError):
        return "%s: %s" % (getattr(error, "filename", None) or "the controller", error.strerror or error)
    return str(error)


def _kind(error):
    if isinstance(error, Failure):
        return error.kind
    if isinstance(error, ArchiveStoreError):
        return "refused"
    return "failed"
