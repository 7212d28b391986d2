# SPDX-License-Identifier: Apache-2.0
"""The Nuke side of the Deflicker node: the Group and its knobs, buttons, knobChanged (needs the bridge;
`menu` is what Nuke imports at start-up, and it imports this module on first use).

Inside the Group: Input -> ExportInput (Write: EXR, 32-bit float, raw, rgba; disabled except while
the node exports), and Input (B) + Result (A: Read of the server's output) -> ResultOrInput (Copy of
the result's rgb onto the input stream, so other layers, alpha, metadata and timecode pass through;
disabled while there is no up-to-date result) -> Output. A button press runs on Nuke's main thread:
checks (plan), export (nuke.execute of the Write over the range with handles), then a bridge.Job
watched by a Runner on a worker thread that shows a nuke.ProgressTask; the result is applied through
nuke.executeInMainThread. Creating a node never waits on the network on the main thread: a known
description builds it at once, else a worker thread asks (or starts) the server behind a ProgressTask.
knobChanged only marks the result out of date: no network, no renders.
"""
import json
import os
import threading

import deflicker_bridge as bridge
import nuke

from . import connecting, files, knobspec, menu, plan, runner

# Nuke nodes cannot hold Python objects: the jobs under way live here, by node full name
RUNS = runner.ActiveRuns()
CREATING = []  # addresses being asked for a description on a worker thread (node creation under way)

EXPORT, RESULT, SWITCH = "ExportInput", "Result", "ResultOrInput"
HANDLES_DEFAULT = 8
KNOB_CHANGED = "import deflicker_node.menu\ndeflicker_node.menu.knob_changed()"
BUTTON = "import deflicker_node.menu\ndeflicker_node.menu.button({!r})"
READY = "ready: press Analyse or Render"
HELP = ("Removes brightness and colour flicker (old film, time-lapse, mains light, per-frame processed video) "
        "from its input, blindly: from the flickering frames alone. Analyse fits the analysis on the deflicker "
        "server (the slow part, cached there); Render writes the deflickered frames and shows them, copied onto "
        "the input's rgb (other layers, alpha and metadata pass through). Change a setting and the node shows "
        "its input until you Render again. Results go to the results folder (default: deflicker/ beside the "
        "script). See docs/hosts/nuke.md.")


# ----------------------------------------------------------------- creation
def add_menu() -> None:
    """Kept for menu.py blocks written by older installers."""
    menu.add_menu()


def creating() -> bool:
    return bool(CREATING)


def create(address=None):
    """Create a Deflicker node connected to the selected node, with knobs for every parameter the
    server describes. With a description already known (this machine's cache) the node is built at once
    and returned; else a worker thread asks the server (or starts one, after asking) and the node is
    built on the main thread when the answer comes: None is returned then, as after a refusal."""
    address = address or plan.default_address()
    base = plan.cache_base()
    selected = _selection()
    cached = _cached_effect(base)
    if cached is not None:
        threading.Thread(target=_refresh_cache, args=(address, base), name="deflicker-describe",
                         daemon=True).start()
        return _make_node(cached, address, selected)
    CREATING.append(address)
    _ask_server(address, base, selected, start=False)
    return None


def _selection():
    try:
        return nuke.selectedNode()
    except ValueError:  # nothing selected
        return None


def _cache_path(base):
    return os.path.join(base, "effect.json")


def _cached_effect(base):
    """The description a server gave on this machine before (None: none yet, or damaged)."""
    try:
        with open(_cache_path(base), "r") as handle:
            return bridge.Effect.from_describe(json.load(handle))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _refresh_cache(address, base):
    """Keep the remembered description current for the next node (worker thread, failures ignored)."""
    try:
        bridge.describe_effect(address, _cache_path(base), start=False)
    except Exception:
        pass


def _ask_server(address, base, selected, start):
    threading.Thread(target=_describe_on_worker, args=(address, base, selected, start),
                     name="deflicker-describe", daemon=True).start()


def _describe_on_worker(address, base, selected, start):
    """Ask (or start, then ask) the server behind a ProgressTask; the answer goes to the main thread."""
    task = nuke.ProgressTask("Deflicker")
    try:
        if start:
            task.setMessage("starting a deflicker server at {} (the first start can take a minute)".format(address))
            task.setProgress(10)
            bridge.ensure_server(address, roots=plan.server_roots(base))
        task.setMessage("asking the deflicker server at {} for its parameters".format(address))
        task.setProgress(60)
        outcome = ("effect", bridge.describe_effect(address, _cache_path(base), start=False))
    except bridge.ServerUnavailable as error:
        outcome = ("failed", str(error)) if start else ("none", "")
    except bridge.BridgeError as error:
        outcome = ("failed", str(error)) if start else ("refused", str(error))
    except Exception as error:  # the user must hear about it rather than wait for a node forever
        outcome = ("failed", "{}: {}".format(type(error).__name__, error))
    task.setProgress(100)
    del task
    nuke.executeInMainThread(_described, (address, base, selected, outcome))


def _described(address, base, selected, outcome):
    """Main thread: build the node from the description, or ask / explain (nothing built then)."""
    kind, detail = outcome
    if kind == "none":
        question = ("No deflicker server answers at {} and none has described its parameters on this machine "
                    "yet.\n\nStart a local server now? (It keeps running for later nodes; the first start can "
                    "take a minute.)".format(address))
        if nuke.ask(question):
            _ask_server(address, base, selected, start=True)
            return
        nuke.message("Deflicker: " + connecting.no_server_at_creation(address))
    elif kind == "refused":
        nuke.message("Deflicker: the server at {} could not describe its parameters: {}".format(address, detail))
    elif kind == "failed":
        nuke.message("Deflicker: " + connecting.no_server_message(address, True, detail))
    else:
        _make_node(detail, address, selected)
    CREATING.remove(address)


def _make_node(effect, address, selected):
    """Build the Group, its inside, then connect it to the remembered selection and read its range
    (a Group has no input until its Input node exists, so createNode cannot connect it)."""
    node = nuke.createNode("Group", inpanel=False)
    try:
        _build(node, effect, address)
        if selected is not None and selected is not node:
            node.setInput(0, selected)
        _set_range(node)
    except Exception:
        nuke.delete(node)
        raise
    return node


def _set_range(node):
    source = node.input(0)
    first, last = ((source.firstFrame(), source.lastFrame()) if source is not None
                   else (nuke.root()["first_frame"].value(), nuke.root()["last_frame"].value()))
    node["frame_first"].setValue(int(first))
    node["frame_last"].setValue(int(last))


def _build(node, effect, address) -> None:
    specs = knobspec.knob_specs(effect)
    node["name"].setValue(_unique_name("Deflicker"))
    if node.knob("help") is not None:
        node["help"].setValue(HELP)
    add = node.addKnob
    add(nuke.Tab_Knob("deflicker", "Deflicker"))
    add(_knob(nuke.Text_Knob("about", "", "Deflicker: Analyse, then Render. Hover a knob for its help."), None,
              HELP))
    add(_knob(nuke.String_Knob("server", "server"), address,
              "address of the deflicker server (docs/protocol.md); $DEFLICKER_ADDRESS sets the default"))
    add(_line(_knob(nuke.Boolean_Knob("start_server", "start server if none answers"), True,
                    "start a local server (deflicker serve) when none answers at the address")))
    add(_knob(nuke.String_Knob("results_folder", "results folder"), plan.DEFAULT_RESULTS,
              "where the exported input and the results go: a folder relative to the script's folder (default "
              "deflicker, beside the script, so farm machines and other artists find them), or an absolute one; "
              "an unsaved script uses your cache folder"))
    add(nuke.Text_Knob("frames_divider", "Frames"))
    add(_line(_knob(nuke.Boolean_Knob("use_input_range", "use input range"), True,
                    "deflicker every frame of the input; off: only first frame..last frame")))
    add(_knob(nuke.Int_Knob("frame_first", "first frame"), 1, "first frame to deflicker"))
    add(_knob(nuke.Int_Knob("frame_last", "last frame"), 1, "last frame to deflicker"))
    add(_knob(nuke.Int_Knob("handles", "handles"), HANDLES_DEFAULT,
              "extra frames each side analysed for temporal context, as far as the input has them"))
    for row in knobspec.layout(specs):
        if row[0] == "divider":
            add(nuke.Text_Knob(row[1], row[2]))
        else:
            add(_param_knob(row[1]))
    add(nuke.Text_Knob("actions_divider", ""))
    add(_knob(nuke.PyScript_Knob("analyse", "Analyse", BUTTON.format("analyse")), None,
              "analyse the frames on the server (the slow part; cached there, so Render is quick afterwards)"))
    add(_knob(nuke.PyScript_Knob("render", "Render", BUTTON.format("render")), None,
              "analyse if needed, write the deflickered frames and show them"))
    add(_knob(nuke.PyScript_Knob("cancel", "Cancel", BUTTON.format("cancel")), None, "stop the running job"))
    add(_knob(nuke.Text_Knob("status", "status"), READY, "what the node shows, and what it did last"))
    for name, value in (("deflicker_params", knobspec.dumps(specs)), ("deflicker_presets", knobspec.dump_presets(effect)),
                        (menu.KEY_KNOB, ""), (menu.SHOWN_KNOB, "")):
        stored = nuke.String_Knob(name, name)
        add(_knob(stored, value))
        stored.setVisible(False)
    _build_inside(node)
    node["knobChanged"].setValue(KNOB_CHANGED)


def _knob(knob, value, tooltip=""):
    if value is not None:
        knob.setValue(value)
    if tooltip:
        knob.setTooltip(tooltip)
    return knob


def _line(knob):
    """A checkbox on a line of its own (Nuke puts a Boolean_Knob beside the previous knob otherwise)."""
    knob.setFlag(nuke.STARTLINE)
    return knob


def _param_knob(spec):
    if spec.type == "choice":
        return _knob(nuke.Enumeration_Knob(spec.knob, spec.label, list(spec.choices)), str(spec.default), spec.help)
    if spec.type == "string":
        return _knob(nuke.String_Knob(spec.knob, spec.label), str(spec.default or ""), spec.help)
    if spec.type == "boolean":
        return _line(_knob(nuke.Boolean_Knob(spec.knob, spec.label), bool(spec.default), spec.help))
    if spec.type == "integer":
        return _knob(nuke.Int_Knob(spec.knob, spec.label), int(spec.default), spec.help)
    knob = nuke.Double_Knob(spec.knob, spec.label)
    if spec.min is not None and spec.max is not None:
        knob.setRange(float(spec.min), float(spec.max))
    return _knob(knob, float(spec.default), spec.help)


def _build_inside(node) -> None:
    node.begin()
    try:
        source = nuke.nodes.Input(name="Input1")
        write = nuke.nodes.Write(name=EXPORT)
        write.setInput(0, source)
        for name, value in (("file_type", "exr"), ("datatype", "32 bit float"), ("channels", "rgba"),
                            ("raw", True), ("metadata", "no metadata"), ("disable", True)):
            write[name].setValue(value)
        read = nuke.nodes.Read(name=RESULT)
        for name, value in (("raw", True), ("before", "black"), ("after", "black")):
            read[name].setValue(value)
        copy = nuke.nodes.Copy(name=SWITCH)
        copy.setInput(0, source)    # B: the input stream, passed through
        copy.setInput(1, read)      # A: the result, whose rgb replaces B's
        for i, channel in enumerate(("rgba.red", "rgba.green", "rgba.blue")):
            copy["from{}".format(i)].setValue(channel)
            copy["to{}".format(i)].setValue(channel)
        copy["from3"].setValue("none")
        copy["to3"].setValue("none")
        copy["disable"].setValue(True)
        nuke.nodes.Output(name="Output1").setInput(0, copy)
    finally:
        node.end()


def _unique_name(base: str) -> str:
    index = 1
    while nuke.toNode("{}{}".format(base, index)) is not None:
        index += 1
    return "{}{}".format(base, index)


# ----------------------------------------------------------------- buttons
def analyse(node) -> None:
    _start(node, plan.ANALYSE)


def render(node) -> None:
    _start(node, plan.RENDER)


def cancel(node) -> None:
    run = RUNS.get(node.fullName())
    if run is not None:
        run.cancel()
        _set_status(node, "cancelling...")


def running(node) -> bool:
    """True from a button press until its result (or error) has been applied to the node."""
    return RUNS.get(node.fullName()) is not None


def _start(node, kind: str) -> None:
    key = node.fullName()
    if RUNS.get(key) is not None:
        nuke.message("Deflicker: {} is still working; wait for it or press Cancel.".format(node.name()))
        return
    try:
        todo = plan.make_plan(_request(node, kind), _folders(node), plan.new_token())
    except (plan.PlanError, knobspec.ParameterValueError) as error:
        nuke.message("Deflicker ({}): {}".format(node.name(), error))
        return
    result_key = menu.current_key(node)
    try:
        _export(node, todo)
    except files.ExportError as error:
        nuke.message("Deflicker ({}): {}".format(node.name(), error))
        return
    except OSError as error:
        nuke.message("Deflicker ({}): cannot write the node's folder {}: {}. Set the node's 'results folder' to "
                     "a folder you may write.".format(node.name(), todo.folders.root, error.strerror or error))
        return
    except RuntimeError as error:  # nuke.execute: cancelled by the user, or the input failed to render
        if "cancel" in str(error).lower():
            _set_status(node, "cancelled while exporting the input: nothing was changed")
        else:
            nuke.message("Deflicker ({}): the input could not be rendered: {}".format(node.name(), error))
        return
    roots = plan.server_roots(todo.folders.base)
    job = bridge.Job(todo.source, todo.output, params=todo.params, address=todo.address, roots=roots,
                     connect=connecting.connector(todo.address, roots, todo.start_server, "nuke " + key))

    def finished(status):
        _finish(key, todo, watcher, status, result_key)

    watcher = runner.Runner(job, "Deflicker {}".format(node.name()), nuke.ProgressTask, nuke.executeInMainThread,
                            finished)
    RUNS.add(key, watcher)
    _set_status(node, "{} {}...".format("analysing" if kind == plan.ANALYSE else "rendering", todo.describe()))
    watcher.start()


def _request(node, kind: str):
    specs = knobspec.loads(node["deflicker_params"].value())
    params = knobspec.collect_params(specs, lambda name: node[name].value())
    params = plan.with_colorspace(params, _input_colorspace(node))
    source = node.input(0)
    media = (int(source.firstFrame()), int(source.lastFrame())) if source is not None else (0, -1)
    return plan.Request(kind, node.name(), source is not None, media[0], media[1],
                        bool(node["use_input_range"].value()), int(node["frame_first"].value()),
                        int(node["frame_last"].value()), int(node["handles"].value()),
                        bool(nuke.root()["proxy"].value()), params, node["server"].value(),
                        bool(node["start_server"].value()))


def _folders(node):
    setting = node["results_folder"].value() if node.knob("results_folder") is not None else ""
    base = plan.results_base(nuke.root()["name"].value(), setting)
    return plan.Folders(base, nuke.root()["name"].value(), node.fullName())


def _input_colorspace(node):
    """The colour space of the frames the internal Write exports: raw, so Nuke's working space (the Read
    already converted the plate into it). Only an OCIO-managed script names one the server can look up."""
    root = nuke.root()
    management = root.knob("colorManagement")
    working = root.knob("workingSpaceLUT")
    if management is None or working is None or management.value() != "OCIO":
        return ""
    return working.value()


def _export(node, todo) -> dict:
    """Render the input over the range with handles through the internal Write (main thread), then
    move the frames into the input folder keeping unchanged ones (see files.sync_frames)."""
    write = node.node(EXPORT)
    folders, frames = todo.folders, todo.range
    if not os.path.isdir(folders.staging):
        os.makedirs(folders.staging)
    files.remove_frames(folders.staging_pattern)
    saved = dict((name, write[name].value()) for name in ("file", "disable"))
    write["file"].setValue(_nuke_path(folders.staging_pattern))
    write["disable"].setValue(False)
    try:
        nuke.execute(write, frames.start, frames.end)
    except Exception:
        files.remove_frames(folders.staging_pattern)
        raise
    finally:
        for name, value in saved.items():
            write[name].setValue(value)
    return files.sync_frames(folders.staging_pattern, folders.input_pattern, frames.start, frames.end)


# ----------------------------------------------------------------- results (main thread)
def _finish(key: str, todo, watcher, status, result_key=None) -> None:
    RUNS.discard(key, watcher)
    with nuke.root():
        node = nuke.toNode(key)
    if node is None:  # deleted while it ran: nothing to show
        if todo.output:
            files.remove_frames(todo.output)
        return
    if status.state == "cancelled":
        _set_status(node, "cancelled: nothing was changed")
    elif status.state != "done":
        _fail(node, connecting.explain_failure(status.message or status.state, todo.address))
    elif todo.output is None:
        _set_status(node, "analysed {}{}: press Render".format(todo.describe(), knobspec.ran_with(todo.params)))
    else:
        _show(node, todo, watcher, result_key)


def _show(node, todo, watcher, result_key=None) -> None:
    frames = todo.range
    missing = files.missing_frames(todo.output, frames.start, frames.end)
    if missing:
        files.remove_frames(todo.output)
        _fail(node, "the server did not write frame(s) {} of {}".format(
            files.frame_ranges(missing), os.path.basename(todo.output)))
        return
    if watcher.outdated:
        files.remove_frames(todo.output)
        _set_status(node, "settings changed while it ran: press Render again")
        return
    read = node.node(RESULT)
    read["file"].setValue(plan.script_relative(_nuke_path(todo.output), _nuke_path(nuke.root()["name"].value())))
    for name, value in (("origfirst", frames.start), ("origlast", frames.end), ("first", frames.start),
                        ("last", frames.end)):
        read[name].setValue(value)
    node[menu.KEY_KNOB].setValue(result_key or "")
    node.node(SWITCH)["disable"].setValue(False)
    if node["label"].value() == menu.STALE_LABEL:
        node["label"].setValue("")
    files.prune_results(todo.folders.results, todo.output)
    _set_status(node, "showing the result of {}{}".format(todo.describe(), knobspec.ran_with(todo.params)))


def _fail(node, message: str) -> None:
    _set_status(node, "failed: " + message)
    nuke.message("Deflicker ({}): {}".format(node.name(), message))


# ----------------------------------------------------------------- knobChanged
def knob_changed(node=None, knob=None) -> None:
    """Mark the result out of date when something that feeds it changes. No network, no renders."""
    node = node if node is not None else nuke.thisNode()
    knob = knob if knob is not None else nuke.thisKnob()
    stored = node.knob("deflicker_params")
    if stored is None or knob is None:
        return
    specs = knobspec.loads(stored.value())
    preset = knobspec.preset_spec(specs)
    if preset is not None and knob.name() == preset.knob:
        _apply_preset(node, specs, knob.value())
    reason = knobspec.stale_reason(knob.name(), specs)
    if reason is None:
        return
    watcher = RUNS.get(node.fullName())
    if watcher is not None:
        watcher.outdated = True
    copy = node.node(SWITCH)
    showing = copy is not None and not copy["disable"].value()
    if showing:
        copy["disable"].setValue(True)
    status = node["status"].value()
    if showing or status.startswith(("analysed", "out of date")):
        _set_status(node, "out of date ({}); showing the input".format(reason))


def _apply_preset(node, specs, preset) -> None:
    """Fill the knobs a preset sets (stored on the node: no server needed)."""
    presets = node.knob("deflicker_presets")
    for name, value in knobspec.preset_updates(specs, presets.value() if presets else "", preset):
        knob = node.knob(name)
        if knob is not None and knob.value() != value:
            knob.setValue(value)


def _set_status(node, text: str) -> None:
    if node["status"].value() != text:
        node["status"].setValue(text)


def _nuke_path(path: str) -> str:
    """Nuke file knobs want forward slashes on every platform."""
    return path.replace(os.sep, "/")
