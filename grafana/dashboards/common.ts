/**
 * Building blocks of the dashboards (Grafana Foundation SDK): the two provisioned datasources, PromQL and SQL
 * targets, and panel helpers with one layout rule (each panel `span` columns wide, `height` rows high; the SDK's
 * DashboardBuilder places them left to right, top to bottom, so no two overlap).
 */
import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import { ReduceDataOptionsBuilder, type DataSourceRef } from '@grafana/grafana-foundation-sdk/common';
import { DataqueryBuilder as PromQuery } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';

/** The datasource uids `grafana/provisioning/datasources/mofsim.yml` provisions. */
export const PROMETHEUS: DataSourceRef = { type: 'prometheus', uid: 'mofsim-prometheus' };
export const POSTGRES: DataSourceRef = { type: 'grafana-postgresql-datasource', uid: 'mofsim-postgres' };

/** A PromQL target; `legend` is Grafana's legend format (`{{priority}}`). */
export function promql(expr: string, legend?: string, refId = 'A') {
  const q = new PromQuery().expr(expr).refId(refId).datasource(PROMETHEUS).range();
  return legend ? q.legendFormat(legend) : q;
}

/** A raw-SQL target of Grafana's PostgreSQL datasource (the SDK ships no builder for it). */
export interface SqlQuery {
  refId?: string;
  hide?: boolean;
  datasource: DataSourceRef;
  rawSql: string;
  rawQuery: true;
  editorMode: 'code';
  format: 'table' | 'time_series';
  _implementsDataqueryVariant(): void;
}

export class SqlQueryBuilder implements Builder<Dataquery> {
  private readonly internal: SqlQuery;
  constructor(rawSql: string, format: SqlQuery['format'] = 'table') {
    this.internal = { datasource: POSTGRES, rawSql, rawQuery: true, editorMode: 'code', format, refId: 'A', _implementsDataqueryVariant() {} };
  }
  build(): SqlQuery {
    return this.internal;
  }
}

/** A time series of PromQL targets. */
export function timeseries(title: string, unit: string, targets: Builder<Dataquery>[], opts: { span?: number; height?: number; description?: string } = {}) {
  const p = new TimeseriesPanel().title(title).unit(unit).datasource(PROMETHEUS).span(opts.span ?? 12).height(opts.height ?? 8);
  if (opts.description) p.description(opts.description);
  for (const t of targets) p.withTarget(t);
  return p;
}

/** A single number (the last value of one PromQL target). */
export function stat(title: string, unit: string, target: Builder<Dataquery>, opts: { span?: number; height?: number; description?: string } = {}) {
  const p = new StatPanel().title(title).unit(unit).datasource(PROMETHEUS).span(opts.span ?? 6).height(opts.height ?? 4).withTarget(target)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']));
  if (opts.description) p.description(opts.description);
  return p;
}

/** A table of one SQL query on the read-only Postgres datasource. */
export function sqlTable(title: string, rawSql: string, opts: { span?: number; height?: number; description?: string } = {}) {
  const p = new TablePanel().title(title).datasource(POSTGRES).span(opts.span ?? 24).height(opts.height ?? 9).withTarget(new SqlQueryBuilder(rawSql));
  if (opts.description) p.description(opts.description);
  return p;
}
