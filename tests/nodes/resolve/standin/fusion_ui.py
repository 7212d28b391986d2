# SPDX-License-Identifier: Apache-2.0
"""A stand-in for Fusion's UIManager as Resolve scripts see it (`fusion.UIManager`, `bmd.UIDispatcher`),
for the calls the Deflicker window makes. From the UIManager documentation (b3n0y/ResolveDevDoc,
docs/source/UI_dispatcher_func.rst, UI_elements_events.rst, UI_elements_func.rst):
- `dispatcher = bmd.UIDispatcher(ui)`; `dispatcher.AddWindow(props, children)` returns a window;
  `RunLoop()` processes events until `ExitLoop()`;
- elements are built as `ui.Label({...})`, `ui.VGroup(props, [children])` or `ui.VGroup([children])`;
- event handlers are assigned as `win.On.<ID>.<Event> = fn` (Clicked for buttons, Close for the
  window) and called with an event dict; `win.GetItems()` maps IDs to elements whose properties
  (Text, Value, Checked, CurrentIndex, Enabled) are read and written as attributes;
- ComboBox.AddItem(text); a ComboBox sends CurrentIndexChanged when its index changes, but only when the
  element enables it (`"Events": {"CurrentIndexChanged": True}`; UI_elements_events.rst: "Some common
  events like Clicked or Close are enabled by default", the others are switched on in Events);
  a Timer element (`ui.Timer({"ID", "Interval"})`, Start()/Stop()) sends
  Timeout events (Resolve scripts assign them through `win.On.<TimerID>.Timeout` or
  `dispatcher.On.Timeout`).
`RunLoop` here plays a script of user actions (`Dispatcher.actions`) instead of waiting for a person.

Free DaVinci Resolve 19.1 and later blocks UIManager windows of third-party scripts: the window never
appears (Resolve shows an upgrade prompt instead), so nothing the window offers can happen
(YourAverageMo/auto-silence-cut issue #3: "DR 19.1 removed GUI and third party scripts from the free
version"; tmoroney/auto-subs issue #116: "You've reached a limitation with DaVinci Resolve"; from 21.1
the free version runs no Python scripts at all, ynput/ayon-resolve PR #111). `Fusion(windows_blocked=True)`
plays that: windows are made but never shown, and RunLoop returns without any user action.
"""
import time


class Element(object):
    def __init__(self, kind, props=None, children=()):
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "props", dict(props or {}))
        object.__setattr__(self, "children", list(children))
        object.__setattr__(self, "entries", [])
        object.__setattr__(self, "active", False)

    def __getattr__(self, name):
        props = object.__getattribute__(self, "props")
        if name in props:
            return props[name]
        defaults = {"Text": "", "Value": 0, "Checked": False, "CurrentIndex": 0, "Enabled": True}
        if name in defaults:
            return defaults[name]
        raise AttributeError(name)

    def __setattr__(self, name, value):
        self.props[name] = value

    def AddItem(self, text):
        self.entries.append(text)

    def Start(self):
        object.__setattr__(self, "active", True)

    def Stop(self):
        object.__setattr__(self, "active", False)


class UIManager(object):
    ELEMENTS = ("Label", "Button", "CheckBox", "ComboBox", "SpinBox", "DoubleSpinBox", "LineEdit", "Slider",
                "HGroup", "VGroup", "HGap", "VGap", "TextEdit", "Timer")

    def __init__(self):
        self.timers = []
        self.windows = []

    def __getattr__(self, kind):
        if kind not in UIManager.ELEMENTS:
            raise AttributeError(kind)

        def make(props=None, children=None):
            if isinstance(props, list):
                props, children = {}, props
            element = Element(kind, props, children or [])
            if kind == "Timer":
                self.timers.append(element)
            return element
        return make


class _Handlers(object):
    """`On.<ID>.<Event> = fn`, read back with `handler(ID, Event)`."""

    def __init__(self):
        object.__setattr__(self, "table", {})

    def __getattr__(self, element_id):
        table = object.__getattribute__(self, "table")
        return table.setdefault(element_id, _Events())

    def __setattr__(self, event, fn):        # dispatcher.On.Timeout = fn
        self.table.setdefault("", _Events()).__dict__[event] = fn


class _Events(object):
    pass


class Window(object):
    def __init__(self, props, root, blocked=False):
        self.props, self.root, self.blocked = props, root, blocked
        self.On = _Handlers()
        self.visible = False

    def GetItems(self):
        found = {self.props.get("ID"): self}

        def walk(element):
            if "ID" in element.props:
                found[element.props["ID"]] = element
            for child in element.children:
                walk(child)
        walk(self.root)
        return found

    def Show(self):
        self.visible = not self.blocked

    def Hide(self):
        self.visible = False

    def handler(self, element_id, event):
        return getattr(self.On.table.get(element_id, _Events()), event, None)


class Dispatcher(object):
    actions = []        # what the "user" does during RunLoop: ("click", ID), ("set", ID, prop, value), ("wait",)

    def __init__(self, ui):
        self.ui = ui
        self.blocked = getattr(ui, "windows_blocked", False)
        self.On = _Handlers()
        self.windows = []
        self.looping = False

    def AddWindow(self, props, children=None):
        if isinstance(children, Element):
            root = children
        else:
            root = children[0] if len(children) == 1 else Element("VGroup", {}, children)
        window = Window(props, root, self.blocked)
        self.windows.append(window)
        self.ui.windows.append(window)
        return window

    def ExitLoop(self, code=0):
        self.looping = False

    def RunLoop(self):
        if self.blocked:                       # the window never appeared: the user could do nothing
            return 0
        self.looping = True
        window = self.windows[-1]
        for action in list(Dispatcher.actions):
            if not self.looping:
                break
            if action[0] == "set":
                element = window.GetItems()[action[1]]
                setattr(element, action[2], action[3])
                events = element.props.get("Events") or {}
                if element.kind == "ComboBox" and action[2] == "CurrentIndex" and events.get("CurrentIndexChanged"):
                    fn = window.handler(action[1], "CurrentIndexChanged")
                    if fn is not None:
                        fn({"who": action[1], "what": "CurrentIndexChanged"})
            elif action[0] == "click":
                fn = window.handler(action[1], "Close" if action[1] == window.props.get("ID") else "Clicked")
                fn({"who": action[1], "what": "Clicked"})
            elif action[0] == "wait":          # let the timers fire until every one has stopped
                deadline = time.monotonic() + 120
                while any(t.active for t in self.ui.timers) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    for timer in [t for t in self.ui.timers if t.active]:
                        fn = window.handler(timer.props.get("ID"), "Timeout") or self.handler("", "Timeout")
                        fn({"who": timer.props.get("ID"), "what": "Timeout"})
        return 0

    def handler(self, element_id, event):
        return getattr(self.On.table.get(element_id, _Events()), event, None)


class Fusion(object):
    def __init__(self, windows_blocked=False):
        self.UIManager = UIManager()
        self.UIManager.fusion = self
        self.UIManager.windows_blocked = windows_blocked

    @property
    def window(self):
        """The last window a dispatcher of this UIManager opened (for tests)."""
        return self.UIManager.windows[-1]


class BMD(object):
    """The `bmd` global of a Resolve script (only what the window needs)."""

    def UIDispatcher(self, ui):
        return Dispatcher(ui)
