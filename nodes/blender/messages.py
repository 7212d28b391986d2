# SPDX-License-Identifier: GPL-3.0-or-later
"""Messages the user sees: the bridge's and the server's, with what to do about them."""

START_HINT = ("start one with `deflicker serve`, or tick 'Start a server' in the Deflicker add-on preferences "
              "so the add-on starts its own")


def no_server(address):
    return "no deflicker server answers at {}; {}".format(address, START_HINT)


def explain(message, address):
    """`message` (a failed job's) with the action that fixes it, where we know one."""
    text = message or "the job failed for an unknown reason"
    if " was lost: " in text:
        return ("the deflicker server at {} stopped answering during the job ({}); start it again "
                "(`deflicker serve`) and press Render again".format(address, text.split(" was lost: ", 1)[1]))
    if "cannot find the deflicker server" in text or "before answering" in text or "did not answer" in text:
        return "could not start a deflicker server: {}; install deflicker (or set DEFLICKER_PYTHON to a Python " \
               "that has it), or {}".format(text, START_HINT.split(", or ")[0])
    if "outside the server's allowed roots" in text:
        return ("{} (the server at {} was started with other roots: restart it with those --root folders, or "
                "stop it so the add-on starts its own)".format(text, address))
    if "unknown parameter" in text:
        return "{}; the server's parameters changed: press Refresh Parameters in the Deflicker panel".format(text)
    return text
