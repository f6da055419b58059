/**
 * Benchmark results from Postgres: the `leaderboard` view (latest score per model × weights × protocol × metric,
 * campaigns and the classical UFF/UFF4MOF baselines; scoring/leaderboard.ts), read through the read-only role
 * (store/readonly-role.ts). It fills up as campaigns land.
 */
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { sqlTable } from './common.js';

const pick = (protocol: string, metric: string, column: string) =>
  `  round(max(value) filter (where protocol = '${protocol}' and metric = '${metric}')::numeric, 3) as "${column}"`;

export const BENCHMARK_SQL = {
  // One row per model: the headline metric of each MOFSimBench task against DFT (or, for stability, against the start).
  summary: `select label as model, source,
${[
    pick('optimization', 'fraction_within_10_percent', 'optimisation: within ±10 % of DFT volume'),
    pick('optimization', 'mae_volume_percent', 'optimisation: volume MAE %'),
    pick('stability', 'fraction_stable', 'MD stability: stable fraction'),
    pick('stability', 'mean_abs_volume_change_percent', 'MD stability: mean |ΔV| %'),
    pick('bulk_modulus', 'mae_GPa', 'bulk modulus: MAE GPa'),
    pick('bulk_modulus', 'mape_percent', 'bulk modulus: MAPE %'),
    pick('heat_capacity', 'mae_J_per_K_g', 'heat capacity: MAE J/(K g)'),
  ].join(',\n')}
from leaderboard
group by label, source
order by 3 desc nulls last, model`,
  optimisation: `select label as model, metric, round(value::numeric, 4) as value, n_structures, source, computed_at
from leaderboard
where protocol = 'optimization'
order by metric, value desc nulls last`,
  all: `select label as model, protocol, metric, round(value::numeric, 4) as value, n_structures, source, weights_sha256, campaign_id, computed_at
from leaderboard
order by protocol, metric, model`,
} as const;

export function benchmarkResultsDashboard() {
  return new DashboardBuilder('MOFSim / Benchmark results')
    .uid('mofsim-benchmark-results')
    .tags(['mofsim', 'generated', 'mofsimbench'])
    .refresh('5m')
    .time({ from: 'now-30d', to: 'now' })
    .withRow(new RowBuilder('Against DFT'))
    .withPanel(sqlTable('Per model: each task\'s metric vs DFT', BENCHMARK_SQL.summary, {
      height: 10,
      description: 'MOFSimBench scores of the latest campaign per model (and the UFF/UFF4MOF reference rows): optimisation volume vs the DFT EOS volume (±10 %), MD stability, bulk modulus and heat capacity errors.',
    }))
    .withPanel(sqlTable('Optimisation, every metric', BENCHMARK_SQL.optimisation, { span: 12 }))
    .withPanel(sqlTable('All scores', BENCHMARK_SQL.all, { span: 12 }));
}
