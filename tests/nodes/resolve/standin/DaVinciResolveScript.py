# SPDX-License-Identifier: Apache-2.0
"""Stand-in for Resolve's `DaVinciResolveScript` module (Developer/Scripting/Modules), which loads
fusionscript and offers `scriptapp("Resolve")`: the Resolve object, or None when no Resolve answers
(README "Using a script": `import DaVinciResolveScript as dvr_script;
resolve = dvr_script.scriptapp("Resolve")`). Tests set `app` to a resolve_model.Resolve.
"""
app = None


def scriptapp(name):
    return app if name == "Resolve" else None
