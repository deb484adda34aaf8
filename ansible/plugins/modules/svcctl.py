#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# Starts, stops, enables, disables, masks or unmasks systemd units with svcctl.
from __future__ import annotations

DOCUMENTATION = r"""
module: svcctl
short_description: Control systemd units and report their real state before and after
description:
  - Runs C(svcctl VERB UNITS) on the target. svcctl reads each unit's state first, acts only on
    units not already in the asked state (so a rerun reports C(changed=false)), waits for the
    jobs, and reads the state again.
version_added: 0.1.0
author: holdkit maintainers (@holdkit)
extends_documentation_fragment:
  - holdkit.fleet.common
options:
  verb:
    description: What to do.
    type: str
    required: true
    choices: [status, start, stop, restart, enable, disable, mask, unmask]
  units:
    description: The units (a bare name means NAME.service).
    type: list
    elements: str
    required: true
  if_present:
    description: A unit that does not exist is reported and skipped, not an error.
    type: bool
    default: false
  now:
    description: With enable or disable, also start or stop.
    type: bool
    default: false
  timeout:
    description: Bound on each job, as svcctl reads durations (e.g. C(30s)). Default, svcctl's.
    type: str
"""

EXAMPLES = r"""
- name: Stop and disable the Cornice units
  holdkit.fleet.svcctl:
    verb: disable
    now: true
    units: [cornice, cornice-monitor]
    if_present: true
"""

RETURN = r"""
holdkit:
  description: svcctl's report; C(units) lists each unit with C(present), C(changed),
    C(actions), C(before) and C(after) (load, active, sub, enabled, main_pid).
  returned: always, when svcctl ran
  type: dict
rc:
  description: svcctl's exit code.
  returned: always, when svcctl ran
  type: int
error_kind:
  description: The report's C(error.kind).
  returned: failure
  type: str
msg:
  description: The report's C(error.message).
  returned: failure
  type: str
diff:
  description: Each unit's active/enabled state before and after (diff mode).
  returned: diff mode
  type: dict
"""

from ansible_collections.holdkit.fleet.plugins.module_utils.holdkit import (
    COMMON_ARGS,
    ToolModule,
    finish,
    run_tool,
    text_diff,
    unit_states,
)


def main():
    argument_spec = dict(
        verb=dict(type="str", required=True,
                  choices=["status", "start", "stop", "restart", "enable", "disable", "mask", "unmask"]),
        units=dict(type="list", elements="str", required=True),
        if_present=dict(type="bool", default=False),
        now=dict(type="bool", default=False),
        timeout=dict(type="str"),
    )
    argument_spec.update(COMMON_ARGS)
    module = ToolModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    args = [p["verb"]]
    if p["now"]:
        args.append("--now")
    if p["if_present"]:
        args.append("--if-present")
    if p["timeout"]:
        args += ["--timeout", p["timeout"]]
    args += ["--"] + p["units"]
    rc, report, stderr = run_tool(module, "svcctl", args, dry_run=module.check_mode and p["verb"] != "status")
    states = unit_states(report, p["verb"], p["now"])
    diff = text_diff(["%s: %s" % (u, s[0]) for u, s in sorted(states.items())],
                     ["%s: %s" % (u, s[1]) for u, s in sorted(states.items())], "units")
    finish(module, rc, report, stderr, diff=diff)


if __name__ == "__main__":
    main()
