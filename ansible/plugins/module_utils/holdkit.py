# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# Shared by the holdkit.fleet modules: run one holdkit tool on the target, parse its JSON
# envelope, and turn it into the module's result. The tools do the work and keep their own
# promises (idempotence, dry runs, redaction); this file only maps their report.
from __future__ import annotations

import json
import os
import re
from urllib.parse import unquote

from ansible.module_utils.basic import AnsibleModule

# Options every module takes.
COMMON_ARGS = dict(
    bin_dir=dict(type="path"),
)

# The tools' rule for secrets (conventions/src/secrets.rs), so that the module never shows
# what the tool it runs would hide: a value whose key name holds one of these words, or is
# DATABASE_URL, is secret whole; a password inside a URL (or a password= parameter) is
# secret in any value, whatever its key.
SECRET_MARKERS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "PRIVATE", "DSN")


def is_secret_key(key):
    upper = str(key).upper()
    return upper == "DATABASE_URL" or any(marker in upper for marker in SECRET_MARKERS)


def _userinfo_password(token):
    """The raw password of scheme://user:PASSWORD@host/..., as libpq reads it: the user-info
    runs to the last '@' before the first '/' after the scheme."""
    scheme = token.find("://")
    if scheme < 0:
        return None
    rest = token[scheme + 3:]
    authority = rest.split("/", 1)[0]
    at = authority.rfind("@")
    if at < 0:
        return None
    userinfo = authority[:at]
    if ":" not in userinfo:
        return None
    return userinfo.split(":", 1)[1]


_PASSWORD_PARAM = re.compile(r"(?:^|[?&\s])password\s*=\s*('(?:[^'\\]|\\.)*'?|[^&\s]*)", re.I)


def url_passwords(text):
    """Every password inside URLs or password= parameters of TEXT, raw and decoded."""
    found = set()
    # Token by token as the tools scrub free text, and whole: more is hidden, never less.
    tokens = [text] + re.split(r"\s+", text) + re.split(r"[\s\"'`<>]+", text)
    for token in tokens:
        password = _userinfo_password(token)
        if password:
            found.update((password, unquote(password)))
    for match in _PASSWORD_PARAM.finditer(text):
        value = match.group(1)
        if value:
            found.update((value, value.strip("'"), unquote(value)))
    return set(p for p in found if p)


def secret_values(value, key=None):
    """What must never be shown of one parameter: the whole value under a secret-looking
    key, and every URL password anywhere inside it (dict keys name their values)."""
    found = set()
    if isinstance(value, dict):
        for k, v in value.items():
            found |= secret_values(v, k)
    elif isinstance(value, (list, tuple)):
        for v in value:
            found |= secret_values(v, key)
    elif value is not None and not isinstance(value, bool):
        text = str(value)
        if key is not None and is_secret_key(key) and text:
            found.add(text)
        found |= url_passwords(text)
    return found


class ToolModule(AnsibleModule):
    """AnsibleModule that hides secrets the way the tools do, from the moment its parameters
    are read: before validation, so an invalid option's failure, the invocation logged on
    the host and every result (invocation.module_args included) are masked too."""

    def __init__(self, *args, **kwargs):
        super(ToolModule, self).__init__(*args, **kwargs)
        # Again on the validated values, should a later ansible-core read its parameters
        # without _load_params.
        self._hide_secrets()

    def _load_params(self):
        super(ToolModule, self)._load_params()
        self._hide_secrets()

    def _hide_secrets(self):
        for name, value in self.params.items():
            if not str(name).startswith("_ansible_"):
                self.no_log_values.update(secret_values(value, name))


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


def archive_result(report):
    """The hold's archive as holdctl's report names it (the hold record's): path, sha256,
    bytes, and whether the hold emptied the auth group too; None when it kept none."""
    hold = report.get("hold") or {}
    archive = hold.get("archive")
    if not archive:
        return None
    return dict(
        path=archive.get("path"),
        sha256=archive.get("sha256"),
        bytes=archive.get("bytes"),
        holds_auth=bool((hold.get("options") or {}).get("include_auth")),
    )


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
