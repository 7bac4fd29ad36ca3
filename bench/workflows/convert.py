"""Convert WfCommons recipe base graphs into the compact instances in this folder (see PROVENANCE.md).

Not run by the benchmark: it needs ``wfcommons==1.6`` (not a dependency of this project), e.g.

    uv venv /tmp/wf && VIRTUAL_ENV=/tmp/wf uv pip install wfcommons==1.6
    /tmp/wf/bin/python bench/workflows/convert.py

Each instance keeps the DAG of one recorded WfInstances run exactly as WfCommons ships it (the recipe's
``base_graph.pickle`` of that run); WfCommons' recipe draws each task's runtime and file sizes from the
distribution it fitted per task type to the recorded runs (within the recorded min/max), seeded here.
Output, one JSON per instance: ``tasks`` = [[type, runtime_s, bytes_from_parents, external_input_bytes,
[parent indices]], ...] in a topological order.
"""

from __future__ import annotations

import json
import pickle
import random
import sys
from pathlib import Path

import networkx as nx
import numpy as np
from wfcommons.wfchef import recipes

OUT = Path(__file__).parent
# (family, system, recipe class, base graph = the recorded run)
INSTANCES = [
    ("seismology", "pegasus", "SeismologyRecipe", "seismology-chameleon-300p-001"),
    ("seismology", "pegasus", "SeismologyRecipe", "seismology-chameleon-700p-001"),
    ("soykb", "pegasus", "SoykbRecipe", "soykb-chameleon-20fastq-20ch-001"),
    ("soykb", "pegasus", "SoykbRecipe", "soykb-chameleon-40fastq-20ch-001"),
    ("cycles", "pegasus", "CyclesRecipe", "cycles-chameleon-5l-1c-9p-001"),
    ("cycles", "pegasus", "CyclesRecipe", "cycles-chameleon-5l-3c-9p-001"),
    ("blast", "makeflow", "BlastRecipe", "blast-chameleon-medium-001"),
    ("bwa", "makeflow", "BwaRecipe", "bwa-chameleon-large-001"),
    ("rnaseq", "nextflow", "RnaseqRecipe", "rnaseq-6l"),
    ("epigenomics", "pegasus", "EpigenomicsRecipe", "epigenomics-chameleon-hep-2seq-50k-001"),
    ("epigenomics", "pegasus", "EpigenomicsRecipe", "epigenomics-chameleon-ilmn-4seq-100k-001"),
    ("epigenomics", "pegasus", "EpigenomicsRecipe", "epigenomics-chameleon-hep-6seq-50k-001"),
    ("1000genome", "pegasus", "GenomeRecipe", "1000genome-chameleon-8ch-250k-001"),
    ("1000genome", "pegasus", "GenomeRecipe", "1000genome-chameleon-22ch-250k-001"),
    ("montage", "pegasus", "MontageRecipe", "montage-chameleon-dss-10d-001"),
    ("montage", "pegasus", "MontageRecipe", "montage-chameleon-dss-125d-001"),
]


def convert(family: str, system: str, cls_name: str, base: str, seed: int = 0) -> dict:
    cls = getattr(recipes, cls_name)
    recipe = cls(num_tasks=10)
    path = recipe.this_dir / "microstructures" / base / "base_graph.pickle"
    graph: nx.DiGraph = pickle.loads(path.read_bytes())
    recipe.generate_nx_graph = lambda: graph  # this recorded run's DAG as it is, no duplication
    random.seed(seed)
    np.random.seed(seed)
    wf = recipe.build_workflow(base)
    tasks = {wf.nodes[n]["task"].task_id: wf.nodes[n]["task"] for n in wf.nodes}
    order = list(nx.topological_sort(wf))
    index = {t: i for i, t in enumerate(order)}
    rows = []
    for t in order:
        task = tasks[t]
        parents = sorted(index[p] for p in wf.predecessors(t))
        produced = {f.file_id for p in wf.predecessors(t) for f in tasks[p].output_files}
        from_parents = sum(f.size for f in task.input_files if f.file_id in produced)
        external = sum(f.size for f in task.input_files if f.file_id not in produced)
        kind = graph.nodes.get(t, {}).get("type") or task.name.split("_0")[0]
        rows.append([task.category or kind, round(task.runtime, 3), int(from_parents), int(external), parents])
    return {"name": base, "family": family, "system": system, "recipe": f"wfcommons.wfchef.recipes.{cls_name}",
            "seed": seed, "tasks": rows}


def main() -> None:
    for family, system, cls_name, base in INSTANCES:
        inst = convert(family, system, cls_name, base)
        path = OUT / f"{base}.json"
        path.write_text(json.dumps(inst, separators=(",", ":")) + "\n")
        print(f"{path.name}: {len(inst['tasks'])} tasks", file=sys.stderr)


if __name__ == "__main__":
    main()
