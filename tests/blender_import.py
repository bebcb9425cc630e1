"""Run inside Blender (``blender -b --factory-startup --python tests/blender_import.py -- IN.glb OUT.json``):
import a .glb with Blender's own glTF importer and write what a Blender user gets as JSON.

OUT.json: ``armatures`` (name -> bone count), ``meshes`` (name -> vertices, vertex groups, whether an
armature modifier skins it), ``actions`` (name -> [first frame, last frame]) and, for each action,
``moved_m``: the largest distance (metres, Blender's world) a vertex of the skinned mesh moves between
the rest pose and the action's middle frame.
"""

import json
import sys

import bpy  # Blender's own module

try:  # Debian's Blender 3.4 glTF importer uses np.bool, which numpy 1.24 (Debian's python3-numpy) removed
    import numpy

    if "bool" not in numpy.__dict__:
        numpy.bool = bool
except ImportError:  # the importer then says it needs numpy
    pass


def _vertices(obj) -> list:
    """World positions of ``obj``'s vertices after its modifiers (the armature's pose): V vectors."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    points = [(evaluated.matrix_world @ v.co).copy() for v in mesh.vertices]
    evaluated.to_mesh_clear()
    return points


def main(path_in: str, path_out: str) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=path_in)
    armatures = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    meshes = [o for o in bpy.data.objects if o.type == "MESH"]
    report = {
        "armatures": {a.name: len(a.data.bones) for a in armatures},
        "meshes": {
            m.name: {
                "vertices": len(m.data.vertices),
                "vertex_groups": len(m.vertex_groups),
                "skinned": any(mod.type == "ARMATURE" and mod.object is not None for mod in m.modifiers),
            }
            for m in meshes
        },
        "actions": {a.name: [float(a.frame_range[0]), float(a.frame_range[1])] for a in bpy.data.actions},
        "moved_m": {},
    }
    skinned = [m for m in meshes if report["meshes"][m.name]["skinned"]]
    if armatures and skinned:
        rig, body = armatures[0], skinned[0]
        if rig.animation_data is None:
            rig.animation_data_create()
        rig.animation_data.action = None
        for bone in rig.pose.bones:
            bone.location = (0.0, 0.0, 0.0)
            bone.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
            bone.scale = (1.0, 1.0, 1.0)
        bpy.context.scene.frame_set(0)
        rest = _vertices(body)
        for action in bpy.data.actions:
            rig.animation_data.action = action
            first, last = action.frame_range
            bpy.context.scene.frame_set(round(0.5 * (first + last)))
            report["moved_m"][action.name] = max((p - q).length for p, q in zip(_vertices(body), rest))
    with open(path_out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    args = sys.argv[sys.argv.index("--") + 1 :]
    main(args[0], args[1])
