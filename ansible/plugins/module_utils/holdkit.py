# -*- coding: utf-8 -*-
# Shared by the holdkit.fleet modules: run one holdkit tool on the target, parse its JSON
# envelope, and turn it into the module's result. The tools do the work and keep their own
# promises (idempotence, dry runs, redaction); this file only maps their report.
from __future__ import annotations

import json
import os

# Options every module takes.
COMMON_ARGS = dict(
    bin_dir=dict(type="path"),
)

def tool_path(module, tool):
    """The tool's executable on the target, or fail naming what is missing."""
    bin_dir = module.params.get("bin_dir")
    if bin_dir:
        path = os.path.join(bin_dir, tool)
        if not os.access(path, os.X_OK):
            module.fail_json(
                msg="%s is not an executable file: install holdkit on this host or set bin_dir" % path,
                error_kind="not_found",
                rc=None,
            )
        return path
    path = module.get_bin_path(tool)
    if not path:
        module.fail_json(
            msg="%s is not on this host's PATH: install holdkit or set bin_dir" % tool,
            error_kind="not_found",
            rc=None,
        )
    return path


def run_tool(module, tool, args, env=None, dry_run=None, data=None):
    """Runs TOOL ARGS (plus --dry-run in check mode) without a terminal, DATA on its stdin;
    returns (rc, report, stderr). A tool that prints no envelope fails the module."""
    if dry_run is None:
        dry_run = module.check_mode
    argv = [tool_path(module, tool), "--json=short"]
    if dry_run:
        argv.append("--dry-run")
    argv.extend(args)
    rc, out, err = module.run_command(
        argv, environ_update=env or {}, data=data, binary_data=True, check_rc=False)
    try:
        report = json.loads(out)
        if not isinstance(report, dict) or "ok" not in report:
            raise ValueError("not an envelope")
    except ValueError:
        module.fail_json(
            msg="%s printed no JSON envelope (exit %s): is this holdkit's %s?" % (tool, rc, tool),
            error_kind="failed",
            rc=rc,
            stderr=err,
        )
    return rc, report, err


def finish(module, rc, report, stderr, diff=None, **extra):
    """Exits the module from a tool's report: failed whenever the report says ok is false
    (Ansible ignores exit codes), changed exactly when the report says so."""
    if not report.get("ok"):
        error = report.get("error") or {}
        # A step that failed halfway may already have changed the host: say so.
        module.fail_json(
            changed=bool(report.get("changed")),
            msg=error.get("message") or "%s failed (exit %s)" % (report.get("tool"), rc),
            error_kind=error.get("kind") or "failed",
            rc=rc,
            holdkit=report,
            stderr=stderr,
            **extra
        )
    result = dict(changed=bool(report.get("changed")), rc=rc, holdkit=report)
    result.update(extra)
    if diff is not None and module._diff:
        result["diff"] = diff
    module.exit_json(**result)


def text_diff(before, after, header):
    """An Ansible diff of two lists of lines."""
    return dict(
        before="\n".join(before) + "\n",
        after="\n".join(after) + "\n",
        before_header="%s (before)" % header,
        after_header="%s (after)" % header,
    )


# What each svcctl verb leaves behind, for a dry run that has no `after`.
_VERB_EFFECT = dict(
    start=dict(active="active"),
    restart=dict(active="active"),
    stop=dict(active="inactive"),
    enable=dict(enabled="enabled"),
    disable=dict(enabled="disabled"),
    mask=dict(enabled="masked"),
    unmask=dict(enabled="disabled"),
)


def unit_states(report, verb, now=False, current=None):
    """{unit: (before, after)} words ("active/enabled", "absent") from one svcctl report.
    In a dry run `after` is predicted from the verb, applied to `current` ({unit: state},
    the state an earlier step of the same run left, updated in place) or to `before`."""
    current = {} if current is None else current
    states = {}
    for unit in report.get("units") or []:
        name = unit.get("unit")
        before = unit.get("before") or {}
        if unit.get("present") is False:
            before = dict(before, present=False)
        base = current.get(name, before)
        after = unit.get("after")
        if after is None:
            after = dict(base)
            if unit.get("changed"):
                after.update(_VERB_EFFECT.get(verb, {}))
                if now and verb == "enable":
                    after["active"] = "active"
                if now and verb == "disable":
                    after["active"] = "inactive"
        elif unit.get("present") is False:
            after = dict(after, present=False)
        current[name] = after
        states[name] = (_unit_word(base), _unit_word(after))
    return states


def unit_absent(state):
    return state.get("present") is False


def _unit_word(state):
    if not state or state.get("load") == "not-found" or unit_absent(state):
        return "absent"
    return "%s/%s" % (state.get("active", "?"), state.get("enabled", "?"))


def flag_lines(changes, side):
    """KEY=VALUE lines of one side (old/new) of envpatch's changes."""
    lines = []
    for change in changes or []:
        value = change.get(side)
        lines.append("%s=%s" % (change.get("key"), "(unset)" if value is None else value))
    return lines


def table_lines(truncated, side):
    lines = []
    for table in truncated or []:
        if side == "before":
            size = table.get("bytes_before")
        else:
            size = table.get("bytes_after")
        lines.append("%s: %s" % (table.get("table"), "emptied" if size is None else "%s bytes" % size))
    return lines
