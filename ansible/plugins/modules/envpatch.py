#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# Sets and unsets keys of an env file in place with envpatch.
from __future__ import annotations

DOCUMENTATION = r"""
module: envpatch
short_description: Set and unset keys in an env file, format-preserving and atomic
description:
  - Runs C(envpatch) on the target. Comments, order, quoting and the file's mode and owner are
    kept; the file is replaced atomically; a key already at its value is not rewritten.
  - Values reach envpatch on its standard input (C(--from -)), never on its command line.
version_added: 0.1.0
author: holdkit maintainers (@holdkit)
extends_documentation_fragment:
  - holdkit.fleet.common
options:
  path:
    description: The env file.
    type: path
    required: true
  set:
    description:
      - Keys to assign, KEY to VALUE; values are taken literally.
      - Values of keys whose names look secret (PASSWORD, SECRET, TOKEN, KEY, DATABASE_URL, ...)
        are never logged, nor is a password inside a URL in any value, as the tools hide them.
    type: dict
    default: {}
  unset:
    description: Keys whose every assignment is removed.
    type: list
    elements: str
    default: []
  create:
    description: Create the file (mode 0600) if it does not exist.
    type: bool
    default: false
  backup:
    description: Keep the previous content beside the file (suffix C(.bak)).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Flags for hibernate mode
  holdkit.fleet.envpatch:
    path: /etc/cornice/cornice.env
    set:
      HIBERNATE_MODE: "true"
      INGEST_ENABLED: "false"
    backup: true

- name: Drop a retired key
  holdkit.fleet.envpatch:
    path: /etc/cornice/cornice.env
    unset: [LEGACY_FEED_URL]
"""

RETURN = r"""
holdkit:
  description: envpatch's report; C(changes) lists each key with C(action), C(old), C(new)
    (secret values redacted) and C(lines).
  returned: always, when envpatch ran
  type: dict
rc:
  description: envpatch's exit code.
  returned: always, when envpatch ran
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
  description: The changed keys before and after (diff mode; secret values redacted).
  returned: diff mode
  type: dict
"""

import json

from ansible_collections.holdkit.fleet.plugins.module_utils.holdkit import (
    COMMON_ARGS,
    ToolModule,
    finish,
    flag_lines,
    run_tool,
    text_diff,
)


def main():
    argument_spec = dict(
        path=dict(type="path", required=True),
        set=dict(type="dict", default={}),
        unset=dict(type="list", elements="str", default=[]),
        create=dict(type="bool", default=False),
        backup=dict(type="bool", default=False),
    )
    argument_spec.update(COMMON_ARGS)
    module = ToolModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    assignments = {}
    for key, value in (p["set"] or {}).items():
        value = "" if value is None else str(value)
        if isinstance(p["set"][key], bool):
            value = value.lower()
        assignments[str(key)] = value

    args = []
    if p["create"]:
        args.append("--create")
    if p["backup"]:
        args.append("--backup")
    for key in p["unset"]:
        args += ["--unset", key]
    if assignments:
        args += ["--from", "-"]
    args += ["--", p["path"]]
    data = json.dumps(assignments) if assignments else None
    rc, report, err = run_tool(module, "envpatch", args, data=data)
    changes = [c for c in report.get("changes") or [] if c.get("action") not in ("unchanged", "absent")]
    diff = text_diff(flag_lines(changes, "old"), flag_lines(changes, "new"), p["path"])
    finish(module, rc, report, err, diff=diff)


if __name__ == "__main__":
    main()
