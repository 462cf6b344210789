"""Keras's recorded outputs, ``reference-outputs.npz``: written by ``rnnkit export``, read
back by ``verify`` and by every load's self-check. Its layout is defined here only:

* ``keras``: Keras's outputs on the parity set's test rows, then on the edge rows
  (``[rows]`` for a binary model, ``[rows, classes]`` for a multi-class one);
* ``edge_ids``: the edge rows' token ids; ``edge_names``: what each edge row tests.

Only what Keras said is recorded, never a runtime's outputs. For a model imported from a
Keras 2 file, that is the Keras 2 model itself: ``source-outputs.npz`` (``ids``, ``outputs``:
every parity row), written at import, is the export gate's reference. (Bundles exported before
quantized files were judged by criteria also hold ``onnx_int8`` and the like: ignored.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BundleError
from ..files import replacing
from .bundle import Bundle, load_npz
from .manifest import REFERENCE_OUTPUTS_FILE
from .parity import ParityInputs

KERAS, EDGE_IDS, EDGE_NAMES = "keras", "edge_ids", "edge_names"
SOURCE_OUTPUTS_FILE = "source-outputs.npz"


def write_source_outputs(folder: Path, ids: np.ndarray, outputs: np.ndarray) -> None:
    """The imported model's own outputs (Keras 2's) on every parity row."""
    np.savez_compressed(
        folder / SOURCE_OUTPUTS_FILE, ids=ids.astype(np.int32), outputs=outputs.astype(np.float32)
    )


def source_outputs(bundle: Bundle, ids: np.ndarray) -> np.ndarray | None:
    """The outputs recorded at import for the parity rows ``ids`` (``None``: the bundle has
    none, and live Keras is the reference)."""
    if SOURCE_OUTPUTS_FILE not in bundle.manifest.get("files", {}):
        return None
    bundle.check_hashes([SOURCE_OUTPUTS_FILE])
    arrays = load_npz(bundle.file(SOURCE_OUTPUTS_FILE))
    if arrays.get("ids") is None or not np.array_equal(arrays["ids"], ids):
        raise BundleError(
            f"{bundle.file(SOURCE_OUTPUTS_FILE)}: its rows are not the bundle's parity rows"
        )
    return arrays["outputs"].reshape(len(ids), -1)


def _stored(outputs: np.ndarray) -> np.ndarray:
    # A binary model's one output column is stored flat, as rnnkit always has.
    return outputs[:, 0] if outputs.ndim == 2 and outputs.shape[1] == 1 else outputs


def write_recording(bundle: Bundle, inputs: ParityInputs) -> None:
    """Record Keras's outputs in ``inputs`` (test rows, then edge rows) in the bundle,
    atomically, and enter the file's hash in the manifest (written by the caller)."""
    n = inputs.n_test
    arrays = {
        KERAS: _stored(inputs.reference.astype(np.float32)),
        EDGE_IDS: inputs.ids[n:],
        EDGE_NAMES: np.array(inputs.row_names[n:], dtype="<U64"),
    }
    with replacing(bundle.file(REFERENCE_OUTPUTS_FILE)) as fh:
        np.savez_compressed(fh, **arrays)
    bundle.record_file(REFERENCE_OUTPUTS_FILE)


def recorded_inputs(bundle: Bundle, rows: int | None = None) -> ParityInputs:
    """The parity inputs (the first ``rows`` test rows, default all, then the edge rows)
    with Keras's recorded outputs as the reference."""
    ids, labels = bundle.parity_set()
    recording = bundle.reference_outputs()
    n = len(ids) if rows is None else min(rows, len(ids))
    edges = recording[EDGE_IDS]
    keep = np.r_[np.arange(n), len(ids) + np.arange(len(edges))]
    return ParityInputs(
        np.concatenate([ids[:n], edges]).astype(np.int32),
        labels[:n],
        [f"test[{i}]" for i in range(n)] + [str(x) for x in recording[EDGE_NAMES]],
        recording[KERAS].astype(np.float64).reshape(len(ids) + len(edges), -1)[keep],
        "recorded keras",
        bundle.signature.output,
    )
