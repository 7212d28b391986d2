# SPDX-License-Identifier: Apache-2.0
"""A stand-in for Nuke's `nuke` module: exactly the calls the Deflicker node (nodes/nuke) makes, for tests.

Test code (numpy, OpenCV and OpenEXR are fine here). Reads, Writes and nuke.execute really read and
write image files, so the node runs end to end against a real deflicker server.

What it follows, checked with the `search` tool against the Nuke Python documentation:
- nuke.executeInMainThread(call, args=(), kwargs={}) queues `call` for the main thread and returns at
  once; a non-tuple `args` is wrapped as (args,). executeInMainThreadWithResult waits on an Event for
  the main thread to run it, so calling it on the main thread can never return (source shown in
  https://learn.foundry.com/nuke/developers/140/pythondevguide/_modules/nuke_internal/executeInMain.html).
  Here both refuse (raise) on the main thread, as the project's Nuke facts require.
- nuke.ProgressTask: setMessage(s), setProgress(i) with an integer, isCancelled() -> True once the user
  pressed Cancel (https://learn.foundry.com/nuke/developers/131/pythondevguide/_autosummary/nuke.ProgressTask.html;
  17.1 adds name/maximum/flags arguments). The task's window goes when the object is deleted.
- nuke.execute(nameOrNode, start, end, incr, views): executes a Write over the frames; a user cancel
  gives a 'cancelled' error (https://learn.foundry.com/nuke/developers/130/pythondevguide/_autosummary/nuke.render.html).
  Here: RuntimeError("Cancelled"), with the frames written before the cancel left on disk.
- nuke.createNode(node, args, inpanel): creates in the current group and connects to the selected node
  (https://learn.foundry.com/nuke/developers/132/pythondevguide/_autosummary/nuke.createNode.html,
  https://learn.foundry.com/nuke/developers/151/pythondevguide/basics.html); nuke.nodes.<Class>(knob=value, ...)
  creates without connecting.
- Node: Class, name, fullName, knob(name) -> Knob or None, knobs() -> dict, allKnobs() -> list, node[name]
  (NameError when missing), addKnob, input(i), setInput(i, node), firstFrame, lastFrame, frameRange;
  Group: begin, end, node(name), nodes(), output()
  (https://learn.foundry.com/nuke/developers/113/pythonreference/nuke.Node-class.html,
  https://learn.foundry.com/nuke/developers/113/pythonreference/nuke.Group-class.html,
  https://learn.foundry.com/nuke/developers/130/pythondevguide/_autosummary/nuke.FrameRange.html).
- nuke.toNode(name) -> Node or None; nuke.allNodes(filter, group, recurseGroups)
  (https://learn.foundry.com/nuke/developers/140/pythondevguide/_autosummary/nuke.allNodes.html).
- Knobs: Int_Knob, Double_Knob (setRange is the slider range, it does not clamp), Boolean_Knob,
  String_Knob, File_Knob, Text_Knob, Tab_Knob, PyScript_Knob(name, label=None, command=None) whose
  execute() runs the command with nuke.thisNode() set; value()/setValue(), setTooltip, setVisible
  (https://learn.foundry.com/nuke/developers/132/pythondevguide/_autosummary/nuke.PyScript_Knob.html,
  https://learn.foundry.com/nuke/developers/12.2/pythonreference/nuke.String_Knob-class.html,
  https://learn.foundry.com/nuke/developers/70/pythonreference/nuke.Boolean_Knob-class.html,
  https://learn.foundry.com/nuke/developers/70/pythonreference/nuke.Knob-class.html).
- knobChanged: nuke.addKnobChanged(call, args, kwargs, nodeClass, node) and the node's own knobChanged
  knob; nuke.thisNode()/thisKnob() during the call; also called with dummy knobs when inputs change;
  Nuke 17 documents it for programmatic changes too, so it fires on every setValue here
  (https://learn.foundry.com/nuke/developers/17.1/pythondevguide/_autosummary/nuke.addKnobChanged.html,
  https://learn.foundry.com/nuke/developers/130/pythondevguide/callbacks.html).
- nuke.message(prompt) (https://learn.foundry.com/nuke/developers/132/pythondevguide/_autosummary/nuke.message.html);
  nuke.ask(prompt) -> bool, as nukescripts uses it (`if not nuke.ask(...): return`, source of nukescripts.nodes).
- nuke.menu('Nodes').addMenu(name).addCommand(name, command) with a string or callable command; MenuItem.invoke()
  (https://learn.foundry.com/nuke/developers/70/pythonreference/nuke.Menu-class.html,
  https://learn.foundry.com/nuke/developers/90/pythondevguide/custom_ui.html).
- nuke.pluginAddPath(args, addToSysPath=True): adds to the plugin path and sys.path, and runs the path's
  init.py when called from an init.py
  (https://learn.foundry.com/nuke/developers/130/pythondevguide/_autosummary/nuke.pluginAddPath.html).
- Root knobs name (script path, empty when unsaved), first_frame, last_frame, proxy
  (https://learn.foundry.com/nuke/12.2/content/reference_guide/other_nodes/root.html).
- Write knobs file, file_type, channels (default rgb), raw, and for EXR datatype ('16 bit half' | '32 bit float')
  and metadata ('no metadata', ...); Write renders at the active (full or proxy) scale
  (https://learn.foundry.com/nuke/13.0/content/reference_guide/image_nodes/write.html,
  https://learn.foundry.com/nuke/13.1/content/comp_environment/deep/writing_deep_data.html).
- knobChanged before Nuke 17 fires for changes made in the node's open panel, not for script or
  expression changes while the panel is closed (the project's host facts; 17.1 documents it for
  programmatic changes): `standin_set_version(v)` picks the behaviour (default 16), and
  `standin_open_panel(node)` plays a user editing in the panel.
- nuke.addUpdateUI(call, args, kwargs, nodeClass): "Add code to execute on every node when things change.
  This is done during idle" (standin_idle runs them); nuke.addOnScriptLoad(call, args, kwargs,
  nodeClass='Root') when a script is opened (standin_load_script); nuke.addBeforeRender(call, args, kwargs,
  nodeClass='Write') before a Write renders (nuke.execute runs them first)
  (https://learn.foundry.com/nuke/developers/130/pythondevguide/callbacks.html).
- A Group has as many inputs as it has Input nodes inside: setInput on an input it does not have
  connects nothing and returns False (Node.setInput: "True if successful"), which is why createNode
  cannot connect a new, empty Group to the selected node
  (https://learn.foundry.com/nuke/developers/113/pythonreference/nuke.Node-class.html).
  nuke.selectedNode() is the selected node and raises ValueError when there is none; selectedNodes() lists
  them (https://learn.foundry.com/nuke/developers/132/pythondevguide/_autosummary/nuke.selectedNode.html).
- Boolean_Knob sits on the line of the previous knob unless it has the STARTLINE flag (knob flags,
  https://learn.foundry.com/nuke/developers/130/pythondevguide/_autosummary/nuke.Knob.html).
- Copy: input 0 is B (passed through), input 1 is A; from0..from3 name channels of A that replace
  to0..to3 of B, "none" for none; a disabled node passes its input 0
  (https://learn.foundry.com/NUKE/CONTENT/reference_guide/channel_nodes/copy.html).
- File knobs expand TCL commands, e.g. "[file dirname [value root.name]]" for the script's folder
  (nuke.filename: "All expansion of commands and variables is done",
  https://learn.foundry.com/nuke/developers/131/pythondevguide/_autosummary/nuke.filename.html); only that
  expression is understood here.
- Root knobs colorManagement ("Nuke" or "OCIO") and workingSpaceLUT (the working colour space).
Not verified in the docs (kept as Nuke behaves as far as known): a Group's help knob; nuke.delete(node); Read knobs first/last/
origfirst/origlast/before/after/raw; Switch 'which'; an 8-bit file read as sRGB and made linear unless `raw`;
channels missing from the stream written as 0; a disabled Write refusing to execute.

Strictness on purpose: graph changes, dialogs and execute off the main thread raise (real Nuke may
crash or hang instead); exceptions in callbacks are recorded for the tests to see.
Test-only API: the functions named `standin_*`.
"""
import collections
import os
import queue
import re
import sys
import threading
import time

import cv2
import numpy as np
import OpenEXR

# ----------------------------------------------------------------- state
_state = None


class _State(object):
    def __init__(self):
        self.version = 16
        self.open_panels = set()
        self.update_ui = []
        self.on_script_load = []
        self.before_render = []
        self.root = Root()
        self.context = [self.root]
        self.calls = queue.Queue()                 # executeInMainThread
        self.messages = []
        self.asked = []
        self.answers = collections.deque()
        self.knob_changed = []                     # addKnobChanged registrations
        self.this = []                             # (node, knob) during callbacks
        self.progress_tasks = []
        self.executions = []
        self.cancel_execute_at = None
        self.callback_errors = []
        self.menus = {}
        self.plugin_path = []
        self.in_init = False


def _require_main(what):
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("{} called from a worker thread: Nuke's node graph and dialogs belong to the main "
                           "thread (use nuke.executeInMainThread)".format(what))


def _s():
    if _state is None:
        standin_reset()
    return _state


# ----------------------------------------------------------------- knobs
class Knob(object):
    _default = None

    def __init__(self, name, label=None, *args):
        self._name = name
        self._label = name if label is None else label
        self._value = self._default
        self._tooltip = ""
        self._visible = True
        self._enabled = True
        self._flags = set()
        self._node = None

    def Class(self):
        return type(self).__name__

    def name(self):
        return self._name

    def label(self):
        return self._label

    def node(self):
        return self._node

    def value(self):
        return self._value

    def getValue(self):
        return self.value()

    def setValue(self, value):
        _require_main("Knob.setValue")
        self._value = self._convert(value)
        if self._node is not None:
            self._node._knob_set(self)
            if _knob_changed_fires(self._node):
                _knob_changed(self._node, self)
        return True

    def _convert(self, value):
        return value

    def setTooltip(self, text):
        self._tooltip = text

    def tooltip(self):
        return self._tooltip

    def setVisible(self, visible):
        self._visible = bool(visible)

    def visible(self):
        return self._visible

    def setEnabled(self, enabled):
        self._enabled = bool(enabled)

    def enabled(self):
        return self._enabled

    def setFlag(self, flag):
        self._flags.add(flag)

    def clearFlag(self, flag):
        self._flags.discard(flag)

    def getFlag(self, flag):
        return flag in self._flags

    def __repr__(self):
        return "<{} {}={!r}>".format(self.Class(), self._name, self._value)


class Int_Knob(Knob):
    _default = 0

    def _convert(self, value):
        if isinstance(value, str):
            raise TypeError("Int_Knob.setValue expects a number, got {!r}".format(value))
        return int(value)

    def setRange(self, minimum, maximum):
        self._range = (minimum, maximum)


class Double_Knob(Knob):
    _default = 0.0

    def _convert(self, value):
        if isinstance(value, str):
            raise TypeError("Double_Knob.setValue expects a number, got {!r}".format(value))
        return float(value)

    def setRange(self, minimum, maximum):
        """The slider's range; values outside it stay allowed, as in Nuke."""
        self._range = (minimum, maximum)

    def min(self):
        return getattr(self, "_range", (0.0, 1.0))[0]

    def max(self):
        return getattr(self, "_range", (0.0, 1.0))[1]


class Boolean_Knob(Knob):
    _default = False

    def _convert(self, value):
        return bool(value)


class String_Knob(Knob):
    _default = ""

    def __init__(self, name, label=None, text=None):
        Knob.__init__(self, name, label)
        if text is not None:
            self._value = self._convert(text)

    def _convert(self, value):
        if not isinstance(value, str):
            raise TypeError("{}.setValue expects a string, got {!r}".format(self.Class(), value))
        return value

    def getText(self):
        return self._value

    def setText(self, text):
        return self.setValue(text)


class File_Knob(String_Knob):
    pass


class Text_Knob(String_Knob):
    pass


class Tab_Knob(Knob):
    pass


class Channel_Knob(String_Knob):
    """A channel name ("rgba.red") or "none"."""


class PythonKnob(String_Knob):
    """A node's hidden callback knobs (knobChanged, onCreate): Python code."""


class Enumeration_Knob(Knob):
    def __init__(self, name, label=None, items=(), default=None):
        Knob.__init__(self, name, label)
        self._items = list(items)
        self._value = default if default is not None else (self._items[0] if self._items else "")

    def values(self):
        return list(self._items)

    def _convert(self, value):
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(self._items):
            return self._items[value]
        if value not in self._items:
            raise ValueError("{}: {!r} is not one of {}".format(self._name, value, self._items))
        return value


class PyScript_Knob(String_Knob):
    def __init__(self, name, label=None, command=None):
        String_Knob.__init__(self, name, label, command or "")

    def command(self):
        return self._value

    def setCommand(self, command):
        self._value = self._convert(command)

    def execute(self):
        """Run the command as a button press does: main thread, nuke.thisNode() is the knob's node."""
        _require_main("PyScript_Knob.execute")
        with _this(self._node, self):
            exec(compile(self._value, "<{} button>".format(self._name), "exec"), {"nuke": sys.modules[__name__]})


class FrameRange(object):
    def __init__(self, first, last, increment=1):
        self._first, self._last, self._increment = int(first), int(last), int(increment)

    def first(self):
        return self._first

    def last(self):
        return self._last

    def increment(self):
        return self._increment

    def frames(self):
        return self._last - self._first + 1

    def __str__(self):
        return "{}-{}".format(self._first, self._last)


# ----------------------------------------------------------------- nodes
BEFORE_AFTER = ("hold", "loop", "bounce", "black")
METADATA = ("no metadata", "default metadata", "default metadata and exr/*", "all metadata except input/*",
            "all metadata")


class Node(object):
    _class = "Node"

    def __init__(self, parent=None):
        self._knobs = collections.OrderedDict()
        self._inputs = {}
        self._parent = parent
        for knob in (String_Knob("name", "name"), String_Knob("label", "label"), Boolean_Knob("disable", "disable"),
                     Boolean_Knob("selected", "selected"), PythonKnob("knobChanged", "knobChanged")):
            knob.setVisible(knob.name() == "label")
            self._attach(knob)
        self._add_class_knobs()

    def _add_class_knobs(self):
        pass

    def _knob_set(self, knob):
        pass

    def _attach(self, knob):
        if knob.name() in self._knobs:
            raise ValueError("{} already has a knob named {}".format(self.name() if "name" in self._knobs else "node",
                                                                     knob.name()))
        knob._node = self
        self._knobs[knob.name()] = knob

    def Class(self):
        return self._class

    def name(self):
        return self._knobs["name"].value()

    def fullName(self):
        names, node = [], self
        while node is not None and not isinstance(node, Root):
            names.append(node.name())
            node = node._parent
        return ".".join(reversed(names))

    def knob(self, name):
        return self._knobs.get(name)

    def knobs(self):
        return dict(self._knobs)

    def allKnobs(self):
        return list(self._knobs.values())

    def __getitem__(self, name):
        knob = self._knobs.get(name)
        if knob is None:
            raise NameError("knob {} does not exist".format(name))
        return knob

    def addKnob(self, knob):
        _require_main("Node.addKnob")
        self._attach(knob)

    def input(self, i):
        return self._inputs.get(i)

    def inputs(self):
        return max(self._inputs) + 1 if self._inputs else 0

    def setInput(self, i, node):
        _require_main("Node.setInput")
        if node is not None and not self._accepts_input(i):
            return False
        if node is None:
            self._inputs.pop(i, None)
        else:
            self._inputs[i] = node
        if _knob_changed_fires(self):
            _knob_changed(self, Knob("inputChange"))
        return True

    def _accepts_input(self, i):
        return True

    def firstFrame(self):
        return _frame_range(self)[0]

    def lastFrame(self):
        return _frame_range(self)[1]

    def frameRange(self):
        return FrameRange(*_frame_range(self))

    def __repr__(self):
        return "<{} {}>".format(self._class, self.fullName() or self.name())


class Read(Node):
    _class = "Read"

    def _add_class_knobs(self):
        for knob in (File_Knob("file", "file"), Int_Knob("first", "frame range"), Int_Knob("last", ""),
                     Int_Knob("origfirst", "original range"), Int_Knob("origlast", ""),
                     Enumeration_Knob("before", "", BEFORE_AFTER), Enumeration_Knob("after", "", BEFORE_AFTER),
                     Boolean_Knob("raw", "raw data")):
            self._attach(knob)
        for name in ("first", "last", "origfirst", "origlast"):
            self._knobs[name]._value = 1


class Write(Node):
    _class = "Write"

    def _add_class_knobs(self):
        for knob in (File_Knob("file", "file"),
                     Enumeration_Knob("file_type", "file type", ("", "exr", "png", "tiff", "jpeg", "dpx")),
                     Enumeration_Knob("channels", "channels", ("rgb", "rgba", "alpha", "all"), "rgb"),
                     Boolean_Knob("raw", "raw data")):
            self._attach(knob)

    def _knob_set(self, knob):
        """Format knobs appear once the file type is chosen, as in Nuke's Write."""
        if knob.name() == "file_type" and knob.value() == "exr" and "datatype" not in self._knobs:
            self._attach(Enumeration_Knob("datatype", "datatype", ("16 bit half", "32 bit float")))
            self._attach(Enumeration_Knob("metadata", "metadata", METADATA, "default metadata"))


class Input(Node):
    _class = "Input"

    def _add_class_knobs(self):
        self._attach(Int_Knob("number", "number"))


class Output(Node):
    _class = "Output"


class Switch(Node):
    _class = "Switch"

    def _add_class_knobs(self):
        self._attach(Double_Knob("which", "which"))


class NoOp(Node):
    _class = "NoOp"


class Copy(Node):
    _class = "Copy"

    def _add_class_knobs(self):
        for i in range(4):
            for side in ("from", "to"):
                knob = Channel_Knob("{}{}".format(side, i), side)
                knob._value = "rgba.alpha" if i == 0 else "none"
                self._attach(knob)


class Group(Node):
    _class = "Group"

    def __init__(self, parent=None):
        self._nodes = []
        Node.__init__(self, parent)

    def _add_class_knobs(self):
        if type(self) is Group:
            knob = String_Knob("help", "help")
            knob.setVisible(False)
            self._attach(knob)

    def begin(self):
        _require_main("Group.begin")
        _s().context.append(self)
        return self

    def end(self):
        context = _s().context
        if len(context) < 2 or context[-1] is not self:
            raise RuntimeError("{}.end() without a matching begin()".format(self.name()))
        context.pop()

    def __enter__(self):
        return self.begin()

    def __exit__(self, *exc):
        self.end()

    def _accepts_input(self, i):
        return sum(1 for child in self._nodes if child.Class() == "Input") > i

    def node(self, name):
        head, _, rest = name.partition(".")
        for child in self._nodes:
            if child.name() == head:
                return child.node(rest) if rest and isinstance(child, Group) else (None if rest else child)
        return None

    def nodes(self):
        return list(self._nodes)

    def output(self):
        for child in self._nodes:
            if child.Class() == "Output":
                return child
        return None


class Root(Group):
    _class = "Root"

    def __init__(self):
        Group.__init__(self, None)
        self._knobs["name"]._value = ""
        for knob in (Int_Knob("first_frame", "frame range"), Int_Knob("last_frame", ""),
                     Boolean_Knob("proxy", "proxy mode"), Double_Knob("proxy_scale", "proxy scale"),
                     Enumeration_Knob("colorManagement", "color management", ("Nuke", "OCIO")),
                     String_Knob("workingSpaceLUT", "working space", "linear")):
            self._attach(knob)
        self._knobs["first_frame"]._value, self._knobs["last_frame"]._value = 1, 100
        self._knobs["proxy_scale"]._value = 0.5

    def name(self):
        return "root"


CLASSES = dict((cls._class, cls) for cls in (Read, Write, Input, Output, Switch, NoOp, Copy, Group))
STARTLINE = 0x1000


# ----------------------------------------------------------------- creating and finding nodes
def root():
    return _s().root


def _current_group():
    return _s().context[-1]


def _new_node(class_name, group):
    _require_main("creating a node")
    cls = CLASSES.get(class_name)
    if cls is None:
        raise RuntimeError("{} is not a known node class (stand-in knows {})".format(class_name, sorted(CLASSES)))
    node = cls(group)
    index = 1
    while group.node("{}{}".format(class_name, index)) is not None:
        index += 1
    node._knobs["name"]._value = "{}{}".format(class_name, index)
    group._nodes.append(node)
    return node


def createNode(node, args="", inpanel=True):
    group = _current_group()
    selected = [n for n in group._nodes if n["selected"].value()]
    created = _new_node(node, group)
    tokens = args.split() if args else []
    for name, value in zip(tokens[::2], tokens[1::2]):
        created[name].setValue(value)
    if selected:
        created.setInput(0, selected[-1])
    for other in group._nodes:
        other._knobs["selected"]._value = other is created
    return created


class _Nodes(object):
    """nuke.nodes.<Class>(knob=value, ...): create in the current group, not connected."""

    def __getattr__(self, class_name):
        if class_name not in CLASSES:
            raise AttributeError(class_name)

        def make(**knobs):
            created = _new_node(class_name, _current_group())
            for i, node in enumerate(knobs.pop("inputs", ())):
                created.setInput(i, node)
            if "name" in knobs:
                created["name"].setValue(knobs.pop("name"))
            if "file_type" in knobs:
                created["file_type"].setValue(knobs.pop("file_type"))
            for name, value in knobs.items():
                created[name].setValue(value)
            return created

        return make


nodes = _Nodes()


def selectedNodes(filter=None):
    return [n for n in _current_group()._nodes if n["selected"].value() and (filter is None or n.Class() == filter)]


def selectedNode():
    selected = selectedNodes()
    if not selected:
        raise ValueError("no node selected")
    return selected[-1]


def toNode(name):
    if name == "root":
        return root()
    return _current_group().node(name)


def allNodes(filter=None, group=None, recurseGroups=False):
    group = group if group is not None else _current_group()
    found = []
    for node in group._nodes:
        if filter is None or node.Class() == filter:
            found.append(node)
        if recurseGroups and isinstance(node, Group):
            found.extend(allNodes(filter, node, True))
    return found


def delete(node):
    _require_main("nuke.delete")
    parent = node._parent
    parent._nodes.remove(node)
    for other in allNodes(group=root(), recurseGroups=True):
        for i, source in list(other._inputs.items()):
            if source is node:
                del other._inputs[i]


# ----------------------------------------------------------------- callbacks
class _this(object):
    def __init__(self, node, knob):
        self.pair = (node, knob)

    def __enter__(self):
        _s().this.append(self.pair)

    def __exit__(self, *exc):
        _s().this.pop()


def thisNode():
    stack = _s().this
    return stack[-1][0] if stack else _current_group()


def thisKnob():
    stack = _s().this
    return stack[-1][1] if stack else None


def addKnobChanged(call, args=(), kwargs={}, nodeClass="*", node=None):
    _s().knob_changed.append((call, args if isinstance(args, tuple) else (args,), dict(kwargs), nodeClass, node))


def removeKnobChanged(call, args=(), kwargs={}, nodeClass="*", node=None):
    state = _s()
    state.knob_changed = [entry for entry in state.knob_changed if entry[0] is not call]


def _knob_changed_fires(node):
    """Nuke 17 calls knobChanged for every change; before, only for changes made in the node's open panel."""
    state = _s()
    return state.version >= 17 or node in state.open_panels


def addUpdateUI(call, args=(), kwargs={}, nodeClass="*"):
    _s().update_ui.append((call, args if isinstance(args, tuple) else (args,), dict(kwargs), nodeClass))


def addOnScriptLoad(call, args=(), kwargs={}, nodeClass="Root"):
    _s().on_script_load.append((call, args if isinstance(args, tuple) else (args,), dict(kwargs), nodeClass))


def addBeforeRender(call, args=(), kwargs={}, nodeClass="Write"):
    _s().before_render.append((call, args if isinstance(args, tuple) else (args,), dict(kwargs), nodeClass))


def _run_callbacks(entries, node):
    for call, args, kwargs, node_class in list(entries):
        if node_class in ("*", node.Class()):
            with _this(node, None):
                try:
                    call(*args, **kwargs)
                except Exception as error:
                    _s().callback_errors.append((node.fullName() or "root", getattr(call, "__name__", "?"),
                                                 repr(error)))


def _knob_changed(node, knob):
    state = _s()
    if len(state.this) > 20:
        raise RuntimeError("knobChanged recursion: {} changed inside its own callback again and again".format(
            knob.name()))
    code = node._knobs["knobChanged"].value() if "knobChanged" in node._knobs else ""
    with _this(node, knob):
        try:
            if code:
                exec(compile(code, "<{}.knobChanged>".format(node.name()), "exec"), {"nuke": sys.modules[__name__]})
            for call, args, kwargs, node_class, only in list(state.knob_changed):
                if (node_class in ("*", node.Class())) and (only is None or only is node):
                    call(*args, **kwargs)
        except Exception as error:  # Nuke prints the traceback and carries on; tests look at the record
            state.callback_errors.append((node.fullName(), knob.name(), repr(error)))


# ----------------------------------------------------------------- threads
def executeInMainThread(call, args=(), kwargs={}):
    if threading.current_thread() is threading.main_thread():
        raise RuntimeError("nuke.executeInMainThread called from the main thread: in Nuke this hangs")
    if not isinstance(args, tuple):
        args = (args,)
    _s().calls.put((call, args, dict(kwargs), None))


def executeInMainThreadWithResult(call, args=(), kwargs={}):
    if threading.current_thread() is threading.main_thread():
        raise RuntimeError("nuke.executeInMainThreadWithResult called from the main thread: in Nuke this hangs")
    if not isinstance(args, tuple):
        args = (args,)
    box = {"done": threading.Event()}
    _s().calls.put((call, args, dict(kwargs), box))
    box["done"].wait()
    return box.get("result")


class _ProgressRecord(object):
    """What a progress window showed (kept by the stand-in after the window is gone)."""

    def __init__(self, name):
        self.name = name
        self.messages = []
        self.progress = []
        self.cancelled = False
        self.closed = False


class ProgressTask(object):
    def __init__(self, name, maximum=100, flags=0):
        self._record = _ProgressRecord(name)
        _s().progress_tasks.append(self._record)

    def setMessage(self, message):
        self._record.messages.append(str(message))

    def setProgress(self, i):
        if not isinstance(i, int) or isinstance(i, bool):
            raise TypeError("setProgress expects an integer, got {!r}".format(i))
        self._record.progress.append(i)

    def isCancelled(self):
        return self._record.cancelled

    def __del__(self):
        self._record.closed = True


# ----------------------------------------------------------------- dialogs and menus
def message(prompt):
    _require_main("nuke.message")
    _s().messages.append(prompt)


def ask(prompt):
    _require_main("nuke.ask")
    state = _s()
    state.asked.append(prompt)
    if not state.answers:
        raise AssertionError("nuke.ask({!r}) but the test gave no answer (standin_answer)".format(prompt))
    return bool(state.answers.popleft())


class MenuItem(object):
    def __init__(self, name, command=None):
        self._name, self._command = name, command

    def name(self):
        return self._name

    def script(self):
        return self._command if isinstance(self._command, str) else ""

    def invoke(self):
        _require_main("MenuItem.invoke")
        if callable(self._command):
            self._command()
        else:
            exec(compile(self._command, "<menu {}>".format(self._name), "exec"), {"nuke": sys.modules[__name__]})


class Menu(MenuItem):
    def __init__(self, name):
        MenuItem.__init__(self, name)
        self._items = collections.OrderedDict()

    def addMenu(self, name, icon=None, tooltip=None, index=-1):
        head, _, rest = name.partition("/")
        menu = self._items.get(head)
        if not isinstance(menu, Menu):
            menu = self._items[head] = Menu(head)
        return menu.addMenu(rest) if rest else menu

    def addCommand(self, name, command=None, shortcut=None, icon=None, tooltip=None, index=-1, readonly=False):
        head, _, leaf = name.rpartition("/")
        menu = self.addMenu(head) if head else self
        item = menu._items[leaf] = MenuItem(leaf, command if command is not None else
                                            "nuke.createNode({!r})".format(leaf))
        return item

    def findItem(self, name):
        head, _, rest = name.partition("/")
        item = self._items.get(head)
        if rest:
            return item.findItem(rest) if isinstance(item, Menu) else None
        return item

    def items(self):
        return list(self._items.values())


def menu(name):
    menus = _s().menus
    if name not in menus:
        menus[name] = Menu(name)
    return menus[name]


def pluginPath():
    return list(_s().plugin_path)


def pluginAddPath(args, addToSysPath=True):
    state = _s()
    for path in ([args] if isinstance(args, str) else list(args)):
        if path in state.plugin_path:
            state.plugin_path.remove(path)
        state.plugin_path.insert(0, path)
        if addToSysPath and path not in sys.path:
            sys.path.insert(0, path)
        init = os.path.join(path, "init.py")
        if state.in_init and os.path.isfile(init):
            standin_run_startup_file(init)


# ----------------------------------------------------------------- rendering
def execute(nameOrNode, start=None, end=None, incr=1, views=None, continueOnError=False):
    _require_main("nuke.execute")
    state = _s()
    node = toNode(nameOrNode) if isinstance(nameOrNode, str) else nameOrNode
    if node is None or node.Class() != "Write":
        raise RuntimeError("{} is not a Write node".format(nameOrNode))
    if node["disable"].value():
        raise RuntimeError("{} is disabled".format(node.fullName()))
    pattern = node["file"].value()
    if not pattern:
        raise RuntimeError("{}: no file name".format(node.fullName()))
    if node["file_type"].value() not in ("exr", "") or not pattern.lower().endswith(".exr"):
        raise RuntimeError("the stand-in writes EXR only")
    start = root()["first_frame"].value() if start is None else int(start)
    end = root()["last_frame"].value() if end is None else int(end)
    _run_callbacks(state.before_render, node)
    state.executions.append((node.fullName(), start, end))
    source = node.input(0)
    if source is None:
        raise RuntimeError("{}: nothing is connected to its input".format(node.fullName()))
    for frame in range(start, end + 1, int(incr)):
        if state.cancel_execute_at is not None and frame >= state.cancel_execute_at:
            state.cancel_execute_at = None
            raise RuntimeError("Cancelled")
        image = standin_image(source, frame)
        depth = "32 bit float" if "datatype" not in node._knobs else node["datatype"].value()
        _write_exr(_frame_path(pattern, frame), image, node["channels"].value(), depth)


def _frame_path(pattern, frame):
    script = root()["name"].value()
    pattern = pattern.replace("[file dirname [value root.name]]", os.path.dirname(script) if script else ".")
    if re.search(r"%0?\d*d", pattern):
        return pattern % frame
    return re.sub(r"#+", lambda m: "%0{}d".format(len(m.group())) % frame, pattern)


def _frame_range(node):
    cls = node.Class()
    if cls == "Read":
        return node["first"].value(), node["last"].value()
    if cls == "Input":
        source = node._parent.input(node["number"].value())
    elif isinstance(node, Group) and not isinstance(node, Root):
        source = node.output()
    else:
        source = node.input(0)
    if source is None:
        return root()["first_frame"].value(), root()["last_frame"].value()
    return _frame_range(source)


def _srgb_to_linear(x):
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _load(path, raw):
    if path.lower().endswith(".exr"):
        planes = dict((name, channel.pixels) for name, channel in
                      OpenEXR.File(path, separate_channels=True).channels().items())
        names = [n for n in ("R", "G", "B", "A") if n in planes]
        return np.stack([planes[n].astype(np.float32) for n in names], axis=2)
    data = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if data is None:
        raise RuntimeError("Read error: cannot decode {}".format(path))
    scale = 65535.0 if data.dtype == np.uint16 else 255.0
    image = data.astype(np.float32) / scale
    image = image[:, :, [2, 1, 0, 3]] if image.shape[2] == 4 else image[:, :, ::-1]
    image = np.ascontiguousarray(image)
    if not raw:
        image[:, :, :3] = _srgb_to_linear(image[:, :, :3])
    return image


def _write_exr(path, image, channels, datatype):
    if channels == "rgba" and image.shape[2] == 3:
        image = np.concatenate([image, np.zeros(image.shape[:2] + (1,), np.float32)], axis=2)
    elif channels == "rgb":
        image = image[:, :, :3]
    dtype = np.float32 if datatype == "32 bit float" else np.float16
    names = ("R", "G", "B", "A")[: image.shape[2]]
    planes = dict((n, np.ascontiguousarray(image[:, :, i].astype(dtype))) for i, n in enumerate(names))
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, planes).write(path)


# ----------------------------------------------------------------- test-only API
def standin_reset():
    """A new, empty script."""
    global _state
    _state = _State()
    return _state


def standin_image(node, frame):
    """The image `node` outputs at `frame` (H x W x C float32, linear), as a Viewer would show it."""
    cls = node.Class()
    if node["disable"].value() and cls != "Read":
        return standin_image(node.input(0), frame)
    if cls == "Read":
        first, last = node["first"].value(), node["last"].value()
        if frame < first or frame > last:
            mode = node["before" if frame < first else "after"].value()
            if mode == "black":
                return np.zeros_like(standin_image(node, first))
            if mode != "hold":
                raise NotImplementedError("Read before/after {!r}".format(mode))
            frame = min(max(frame, first), last)
        pattern = node["file"].value()
        path = _frame_path(pattern, frame) if pattern else ""
        if not path or not os.path.isfile(path):
            raise RuntimeError("{}: Read error: No such file or directory {}".format(node.fullName(), path))
        return _load(path, node["raw"].value())
    if cls == "Input":
        source = node._parent.input(node["number"].value())
    elif cls == "Copy":
        image = standin_image(node.input(0), frame).copy()
        if node.input(1) is None:
            return image
        a = standin_image(node.input(1), frame)
        index = {"rgba.red": 0, "rgba.green": 1, "rgba.blue": 2, "rgba.alpha": 3}
        for i in range(4):
            src, dst = node["from{}".format(i)].value(), node["to{}".format(i)].value()
            if src in index and dst in index and index[src] < a.shape[2] and index[dst] < image.shape[2]:
                image[:, :, index[dst]] = a[:, :, index[src]]
        return image
    elif cls == "Switch":
        count = max(1, node.inputs())
        source = node.input(min(max(int(round(node["which"].value())), 0), count - 1))
    elif isinstance(node, Group):
        source = node.output()
    else:
        source = node.input(0)
    if source is None:
        raise RuntimeError("{}: nothing connected".format(node.fullName()))
    return standin_image(source, frame)


def standin_process_main_queue():
    """Run what worker threads queued for the main thread; returns how many calls ran."""
    _require_main("the main loop")
    state, ran = _s(), 0
    while True:
        try:
            call, args, kwargs, box = state.calls.get_nowait()
        except queue.Empty:
            return ran
        try:
            result = call(*args, **kwargs)
            if box is not None:
                box["result"] = result
        except Exception as error:  # Nuke prints it; the tests look at the record
            state.callback_errors.append(("main thread", getattr(call, "__name__", repr(call)), repr(error)))
        finally:
            if box is not None:
                box["done"].set()
        ran += 1


def standin_run_until(predicate, timeout=120.0, poll=0.02):
    """Nuke's event loop until `predicate()` holds (checked after each round of queued calls)."""
    deadline = time.monotonic() + timeout
    while True:
        standin_process_main_queue()
        if predicate():
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the main loop waited {:.0f} s for {}".format(timeout, predicate))
        time.sleep(poll)


def standin_set_version(major):
    """Which Nuke's knobChanged rules apply (17: every change; before: only in an open panel)."""
    _s().version = int(major)


def standin_open_panel(node):
    """The user opens the node's panel: changes made there call knobChanged."""
    _s().open_panels.add(node)


def standin_close_panel(node):
    _s().open_panels.discard(node)


def standin_idle():
    """Nuke is idle: the update-UI callbacks run on every node."""
    for node in allNodes(group=root(), recurseGroups=True):
        _run_callbacks(_s().update_ui, node)


def standin_load_script():
    """A script was opened: the onScriptLoad callbacks run."""
    _run_callbacks(_s().on_script_load, root())


def standin_answer(*answers):
    """What the user will answer to the next nuke.ask dialogs."""
    _s().answers.extend(answers)


def standin_messages():
    return list(_s().messages)


def standin_asked():
    return list(_s().asked)


def standin_progress_tasks():
    return list(_s().progress_tasks)


def standin_cancel_progress():
    """Press Cancel on every progress window still open."""
    for record in _s().progress_tasks:
        if not record.closed:
            record.cancelled = True


def standin_cancel_execute_at(frame):
    """The user presses Cancel in nuke.execute's progress window when it reaches `frame`."""
    _s().cancel_execute_at = int(frame)


def standin_executions():
    return list(_s().executions)


def standin_callback_errors():
    return list(_s().callback_errors)


def standin_snapshot(exclude=()):
    """Every node, its inputs and knob values, for 'the graph is as it was' checks."""
    def describe(group):
        out = {}
        for node in group._nodes:
            entry = {"class": node.Class(),
                     "inputs": dict((i, n.fullName()) for i, n in node._inputs.items()),
                     "knobs": dict((k.name(), k.value()) for k in node.allKnobs() if k.name() not in exclude)}
            if isinstance(node, Group):
                entry["children"] = describe(node)
            out[node.name()] = entry
        return out
    return describe(root())


def standin_run_startup_file(path):
    """Run a Nuke startup file (init.py, menu.py) as Nuke does at launch."""
    state = _s()
    was, state.in_init = state.in_init, os.path.basename(path) == "init.py"
    try:
        with open(path, "r") as handle:
            code = compile(handle.read(), path, "exec")
        exec(code, {"nuke": sys.modules[__name__], "__name__": "__main__"})
    finally:
        state.in_init = was
