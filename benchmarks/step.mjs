// Training-step time, ours against the PyTorch peer (benchmarks/peer/), at the same model maths and shapes.
//   pnpm bench step [--backend wasm|cpu|webgpu] [--models gla,mamba2,gated-delta-net] [--shapes quick,paper]
//                   [--steps 3] [--warmup 1] [--python /usr/bin/python3] [--device cpu|cuda] [--threads 2]
//                   [--micro-batch N] [--workers N] [--json FILE]
// --micro-batch sets train.microBatch for our side (0 = automatic, sized for wasm's 4 GiB heap; a GPU can take more).
// --workers sets train.workers (threads sharing each step's passes; give --micro-batch below the batch size).
// Our side runs in one child process (one TF.js backend per process), then the peer runs once per row with the
// row's exact shape (batch, steps, inputs, classes, width, layers, heads, d_state, dropout). Prints both medians
// and ours / peer.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { SHAPES, buildAtShape, jsonLines, loadSelectiv, printTable, timeTrainingSteps } from "./_lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const PEER_MODELS = ["gla", "mamba2", "gated-delta-net", "transformer"];

function parse(argv) {
  const opts = {
    backend: "wasm",
    models: ["gla", "mamba2", "gated-delta-net"],
    shapes: ["quick", "paper"],
    steps: 3,
    warmup: 1,
    python: "/usr/bin/python3",
    device: "cpu",
    threads: 2,
    "micro-batch": 0,
    workers: 1,
    json: "",
    child: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--child") {
      opts.child = true;
      continue;
    }
    if (value === undefined) fail(flag);
    if (flag === "--models" || flag === "--shapes") opts[flag.slice(2)] = value.split(",").filter(Boolean);
    else if (["--steps", "--warmup", "--threads", "--micro-batch", "--workers"].includes(flag) && /^\d+$/.test(value))
      opts[flag.slice(2)] = Number(value);
    else if (["--backend", "--python", "--device", "--json"].includes(flag)) opts[flag.slice(2)] = value;
    else fail(flag);
    i++;
  }
  for (const s of opts.shapes) if (!SHAPES[s]) fail(`--shapes ${s}`, "expected quick or paper");
  for (const m of opts.models) if (!PEER_MODELS.includes(m)) fail(`--models ${m}`, `the peer has ${PEER_MODELS.join(", ")}`);
  return opts;
}

function fail(
  what,
  allowed = "allowed: --backend, --models, --shapes, --steps, --warmup, --python, --device, --threads, --micro-batch, --workers, --json",
) {
  console.error(`pnpm bench step: unknown or malformed argument ${JSON.stringify(what)}; ${allowed}`);
  process.exit(2);
}

async function child(opts) {
  const selectiv = await loadSelectiv(opts.backend);
  for (const shape of opts.shapes) {
    for (const model of opts.models) {
      const built = buildAtShape(selectiv, model, shape, { microBatch: opts["micro-batch"], workers: opts.workers });
      const timed = await timeTrainingSteps(selectiv.core, built, opts);
      const t = built.training;
      const row = {
        model,
        shape,
        backend: selectiv.backend.name,
        ...timed,
        width: t.width,
        layers: t.layers,
        heads: selectiv.core.headsForWidth(t.width),
        dropout: t.dropout,
        dState: built.modelConfig.dState ?? 0,
        params: built.net.parameterCount,
      };
      built.net.dispose();
      process.stdout.write(`${JSON.stringify(row)}\n`);
      process.stderr.write(`  ours ${model} ${shape} ${row.backend}: ${row.stepMs.toFixed(0)} ms\n`);
    }
  }
}

function runPeer(opts, row) {
  const args = [join(here, "peer", "step.py"), "--model", row.model, "--batch", row.batch, "--steps", row.steps, "--inputs", row.inputs];
  args.push("--classes", row.classes, "--width", row.width, "--layers", row.layers, "--heads", row.heads, "--dropout", row.dropout);
  if (row.dState) args.push("--d-state", row.dState);
  args.push("--warmup", opts.warmup, "--repeats", opts.steps, "--threads", opts.threads, "--device", opts.device);
  const r = spawnSync(opts.python, args.map(String), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const line = r.stdout?.split("\n").find((l) => l.startsWith("{"));
  if (r.status !== 0 || !line) {
    console.error(`bench step: the peer failed for ${row.model} ${row.shape} (exit ${r.status ?? r.error?.message})`);
    return undefined;
  }
  return JSON.parse(line);
}

export async function main(argv) {
  const opts = parse(argv);
  if (opts.child) return child(opts);
  const args = [
    fileURLToPath(import.meta.url),
    "--child",
    "--backend",
    opts.backend,
    "--models",
    opts.models.join(","),
    "--shapes",
    opts.shapes.join(","),
  ];
  args.push(
    "--steps",
    String(opts.steps),
    "--warmup",
    String(opts.warmup),
    "--micro-batch",
    String(opts["micro-batch"]),
    "--workers",
    String(opts.workers),
  );
  console.error(`bench step: ours on ${opts.backend} …`);
  const r = spawnSync(process.execPath, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const ours = jsonLines(r.stdout);
  if (r.status !== 0) console.error(`bench step: our child exited with ${r.status}`);
  console.error(`bench step: the peer (${opts.python}, ${opts.device}, ${opts.threads} threads) …`);
  const rows = ours.map((row) => {
    const peer = runPeer(opts, row);
    if (peer) console.error(`  peer ${row.model} ${row.shape}: ${peer.stepMs.toFixed(0)} ms`);
    return { ...row, peer, ratio: peer ? row.stepMs / peer.stepMs : NaN };
  });
  if (opts.json) writeFileSync(opts.json, rows.map((x) => JSON.stringify(x)).join("\n") + "\n");
  printTable(
    [
      "model",
      "shape",
      "B×T",
      "pass",
      "threads",
      "width×layers",
      "params (ours/peer)",
      `ours ${opts.backend} ms`,
      `peer ${opts.device} ms`,
      "ours/peer",
    ],
    rows.map((x) => [
      x.model,
      x.shape,
      `${x.batch}×${x.steps}`,
      x.microBatch,
      x.workers,
      `${x.width}×${x.layers}`,
      `${x.params}/${x.peer?.params ?? "—"}`,
      x.stepMs.toFixed(0),
      x.peer ? x.peer.stepMs.toFixed(1) : "—",
      Number.isFinite(x.ratio) ? x.ratio.toFixed(2) : "—",
    ]),
    [3, 4, 7, 8, 9],
  );
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main(process.argv.slice(2));
