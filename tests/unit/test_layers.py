"""No module of authsvc imports another that imports it back, directly or through others.

import-linter's layer contracts (pyproject.toml, run by tests/run) forbid upward imports between
layers; this adds the rule inside a layer: the import graph has no cycle at all, so every
module can be read, tested and replaced after the ones it uses.
"""

from __future__ import annotations

import grimp


def test_the_import_graph_has_no_cycle():
    graph = grimp.build_graph("authsvc")
    cycles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                cycles.add(" -> ".join((module, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles))


def test_the_service_layer_is_importable_without_flask_being_used():
    graph = grimp.build_graph("authsvc", include_external_packages=True)
    for module in graph.find_descendants("authsvc.services") | {"authsvc.services"}:
        assert not graph.chain_exists(importer=module, imported="flask", as_packages=False), module
