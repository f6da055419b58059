/** GPU fleet: per GPU utilisation, memory, temperature, power (dcgm-exporter names), jobs and resident models. */
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { promql, timeseries } from './common.js';

const gpu = '{{Hostname}} GPU {{gpu}}';

export function gpuFleetDashboard() {
  return new DashboardBuilder('MOFSim / GPU fleet')
    .uid('mofsim-gpu-fleet')
    .tags(['mofsim', 'generated', 'dcgm'])
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .withRow(new RowBuilder('GPUs'))
    .withPanel(timeseries('Utilisation', 'percent', [promql('DCGM_FI_DEV_GPU_UTIL', gpu)]))
    .withPanel(timeseries('Memory used', 'percentunit', [promql('DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_TOTAL', gpu)]))
    .withPanel(timeseries('Memory used / total', 'decmbytes', [
      promql('DCGM_FI_DEV_FB_USED', `${gpu} used`),
      promql('DCGM_FI_DEV_FB_TOTAL', `${gpu} total`, 'B'),
    ]))
    .withPanel(timeseries('Temperature', 'celsius', [promql('DCGM_FI_DEV_GPU_TEMP', gpu)]))
    .withPanel(timeseries('Power', 'watt', [promql('DCGM_FI_DEV_POWER_USAGE', gpu)]))
    .withPanel(timeseries('Jobs per worker', 'short', [promql('max by (worker_id) (mofsim_worker_jobs)', '{{worker_id}}')]))
    .withRow(new RowBuilder('Engines'))
    .withPanel(timeseries('Resident models', 'short', [promql('max by (worker_id) (mofsim_engine_resident_models)', '{{worker_id}}')], { span: 8 }))
    .withPanel(timeseries('Model memory', 'bytes', [promql('sum by (worker_id, model) (mofsim_engine_model_memory_bytes)', '{{worker_id}} {{model}}')], { span: 8 }))
    .withPanel(timeseries('Model load time', 's', [promql('max by (model) (mofsim_engine_model_load_seconds)', '{{model}}')], { span: 8 }))
    .withPanel(timeseries('Model evaluations / s', 'short', [
      promql('sum by (model) (rate(mofsim_engine_model_evaluations_total[$__rate_interval]))', '{{model}}'),
    ], { span: 8 }))
    .withPanel(timeseries('Batch size', 'short', [
      promql('sum by (model) (rate(mofsim_engine_batch_size_sum[$__rate_interval])) / sum by (model) (rate(mofsim_engine_batch_size_count[$__rate_interval]))', '{{model}} mean'),
      promql('histogram_quantile(0.95, sum by (model, le) (rate(mofsim_engine_batch_size_bucket[$__rate_interval])))', '{{model}} p95', 'B'),
    ], { span: 8 }))
    .withPanel(timeseries('Atoms per batch', 'short', [
      promql('sum by (model) (rate(mofsim_engine_batch_atoms_sum[$__rate_interval])) / sum by (model) (rate(mofsim_engine_batch_atoms_count[$__rate_interval]))', '{{model}} mean'),
      promql('histogram_quantile(0.95, sum by (model, le) (rate(mofsim_engine_batch_atoms_bucket[$__rate_interval])))', '{{model}} p95', 'B'),
    ], { span: 8 }))
    .withPanel(timeseries('Engine up', 'short', [promql('max by (worker_id) (mofsim_engine_up)', '{{worker_id}}')], { span: 8 }))
    .withPanel(timeseries('Engine restarts (1 h)', 'short', [promql('sum by (worker_id) (increase(mofsim_engine_restarts_total[1h]))', '{{worker_id}}')], { span: 8 }))
    .withPanel(timeseries('Out of memory (1 h)', 'short', [
      promql('sum by (worker_id) (increase(mofsim_engine_oom_total[1h]))', '{{worker_id}} jobs'),
      promql('sum by (worker_id) (increase(mofsim_engine_model_oom_total[1h]))', '{{worker_id}} model calls', 'B'),
    ], { span: 8 }));
}
