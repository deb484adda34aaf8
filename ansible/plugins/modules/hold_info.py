#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# Reads one Cornice server's hold state with holdctl status; changes nothing.
from __future__ import annotations

DOCUMENTATION = r"""
module: hold_info
short_description: Read a Cornice server's flags, unit states and runtime table sizes
description:
  - Runs C(holdctl status) on the target. Read only, also outside check mode; C(changed) is
    always false.
version_added: 0.1.0
author: holdkit maintainers (@holdkit)
extends_documentation_fragment:
  - holdkit.fleet.common
options:
  env_file:
    description: The env file. Default, the API unit's C(EnvironmentFile=).
    type: path
  profile:
    description: The hold profile, by name or by path (holdctl C(--profile)). Default, holdctl's (C(cornice)).
    type: str
  service:
    description: The API unit, instead of the profile's.
    type: str
  monitor:
    description: The one other unit, instead of the profile's other units.
    type: str
  database_url:
    description:
      - The database. Default, C(DATABASE_URL) from the env file.
      - Passed in holdctl's environment (C(HOLDCTL_DATABASE_URL)), never on its command line; never logged.
    type: str
  lock:
    description: holdctl's lock file. Default, holdctl's.
    type: path
  state_dir:
    description: Where holdctl keeps the hold record (holdctl C(--state-dir)). Default, holdctl's (C(/var/lib/holdkit)).
    type: path
    version_added: 0.2.0
"""

EXAMPLES = r"""
- name: Is the host on hold?
  holdkit.fleet.hold_info:
  register: hold

- ansible.builtin.debug:
    msg: "hibernating: {{ hold.holdkit.env.hibernating }}, {{ hold.holdkit.runtime_bytes }} bytes of runtime data"
"""

RETURN = r"""
holdkit:
  description: holdctl's status report; C(env) (the flags), C(units) (each unit's state),
    C(tables) (runtime table sizes) and C(runtime_bytes).
  returned: always, when holdctl ran
  type: dict
  sample:
    command: status
    env: {"values": {"HIBERNATE_MODE": "false", "INGEST_ENABLED": "true"}, "hibernating": false}
    units: [{"unit": "cornice.service", "active": "active", "enabled": "enabled"}]
    runtime_bytes: 1064960
rc:
  description: holdctl's exit code.
  returned: always, when holdctl ran
  type: int
error_kind:
  description: The report's C(error.kind).
  returned: failure
  type: str
msg:
  description: The report's C(error.message).
  returned: failure
  type: str
archive:
  description:
    - The current hold's archive, as its hold record names it (C(path) on the host, C(sha256),
      C(bytes), C(holds_auth)); see the M(holdkit.fleet.hold) module. Null when the host is not on
      hold or its hold kept no archive.
  returned: when holdctl ran
  type: dict
"""

from ansible_collections.holdkit.fleet.plugins.module_utils.holdkit import (
    COMMON_ARGS,
    ToolModule,
    archive_result,
    finish,
    run_tool,
)


def main():
    argument_spec = dict(
        profile=dict(type="str"),
        env_file=dict(type="path"),
        service=dict(type="str"),
        monitor=dict(type="str"),
        database_url=dict(type="str", no_log=True),
        lock=dict(type="path"),
        state_dir=dict(type="path"),
    )
    argument_spec.update(COMMON_ARGS)
    module = ToolModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    args = []
    for option in ("profile", "env_file", "service", "monitor", "lock", "state_dir"):
        if p[option]:
            args += ["--" + option.replace("_", "-"), p[option]]
    args.append("status")
    env = {"HOLDCTL_DATABASE_URL": p["database_url"]} if p["database_url"] else {}
    rc, report, stderr = run_tool(module, "holdctl", args, env=env, dry_run=False)
    # status is read only: never changed, whatever the report might say.
    report = dict(report, changed=False)
    finish(module, rc, report, stderr, archive=archive_result(report))


if __name__ == "__main__":
    main()
