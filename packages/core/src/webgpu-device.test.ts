// The WebGPU device request (the adapter's limits and features) and the one-line reason for a missing NVIDIA
// Vulkan library, on fake adapters and fake Vulkan driver manifests; the device itself where an adapter exists.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { currentBackend, dawnFlags, initBackend, probeWebgpu } from "./backend.js";
import { tf } from "./tf.js";
import { deviceRequestFor, diagnoseNvidiaVulkan, vulkanIcdFiles } from "./webgpu-device.js";

const probe = await probeWebgpu();

function fakeAdapter(features: string[], limits: Record<string, number>) {
  return { features: new Set(features), limits };
}

describe("deviceRequestFor", () => {
  it("asks for the adapter's own limits and the wanted features it has, with no note when nothing is lacking", () => {
    const r = deviceRequestFor(
      fakeAdapter(["timestamp-query", "subgroups", "shader-f16"], {
        maxStorageBuffersPerShaderStage: 16,
        maxBufferSize: 1 << 30,
        maxTextureDimension1D: 8192,
      }),
    );
    expect(r.requiredFeatures).toEqual(["timestamp-query", "subgroups"]);
    expect(r.requiredLimits).toEqual({ maxStorageBuffersPerShaderStage: 16, maxBufferSize: 1 << 30 });
    expect(r.note).toBe("");
  });

  it("says in one line what the adapter lacks", () => {
    const r = deviceRequestFor(fakeAdapter(["timestamp-query"], { maxStorageBuffersPerShaderStage: 8 }));
    expect(r.requiredFeatures).toEqual(["timestamp-query"]);
    expect(r.note).toBe("the adapter offers no subgroups, only 8 storage buffers per shader stage");
  });
});

describe("diagnoseNvidiaVulkan", () => {
  const dir = mkdtempSync(join(tmpdir(), "selectiv-icd-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const manifest = (name: string, library: string) => {
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify({ file_format_version: "1.0.0", ICD: { library_path: library, api_version: "1.3.0" } }));
    return file;
  };

  it("says nothing without an NVIDIA GPU", () => {
    expect(diagnoseNvidiaVulkan({ nvidiaGpu: false, icdFiles: [manifest("a.json", "/nowhere/libGLX_nvidia.so.0")] })).toBeUndefined();
  });

  it("names the NVIDIA library its manifest points to when it is not installed", () => {
    const icd = manifest("nvidia_icd.json", "libGLX_nvidia.so.0");
    const why = diagnoseNvidiaVulkan({ nvidiaGpu: true, icdFiles: [icd], env: { LD_LIBRARY_PATH: dir } });
    expect(why).toMatch(/names libGLX_nvidia\.so\.0, which is not installed/);
    expect(why).not.toContain("\n");
  });

  it("says when no manifest names NVIDIA's library", () => {
    const why = diagnoseNvidiaVulkan({ nvidiaGpu: true, icdFiles: [manifest("lvp.json", "libvulkan_lvp.so")] });
    expect(why).toMatch(/no Vulkan driver manifest names NVIDIA's library/);
  });

  let gcc = true;
  try {
    execFileSync("gcc", ["--version"], { stdio: "ignore" });
  } catch {
    gcc = false;
  }
  // A stand-in libGLX_nvidia.so.0 linked against a library that is then removed, as on a machine without libglvnd
  // (the name is made up: the real libGLdispatch.so.0 may be installed here).
  it.runIf(gcc)("names the dependencies of the NVIDIA library that do not resolve (needs gcc to build a fake one)", () => {
    const src = join(dir, "x.c");
    const dep = "libGLdispatch-selectiv-missing.so.0";
    writeFileSync(src, "int selectiv_probe(void) { return 0; }\n");
    execFileSync("gcc", ["-shared", "-fPIC", `-Wl,-soname,${dep}`, "-o", join(dir, dep), src]);
    execFileSync("gcc", ["-shared", "-fPIC", "-o", join(dir, "libGLX_nvidia.so.0"), src, "-Wl,--no-as-needed", `-L${dir}`, `-l:${dep}`]);
    rmSync(join(dir, dep));
    const icd = manifest("nvidia_icd.json", join(dir, "libGLX_nvidia.so.0"));
    const why = diagnoseNvidiaVulkan({ nvidiaGpu: true, icdFiles: [icd], env: {} });
    expect(why).toMatch(/cannot load: libGLdispatch-selectiv-missing\.so\.0 not found \(install libglvnd/);
    expect(why).not.toContain("\n");
  });

  it("reads the manifests VK_ICD_FILENAMES names, else the standard folders", () => {
    expect(vulkanIcdFiles({ VK_ICD_FILENAMES: "/a.json:/b.json" })).toEqual(["/a.json", "/b.json"]);
    manifest("c.json", "libx.so");
    expect(vulkanIcdFiles({}, [dir, join(dir, "missing")])).toContain(join(dir, "c.json"));
  });
});

describe("dawnFlags", () => {
  it("passes SELECTIV_DAWN_TOGGLES to Dawn as enabled features, and nothing when unset", () => {
    expect(dawnFlags({})).toEqual([]);
    expect(dawnFlags({ SELECTIV_DAWN_TOGGLES: " skip_validation, disable_robustness " })).toEqual([
      "enable-dawn-features=skip_validation,disable_robustness",
    ]);
  });
  it("rejects a malformed name in one line naming the variable and the value", () => {
    expect(() => dawnFlags({ SELECTIV_DAWN_TOGGLES: "skip_validation,--evil=1" })).toThrow(
      /^SELECTIV_DAWN_TOGGLES: got "--evil=1"; expected comma-separated Dawn toggle names/,
    );
  });
});

describe("the webgpu device", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });
  it.runIf(probe.ok)("has the adapter's storage-buffer limit, not WebGPU's default of 8", async () => {
    await initBackend("webgpu");
    const device = (tf.backend() as unknown as { device: { limits: { maxStorageBuffersPerShaderStage: number }; features: Set<string> } })
      .device;
    const g = globalThis as unknown as { navigator: { gpu: { requestAdapter(): Promise<{ limits: Record<string, number> }> } } };
    const adapter = await g.navigator.gpu.requestAdapter();
    expect(device.limits.maxStorageBuffersPerShaderStage).toBe(adapter.limits.maxStorageBuffersPerShaderStage);
    expect(currentBackend()?.name).toBe("webgpu");
  });
});
