/** /api/v1/alerts: rules CRUD (writes: admin) and history. */
import { Router, type Response } from 'express';
import { actorOfResponse, requireAdmin } from '../auth.js';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';
import { pageOf, paginated } from '../pagination.js';
import {
  alertStats, alertToApi, createRule, deleteRule, getRule, listAlerts, listRules, resolveAlert, ruleToApi, updateRule, type RuleInput,
} from '../services/alerts.js';

export function alertsRouter(deps: ServerDeps): Router {
  const r = Router();
  const { db } = deps.database;
  r.get('/rules', async (_req, res) => {
    const rules = (await listRules(db)).map(ruleToApi);
    sendData(res, { rules, total: rules.length });
  });
  // Rule changes and resolutions are admin actions: each leaves a system log entry naming the key.
  const audit = (res: Response, message: string, extra: Record<string, unknown>) => {
    const a = actorOfResponse(res);
    deps.systemLog.info('alerts', message, { requestId: res.locals.requestId, extra: { ...extra, by_key_id: a.keyId, by_key_name: a.name } });
  };
  r.post('/rules', requireAdmin, async (req, res) => {
    const rule = await createRule(db, req.body);
    audit(res, `alert rule created: ${rule.id}`, { rule_id: rule.id });
    sendData(res, ruleToApi(rule), 201, 'alert rule created');
  });
  r.get('/rules/:rule_id', async (req, res) => sendData(res, ruleToApi(await getRule(db, String(req.params.rule_id)))));
  r.put('/rules/:rule_id', requireAdmin, async (req, res) => {
    const rule = await updateRule(db, String(req.params.rule_id), req.body as RuleInput);
    audit(res, `alert rule updated: ${rule.id}`, { rule_id: rule.id, changes: Object.keys(req.body ?? {}) });
    sendData(res, ruleToApi(rule));
  });
  r.delete('/rules/:rule_id', requireAdmin, async (req, res) => {
    await deleteRule(db, String(req.params.rule_id));
    audit(res, `alert rule deleted: ${req.params.rule_id}`, { rule_id: req.params.rule_id });
    sendData(res, null, 200, 'alert rule deleted');
  });
  for (const [path, enabled] of [['enable', true], ['disable', false]] as const) {
    r.put(`/rules/:rule_id/${path}`, requireAdmin, async (req, res) => {
      const rule = await updateRule(db, String(req.params.rule_id), { enabled });
      audit(res, `alert rule ${path}d: ${rule.id}`, { rule_id: rule.id });
      sendData(res, ruleToApi(rule), 200, `alert rule ${path}d`);
    });
  }
  r.get('/history', async (req, res) => {
    const { page, pageSize } = pageOf(req.query);
    const level = typeof req.query.level === 'string' ? req.query.level : undefined;
    const resolved = req.query.resolved === undefined ? undefined : String(req.query.resolved) === 'true';
    const { items, total } = await listAlerts(db, { level, resolved, page, pageSize });
    sendData(res, paginated(items.map(alertToApi), total, page, pageSize));
  });
  r.get('/active', async (_req, res) => {
    const { items, total } = await listAlerts(db, { resolved: false, page: 1, pageSize: 100 });
    sendData(res, { alerts: items.map(alertToApi), total });
  });
  r.get('/stats', async (_req, res) => sendData(res, await alertStats(db, Boolean(deps.config.MOFSIM_ALERT_WEBHOOK_URL))));
  r.post('/:alert_id/resolve', requireAdmin, async (req, res) => {
    const by = typeof req.body?.resolved_by === 'string' ? req.body.resolved_by : actorOfResponse(res).name;
    const a = await resolveAlert(db, String(req.params.alert_id), by, Boolean(deps.config.MOFSIM_ALERT_WEBHOOK_URL));
    audit(res, `alert resolved: ${a.message}`, { alert_id: a.id, rule_id: a.ruleId, level: a.level, resolved_by: a.resolvedBy });
    sendData(res, { message: 'alert resolved', resolved_by: a.resolvedBy }, 200, 'alert resolved');
  });
  return r;
}
