/** API and webhooks: latency, request rates with 4xx/5xx, webhook deliveries and backlog. */
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { promql, stat, timeseries } from './common.js';

const requests = 'mofsim_http_request_duration_seconds';

export function apiWebhooksDashboard() {
  return new DashboardBuilder('MOFSim / API and webhooks')
    .uid('mofsim-api-webhooks')
    .tags(['mofsim', 'generated'])
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .withRow(new RowBuilder('API'))
    .withPanel(timeseries('Latency p95 by route', 's', [
      promql(`histogram_quantile(0.95, sum by (le, route) (rate(${requests}_bucket[$__rate_interval])))`, '{{route}}'),
    ]))
    .withPanel(timeseries('Latency p50 / p95 / p99, all routes', 's', [
      promql(`histogram_quantile(0.5, sum by (le) (rate(${requests}_bucket[$__rate_interval])))`, 'p50'),
      promql(`histogram_quantile(0.95, sum by (le) (rate(${requests}_bucket[$__rate_interval])))`, 'p95', 'B'),
      promql(`histogram_quantile(0.99, sum by (le) (rate(${requests}_bucket[$__rate_interval])))`, 'p99', 'C'),
    ]))
    .withPanel(timeseries('Requests / s by status', 'reqps', [promql(`sum by (status) (rate(${requests}_count[$__rate_interval]))`, '{{status}}')]))
    .withPanel(timeseries('4xx by route', 'reqps', [
      promql(`sum by (route, status) (rate(${requests}_count{status=~"4.."}[$__rate_interval]))`, '{{status}} {{route}}'),
    ]))
    // A healthy API answers no 5xx at all, and an empty panel would read as "broken": show the zero.
    .withPanel(stat('5xx / s', 'reqps', promql(`sum(rate(${requests}_count{status=~"5.."}[$__rate_interval])) or vector(0)`), { span: 12 }))
    .withPanel(stat('Requests / s', 'reqps', promql(`sum(rate(${requests}_count[$__rate_interval]))`), { span: 12 }))
    .withRow(new RowBuilder('Webhooks'))
    .withPanel(timeseries('Delivery attempts / min by outcome', 'short', [
      promql('sum by (outcome) (rate(mofsim_webhook_delivery_attempts_total[$__rate_interval])) * 60', '{{outcome}}'),
    ]))
    .withPanel(timeseries('Events delivered / given up (1 h)', 'short', [
      promql('sum by (outcome) (increase(mofsim_webhook_deliveries_total[1h]))', '{{outcome}}'),
    ]))
    .withPanel(stat('Pending retries', 'short', promql('max(mofsim_webhook_pending_retries)'), { span: 12 }))
    .withPanel(stat('Oldest undelivered event', 's', promql('max(mofsim_webhook_oldest_undelivered_age_seconds)'), { span: 12 }))
    .withPanel(timeseries('Webhook backlog', 'short', [promql('max(mofsim_webhook_pending_retries)', 'pending retries')]))
    .withPanel(timeseries('Oldest undelivered event', 's', [promql('max(mofsim_webhook_oldest_undelivered_age_seconds)', 'age')]));
}
