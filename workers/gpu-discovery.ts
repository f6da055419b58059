/** GPU discovery from `nvidia-smi` CSV output (no maintained npm parser exists; NVML is used inside the engine). */
import { execFile } from 'node:child_process';

export interface GpuInfo {
  index: number;
  uuid: string;
  name: string;
  memoryTotalMB: number;
  memoryUsedMB: number;
  utilizationPercent: number | null;
  temperatureC: number | null;
  powerW: number | null;
}

export const NVIDIA_SMI_QUERY = 'index,uuid,name,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw';

const num = (s: string | undefined): number | null => {
  const v = Number((s ?? '').trim());
  return s === undefined || s.trim() === '' || Number.isNaN(v) ? null : v;
};

/** Parses `nvidia-smi --query-gpu=<NVIDIA_SMI_QUERY> --format=csv,noheader,nounits`; "[N/A]" fields become null. */
export function parseNvidiaSmi(csv: string): GpuInfo[] {
  return csv.split('\n').map((l) => l.trim()).filter(Boolean).map((line) => {
    const f = line.split(',').map((x) => x.trim());
    return {
      index: Number(f[0]),
      uuid: f[1] ?? '',
      name: f[2] ?? '',
      memoryTotalMB: num(f[3]) ?? 0,
      memoryUsedMB: num(f[4]) ?? 0,
      utilizationPercent: num(f[5]),
      temperatureC: num(f[6]),
      powerW: num(f[7]),
    };
  }).filter((g) => Number.isInteger(g.index));
}

/** Lists the GPUs of this host; an absent or failing `nvidia-smi` means none. */
export function discoverGpus(command = 'nvidia-smi'): Promise<GpuInfo[]> {
  return new Promise((resolve) => {
    execFile(command, [`--query-gpu=${NVIDIA_SMI_QUERY}`, '--format=csv,noheader,nounits'], { timeout: 10_000 }, (err, stdout) => {
      resolve(err ? [] : parseNvidiaSmi(stdout));
    });
  });
}
