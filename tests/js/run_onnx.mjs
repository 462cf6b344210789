// Usage: node run_onnx.mjs MODEL.onnx IDS.bin ROWS MAXLEN
// Runs the model on int32 token ids (little-endian, row-major) with onnxruntime-web's
// WebAssembly backend and prints the probabilities as a JSON array.
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-web";

const [model, idsPath, rows, maxlen] = process.argv.slice(2);
ort.env.wasm.numThreads = 1;
const session = await ort.InferenceSession.create(readFileSync(model));
const raw = readFileSync(idsPath);
const ids = new Int32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
const n = Number(rows);
const width = Number(maxlen);
const out = [];
for (let start = 0; start < n; start += 1024) {
  const count = Math.min(1024, n - start);
  const slice = ids.slice(start * width, (start + count) * width);
  const feeds = { token_ids: new ort.Tensor("int32", slice, [count, width]) };
  const result = await session.run(feeds);
  out.push(...Array.from(result.probability.data));
}
process.stdout.write(JSON.stringify(out));
