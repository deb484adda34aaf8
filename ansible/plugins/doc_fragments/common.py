# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# The option every holdkit.fleet module shares.
from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  bin_dir:
    description:
      - Directory holding the holdkit tools (C(holdctl), C(envpatch), C(svcctl), C(pgtruncate)) on the target.
      - Without it the tool is looked up on the target's C(PATH).
    type: path
notes:
  - The tool runs on the target as a child process without a terminal; its one JSON report is
    returned under C(holdkit).
  - C(changed) is the report's C(changed). When the report's C(ok) is false the task fails with
    C(msg) (the tool's message), C(error_kind), C(rc) and the report under C(holdkit).
  - Check mode runs the tool with C(--dry-run), which inspects the real host and changes nothing.
attributes:
  check_mode:
    description: Runs the tool with C(--dry-run); reports what would change.
    support: full
  diff_mode:
    description: Returns before and after of what the tool touches.
    support: full
"""
