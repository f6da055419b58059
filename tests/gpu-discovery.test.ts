/** GPU discovery from recorded `nvidia-smi` output (the hardware we cannot have here). */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { discoverGpus, parseNvidiaSmi } from '../workers/gpu-discovery.js';

// Recorded from an 8×H100 box: index, uuid, name, memory.total, memory.used, utilization.gpu, temperature.gpu, power.draw
const RECORDED = `0, GPU-1a2b, NVIDIA H100 80GB HBM3, 81559, 1024, 37, 41, 118.52
1, GPU-3c4d, NVIDIA H100 80GB HBM3, 81559, 0, 0, 33, 69.90
2, GPU-5e6f, NVIDIA H100 80GB HBM3, 81559, 40960, 100, 67, 601.10
3, GPU-7a8b, NVIDIA H100 80GB HBM3, 81559, 0, [N/A], 30, [N/A]
`;

describe('gpu discovery', () => {
  it('parses the CSV of a multi-GPU box, N/A fields as null', () => {
    const gpus = parseNvidiaSmi(RECORDED);
    assert.equal(gpus.length, 4);
    assert.deepEqual(gpus.map((g) => g.index), [0, 1, 2, 3]);
    assert.equal(gpus[2]!.memoryUsedMB, 40960);
    assert.equal(gpus[2]!.utilizationPercent, 100);
    assert.equal(gpus[3]!.utilizationPercent, null);
    assert.equal(gpus[3]!.powerW, null);
    assert.equal(gpus[0]!.name, 'NVIDIA H100 80GB HBM3');
  });

  it('runs nvidia-smi and reads its output; no nvidia-smi means no GPU', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smi-'));
    const fake = join(dir, 'nvidia-smi');
    writeFileSync(fake, `#!/bin/sh\ncat <<'CSV'\n${RECORDED}CSV\n`);
    chmodSync(fake, 0o755);
    assert.equal((await discoverGpus(fake)).length, 4);
    assert.deepEqual(await discoverGpus(join(dir, 'absent')), []);
  });
});
