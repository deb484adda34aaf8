# -*- coding: utf-8 -*-
# Copyright (c) holdkit maintainers
# SPDX-License-Identifier: MIT OR Apache-2.0
# Reaches a sandboxed host (a systemd booted as PID 1 of its own pid and mount namespaces on
# this machine) by entering its namespaces with nsenter, as an operator's shell there would.
from __future__ import annotations

DOCUMENTATION = r"""
name: sandbox
short_description: Run tasks inside a local sandbox's mount and pid namespaces
description:
  - Runs commands with C(nsenter -t PID -m -p) in the namespaces of a sandboxed host, a
    systemd booted as PID 1 of its own pid and mount namespaces on the controller's machine
    (the test and demo hosts of holdkit). Both namespaces are needed, or that systemd drops
    its clients' connections.
  - Files are copied through the same namespaces, so paths mounted only inside the sandbox
    work too.
  - Needs root on the controller.
version_added: 0.1.0
author: holdkit maintainers (@holdkit)
options:
  sandbox_pid:
    description: Host pid of the sandbox's PID 1.
    type: int
    required: true
    vars:
      - name: ansible_sandbox_pid
  nsenter:
    description: The nsenter executable.
    type: str
    default: nsenter
    vars:
      - name: ansible_sandbox_nsenter
"""

import os
import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

display = Display()


class Connection(ConnectionBase):
    transport = "holdkit.fleet.sandbox"
    has_pipelining = True

    def _prefix(self):
        pid = self.get_option("sandbox_pid")
        if not os.path.isdir("/proc/%d" % pid):
            raise AnsibleConnectionFailure("sandbox pid %d is not running: is the sandbox up?" % pid)
        return [self.get_option("nsenter"), "-t", str(pid), "-m", "-p", "--"]

    def _connect(self):
        if not self._connected:
            self._prefix()
            self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super(Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        argv = self._prefix() + ["/bin/sh", "-c", cmd]
        display.vvv("EXEC %s" % shlex.join(argv), host=self._play_context.remote_addr)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if in_data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdout, stderr = proc.communicate(in_data)
        return proc.returncode, stdout, stderr

    def put_file(self, in_path, out_path):
        super(Connection, self).put_file(in_path, out_path)
        display.vvv("PUT %s TO %s" % (in_path, out_path), host=self._play_context.remote_addr)
        with open(to_bytes(in_path), "rb") as source:
            self._copy(source, None, "cat > %s" % shlex.quote(out_path), out_path)

    def fetch_file(self, in_path, out_path):
        super(Connection, self).fetch_file(in_path, out_path)
        display.vvv("FETCH %s TO %s" % (in_path, out_path), host=self._play_context.remote_addr)
        with open(to_bytes(out_path), "wb") as sink:
            self._copy(subprocess.DEVNULL, sink, "cat -- %s" % shlex.quote(in_path), in_path)

    def _copy(self, stdin, stdout, script, path):
        argv = self._prefix() + ["/bin/sh", "-c", script]
        # check=False: the exit code is turned into an AnsibleError with the copy's stderr below.
        proc = subprocess.run(argv, stdin=stdin, stdout=stdout or subprocess.DEVNULL, stderr=subprocess.PIPE,
                              check=False)
        if proc.returncode != 0:
            raise AnsibleError("copying %s in the sandbox failed: %s" % (path, proc.stderr.decode(errors="replace").strip()))

    def close(self):
        self._connected = False
