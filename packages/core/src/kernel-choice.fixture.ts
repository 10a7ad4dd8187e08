import { initBackend } from "./backend.js";

/**
 * For tests: starts `backend` and runs `f` with the registered kernels forced on it (SELECTIV_KERNELS=registered;
 * webgpu takes them by default), restoring SELECTIV_KERNELS afterwards whatever happens.
 */
export async function withRegisteredKernels<T>(backend: "cpu" | "wasm" | "webgpu", f: () => Promise<T>): Promise<T> {
  const saved = process.env.SELECTIV_KERNELS;
  await initBackend(backend);
  if (backend !== "webgpu") process.env.SELECTIV_KERNELS = "registered";
  try {
    return await f();
  } finally {
    if (saved === undefined) delete process.env.SELECTIV_KERNELS;
    else process.env.SELECTIV_KERNELS = saved;
  }
}
