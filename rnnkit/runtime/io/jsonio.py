"""JSON inputs: JSON Lines (one object per line, streamed) or one array of objects.

As with CSV, the calling thread only cuts the input into blocks (here: ``BLOCK_ROWS``
non-blank lines); a block's lines are parsed, checked and turned into an Arrow batch when
its chunk is loaded, in the scoring threads. The columns are the keys of the first block's
objects in order of first appearance, so the first block is parsed when the file is opened;
a later object with a new key is an error naming its row and line.

Values are read as text: strings as they are, anything else as its compact JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa

from ..errors import DataError
from .chunks import BlockError, Chunk, InputFile, all_text
from .streams import InputStream

BLOCK_ROWS = 1024
#: A ``.json`` file holding one array is parsed whole (the json module cannot stream it);
#: past this size the error says to convert it to JSON Lines, which streams.
ARRAY_MAX_BYTES = 512 << 20


def open_json(source: str, encoding: str | None) -> InputFile:
    stream = InputStream(source, encoding)
    try:
        if stream.first_nonspace() == b"[":
            blocks = _array_blocks(stream)
        else:
            blocks = _line_blocks(stream)
        first = next(blocks, None)
        try:
            objects = _parse(first, stream.name) if first is not None else []
        except BlockError as exc:  # the first block starts at row 0
            raise exc.to_data_error(0) from None
        columns = list(dict.fromkeys(k for obj in objects for k in obj))
        if not columns:
            raise DataError(f"{stream.name}: no JSON objects with keys in the first rows")
    except BaseException:
        stream.close()
        raise

    def chunks() -> Iterator[Chunk]:
        try:
            yield Chunk(lambda: _batch(objects, first, columns, stream.name))
            for block in blocks:
                yield Chunk(lambda block=block: _batch(None, block, columns, stream.name))
        finally:
            stream.close()

    return InputFile(stream.name, columns, all_text(chunks()), stream.close)


# A block: (where each row is, e.g. "line 7" / "element 7"; the rows, raw lines or objects).
Block = tuple[list[str], list]


def _line_blocks(stream: InputStream) -> Iterator[Block]:
    """Blocks of ``BLOCK_ROWS`` non-blank raw lines, with their line numbers."""
    rest, line_no = b"", 0
    where: list[str] = []
    rows: list[bytes] = []
    while True:
        chunk = stream.read(1 << 20)
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop() if chunk else b""
        for raw in parts:
            line_no += 1
            if raw.strip():
                where.append(f"line {line_no}")
                rows.append(raw)
                if len(rows) == BLOCK_ROWS:
                    yield where, rows
                    where, rows = [], []
        if not chunk:
            if rows:
                yield where, rows
            return


def _array_blocks(stream: InputStream) -> Iterator[Block]:
    """Blocks of a JSON array's elements (the array is parsed whole)."""
    data = stream.read(ARRAY_MAX_BYTES + 1)
    while len(data) <= ARRAY_MAX_BYTES and (more := stream.read(1 << 24)):
        data += more
    if len(data) > ARRAY_MAX_BYTES:
        raise DataError(
            f"{stream.name}: a JSON array larger than {ARRAY_MAX_BYTES >> 20} MiB; rnnkit "
            "reads a JSON array whole, so convert it to JSON Lines (one object per line), "
            "which is streamed: jq -c '.[]' in.json > in.jsonl"
        )
    try:
        items = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{stream.name}: not valid JSON ({exc})") from None
    if not isinstance(items, list):
        raise DataError(f"{stream.name}: expected a JSON array of objects")
    for start in range(0, len(items), BLOCK_ROWS):
        part = items[start : start + BLOCK_ROWS]
        yield [f"element {start + i}" for i in range(len(part))], part


def _parse(block: Block, name: str, first_row: int = 0) -> list[dict]:
    """The block's objects; a problem raises :class:`BlockError` (row relative to the
    block), or :class:`DataError` with ``first_row`` known (the first block)."""
    where, rows = block
    objects = []
    for i, raw in enumerate(rows):
        obj = raw
        if isinstance(raw, bytes):
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise _error(name, where[i], i, f"not valid JSON ({exc})") from None
        if not isinstance(obj, dict):
            got = type(obj).__name__
            raise _error(name, where[i], i, f"expected a JSON object, got {got}")
        objects.append(obj)
    return objects


def _error(name: str, where: str, index: int, why: str) -> BlockError:
    return BlockError(lambda row: f"{name}: row {row} (0-based), {where}: {why}", index)


def _batch(objects: list[dict] | None, block: Block, columns: list[str], name: str):
    """The block as an all-text Arrow batch (``objects``: already parsed)."""
    if objects is None:
        objects = _parse(block, name)
    for i, obj in enumerate(objects):
        extra = [k for k in obj if k not in columns]
        if extra:
            raise _error(
                name, block[0][i], i,
                f"key {extra[0]!r} is not in the columns found so far ({columns})",
            )  # fmt: skip
    data = {c: [_json_text(o.get(c)) for o in objects] for c in columns}
    schema = pa.schema([(c, pa.large_string()) for c in columns])
    return pa.RecordBatch.from_pydict(data, schema=schema)


def _json_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
