/**
 * Per-GPU telemetry from the workers' nvidia-smi readings, under NVIDIA dcgm-exporter's metric and label names
 * (`DCGM_FI_DEV_*`; `gpu`, `UUID`, `modelName`, `Hostname`), so dashboards built for DCGM work unchanged.
 */
import { Gauge } from 'prom-client';
import type { GpuInfo } from '../workers/gpu-discovery.js';
import { registry } from './registry.js';

const labelNames = ['gpu', 'UUID', 'modelName', 'Hostname'] as const;
const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames, registers: [registry] });

const util = gauge('DCGM_FI_DEV_GPU_UTIL', 'GPU utilization (in %)');
const fbUsed = gauge('DCGM_FI_DEV_FB_USED', 'Framebuffer memory used (in MiB)');
const fbFree = gauge('DCGM_FI_DEV_FB_FREE', 'Framebuffer memory free (in MiB)');
const fbTotal = gauge('DCGM_FI_DEV_FB_TOTAL', 'Framebuffer memory total (in MiB)');
const temp = gauge('DCGM_FI_DEV_GPU_TEMP', 'GPU temperature (in C)');
const power = gauge('DCGM_FI_DEV_POWER_USAGE', 'Power draw (in W)');

/** Stores one nvidia-smi reading of one GPU (workers/gpu-discovery.ts); fields nvidia-smi reported as N/A are left out rather than exported as 0. */
export function recordGpu(host: string, g: GpuInfo): void {
  const labels = { gpu: String(g.index), UUID: g.uuid, modelName: g.name, Hostname: host };
  fbUsed.set(labels, g.memoryUsedMB);
  fbTotal.set(labels, g.memoryTotalMB);
  fbFree.set(labels, Math.max(0, g.memoryTotalMB - g.memoryUsedMB));
  if (g.utilizationPercent !== null) util.set(labels, g.utilizationPercent);
  if (g.temperatureC !== null) temp.set(labels, g.temperatureC);
  if (g.powerW !== null) power.set(labels, g.powerW);
}
