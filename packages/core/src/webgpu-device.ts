// The WebGPU device core asks Dawn for, and why Dawn may find no adapter on a machine with an NVIDIA GPU.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { isAbsolute, join } from "node:path";

/** What of a GPUAdapter the device request reads. */
export interface AdapterCapabilities {
  readonly features: { has(name: string): boolean };
  readonly limits: Readonly<Record<string, number>>;
}

export interface DeviceRequest {
  readonly requiredFeatures: string[];
  readonly requiredLimits: Record<string, number>;
  /** One line: what the device lacks that a program may want (empty when nothing). */
  readonly note: string;
}

/**
 * Limits raised from WebGPU's defaults to the adapter's own. TF.js's webgpu backend asks for a few of them; the
 * storage-buffer count is not among those, so a program binding more than 8 buffers fails on any GPU without it.
 */
const RAISED_LIMITS = [
  "maxStorageBuffersPerShaderStage",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxUniformBufferBindingSize",
] as const;

/** timestamp-query times programs (TF.js's profiler); subgroups lets a kernel reduce across invocations. */
const WANTED_FEATURES = ["timestamp-query", "subgroups"] as const;

/** WebGPU's default storage buffers per shader stage: what a device gets when it asks for nothing. */
const DEFAULT_STORAGE_BUFFERS = 8;

/** The device request for `adapter`: its own limits and the wanted features it has, with a note on what it lacks. */
export function deviceRequestFor(adapter: AdapterCapabilities): DeviceRequest {
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === "number") requiredLimits[name] = value;
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const lacking: string[] = WANTED_FEATURES.filter((f) => !adapter.features.has(f)).map((f) => `no ${f}`);
  const storage = requiredLimits.maxStorageBuffersPerShaderStage ?? DEFAULT_STORAGE_BUFFERS;
  if (storage <= DEFAULT_STORAGE_BUFFERS) lacking.push(`only ${storage} storage buffers per shader stage`);
  const note = lacking.length ? `the adapter offers ${lacking.join(", ")}` : "";
  return { requiredFeatures, requiredLimits, note };
}

/** Where the Vulkan loader looks for driver manifests (ICD json files) when VK_ICD_FILENAMES is not set. */
const ICD_DIRS = ["/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d", "/usr/share/vulkan/icd.d"];

/** Every Vulkan driver manifest the loader would read: VK_DRIVER_FILES / VK_ICD_FILENAMES, else the standard folders. */
export function vulkanIcdFiles(env: NodeJS.ProcessEnv = process.env, dirs: readonly string[] = ICD_DIRS): string[] {
  const listed = env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES;
  if (listed) return listed.split(":").filter(Boolean);
  return dirs.flatMap((d) => {
    try {
      return readdirSync(d)
        .filter((f) => f.endsWith(".json"))
        .map((f) => join(d, f));
    } catch {
      return [];
    }
  });
}

/** Whether this machine has an NVIDIA GPU with its kernel driver loaded. */
export function nvidiaGpuPresent(): boolean {
  return existsSync("/proc/driver/nvidia/version") || existsSync("/dev/nvidia0");
}

/** The library path of a manifest whose driver is NVIDIA's (libGLX_nvidia.so.0), if it is one. */
function nvidiaLibraryOf(icdFile: string): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(icdFile, "utf8")) as { ICD?: { library_path?: string } };
    const lib = manifest.ICD?.library_path;
    return lib && /nvidia/i.test(lib) ? lib : undefined;
  } catch {
    return undefined;
  }
}

/** A library as the dynamic loader would find it: an absolute path, else the first hit in LD_LIBRARY_PATH or the system folders. */
function locateLibrary(lib: string, icdFile: string, env: NodeJS.ProcessEnv): string | undefined {
  if (isAbsolute(lib)) return existsSync(lib) ? lib : undefined;
  // A relative path with a slash is relative to the manifest's folder (the loader's rule).
  if (lib.includes("/")) {
    const p = join(icdFile, "..", lib);
    return existsSync(p) ? p : undefined;
  }
  const dirs = [
    ...(env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean),
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/lib/x86_64-linux-gnu",
  ];
  return dirs.map((d) => join(d, lib)).find((p) => existsSync(p));
}

/** The libraries `ldd` reports "not found" for `path` (none when ldd is missing or fails). */
export function missingDependencies(path: string): string[] {
  let out: string;
  try {
    out = execFileSync("ldd", [path], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 });
  } catch (e) {
    out = String((e as { stdout?: string }).stdout ?? "");
  }
  return out
    .split("\n")
    .filter((l) => /=>\s*not found/.test(l))
    .map((l) => l.trim().split(/\s+/)[0]!);
}

/**
 * Why Dawn found no adapter on a machine with an NVIDIA GPU, in one line, when the NVIDIA Vulkan driver's library
 * (libGLX_nvidia.so.0, named by its ICD manifest) or one of its dependencies (libglvnd's libGLdispatch, the X11
 * client libraries) is missing; undefined when that is not the cause or cannot be told.
 */
export function diagnoseNvidiaVulkan(
  options: { icdFiles?: string[]; nvidiaGpu?: boolean; env?: NodeJS.ProcessEnv } = {},
): string | undefined {
  const env = options.env ?? process.env;
  if (!(options.nvidiaGpu ?? nvidiaGpuPresent())) return undefined;
  const icds = (options.icdFiles ?? vulkanIcdFiles(env)).map((f) => ({ file: f, lib: nvidiaLibraryOf(f) })).filter((x) => x.lib);
  if (icds.length === 0) {
    return "an NVIDIA GPU is present but no Vulkan driver manifest names NVIDIA's library (install the driver's Vulkan ICD, nvidia_icd.json)";
  }
  for (const { file, lib } of icds) {
    const path = locateLibrary(lib!, file, env);
    if (!path)
      return `the NVIDIA Vulkan driver (${file}) names ${lib}, which is not installed (it ships with the NVIDIA driver's GL libraries)`;
    const missing = missingDependencies(path);
    if (missing.length) {
      return `the NVIDIA Vulkan driver ${path} cannot load: ${missing.join(", ")} not found (install libglvnd and the X11 client libraries: libGLdispatch0, libx11-6, libxext6)`;
    }
  }
  return undefined;
}
