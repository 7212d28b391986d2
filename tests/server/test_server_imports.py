"""The server package's modules import each other in one direction only (no import circles, counting the
ones hidden under TYPE_CHECKING): a circle makes import order matter and hides which part depends on which."""
import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"


def _graph():
    graph = {}
    for path in SERVER.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("deflicker_server."):
                deps.add(node.module.split(".")[1])
        graph[path.stem] = deps & {p.stem for p in SERVER.glob("*.py")}
    return graph


def _cycle(graph):
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                return trail + [node, dep]
            if dep not in state:
                found = visit(dep, trail + [node])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def test_the_server_modules_import_each_other_without_circles():
    graph = _graph()
    assert "handlers" in graph["app"] and "app" not in graph["handlers"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
