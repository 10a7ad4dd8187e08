// `selectiv weights export|import` end to end on the built command (docs/WEIGHTS.md): a trained run's weights go out
// as safetensors and come back as a run that `eval` scores bit for bit like the original; every bad file is one line.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readSafetensors, writeSafetensors } from "@selectiv/core";
import { beforeAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../../..");
const bin = join(root, "packages/cli/bin/run.js");

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

function selectiv(args: string[]): Ran {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json<T>(r: Ran): T {
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** The one-line-error contract: non-zero exit, one `selectiv: …` line on stderr (TF.js's banner aside), no stack. */
function oneLineError(r: Ran): string {
  expect(r.status).not.toBe(0);
  const lines = r.stderr
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("selectiv: "));
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

const SMOKE_GLA = ["--model", "gla", "--preset", "smoke", "--backend", "cpu"];

describe("selectiv weights export / import", () => {
  const dir = mkdtempSync(join(tmpdir(), "selectiv-weights-"));
  let trainedRun = "";
  let exported = "";

  beforeAll(() => {
    const run = json<{ runs: { runDir: string }[] }>(selectiv(["bench", "run", ...SMOKE_GLA, "--out", join(dir, "trained"), "--json"]));
    trainedRun = run.runs[0]!.runDir;
    const e = json<{ file: string; metadata: Record<string, string> }>(selectiv(["weights", "export", trainedRun, "--json"]));
    exported = e.file;
  });

  it("export writes the reference's names with metadata; import makes a run that eval scores exactly as the trained one", () => {
    expect(exported).toBe(join(trainedRun, "weights.safetensors"));
    const { tensors, metadata } = readSafetensors(exported);
    expect(metadata).toMatchObject({
      "selectiv.model": "gla",
      "reference.model": "gla",
      "reference.module": "fla.layers.GatedLinearAttention",
      "task.inputSize": expect.stringMatching(/^\d+$/),
      "task.numClasses": expect.stringMatching(/^\d+$/),
    });
    expect(JSON.parse(metadata["selectiv.config"]!)).toMatchObject({ modelConfig: { gateLowRank: 16 }, training: { width: 16 } });
    expect(tensors.get("layers.0.q_conv1d.weight")!.shape).toEqual([16, 1, 4]);

    const imported = json<{ runDir: string }>(
      selectiv(["weights", "import", exported, ...SMOKE_GLA, "--out", join(dir, "imported"), "--json"]),
    );
    const original = json<{ testAccuracy: number; testLoss: number }>(selectiv(["eval", trainedRun, "--json"]));
    const again = json<{ testAccuracy: number; testLoss: number }>(selectiv(["eval", imported.runDir, "--json"]));
    expect(again.testAccuracy).toBe(original.testAccuracy);
    expect(again.testLoss).toBe(original.testLoss);

    // Exporting the imported run gives the same tensors back.
    const second = json<{ file: string }>(
      selectiv(["weights", "export", imported.runDir, "--out", join(dir, "second.safetensors"), "--json"]),
    );
    const back = readSafetensors(second.file).tensors;
    for (const [name, t] of tensors) expect(back.get(name)!.data, name).toEqual(t.data);

    expect(oneLineError(selectiv(["weights", "import", exported, ...SMOKE_GLA, "--out", join(dir, "imported")]))).toMatch(
      /a run with these settings exists already; give another --out/,
    );
  });

  it("a missing, extra or mis-shaped tensor is one line naming it and the expected shape", () => {
    const { tensors, metadata } = readSafetensors(exported);
    const missing = new Map(tensors);
    missing.delete("layers.0.gk_proj.1.bias");
    writeSafetensors(join(dir, "missing.safetensors"), missing, metadata);
    expect(oneLineError(selectiv(["weights", "import", join(dir, "missing.safetensors"), ...SMOKE_GLA, "--out", join(dir, "m")]))).toMatch(
      /missing\.safetensors: tensor layers\.0\.gk_proj\.1\.bias is missing; a gla network of width 16, 1 layer, 4 heads, \d+ inputs and \d+ classes needs it with shape \[16\]$/,
    );

    // Nothing is written for a file that is not the network's weights.
    expect(existsSync(join(dir, "m"))).toBe(false);

    const extra = new Map(tensors);
    extra.set("layers.1.o_proj.weight", { shape: [16, 32], data: new Float32Array(512) });
    writeSafetensors(join(dir, "extra.safetensors"), extra, metadata);
    expect(oneLineError(selectiv(["weights", "import", join(dir, "extra.safetensors"), ...SMOKE_GLA, "--out", join(dir, "e")]))).toMatch(
      /extra\.safetensors: tensor layers\.1\.o_proj\.weight \[16, 32\] is not a weight of a gla network/,
    );

    const misShaped = new Map(tensors);
    misShaped.set("layers.0.v_proj.weight", { shape: [16, 32], data: new Float32Array(512) });
    writeSafetensors(join(dir, "mis-shaped.safetensors"), misShaped, metadata);
    expect(
      oneLineError(selectiv(["weights", "import", join(dir, "mis-shaped.safetensors"), ...SMOKE_GLA, "--out", join(dir, "s")])),
    ).toMatch(
      /mis-shaped\.safetensors: tensor layers\.0\.v_proj\.weight has shape \[16, 32\]; a gla network of width 16, .* needs \[32, 16\]$/,
    );

    // Without our metadata (a reference file), a network of another width is told by the shapes; with it, by the
    // metadata, naming the setting to give.
    const { "selectiv.config": _config, ...referenceMetadata } = metadata;
    writeSafetensors(join(dir, "reference.safetensors"), tensors, referenceMetadata);
    const wider = selectiv([
      "weights",
      "import",
      join(dir, "reference.safetensors"),
      ...SMOKE_GLA,
      "--set",
      "train.width=32",
      "--out",
      join(dir, "w"),
    ]);
    expect(oneLineError(wider)).toMatch(
      /tensor encoder\.weight has shape \[16, \d+\]; a gla network of width 32, .* needs \[32, \d+\] \(and \d+ more problems\)$/,
    );
    expect(
      oneLineError(selectiv(["weights", "import", exported, ...SMOKE_GLA, "--set", "train.width=32", "--out", join(dir, "w")])),
    ).toMatch(
      /its weights are of a network with train\.width=16 \(metadata selectiv\.config\); these settings give train\.width=32: add --set train\.width=16$/,
    );
  });

  it("a file of another dtype, a file that is not safetensors, an unknown model: one line naming what exists", () => {
    const f64 = join(root, "fixtures/safetensors/python-f64.safetensors");
    expect(oneLineError(selectiv(["weights", "import", f64, ...SMOKE_GLA, "--out", join(dir, "d")]))).toMatch(
      /python-f64\.safetensors: tensor weight has dtype F64; selectiv reads F32 only/,
    );
    expect(oneLineError(selectiv(["weights", "import", join(trainedRun, "config.json"), ...SMOKE_GLA, "--out", join(dir, "n")]))).toMatch(
      /config\.json: not a safetensors file/,
    );
    expect(
      oneLineError(selectiv(["weights", "import", exported, "--model", "lstm", "--preset", "smoke", "--out", join(dir, "u")])),
    ).toMatch(/unknown model "lstm"; available: .*gla.*transformer/);
    expect(oneLineError(selectiv(["weights", "export", join(dir, "nothing-here")]))).toMatch(/RUN_DIR: no run folder with a config\.json/);
  });
});
