#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# Puts one server on hold or wakes it, as its hold profile says, by running holdctl on the host.
from __future__ import annotations

DOCUMENTATION = r"""
module: hold
short_description: Hibernate or wake a server with holdctl, as its hold profile says
description:
  - Runs C(holdctl hibernate --yes) or C(holdctl wake) on the target, which in the runbook's order
    sets the hold profile's flags in the env file, stops and disables the profile's units, and
    empties its default table groups; wake undoes the hold as the host's hold record says.
  - The profile is C(cornice), built in, unless O(profile) names another.
  - Every step is idempotent, so running the task again after a failure finishes the job.
  - On the controller, the task also records the host's report in a JSON document (O(report_file)).
version_added: 0.1.0
author: holdkit maintainers (@holdkit)
extends_documentation_fragment:
  - holdkit.fleet.common
options:
  state:
    description: C(hibernated) runs C(holdctl hibernate --yes); C(awake) runs C(holdctl wake).
    type: str
    choices: [hibernated, awake]
    default: hibernated
  profile:
    description:
      - The hold profile, by name (C(/etc/holdkit/profiles/NAME.toml), else built in) or by path (holdctl C(--profile)).
      - Default, holdctl's (C(cornice)). A wake with a hold record follows the profile the hold was made with.
    type: str
  include:
    description: The profile's includes (or single groups) to empty too (hibernate only).
    type: list
    elements: str
    default: []
  include_opportunities:
    description: The spelling of O(include=opportunities) (hibernate only).
    type: bool
    default: false
  include_auth:
    description: The spelling of O(include=auth) (hibernate only).
    type: bool
    default: false
  keep_api:
    description: After clearing, start the API again in hibernate mode (hibernate only).
    type: bool
    default: false
  env_file:
    description: The env file. Default, the API unit's C(EnvironmentFile=) as systemd reports it.
    type: path
  service:
    description: The API unit, instead of the profile's.
    type: str
  monitor:
    description: The one other unit (skipped if absent), instead of the profile's other units.
    type: str
  database_url:
    description:
      - The database. Default, C(DATABASE_URL) from the env file.
      - Passed to holdctl in its environment (C(HOLDCTL_DATABASE_URL)), never on its command line,
        and never logged.
    type: str
  lock:
    description: holdctl's one-at-a-time lock file. Default, holdctl's.
    type: path
  state_dir:
    description:
      - Where holdctl keeps the hold record (C(hold.json)) and its history (holdctl C(--state-dir)).
        Default, holdctl's (C(/var/lib/holdkit)).
    type: path
    version_added: 0.2.0
  archive:
    description:
      - Hibernate only. C(true) keeps the emptied rows in an archive first (holdctl C(--archive)),
        in holdctl's default directory (C(STATE_DIR/archives)); a directory (an absolute path)
        puts it there (C(--archive=DIR)). C(false), the default, keeps none.
      - The hold record names the archive (path, sha256); RV(archive) returns it.
    type: raw
    version_added: 0.2.0
    default: false
  restore:
    description:
      - Wake only. Put the hold's archive back (holdctl C(wake --restore), C(pgtruncate --undo))
        before any unit starts. Refused by holdctl when the hold record names no archive, or the
        archive file is missing or was changed.
    type: bool
    version_added: 0.2.0
    default: false
  report_file:
    description:
      - Handled on the controller, by the action plugin of the same name. This host's report (or
        why there is none) is merged into this JSON document, an object of host name to report;
        many hosts and forks may share one file. A new ansible-playbook run starts it afresh.
      - Unset, nothing is recorded.
      - Written on the controller under the tools' trust rule, judged before the host is touched. The
        file's directory must be writable only by the controller's user (or root); a symlink
        at the file itself is refused, never followed; a symlink on the way is followed only
        when root, the controller's user or the owner of its target owns it. The document is
        replaced through a new temp file renamed within that directory.
      - What M(holdkit.fleet.hold_archive) added to the host's entry in the same run
        (C(controller_archive)) is kept.
    type: path
  report_lock_timeout:
    description:
      - Handled on the controller with O(report_file). Seconds to wait for the lock beside the
        document (a hidden C(.NAME.lock), which must be the controller user's own) while another
        fork writes it; then the task fails, saying who holds it.
    type: float
    default: 60
"""

EXAMPLES = r"""
- name: Put the host on hold
  holdkit.fleet.hold:
    state: hibernated
    bin_dir: /usr/bin

- name: Wake it again
  holdkit.fleet.hold:
    state: awake

- name: Put another application on hold, its history emptied too
  holdkit.fleet.hold:
    profile: ledger
    include: [history]

- name: Put the host on hold, the emptied rows kept in an archive on the host
  holdkit.fleet.hold:
    archive: true
  register: held

- name: Wake it with its rows put back from that archive
  holdkit.fleet.hold:
    state: awake
    restore: true

- name: Hibernate but keep the API answering, database given by the vault
  holdkit.fleet.hold:
    keep_api: true
    database_url: "{{ vault_cornice_database_url }}"
"""

RETURN = r"""
holdkit:
  description:
    - holdctl's report. C(steps) lists every step with its argv, exit code and the child tool's
      report; C(not_run) the steps not reached. Secrets are redacted by the tools.
  returned: always, when holdctl ran
  type: dict
  sample:
    tool: holdctl
    ok: true
    changed: true
    dry_run: false
    error: null
    command: hibernate
    steps: [{"name": "set_flags", "exit_code": 0, "ok": true, "changed": true}]
    not_run: []
rc:
  description: holdctl's exit code (0 ok, 1 failed, 2 usage, 3 refused, 4 not_found, 5 busy, 6 permission).
  returned: always, when holdctl ran
  type: int
  sample: 0
error_kind:
  description: The report's C(error.kind) (the failed step's own).
  returned: failure
  type: str
  sample: permission
msg:
  description: The report's C(error.message).
  returned: failure
  type: str
archive:
  description:
    - The hold's archive, as the hold record names it (hibernate, the current hold; wake, the one
      it undid); null when the hold kept none (or in a dry run, before anything was written).
    - C(path) is the file on the host, C(sha256) its SHA-256 as written (what C(sha256sum) prints),
      C(bytes) its size, C(holds_auth) whether the hold emptied the auth group too (it was made
      with O(include_auth) or O(include=auth)), so the archive holds the users and their secrets.
  returned: when holdctl ran
  type: dict
  sample:
    path: /var/lib/holdkit/archives/cornice1-20261205T140000Z-cornice.sql.gz
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    bytes: 1048576
    holds_auth: false
diff:
  description: Flags, unit states and runtime table sizes before and after (diff mode).
  returned: diff mode
  type: dict
"""

from ansible.module_utils.parsing.convert_bool import BOOLEANS, boolean

from ansible_collections.holdkit.fleet.plugins.module_utils.holdkit import (
    COMMON_ARGS,
    ToolModule,
    archive_result,
    finish,
    flag_lines,
    run_tool,
    table_lines,
    text_diff,
    unit_states,
)

DATABASE_URL_VAR = "HOLDCTL_DATABASE_URL"


def hold_diff(report):
    steps = {step.get("name"): step.get("report") or {} for step in report.get("steps") or []}
    before, after = [], []

    flags = (steps.get("set_flags") or steps.get("clear_flags") or {}).get("changes")
    before += ["flags:"] + ["  " + line for line in flag_lines(flags, "old")]
    after += ["flags:"] + ["  " + line for line in flag_lines(flags, "new")]

    # Each step's dry run predicts from the state the step before it left.
    current = {}
    read = {}
    if "read_units" in steps:
        read = unit_states(steps["read_units"], "status", current=current)
    units = {}
    for name, verb, now in (
        ("stop_units", "stop", False),
        ("disable_units", "disable", False),
        ("start_api", "start", False),
        ("enable_units", "enable", True),
    ):
        if name in steps:
            for unit, (b, a) in unit_states(steps[name], verb, now, current).items():
                units.setdefault(unit, [read.get(unit, (b,))[0], a])[1] = a
    for unit, (b, a) in read.items():
        units.setdefault(unit, [b, a])
    before += ["units:"] + ["  %s: %s" % (u, s[0]) for u, s in sorted(units.items())]
    after += ["units:"] + ["  %s: %s" % (u, s[1]) for u, s in sorted(units.items())]

    truncated = steps.get("truncate", {}).get("truncated")
    if truncated is not None:
        before += ["tables:"] + ["  " + line for line in table_lines(truncated, "before")]
        after += ["tables:"] + ["  " + line for line in table_lines(truncated, "after")]
    return text_diff(before, after, "holdctl %s" % report.get("command", ""))


def archive_option(module, value):
    """holdctl's --archive[=DIR] for the archive option (a boolean or a directory), or None."""
    if isinstance(value, bool) or (isinstance(value, str) and value.strip().lower() in
                                   [str(b).lower() for b in BOOLEANS]):
        return "--archive" if boolean(value, strict=False) else None
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith("/"):
        module.fail_json(
            msg="archive must be true, false or an absolute directory on the host, not %r" % (value,),
            error_kind="usage",
            rc=None,
        )
    return "--archive=%s" % value


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["hibernated", "awake"], default="hibernated"),
        profile=dict(type="str"),
        include=dict(type="list", elements="str", default=[]),
        include_opportunities=dict(type="bool", default=False),
        include_auth=dict(type="bool", default=False),
        keep_api=dict(type="bool", default=False),
        env_file=dict(type="path"),
        service=dict(type="str"),
        monitor=dict(type="str"),
        database_url=dict(type="str", no_log=True),
        lock=dict(type="path"),
        state_dir=dict(type="path"),
        archive=dict(type="raw", default=False),
        restore=dict(type="bool", default=False),
        report_file=dict(type="path"),
        report_lock_timeout=dict(type="float", default=60),
    )
    argument_spec.update(COMMON_ARGS)
    module = ToolModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params

    args = []
    for option in ("profile", "env_file", "service", "monitor", "lock", "state_dir"):
        if p[option]:
            args += ["--" + option.replace("_", "-"), p[option]]
    archive = archive_option(module, p["archive"])
    if p["state"] == "hibernated":
        for name in p["include"]:
            args += ["--include", name]
        for flag in ("include_opportunities", "include_auth", "keep_api"):
            if p[flag]:
                args.append("--" + flag.replace("_", "-"))
        if archive:
            args.append(archive)
        args += ["--yes", "hibernate"]
    else:
        if p["restore"]:
            args.append("--restore")
        args.append("wake")

    env = {DATABASE_URL_VAR: p["database_url"]} if p["database_url"] else {}
    rc, report, stderr = run_tool(module, "holdctl", args, env=env)
    finish(module, rc, report, stderr, diff=hold_diff(report) if module._diff else None,
           archive=archive_result(report))


if __name__ == "__main__":
    main()
