# SPDX-License-Identifier: Apache-2.0
"""The script's window (Fusion UIManager, inside Resolve) and its console twin (outside Resolve).

Both drive a `Controller`: Deflicker starts a run, a timer polls it, Cancel cancels it; every error
is shown as the run's message. UIManager has no progress bar widget, so progress is a read-only
Slider (0..1000) and a text line; polling uses a UIManager Timer so Resolve's UI never waits on the
server. The parameter controls are built from the server's effect description (bridge.Param), never
from a hard-coded list.
"""
import sys
import time

from . import logic, run as runs

WINDOW_ID = "DeflickerWin"
TIMER_ID = "DeflickerTick"
TICK_MS = 200
PROGRESS_STEPS = 1000
MODES = (("current", "Clip under the playhead"), ("track", "Every clip on one video track"))


class Controller(object):
    """What the window's buttons and timer do, without widgets: start, poll, cancel one run at a time."""

    def __init__(self, resolve, make_job=None):
        self.resolve = resolve
        self.make_job = make_job
        self.run = None

    @property
    def running(self):
        return self.run is not None

    def go(self, options):
        """Plan and start a run; a RunStatus (FAILED with the reason when there is nothing to run)."""
        if self.run is not None:
            return runs.RunStatus(runs.RUNNING, 0.0, "already running")
        try:
            self.run = runs.prepare(self.resolve, options, self.make_job or runs.job_factory(options))
        except runs.USER_ERRORS as error:
            return runs.RunStatus(runs.FAILED, 0.0, runs.FAILED, str(error))
        except Exception as error:      # Resolve answered something unexpected: say so, nothing was changed yet
            return runs.RunStatus(runs.FAILED, 0.0, runs.FAILED, "unexpected error while reading the timeline: "
                                  "{}: {}".format(type(error).__name__, error))
        return self._checked(self.run.start())

    def tick(self):
        return self._checked(self.run.poll()) if self.run is not None else None

    def cancel(self):
        if self.run is not None:
            self.run.cancel()

    def _checked(self, status):
        if status.finished:
            self.run = None
        return status


# ------------------------------------------------------------------ parameter controls
def param_controls(params):
    """[(param, UIManager element name, properties)] for the effect's parameters."""
    controls = []
    for p in params:
        props = {"ID": "P_" + p.name, "ToolTip": p.help}
        if p.type == "choice":      # items are added once the window exists (ComboBox.AddItem)
            controls.append((p, "ComboBox", dict(props, Events={"CurrentIndexChanged": True})))
            continue
        if p.type == "string":
            controls.append((p, "LineEdit", dict(props, Text=str(p.default or ""))))
            continue
        if p.type == "boolean":
            controls.append((p, "CheckBox", dict(props, Text=p.label, Checked=bool(p.default))))
            continue
        low = p.min if p.min is not None else -1e9
        high = p.max if p.max is not None else 1e9
        if p.type == "integer":
            controls.append((p, "SpinBox", dict(props, Minimum=int(low), Maximum=int(high), Value=int(p.default))))
        else:
            step = (high - low) / 100.0 if p.min is not None and p.max is not None else 0.1
            controls.append((p, "DoubleSpinBox", dict(props, Minimum=float(low), Maximum=float(high),
                                                      Value=float(p.default), Decimals=3, SingleStep=step)))
    return controls


def read_params(params, values):
    """{name: value} checked against the effect (bridge.ParameterError says which one is wrong)."""
    return dict((p.name, p.coerce(values[p.name])) for p in params if p.name in values)


def widget_value(param, element, widget):
    """What a parameter's control holds, as the parameter's value."""
    if element == "CheckBox":
        return widget.Checked
    if element == "ComboBox":
        index = int(widget.CurrentIndex or 0)
        return param.choices[index] if 0 <= index < len(param.choices) else None
    if element == "LineEdit":
        return (widget.Text or "").strip()
    return widget.Value


def set_widget(param, element, widget, value):
    """Show `value` in a parameter's control (a preset filling the others)."""
    if element == "CheckBox":
        widget.Checked = bool(value)
    elif element == "ComboBox":
        if value in param.choices:
            widget.CurrentIndex = param.choices.index(value)
    elif element == "LineEdit":
        widget.Text = str(value)
    else:
        widget.Value = value


def progress_text(fraction, width=24):
    """A text bar for consoles and labels: [#########...............]  38%."""
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "[{}{}] {:3d}%".format("#" * filled, "." * (width - filled), int(round(fraction * 100)))


# ------------------------------------------------------------------ the UIManager window
class Window(object):
    """The Deflicker window inside Resolve (Workspace > Scripts > Deflicker)."""

    def __init__(self, controller, fusion, bmd, defaults, effect=None, effect_note=""):
        self.controller = controller
        self.ui = fusion.UIManager
        self.dispatcher = bmd.UIDispatcher(self.ui)
        self.defaults = defaults
        self.params = list(effect.params) if effect is not None else []
        self.preset = effect.preset_param() if effect is not None else None
        self.preset_fills = effect.preset_fills() if self.preset is not None else {}
        self.effect_note = effect_note
        self.timer = None
        self.win = self._build()
        self.items = self.win.GetItems()
        self._connect()

    # ----------------------------------------------------------------- layout
    def _row(self, label, element):
        ui = self.ui
        return ui.HGroup({"Weight": 0}, [ui.Label({"Text": label, "Weight": 0, "MinimumSize": [120, 0]}), element])

    def _build(self):
        ui, d = self.ui, self.defaults
        rows = [
            ui.Label({"ID": "Intro", "WordWrap": True, "Weight": 0,
                      "Text": "Deflickers the source media of timeline clips (plus handles), imports the result "
                              "into the '{}' bin and places it on the track above, frame for frame."
                              .format(logic.BIN_NAME)}),
            self._row("Clips", ui.ComboBox({"ID": "Mode"})),
            self._row("Video track", ui.SpinBox({"ID": "Track", "Minimum": 1, "Maximum": 999, "Value": d.track})),
            self._row("Handles", ui.SpinBox({"ID": "Handles", "Minimum": 0, "Maximum": 999, "Value": d.handles,
                                             "ToolTip": "extra source frames each side, for temporal context"})),
            self._row("Server", ui.LineEdit({"ID": "Address", "Text": d.address})),
            ui.CheckBox({"ID": "AutoStart", "Text": "Start a server when none answers", "Checked": d.auto_start,
                         "Weight": 0}),
        ]
        for param, element, props in param_controls(self.params):
            widget = getattr(ui, element)(props)
            rows.append(widget if element == "CheckBox" else self._row(param.label, widget))
        if self.effect_note:
            rows.append(ui.Label({"ID": "EffectNote", "Text": self.effect_note, "WordWrap": True, "Weight": 0}))
        rows += [
            ui.Slider({"ID": "Progress", "Minimum": 0, "Maximum": PROGRESS_STEPS, "Value": 0, "Enabled": False,
                       "Orientation": "Horizontal", "Weight": 0}),
            ui.Label({"ID": "Status", "Text": "Ready.", "WordWrap": True, "Weight": 1}),
            ui.HGroup({"Weight": 0}, [ui.Button({"ID": "Go", "Text": "Deflicker"}),
                                      ui.Button({"ID": "Cancel", "Text": "Cancel", "Enabled": False}),
                                      ui.Button({"ID": "Close", "Text": "Close"})]),
        ]
        return self.dispatcher.AddWindow({"ID": WINDOW_ID, "WindowTitle": "Deflicker",
                                          "Geometry": [200, 200, 520, 420 + 28 * len(self.params)]},
                                         ui.VGroup({"Spacing": 6}, rows))

    def _connect(self):
        mode = self.items["Mode"]
        for _, text in MODES:
            mode.AddItem(text)
        mode.CurrentIndex = 0 if self.defaults.mode == "current" else 1
        for param, element, _ in param_controls(self.params):
            if element == "ComboBox":
                combo = self.items["P_" + param.name]
                for choice in param.choices:
                    combo.AddItem(choice)
                set_widget(param, element, combo, param.default)
        on = self.win.On
        if self.preset is not None:
            setattr(getattr(on, "P_" + self.preset.name), "CurrentIndexChanged", self.on_preset)
        on.Go.Clicked = self.on_go
        on.Cancel.Clicked = self.on_cancel
        on.Close.Clicked = self.on_close
        setattr(getattr(on, WINDOW_ID), "Close", self.on_close)
        try:
            self.timer = self.ui.Timer({"ID": TIMER_ID, "Interval": TICK_MS})
        except Exception:       # no Timer element: on_go then waits for the run itself
            self.timer = None
        if self.timer is not None:
            setattr(getattr(on, TIMER_ID), "Timeout", self.on_tick)
            self.dispatcher.On.Timeout = self.on_tick      # Resolve versions differ in where a timer's event goes

    # ----------------------------------------------------------------- events
    def options(self):
        items = self.items
        values = {}
        for param, element, _ in param_controls(self.params):
            values[param.name] = widget_value(param, element, items["P_" + param.name])
        return runs.Options(mode=MODES[int(items["Mode"].CurrentIndex or 0)][0], track=int(items["Track"].Value),
                            handles=int(items["Handles"].Value), params=read_params(self.params, values),
                            address=items["Address"].Text.strip() or self.defaults.address,
                            auto_start=bool(items["AutoStart"].Checked), cache_dir=self.defaults.cache_dir)

    def on_go(self, event=None):
        try:
            options = self.options()
        except Exception as error:      # a value the server would refuse: say which
            self.show(runs.RunStatus(runs.FAILED, 0.0, runs.FAILED, str(error)))
            return
        self.show(self.controller.go(options))
        if not self.controller.running:
            return
        if self.timer is not None:
            self.timer.Start()
            return
        while self.controller.running:          # no timer to poll from: block, showing progress as it comes
            time.sleep(TICK_MS / 1000.0)
            self.on_tick()

    def on_preset(self, event=None):
        """Fill the controls the chosen preset sets (its values, else the defaults it leaves alone)."""
        name = widget_value(self.preset, "ComboBox", self.items["P_" + self.preset.name])
        fills = self.preset_fills.get(name, {})
        for param, element, _ in param_controls(self.params):
            if param.name in fills:
                set_widget(param, element, self.items["P_" + param.name], fills[param.name])

    def on_tick(self, event=None):
        status = self.controller.tick()
        if status is not None:
            self.show(status)
        if not self.controller.running and self.timer is not None:
            self.timer.Stop()

    def on_cancel(self, event=None):
        self.controller.cancel()
        self.items["Status"].Text = "Cancelling..."

    def on_close(self, event=None):
        if self.controller.running:
            self.controller.cancel()
            deadline = time.time() + 10.0
            while self.controller.running and time.time() < deadline:   # take everything back before closing
                self.controller.tick()
                time.sleep(0.05)
        if self.timer is not None:
            self.timer.Stop()
        self.dispatcher.ExitLoop()

    def show(self, status):
        items = self.items
        items["Progress"].Value = int(round(status.fraction * PROGRESS_STEPS))
        items["Status"].Text = status.message or "{}  {}".format(progress_text(status.fraction), status.text)
        running = not status.finished
        items["Go"].Enabled = not running
        items["Cancel"].Enabled = running
        if status.finished and status.message:
            print("Deflicker: " + status.message)

    def exec_(self):
        self.win.Show()
        self.dispatcher.RunLoop()
        self.win.Hide()


# ------------------------------------------------------------------ the console
def console(controller, options, out=None, interval=0.2, sleep=time.sleep):
    """Run once, printing progress; Ctrl+C cancels (and takes everything back). Returns 0 when done."""
    out = out or sys.stdout
    status = controller.go(options)
    last = None
    while True:
        try:
            line = "{}  {}".format(progress_text(status.fraction), status.text)
            if line != last and not status.finished:
                out.write(line + "\n")
                out.flush()
                last = line
            if status.finished:
                break
            sleep(interval)
            status = controller.tick()
        except KeyboardInterrupt:
            out.write("cancelling...\n")
            controller.cancel()
    out.write(status.message + "\n")
    return 0 if status.state == runs.DONE else 1
