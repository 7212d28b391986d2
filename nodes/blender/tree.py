# SPDX-License-Identifier: GPL-3.0-or-later
"""The compositor tree across Blender generations (each call checked by running it in 4.5 and 5.0).

4.x: `scene.use_nodes`, `scene.node_tree` (embedded), a Composite node is the output.
5.0: no `scene.node_tree` and no Composite node; `scene.compositing_node_group` is a node group
("CompositorNodeTree") whose Group Output's first colour socket is the output.
"""
import bpy

NEW_API = not hasattr(bpy.types, "CompositorNodeComposite")


def compositor_tree(scene):
    """The scene's compositor tree, or None when it has none."""
    if hasattr(scene, "compositing_node_group"):
        return scene.compositing_node_group
    return scene.node_tree if scene.use_nodes else None


def ensure_compositor_tree(scene, name="Compositing"):
    """The scene's compositor tree, made (empty but for its output) when there is none."""
    tree = compositor_tree(scene)
    if tree is not None:
        return tree
    if hasattr(scene, "compositing_node_group"):
        tree = bpy.data.node_groups.new(name, "CompositorNodeTree")
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        tree.nodes.new("NodeGroupOutput")
        scene.compositing_node_group = tree
        return tree
    scene.use_nodes = True
    return scene.node_tree


def tree_key(scene, tree):
    """A name that finds `tree` again later: "" for the scene's own tree, else the node group's name."""
    return "" if tree == compositor_tree(scene) else tree.name


def find_tree(scene, key):
    if not key:
        return compositor_tree(scene)
    return bpy.data.node_groups.get(key)


def output_input(tree):
    """The socket the final image goes into (Composite's Image, or the Group Output's first colour
    input), or None when the tree has no output to feed."""
    if NEW_API:
        outputs = [n for n in tree.nodes if n.bl_idname == "NodeGroupOutput"]
        outputs.sort(key=lambda n: not n.is_active_output)
        for node in outputs:
            for socket in node.inputs:
                if socket.type == "RGBA":
                    return socket
        return None
    composites = [n for n in tree.nodes if n.bl_idname == "CompositorNodeComposite"]
    return composites[0].inputs["Image"] if composites else None


def feed_output(tree, socket):
    """Link `socket` into the tree's output unless it already feeds something (the user's wiring stays).
    Returns whether a link was made."""
    if socket.is_linked:
        return False
    target = output_input(tree)
    if target is None:
        return False
    tree.links.new(socket, target)
    return True
