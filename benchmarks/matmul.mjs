// The 147 matrix products of one paper-shape Transformer step (Task 1: 64 × 400 tokens, width 256, SwiGLU ×4, 1,601
// classes) on webgpu, each timed alone: selectiv's tiled programs (core/src/nn/tiled-matmul.ts, the default route)
// against TF.js's own kernels (SELECTIV_MATMUL=tf), with the largest relative difference between the two.
//   node benchmarks/matmul.mjs [--reps 20] [--warmup 3] [--tokens 25600] [--json FILE] [--plans]
// Per linear layer d_in → d_out, the three products of a step: forward x W ([T, d_in] × [d_in, d_out]), the input
// gradient dy Wᵀ (transposeB) and the weight gradient xᵀ dy (transposeA, inner dimension T = 25,600).
// Time per product: its kernels' GPU time by timestamp queries (tf.time's kernelMs), the median of `reps`; a routed
// product with slices of K counts its sum too. Only meaningful on a real GPU. TFLOP/s counts 2 M N K.
// --plans adds, per product, the tiled program under other plans (tile block 4 or 8, slices of K aiming at 264 or 528
// workgroups): "b8/s4" = 128 × 128 tiles, 4 slices. The route's own plan is marked with *.
import { writeFileSync } from "node:fs";
import { loadSelectiv, printTable } from "./_lib.mjs";

const { runTiledMatMul, tiledMatMulPlan } = await import("../packages/core/dist/nn/tiled-matmul.js");

const opts = { reps: 20, warmup: 3, tokens: 64 * 400, json: "", plans: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const [flag, value] = [argv[i], argv[i + 1]];
  if (flag === "--plans") {
    opts.plans = true;
    i--;
  } else if (["--reps", "--warmup", "--tokens"].includes(flag) && /^\d+$/.test(value ?? "")) opts[flag.slice(2)] = Number(value);
  else if (flag === "--json" && value) opts.json = value;
  else {
    console.error(
      `matmul: unknown or malformed argument ${JSON.stringify(flag)}; allowed: --reps N, --warmup N, --tokens N, --json FILE, --plans`,
    );
    process.exit(2);
  }
}

const TOKENS = opts.tokens;
/** [name, d_in, d_out, products of this shape per step]: per layer q, k, v and out, SwiGLU's two; the head once. */
const LAYERS = [
  ["projection", 256, 256, 4 * 8],
  ["swiglu in", 256, 2048, 8],
  ["swiglu out", 1024, 256, 8],
  ["head", 256, 1601, 1],
];

/** [name, a shape, b shape, transposeA, transposeB, M, N, K, per step] of each product. */
const products = LAYERS.flatMap(([layer, din, dout, count]) => [
  [`${layer} forward`, [TOKENS, din], [din, dout], false, false, TOKENS, dout, din, count],
  [`${layer} dx`, [TOKENS, dout], [din, dout], false, true, TOKENS, din, dout, count],
  [`${layer} dW`, [TOKENS, din], [TOKENS, dout], true, false, din, dout, TOKENS, count],
]);

const { core, backend } = await loadSelectiv("webgpu");
const tf = core.tf;
if (backend.name !== "webgpu") {
  console.error(`matmul: needs webgpu; got ${backend.name} (${backend.reason})`);
  process.exit(1);
}
const probe = await core.probeWebgpu();
const device = probe.ok ? probe.adapter : "webgpu";

/** The product's GPU time (tf.time's kernelMs: timestamp queries), median over reps, and its values. */
async function timeProduct(product) {
  let y = product();
  const values = await y.data();
  y.dispose();
  for (let i = 0; i < opts.warmup; i++) product().dispose();
  const times = [];
  for (let i = 0; i < opts.reps; i++) {
    const timing = await tf.time(() => {
      y = product();
    });
    y.dispose();
    if (typeof timing.kernelMs !== "number") {
      console.error(`matmul: the backend gives no kernel times (${timing.kernelMs?.error ?? "no timestamp queries"})`);
      process.exit(1);
    }
    times.push(timing.kernelMs);
  }
  times.sort((x, z) => x - z);
  return { ms: times[Math.floor(times.length / 2)], values };
}

const rows = [];
for (const [name, as, bs, ta, tb, M, N, K, count] of products) {
  const a = tf.randomNormal(as, 0, 1, "float32", 1);
  const b = tf.randomNormal(bs, 0, 1, "float32", 2);
  const timed = {};
  for (const form of ["selectiv", "tf"]) {
    if (form === "tf") process.env.SELECTIV_MATMUL = "tf";
    else delete process.env.SELECTIV_MATMUL;
    timed[form] = await timeProduct(() => tf.matMul(a, b, ta, tb));
  }
  delete process.env.SELECTIV_MATMUL;
  const plans = {};
  if (opts.plans) {
    const shape = { M, N, K };
    const own = tiledMatMulPlan(shape);
    const seen = new Set();
    for (const block of [4, 8]) {
      for (const target of [264, 528]) {
        const tiles = Math.ceil(M / (16 * block)) * Math.ceil(N / (16 * block));
        const slices = Math.max(1, Math.min(Math.ceil(target / tiles), Math.floor(K / 256)));
        const key = `b${block}/s${slices}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const gpu = tf.backend();
        const run = () => tf.engine().makeTensorFromTensorInfo(runTiledMatMul(gpu, a, b, shape, ta, tb, [M, N], { block, slices }));
        const mark = own && own.block === block && own.slices === slices ? "*" : "";
        plans[key + mark] = (await timeProduct(run)).ms;
      }
    }
  }
  let scale = 1;
  let worst = 0;
  const [got, want] = [timed.selectiv.values, timed.tf.values];
  for (let j = 0; j < want.length; j++) {
    scale = Math.max(scale, Math.abs(want[j]));
    worst = Math.max(worst, Math.abs(got[j] - want[j]));
  }
  const tflops = (ms) => (2 * M * N * K) / (ms * 1e9);
  rows.push({
    product: name,
    perStep: count,
    M,
    N,
    K,
    transposeA: ta,
    transposeB: tb,
    selectivMs: timed.selectiv.ms,
    tfMs: timed.tf.ms,
    selectivTflops: tflops(timed.selectiv.ms),
    tfTflops: tflops(timed.tf.ms),
    relativeDifference: worst / scale,
    plans,
  });
  tf.dispose([a, b]);
}

console.log(`matmul: paper-shape Transformer products on ${device}, GPU time, median of ${opts.reps} after ${opts.warmup}`);
const f = (v, d = 2) => v.toFixed(d);
printTable(
  ["product", "M × N × K", "selectiv ms", "TF.js ms", "selectiv TFLOP/s", "TF.js TFLOP/s", "rel. diff"],
  rows.map((r) => [
    r.product,
    `${r.M} × ${r.N} × ${r.K}`,
    f(r.selectivMs, 3),
    f(r.tfMs, 3),
    f(r.selectivTflops),
    f(r.tfTflops),
    r.relativeDifference.toExponential(1),
  ]),
  [2, 3, 4, 5, 6],
);
if (opts.plans)
  for (const r of rows)
    console.log(
      `${r.product}: ${Object.entries(r.plans)
        .map(([k, ms]) => `${k} ${ms.toFixed(3)} ms`)
        .join(", ")}`,
    );
const perStep = (k) => rows.reduce((s, r) => s + r[k] * r.perStep, 0);
console.log(
  `all ${rows.reduce((s, r) => s + r.perStep, 0)} products of a step: selectiv ${f(perStep("selectivMs"))} ms, TF.js ${f(perStep("tfMs"))} ms`,
);
if (opts.json) writeFileSync(opts.json, rows.map((r) => JSON.stringify({ device, ...r })).join("\n") + "\n");
