"""plugins/module_utils is layered as docs/development.md lists it: every import (lazy ones inside functions
included) goes to a lower layer, so the import graph has no circle, and every file is listed."""

import ast
import os
import re

import helpers

MODULE_UTILS = os.path.join(helpers.REPO, "plugins", "module_utils")
PACKAGE = "ansible_collections.ipoffice.security.plugins."
DEVELOPMENT = os.path.join(helpers.REPO, "docs", "development.md")


def documented_layers():
    """{file name: layer number} from the numbered list under '## Layers of module_utils'."""
    text = open(DEVELOPMENT).read()
    section = text.split("## Layers of module_utils", 1)[1].split("\n## ", 1)[0]
    layers = {}
    for number, names in re.findall(r"^(\d+)\. [^\n]*?:((?: `_\w+`,?)+)\s*$", section, re.MULTILINE):
        for name in re.findall(r"`(_\w+)`", names):
            assert name not in layers, "%s is listed twice in docs/development.md" % name
            layers[name] = int(number)
    return layers


def imports_of(path):
    """The collection's modules a file imports: [(kind, name)], kind module_utils or another plugin type."""
    found = []
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            kind, _dot, rest = node.module[len(PACKAGE):].partition(".")
            if rest:
                found.append((kind, rest.split(".")[0]))
            else:
                found += [(kind, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE):
                    kind, _dot, rest = alias.name[len(PACKAGE):].partition(".")
                    found.append((kind, rest.split(".")[0]))
    return found


def import_graph():
    files = sorted(name[:-3] for name in os.listdir(MODULE_UTILS) if name.endswith(".py") and name != "__init__.py")
    graph, upward = {}, []
    for name in files:
        edges = imports_of(os.path.join(MODULE_UTILS, name + ".py"))
        upward += ["%s imports %s.%s" % (name, kind, target) for kind, target in edges if kind != "module_utils"]
        graph[name] = sorted(set(target for kind, target in edges if kind == "module_utils"))
    return graph, upward


def test_the_import_graph_is_acyclic():
    graph, upward = import_graph()
    assert upward == [], "module_utils imports from a layer above it (modules, plugin_utils, ...): %s" % upward
    state = {}

    def visit(name, path):
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", "import circle: %s" % " -> ".join(path + [name])
        state[name] = "open"
        for target in graph[name]:
            visit(target, path + [name])
        state[name] = "done"

    for name in graph:
        visit(name, [])


def test_the_imports_follow_the_documented_layers():
    layers = documented_layers()
    graph, _upward = import_graph()
    assert layers.get("_model") == 0 and layers.get("_settings") == max(layers.values())  # the list was read
    assert sorted(layers) == sorted(graph), (
        "docs/development.md lists %s; plugins/module_utils holds %s" % (sorted(layers), sorted(graph)))
    wrong = ["%s (layer %d) imports %s (layer %d)" % (name, layers[name], target, layers[target])
             for name, targets in sorted(graph.items()) for target in targets if layers[target] >= layers[name]]
    assert wrong == [], "imports that do not go to a lower layer: %s" % wrong
    ground = [name for name, layer in layers.items() if layer == 0]
    assert [name for name in ground if graph[name]] == [], "the ground floor imports nothing of the collection"


def test_the_checker_sees_a_lazy_import_inside_a_function(tmp_path):
    """A circle made by an import inside a function (the way the old _store -> _generation one was) counts."""
    path = tmp_path / "_lazy.py"
    path.write_text("def record():\n    from ansible_collections.ipoffice.security.plugins.module_utils import "
                    "_generation\n    return _generation\n")
    assert imports_of(str(path)) == [("module_utils", "_generation")]
