# SPDX-License-Identifier: GPL-3.0-or-later
"""Jobs of Deflicker nodes while Blender runs: start one from a node, poll it, show its result.

`Runner.tick` is the one polling function: Blender's timer calls it (bpy.app.timers), and
`headless.run` pumps it where no event loop runs. Nothing touches the node tree until a render
has succeeded and its frames are loaded, so a failure or a cancel leaves the tree as it was.
"""
import os

import bpy
from .deps import bridge

from . import effect_props, node as deflicker_node, paths, sources, tree as trees
from .plan import make_plan
from .task import NodeTask

ANALYSE, RENDER = "analyse", "render"
POLL_SECONDS = 0.1
ADDRESS_ENV = "DEFLICKER_ADDRESS"


class Settings(object):
    """Connection and output settings (the add-on preferences, or what a headless caller passes)."""

    __slots__ = ("address", "start_server", "location")

    def __init__(self, address=None, start_server=True, location=paths.CACHE):
        self.address = address or os.environ.get(ADDRESS_ENV) or bridge.DEFAULT_ADDRESS
        self.start_server = bool(start_server)
        self.location = location


def source_map(node):
    """Where the node's source sits on the timeline (sources.SourceMap); MediaError says what is wrong."""
    if node.source_type == "CLIP":
        clip = node.clip
        if clip is None:
            raise sources.MediaError("choose a Movie Clip for the Deflicker node '{}'".format(node.name))
        what = "the Movie Clip '{}'".format(clip.name)
        path = deflicker_node.source_path(clip)
        if clip.source == "SEQUENCE":
            return sources.clip_sequence(path, clip.frame_start, clip.frame_offset, what)
        return sources.movie(path, clip.frame_duration, clip.frame_start, clip.frame_offset, what)
    image = node.image
    if image is None:
        raise sources.MediaError("choose a source for the Deflicker node '{}': an image sequence or a movie "
                                 "(Image), or a Movie Clip".format(node.name))
    what = "the Image '{}'".format(image.name)
    if image.packed_file is not None:
        raise sources.MediaError("{} is packed into the .blend, which the server cannot read; unpack it "
                                 "(Image > Unpack) or choose the files on disk".format(what))
    if image.source == "SEQUENCE":
        return sources.image_sequence(deflicker_node.source_path(image), node.frame_start, node.frame_offset, what)
    if image.source == "MOVIE":
        return sources.movie(deflicker_node.source_path(image), image.frame_duration, node.frame_start,
                             node.frame_offset, what, image_user=True)
    raise sources.MediaError("{} is a single image (source {}); deflickering needs frames over time: set its "
                             "Source to Image Sequence or Movie".format(what, image.source.title()))


def source_datablock(node):
    """The Image or Movie Clip the node deflickers (None when none is chosen)."""
    return node.clip if node.source_type == "CLIP" else node.image


def frame_range(scene, node):
    if node.use_scene_range:
        return scene.frame_start, scene.frame_end
    return node.frame_first, node.frame_last


def make_node_plan(scene, node, settings, effect, action):
    """The plan for `action` on `node`; MediaError / LocationError carry the user's message."""
    smap = source_map(node)
    first, last = frame_range(scene, node)
    source = source_datablock(node)
    params = effect_props.with_colorspace(deflicker_node.node_params(node, effect),
                                          source.colorspace_settings.name, smap.path)
    try:
        base = paths.output_base(settings.location, bpy.data.filepath)
    except paths.LocationError:
        if action == RENDER:
            raise
        base = None  # analysing writes nothing
    output = paths.output_folder(base, scene.name, node.name) if action == RENDER else None
    return make_plan(smap, first, last, node.handles, params, output=output, output_root=base)


def match_colour(image, source):
    """Give the result the source's colour space and alpha mode: its frames hold the source's encoding
    (a log or ACES source stays log or ACES), which Blender would otherwise guess from the file type."""
    if source is None:
        return
    try:
        image.colorspace_settings.name = source.colorspace_settings.name
    except TypeError:  # a name this config lacks: keep Blender's guess
        pass
    if hasattr(source, "alpha_mode"):  # Images have one, Movie Clips do not
        image.alpha_mode = source.alpha_mode


def show_result(scene, tree, node, files, first_frame, relative):
    """Load the rendered frames as an image sequence into the node's group and feed the tree's output
    (when the node's output feeds nothing yet). Loads first, so a bad file changes nothing."""
    path = bpy.path.relpath(files[0]) if relative else files[0]
    image = bpy.data.images.load(path, check_existing=True)
    image.source = "SEQUENCE"
    match_colour(image, source_datablock(node))
    image.reload()
    inner = deflicker_node.result_node(node)
    if inner is None:
        raise RuntimeError("the Deflicker node '{}' lost its inner Image node; delete the node and add it "
                           "again".format(node.name))
    image.name = "Deflicker " + node.name
    inner.image = image
    inner.frame_start = first_frame
    inner.frame_offset = int(sources.split_number(os.path.basename(files[0]))[1]) - 1
    inner.frame_duration = len(files)
    if tree == trees.compositor_tree(scene):
        trees.feed_output(tree, node.outputs[0])


def redraw():
    wm = bpy.context.window_manager
    for window in (wm.windows if wm is not None else ()):
        for area in window.screen.areas:
            if area.type == "NODE_EDITOR":
                area.tag_redraw()


class Runner(object):
    """One node's job, polled by `tick` until it ends; then the result is shown and reported."""

    def __init__(self, session, key, action, task, settings, report):
        self.session, self.key, self.action = session, key, action
        self.task, self.settings, self.report = task, settings, report
        self.status = bridge.JobStatus()
        self.summary = ""
        self.timer = self.tick  # one bound method object, so the timer can be unregistered by identity

    @property
    def finished(self):
        return self.status.finished

    def tick(self):
        """Poll once; seconds until the next poll, or None when the job has ended (timers stop then)."""
        if self.status.finished:
            return None
        status = self.task.status()
        if status.finished:
            self.status = self._finish(status)
            redraw()
            return None
        self.status = status
        redraw()
        return POLL_SECONDS

    def cancel(self):
        self.task.cancel()

    def _finish(self, status):
        if status.state == bridge.job.DONE:
            status = self._done(status)
        plan = self.task.plan
        if status.state == bridge.job.CANCELLED:
            self.summary = "Cancelled: nothing was changed"
            self.report("WARNING", "Deflicker: cancelled; the node tree is unchanged")
        elif status.state == bridge.job.FAILED:
            self.summary = status.message
            self.report("ERROR", "Deflicker: " + status.message)
        elif self.action == ANALYSE:
            self.summary = "Analysed frames {}-{}{}: Render is now quick".format(
                plan.frames.start, plan.frames.end, effect_props.ran_with(plan.params))
            self.report("INFO", "Deflicker: " + self.summary)
        else:
            self.summary = "Deflickered frames {}-{} ({} frames){} in {}".format(
                plan.frames.start, plan.frames.end, plan.frames.count, effect_props.ran_with(plan.params),
                plan.output)
            self.report("INFO", "Deflicker: " + self.summary)
        if status.state == bridge.job.DONE and self.session.effect is None:
            # a server answers now: cache its parameters for the next start (or Refresh Parameters); the
            # node class is not re-registered here, as a script may still hold this node's Python object
            effect_props.fetch_effect(self.settings.address, self.session.cache_path)
        return status

    def _done(self, status):
        """Show a finished render in the node; a failure to do so fails the job, tree untouched."""
        if self.action != RENDER:
            return status
        plan = self.task.plan
        files = self.task.result_files()
        if not files:
            status.state = bridge.job.FAILED
            status.message = "the server finished but {} does not hold the {} frames it should; render again".format(
                plan.output, plan.frames.count)
            return status
        scene, tree, node = self.session.resolve(self.key)
        if node is None:
            status.state = bridge.job.FAILED
            status.message = "the Deflicker node '{}' was renamed or deleted during the job; its frames are in " \
                             "{}".format(self.key[2], plan.output)
            return status
        try:
            show_result(scene, tree, node, files, plan.frames.start, self.settings.location == paths.BLEND)
        except RuntimeError as error:
            status.state = bridge.job.FAILED
            status.message = "cannot load the deflickered frames from {}: {}".format(plan.output, error)
        return status


class Session(object):
    """What the registered add-on holds: the effect description, the node class, the jobs by node."""

    def __init__(self, effect, cache_path, register_node_class):
        self.effect = effect
        self.cache_path = cache_path
        self.register_node_class = register_node_class  # (effect) -> None, re-registers the node class
        self.runners = {}

    # ----------------------------------------------------------------- nodes
    @staticmethod
    def key(scene, tree, node):
        return scene.name, trees.tree_key(scene, tree), node.name

    @staticmethod
    def resolve(key):
        """(scene, tree, node) for a key, with None where one of them is gone."""
        scene = bpy.data.scenes.get(key[0])
        tree = trees.find_tree(scene, key[1]) if scene is not None else None
        node = tree.nodes.get(key[2]) if tree is not None else None
        return scene, tree, node if deflicker_node.is_deflicker(node) else None

    def runner(self, scene, tree, node):
        return self.runners.get(self.key(scene, tree, node))

    def running(self, scene, tree, node):
        runner = self.runner(scene, tree, node)
        return runner is not None and not runner.finished

    # ----------------------------------------------------------------- jobs
    def start(self, scene, tree, node, action, settings, report):
        """Start `action` for `node`; raises MediaError / LocationError (nothing started, nothing changed)."""
        if self.running(scene, tree, node):
            raise sources.MediaError("the Deflicker node '{}' is already busy; cancel it first".format(node.name))
        plan = make_node_plan(scene, node, settings, self.effect, action)
        task = NodeTask(plan, settings.address, settings.start_server).start()
        runner = Runner(self, self.key(scene, tree, node), action, task, settings, report)
        self.runners[runner.key] = runner
        return runner

    def cancel_all(self):
        for runner in self.runners.values():
            if not runner.finished:
                runner.cancel()
            if bpy.app.timers.is_registered(runner.timer):
                bpy.app.timers.unregister(runner.timer)
        self.runners.clear()

    # ----------------------------------------------------------------- parameters
    def refresh_effect(self, address):
        """Ask a running server for the parameters; re-register the node class if they changed.
        Returns the description, or None when no server answers."""
        effect = effect_props.fetch_effect(address, self.cache_path)
        if effect is not None:
            changed = self.effect is None or not effect_props.same_schema(effect, self.effect)
            self.effect = effect
            if changed:
                self.register_node_class(effect)
        return effect
