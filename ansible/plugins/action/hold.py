# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# The controller side of holdkit.fleet.hold: runs the module on the host, then merges the
# host's report into the operator's JSON document (report_file) at once, so the document is
# whole even when the rollout stops halfway or a host cannot be reached.
from __future__ import annotations

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.plugins.action import ActionBase
from ansible_collections.holdkit.fleet.plugins.plugin_utils.report_file import (
    DEFAULT_LOCK_TIMEOUT,
    ReportFile,
    ReportFileError,
    run_id,
)


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        report_file = args.pop("report_file", None)
        lock_timeout = args.pop("report_lock_timeout", None)
        host = self._task_vars_host(task_vars)
        report = None
        if report_file:
            # Judged before the host is touched: a report that cannot be written safely stops
            # the task with nothing run.
            try:
                report = ReportFile(report_file, _timeout(lock_timeout))
            except ReportFileError as e:
                raise AnsibleActionFail(str(e))
        try:
            try:
                result.update(self._execute_module(
                    module_name="holdkit.fleet.hold", module_args=args, task_vars=task_vars))
            except AnsibleConnectionFailure as e:
                if report:
                    self._record(report, host, {"unreachable": True, "msg": str(e)}, None)
                raise
            if report:
                entry = result.get("holdkit")
                if entry is None:
                    entry = {"ok": False, "msg": result.get("msg"), "error_kind": result.get("error_kind")}
                self._record(report, host, entry, result)
        finally:
            if report:
                report.close()
        return result

    def _record(self, report, host, entry, result):
        """Records the entry; a report that could not be written fails the task, keeping what
        the host did (changed, its report)."""
        try:
            report.record(run_id(), host, entry)
        except (ReportFileError, OSError) as e:
            if result is None:
                raise AnsibleActionFail(str(e))
            host_msg = result.get("msg")
            result["failed"] = True
            result["msg"] = str(e) if not host_msg else "%s (and the host: %s)" % (e, host_msg)

    def _task_vars_host(self, task_vars):
        return (task_vars or {}).get("inventory_hostname") or self._play_context.remote_addr


def _timeout(value):
    if value is None or value == "":
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1
    if seconds < 0:
        raise AnsibleActionFail("report_lock_timeout must be a number of seconds, not %r" % (value,))
    return seconds
