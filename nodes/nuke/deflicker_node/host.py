"""The Nuke side of the Deflicker node: menu entry, the Group and its knobs, buttons, knobChanged.

Inside the Group: Input -> ExportInput (Write: EXR, 32-bit float, raw, rgba; disabled except while
the node exports) and Result (Read of the server's output) -> ResultOrInput (Switch: 0 shows the
input, 1 the result) -> Output. A button press runs on Nuke's main thread: checks (plan), export
(nuke.execute of the Write over the range with handles), then a bridge.Job watched by a Runner on
a worker thread that shows a nuke.ProgressTask; the result is applied through
nuke.executeInMainThread. knobChanged only marks the result out of date: no network, no renders.
"""
import functools
import os

import deflicker_bridge as bridge
import nuke

from . import connecting, files, knobspec, plan, runner

# Nuke nodes cannot hold Python objects: the jobs under way live here, by node full name
RUNS = runner.ActiveRuns()

EXPORT, RESULT, SWITCH = "ExportInput", "Result", "ResultOrInput"
HANDLES_DEFAULT = 8
KNOB_CHANGED = "import deflicker_node.host\ndeflicker_node.host.knob_changed()"
BUTTON = "import nuke\nimport deflicker_node.host\ndeflicker_node.host.{}(nuke.thisNode())"
READY = "ready: press Analyse or Render"


# ----------------------------------------------------------------- menu and creation
def add_menu() -> None:
    """Nodes toolbar > Deflicker > Deflicker (called from menu.py)."""
    nuke.menu("Nodes").addMenu("Deflicker").addCommand(
        "Deflicker", "import deflicker_node.host\ndeflicker_node.host.create()")


def create(address=None):
    """Create a Deflicker node (connected to the selected node, as Nuke's createNode does) with
    knobs for every parameter the server describes. Returns the node, or None after telling the
    user why not (the graph is then unchanged)."""
    address = address or plan.default_address()
    base = plan.cache_base()
    effect = _describe(address, base)
    if effect is None:
        return None
    node = nuke.createNode("Group", inpanel=False)
    try:
        _build(node, effect, address)
    except Exception:
        nuke.delete(node)
        raise
    return node


def _describe(address, base):
    """The effect from the server (remembered in the cache folder), else from the last description
    seen on this machine; asks before starting a local server. None after a message."""
    cache_path = os.path.join(base, "effect.json")
    try:
        return bridge.describe_effect(address, cache_path, start=False)
    except bridge.ServerUnavailable:
        pass
    except bridge.BridgeError as error:
        nuke.message("Deflicker: the server at {} could not describe its parameters: {}".format(address, error))
        return None
    question = ("No deflicker server answers at {} and none has described its parameters on this machine "
                "yet.\n\nStart a local server now? (It keeps running for later nodes; the first start can "
                "take a minute.)".format(address))
    if not nuke.ask(question):
        nuke.message("Deflicker: " + connecting.no_server_at_creation(address))
        return None
    try:
        bridge.ensure_server(address, roots=plan.server_roots(base))
        return bridge.describe_effect(address, cache_path, start=False)
    except bridge.BridgeError as error:
        nuke.message("Deflicker: " + connecting.no_server_message(address, True, str(error)))
        return None


def _build(node, effect, address) -> None:
    specs = knobspec.knob_specs(effect)
    node["name"].setValue(_unique_name("Deflicker"))
    source = node.input(0)
    first, last = ((source.firstFrame(), source.lastFrame()) if source is not None
                   else (nuke.root()["first_frame"].value(), nuke.root()["last_frame"].value()))
    add = node.addKnob
    add(nuke.Tab_Knob("deflicker", "Deflicker"))
    add(_knob(nuke.String_Knob("server", "server"), address,
              "address of the deflicker server (docs/protocol.md); $DEFLICKER_ADDRESS sets the default"))
    add(_knob(nuke.Boolean_Knob("start_server", "start server if none answers"), True,
              "start a local server (deflicker serve) when none answers at the address"))
    add(nuke.Text_Knob("frames_divider", "Frames"))
    add(_knob(nuke.Boolean_Knob("use_input_range", "use input range"), True,
              "deflicker every frame of the input; off: only frame_first..frame_last"))
    add(_knob(nuke.Int_Knob("frame_first", "first frame"), int(first), "first frame to deflicker"))
    add(_knob(nuke.Int_Knob("frame_last", "last frame"), int(last), "last frame to deflicker"))
    add(_knob(nuke.Int_Knob("handles", "handles"), HANDLES_DEFAULT,
              "extra frames each side analysed for temporal context, as far as the input has them"))
    for row in knobspec.layout(specs):
        if row[0] == "divider":
            add(nuke.Text_Knob(row[1], row[2]))
        else:
            add(_param_knob(row[1]))
    add(nuke.Text_Knob("actions_divider", ""))
    add(nuke.PyScript_Knob("analyse", "Analyse", BUTTON.format("analyse")))
    add(nuke.PyScript_Knob("render", "Render", BUTTON.format("render")))
    add(nuke.PyScript_Knob("cancel", "Cancel", BUTTON.format("cancel")))
    add(_knob(nuke.Text_Knob("status", "status"), READY))
    stored = nuke.String_Knob("deflicker_params", "parameters")
    add(_knob(stored, knobspec.dumps(specs)))
    stored.setVisible(False)
    presets = nuke.String_Knob("deflicker_presets", "presets")
    add(_knob(presets, knobspec.dump_presets(effect)))
    presets.setVisible(False)
    _build_inside(node)
    node["knobChanged"].setValue(KNOB_CHANGED)


def _knob(knob, value, tooltip=""):
    knob.setValue(value)
    if tooltip:
        knob.setTooltip(tooltip)
    return knob


def _param_knob(spec):
    if spec.type == "choice":
        return _knob(nuke.Enumeration_Knob(spec.knob, spec.label, list(spec.choices)), str(spec.default), spec.help)
    if spec.type == "string":
        return _knob(nuke.String_Knob(spec.knob, spec.label), str(spec.default or ""), spec.help)
    if spec.type == "boolean":
        return _knob(nuke.Boolean_Knob(spec.knob, spec.label), bool(spec.default), spec.help)
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
        switch = nuke.nodes.Switch(name=SWITCH)
        switch.setInput(0, source)
        switch.setInput(1, read)
        switch["which"].setValue(0)
        nuke.nodes.Output(name="Output1").setInput(0, switch)
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
    try:
        _export(node, todo)
    except files.ExportError as error:
        nuke.message("Deflicker ({}): {}".format(node.name(), error))
        return
    except OSError as error:
        nuke.message("Deflicker ({}): cannot write the node's cache folder {}: {}. Set DEFLICKER_NUKE_CACHE to "
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
        _finish(key, todo, watcher, status)

    watcher = runner.Runner(job, "Deflicker {}".format(node.name()), nuke.ProgressTask, nuke.executeInMainThread,
                            finished)
    RUNS.add(key, watcher)
    _set_status(node, "{} {}...".format("analysing" if kind == plan.ANALYSE else "rendering", todo.describe()))
    watcher.start()


def _request(node, kind: str):
    specs = knobspec.loads(node["deflicker_params"].value())
    params = knobspec.collect_params(specs, lambda name: node[name].value())
    source = node.input(0)
    media = (int(source.firstFrame()), int(source.lastFrame())) if source is not None else (0, -1)
    return plan.Request(kind, node.name(), source is not None, media[0], media[1],
                        bool(node["use_input_range"].value()), int(node["frame_first"].value()),
                        int(node["frame_last"].value()), int(node["handles"].value()),
                        bool(nuke.root()["proxy"].value()), params, node["server"].value(),
                        bool(node["start_server"].value()))


def _folders(node):
    return plan.Folders(plan.cache_base(), nuke.root()["name"].value(), node.fullName())


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
def _finish(key: str, todo, watcher, status) -> None:
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
        _show(node, todo, watcher)


def _show(node, todo, watcher) -> None:
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
    read["file"].setValue(_nuke_path(todo.output))
    for name, value in (("origfirst", frames.start), ("origlast", frames.end), ("first", frames.start),
                        ("last", frames.end)):
        read[name].setValue(value)
    node.node(SWITCH)["which"].setValue(1)
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
    switch = node.node(SWITCH)
    showing = switch is not None and int(switch["which"].value()) != 0
    if showing:
        switch["which"].setValue(0)
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
