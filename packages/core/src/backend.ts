import { existsSync } from "node:fs";
import { join } from "node:path";
import { SelectivError } from "./errors.js";
import { tf } from "./tf.js";

export type BackendName = "cpu" | "wasm" | "webgpu" | "tensorflow";
export type BackendPreference = BackendName | "auto";
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ["auto", "cpu", "wasm", "webgpu", "tensorflow"];

export interface BackendChoice {
  readonly name: BackendName;
  /** Why this backend was chosen (and why the better ones were not). */
  readonly reason: string;
}

type Attempt = { ok: true } | { ok: false; why: string };

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 160);
}

async function importOptional(name: string): Promise<unknown> {
  // A computed specifier keeps bundlers and tsc from resolving packages that are optional at run time.
  const specifier: string = name;
  return import(specifier);
}

async function tryTensorflow(): Promise<Attempt> {
  const tried: string[] = [];
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      await importOptional(pkg);
      if (tf.findBackend("tensorflow") && (await tf.setBackend("tensorflow"))) return { ok: true };
      tried.push(`${pkg} loaded but registered no working "tensorflow" backend in this TF.js instance`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      tried.push(code === "ERR_MODULE_NOT_FOUND" ? `${pkg} not installed` : `${pkg}: ${firstLine(e)}`);
    }
  }
  return { ok: false, why: `no working tfjs-node binding (${tried.join("; ")})` };
}

/** Dawn reaches GPUs on Linux through the Vulkan loader; without it Dawn only prints a warning, so look first. */
function vulkanLoaderFound(): boolean {
  if (process.platform !== "linux") return true;
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean),
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/lib/x86_64-linux-gnu",
  ];
  return dirs.some((d) => existsSync(join(d, "libvulkan.so.1")));
}

async function tryWebgpu(): Promise<Attempt> {
  if (!vulkanLoaderFound()) return { ok: false, why: "no Vulkan loader (libvulkan.so.1) on this machine" };
  try {
    const g = globalThis as unknown as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } };
    if (!g.navigator?.gpu) {
      const dawn = (await importOptional("webgpu")) as { create(flags: string[]): unknown; globals: object };
      Object.assign(globalThis, dawn.globals);
      Object.defineProperty(globalThis, "navigator", {
        value: { ...(g.navigator ?? {}), gpu: dawn.create([]) },
        configurable: true,
        writable: true,
      });
    }
    const adapter = await g.navigator!.gpu!.requestAdapter();
    if (!adapter) return { ok: false, why: "no GPU adapter (navigator.gpu.requestAdapter() returned null)" };
    // Import the backend only once an adapter exists: a registered-but-failed backend breaks the others.
    await importOptional("@tensorflow/tfjs-backend-webgpu");
    if (!(await tf.setBackend("webgpu"))) return { ok: false, why: "the webgpu backend failed to initialise" };
    tf.env().set("WEBGPU_CPU_FORWARD", false);
    return { ok: true };
  } catch (e) {
    return { ok: false, why: `webgpu unavailable (${firstLine(e)})` };
  }
}

async function tryWasm(): Promise<Attempt> {
  try {
    await import("@tensorflow/tfjs-backend-wasm");
    if (await tf.setBackend("wasm")) return { ok: true };
    return { ok: false, why: "the wasm backend failed to initialise" };
  } catch (e) {
    return { ok: false, why: `wasm unavailable (${firstLine(e)})` };
  }
}

async function tryCpu(): Promise<Attempt> {
  return (await tf.setBackend("cpu")) ? { ok: true } : { ok: false, why: "the cpu backend failed to initialise" };
}

const attempts: Record<BackendName, () => Promise<Attempt>> = {
  tensorflow: tryTensorflow,
  webgpu: tryWebgpu,
  wasm: tryWasm,
  cpu: tryCpu,
};

let current: BackendChoice | undefined;

/**
 * Selects and initialises the TF.js backend. Call before creating any tensor (a tensor made before
 * tf.setBackend breaks). `auto`: tensorflow if a working tfjs-node binding is present, else webgpu if a GPU
 * adapter exists, else wasm, else cpu. An explicit choice that cannot start is a one-line SelectivError.
 */
export async function initBackend(preference: BackendPreference): Promise<BackendChoice> {
  if (current && (preference === "auto" || preference === current.name)) return current;
  if (!BACKEND_PREFERENCES.includes(preference)) {
    throw new SelectivError(`--backend: got ${JSON.stringify(preference)}; expected one of ${BACKEND_PREFERENCES.join(", ")}`);
  }
  if (preference !== "auto") {
    const r = await attempts[preference]();
    if (!r.ok) throw new SelectivError(`--backend ${preference}: ${r.why}; allowed here: auto, cpu, wasm`);
    current = { name: preference, reason: "requested with --backend" };
    return current;
  }
  const skipped: string[] = [];
  for (const name of ["tensorflow", "webgpu", "wasm", "cpu"] as const) {
    const r = await attempts[name]();
    if (r.ok) {
      current = { name, reason: skipped.length ? `auto: ${skipped.join("; ")}` : `auto: ${name} is available` };
      return current;
    }
    skipped.push(`${name}: ${r.why}`);
  }
  throw new SelectivError(`--backend auto: no backend could start (${skipped.join("; ")})`);
}

/** The backend chosen by initBackend, if any. */
export function currentBackend(): BackendChoice | undefined {
  return current;
}
