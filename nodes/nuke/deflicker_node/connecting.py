# SPDX-License-Identifier: Apache-2.0
"""Reach the server for a job: the one at the node's address, or (when allowed) one started here.

Nuke's Python has no torch, so a server started here runs in another Python (see
bridge.launcher.server_command). Every failure becomes a ServerUnavailable whose message says
what to do.
"""
from typing import Callable, Sequence

import deflicker_bridge as bridge

def no_server_message(address: str, start_server: bool, reason: str = "") -> str:
    if start_server:
        return ("could not start a deflicker server at {}{}. Start one yourself with "
                "`deflicker serve --bind {}`, or set DEFLICKER_PYTHON to a Python that has deflicker "
                "installed.".format(address, " ({})".format(reason) if reason else "", address))
    return ("no deflicker server answers at {}. Start one with `deflicker serve --bind {}`, or turn on "
            "'start server' on the node to let it start one.".format(address, address))


def no_server_at_creation(address: str) -> str:
    return ("no deflicker server answers at {0}. Start one with `deflicker serve --bind {0}`, then create the "
            "node again.".format(address))


def explain_failure(message: str, address: str) -> str:
    """A failed job's message in words a user can act on: a lost server gets advice, the rest (the
    server's own messages) already say what to do."""
    if " was lost: " in message:
        reason = message.split(" was lost: ", 1)[1].strip()
        return ("the deflicker server at {} stopped answering while it worked ({}). Check that it still runs "
                "(`deflicker status --server {}`), then press the button again.".format(address, reason, address))
    return message


def connector(address: str, roots: Sequence[str] = (), start_server: bool = True,
              name: str = "nuke") -> Callable[[], "bridge.Connection"]:
    """The `connect` of a bridge.Job: returns a connected bridge.Connection or raises ServerUnavailable."""
    return bridge.connector(address, roots, start_server, name,
                            no_server=lambda a: no_server_message(a, False),
                            start_failed=lambda a, reason: no_server_message(a, True, reason))
