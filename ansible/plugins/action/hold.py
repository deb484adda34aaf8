# -*- coding: utf-8 -*-
# The controller side of holdkit.fleet.hold: runs the module on the host, then merges the
# host's report into the operator's JSON document (report_file) at once, so the document is
# whole even when the rollout stops halfway or a host cannot be reached.
from __future__ import annotations

import fcntl
import json
import os

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase


def record(path, run_id, host, entry):
    """Merges {host: entry} into the JSON object at path, under an exclusive lock (forks
    write the same file at the same time); written through a temp file and a rename.
    The lock file names the run that wrote the document last: a new run starts afresh."""
    path = os.path.abspath(path)
    directory, name = os.path.split(path)
    lock_path = os.path.join(directory, ".%s.lock" % name)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        document = {}
        if lock.read().strip() == run_id:
            try:
                with open(path) as existing:
                    document = json.load(existing)
            except (OSError, ValueError):
                pass
            if not isinstance(document, dict):
                document = {}
        else:
            lock.seek(0)
            lock.truncate()
            lock.write(run_id)
            lock.flush()
        document[host] = entry
        tmp = os.path.join(directory, ".%s.%d.tmp" % (name, os.getpid()))
        try:
            os.unlink(tmp)  # left by a run that died here
        except FileNotFoundError:
            pass
        out_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(out_fd, "w") as out:
            json.dump(document, out, indent=2, sort_keys=True)
            out.write("\n")
        os.rename(tmp, path)


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        report_file = args.pop("report_file", None)
        host = self._task_vars_host(task_vars)
        try:
            result.update(self._execute_module(
                module_name="holdkit.fleet.hold", module_args=args, task_vars=task_vars))
        except AnsibleConnectionFailure as e:
            if report_file:
                record(report_file, self._run_id(), host, {"unreachable": True, "msg": str(e)})
            raise
        if report_file:
            entry = result.get("holdkit")
            if entry is None:
                entry = {"ok": False, "msg": result.get("msg"), "error_kind": result.get("error_kind")}
            record(report_file, self._run_id(), host, entry)
        return result

    def _run_id(self):
        """Names this ansible-playbook run: the controller process the workers were forked
        from, and when it started."""
        parent = os.getppid()
        try:
            with open("/proc/%d/stat" % parent) as stat:
                started = stat.read().rsplit(")", 1)[1].split()[19]
        except (OSError, IndexError):
            started = "?"
        return "%d:%s" % (parent, started)

    def _task_vars_host(self, task_vars):
        return (task_vars or {}).get("inventory_hostname") or self._play_context.remote_addr
