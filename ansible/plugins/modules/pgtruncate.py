#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# Empties chosen PostgreSQL tables with pgtruncate.
from __future__ import annotations

DOCUMENTATION = r"""
module: pgtruncate
short_description: Empty chosen PostgreSQL tables in one transaction, never cascading into kept tables
description:
  - Runs C(pgtruncate) on the target. Tables already empty are not truncated again, so a rerun
    reports C(changed=false). A C(TRUNCATE ... CASCADE) that would reach a table outside the
    chosen set is refused (C(error_kind=refused)) unless O(allow_cascade).
version_added: 0.1.0
author: holdkit maintainers (@holdkit)
extends_documentation_fragment:
  - holdkit.fleet.common
options:
  tables:
    description: Tables to empty (C(schema.table), or the default schema's). Needed unless O(profile).
    type: list
    elements: str
  profile:
    description:
      - A hold profile's table groups, by name (C(/etc/holdkit/profiles/NAME.toml), else built in, C(cornice)) or by path
        (pgtruncate C(--preset)).
    type: str
    aliases: [preset]
  include:
    description: The profile's includes (or single groups) to add, e.g. C(opportunities) or C(auth) for cornice.
    type: list
    elements: str
    default: []
  except:
    description: Tables never truncated.
    type: list
    elements: str
    default: []
  env_file:
    description: Read C(DATABASE_URL) from this env file (it wins over O(database_url)).
    type: path
  database_url:
    description:
      - The database, as a URL or libpq key=value string.
      - Passed in pgtruncate's environment (C(DATABASE_URL)), never on its command line; never logged.
    type: str
  allow_cascade:
    description: Let CASCADE reach tables outside the chosen set (listed in the report).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Empty the runtime tables
  holdkit.fleet.pgtruncate:
    profile: cornice
    env_file: /etc/cornice/cornice.env

- name: Two tables of another database
  holdkit.fleet.pgtruncate:
    tables: [public.requests, public.market_snapshots]
    database_url: "{{ vault_reports_database_url }}"
"""

RETURN = r"""
holdkit:
  description: pgtruncate's report; C(truncated) lists each table with C(bytes_before) and
    C(bytes_after), plus C(statement), C(bytes_freed) and C(database) (its password redacted).
  returned: always, when pgtruncate ran
  type: dict
rc:
  description: pgtruncate's exit code.
  returned: always, when pgtruncate ran
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
  description: Each table's size before and after (diff mode).
  returned: diff mode
  type: dict
"""

from ansible_collections.holdkit.fleet.plugins.module_utils.holdkit import (
    COMMON_ARGS,
    ToolModule,
    finish,
    run_tool,
    table_lines,
    text_diff,
)


def main():
    argument_spec = dict(
        tables=dict(type="list", elements="str"),
        profile=dict(type="str", aliases=["preset"]),
        include=dict(type="list", elements="str", default=[]),
        env_file=dict(type="path"),
        database_url=dict(type="str", no_log=True),
        allow_cascade=dict(type="bool", default=False),
    )
    argument_spec["except"] = dict(type="list", elements="str", default=[])
    argument_spec.update(COMMON_ARGS)
    module = ToolModule(argument_spec=argument_spec, supports_check_mode=True,
                        required_one_of=[("tables", "profile")])
    p = module.params
    args = []
    if p["profile"]:
        args += ["--preset", p["profile"]]
    for group in p["include"]:
        args += ["--include", group]
    for table in p["except"]:
        args += ["--except", table]
    if p["env_file"]:
        args += ["--env-file", p["env_file"]]
    if p["allow_cascade"]:
        args.append("--allow-cascade")
    args += ["--"] + (p["tables"] or [])
    env = {"DATABASE_URL": p["database_url"]} if p["database_url"] else {}
    rc, report, stderr = run_tool(module, "pgtruncate", args, env=env)
    truncated = report.get("truncated") or []
    diff = text_diff(table_lines(truncated, "before"), table_lines(truncated, "after"), "tables")
    finish(module, rc, report, stderr, diff=diff)


if __name__ == "__main__":
    main()
