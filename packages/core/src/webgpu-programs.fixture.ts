import { tf } from "./tf.js";

/** For tests: runs `body` on the current (webgpu) backend and returns its result with the shader keys it ran. */
export async function programsRun<T>(body: () => Promise<T>): Promise<{ result: T; keys: string[] }> {
  type Run = (program: { shaderKey: string }, ...rest: unknown[]) => unknown;
  const gpu = tf.backend() as unknown as { runWebGPUProgram: Run };
  const run = gpu.runWebGPUProgram;
  const keys: string[] = [];
  gpu.runWebGPUProgram = (program, ...rest) => {
    keys.push(program.shaderKey);
    return run.call(gpu, program, ...rest);
  };
  try {
    return { result: await body(), keys };
  } finally {
    gpu.runWebGPUProgram = run;
  }
}
