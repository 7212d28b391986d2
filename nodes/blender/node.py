# SPDX-License-Identifier: GPL-3.0-or-later
"""The Deflicker compositor node: a CompositorNodeCustomGroup whose properties carry the source, the
frame range and the effect's parameters, and whose group passes the deflickered frames through.

The class is built at registration from the effect description (effect_props.specs), so the
parameters are whatever the server describes. Inside the group: an Image node (the result, an
image sequence) feeding the Group Output.
"""
import os

import bpy

from . import effect_props, sources

IDNAME = "DeflickerNode"
RESULT_NODE = "Deflickered"
SOURCE_TYPES = [("IMAGE", "Image", "An image sequence or a movie opened as an Image"),
                ("CLIP", "Movie Clip", "A Movie Clip (movie file or image sequence)")]
PROPS = {"BOOLEAN": bpy.props.BoolProperty, "INT": bpy.props.IntProperty, "FLOAT": bpy.props.FloatProperty,
         "ENUM": bpy.props.EnumProperty, "STRING": bpy.props.StringProperty}


def _image_poll(node, image):
    return image.source in {"SEQUENCE", "MOVIE"}


def _image_changed(node, context):
    """Play a newly chosen sequence's first file at Start Frame, as Blender's Open Image does."""
    image = node.image
    if image is None or image.source != "SEQUENCE" or image.packed_file is not None:
        return
    try:
        offset = sources.sequence_offset(bpy.path.abspath(image.filepath, library=image.library))
    except sources.MediaError:
        return
    if node.frame_offset != offset:
        node.frame_offset = offset


def static_properties():
    """The node's own settings (the effect's parameters are added per description)."""
    props = bpy.props
    return {
        "source_type": props.EnumProperty(name="Source", items=SOURCE_TYPES, default="IMAGE"),
        "image": props.PointerProperty(name="Image", type=bpy.types.Image, poll=_image_poll, update=_image_changed,
                                       description="The flickering footage: an image sequence or a movie"),
        "clip": props.PointerProperty(name="Movie Clip", type=bpy.types.MovieClip,
                                      description="The flickering footage as a Movie Clip"),
        "frame_start": props.IntProperty(name="Start Frame", default=1,
                                         description="Scene frame at which the image plays (as in the Image node)"),
        "frame_offset": props.IntProperty(name="Offset", default=0,
                                          description="Offset of the frame numbers (as in the Image node); set "
                                                      "for you when an image sequence is chosen"),
        "use_scene_range": props.BoolProperty(name="Scene Range", default=True,
                                              description="Deflicker the scene's frame range"),
        "frame_first": props.IntProperty(name="First", default=1, description="First scene frame to deflicker"),
        "frame_last": props.IntProperty(name="Last", default=250, description="Last scene frame to deflicker"),
        "handles": props.IntProperty(name="Handles", default=12, min=0, max=10000,
                                     description="Extra source frames each side that the analysis also sees, "
                                                 "where the source has them (temporal context)"),
    }


class DeflickerNodeBase(object):
    """Behaviour of the node; the registered class adds the properties (make_class)."""

    bl_idname = IDNAME
    bl_label = "Deflicker"
    bl_description = "Removes brightness and colour flicker (blind video deflickering, deflicker server)"
    bl_icon = "SEQ_HISTOGRAM"
    bl_width_default = 220

    @classmethod
    def poll(cls, ntree):
        return ntree.bl_idname == "CompositorNodeTree"

    def init(self, context):
        self.node_tree = new_group(self.name)
        scene = getattr(context, "scene", None) or bpy.context.scene
        if scene is not None:
            self.frame_first, self.frame_last = scene.frame_start, scene.frame_end

    def copy(self, node):
        if node.node_tree is not None:
            self.node_tree = node.node_tree.copy()

    def free(self):
        group = self.node_tree
        if group is not None and group.users <= 1:
            bpy.data.node_groups.remove(group)

    def draw_buttons(self, context, layout):
        draw_source(self, layout)
        layout.label(text="Sidebar (N) > Deflicker: Analyse / Render")

    def draw_buttons_ext(self, context, layout):
        draw_source(self, layout)
        draw_range(self, context, layout)

    def draw_label(self):
        return "Deflicker"


def new_group(node_name):
    """The node's inside: Image (the result) -> Group Output."""
    group = bpy.data.node_groups.new(".Deflicker " + node_name, "CompositorNodeTree")
    group.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    output = group.nodes.new("NodeGroupOutput")
    output.location = (300, 0)
    image = group.nodes.new("CompositorNodeImage")
    image.name = image.label = RESULT_NODE
    group.links.new(image.outputs["Image"], output.inputs[0])
    return group


def result_node(node):
    """The Image node inside the Deflicker node's group that shows the result."""
    group = node.node_tree
    return group.nodes.get(RESULT_NODE) if group is not None else None


def preset_update(fills):
    """The update callback of the preset property: set the properties the chosen preset sets."""
    def update(node, context):
        for attr, value in fills.get(getattr(node, update.attr), {}).items():
            if hasattr(node, attr) and getattr(node, attr) != value:
                setattr(node, attr, value)
    return update


def make_class(specs, presets=(None, {})):
    """A node class with the static settings plus one property per effect parameter; `presets` is
    effect_props.preset_fills(effect)."""
    annotations = static_properties()
    preset_attr, fills = presets
    for s in specs:
        options = dict(s.options)
        if s.attr == preset_attr:
            options["update"] = preset_update(fills)
            options["update"].attr = s.attr
        annotations[s.attr] = PROPS[s.kind](**options)
    return type("DeflickerNode", (DeflickerNodeBase, bpy.types.CompositorNodeCustomGroup),
                {"__annotations__": annotations, "effect_specs": list(specs)})


def is_deflicker(node):
    return node is not None and getattr(node, "bl_idname", "") == IDNAME


def draw_source(node, layout):
    layout.prop(node, "source_type", expand=True)
    if node.source_type == "IMAGE":
        layout.template_ID(node, "image", open="image.open")
        col = layout.column(align=True)
        col.prop(node, "frame_start")
        col.prop(node, "frame_offset")
    else:
        layout.template_ID(node, "clip", open="clip.open")


def draw_range(node, context, layout):
    col = layout.column(align=True)
    col.prop(node, "use_scene_range")
    if node.use_scene_range:
        scene = context.scene
        col.label(text="Frames {}-{}".format(scene.frame_start, scene.frame_end))
    else:
        row = col.row(align=True)
        row.prop(node, "frame_first")
        row.prop(node, "frame_last")
    col.prop(node, "handles")


def draw_params(node, layout):
    """The effect's parameters, analysis first (changing those re-analyses), then render."""
    specs = getattr(type(node), "effect_specs", [])
    for group, title in (("analysis", "Analysis"), ("render", "Render")):
        chosen = [s for s in specs if s.group == group]
        if chosen:
            col = layout.column(align=True)
            col.label(text=title)
            for s in chosen:
                col.prop(node, s.attr)
    return bool(specs)


def source_path(datablock):
    """The absolute path of an Image's or Movie Clip's file (relative '//' paths resolved)."""
    return os.path.normpath(bpy.path.abspath(datablock.filepath, library=datablock.library))


def node_params(node, effect):
    return effect_props.values(effect, lambda attr: getattr(node, attr))
