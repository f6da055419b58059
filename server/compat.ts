/**
 * Compatibility with the reference Python SDK (`mofsim_client`) and the reference service's docs: the parameter
 * and option names they send are mapped onto the canonical names here, in one place, before request validation.
 * Paths they use (`/structures/upload`, `/tasks/single-point`) are documented aliases in the spec.
 */
import type { NextFunction, Request, Response } from 'express';

type Params = Record<string, unknown>;

/** alias → canonical, per task type (the wire task type). */
const PARAMETER_ALIASES: Record<string, Record<string, string>> = {
  optimization: { steps: 'max_steps' },
  stability: {
    temperature: 'temperature_K', temperature_k: 'temperature_K', pressure: 'pressure_bar', steps: 'npt_steps',
    total_steps: 'npt_steps', equilibration_steps: 'nvt_steps', timestep: 'timestep_fs',
  },
  'bulk-modulus': { n_points: 'npoints', num_points: 'npoints', strain_range: 'eps' },
  'heat-capacity': { temperature_step: 't_step_K' },
  'interaction-energy': {
    gas_molecule: 'guest', adsorbate: 'guest', positions: 'placement', specified_positions: 'sites_A',
    min_distance: 'min_distance_A', optimize_gas: 'relax_guest', opt_fmax: 'guest_fmax', opt_steps: 'guest_max_steps',
    custom_gas_atoms: 'guest_atoms',
  },
  'single-point-energy': { calculate_forces: 'compute_forces', calculate_stress: 'compute_stress' },
};

/**
 * Names the SDKs send that have no counterpart in the MOFSimBench protocols; dropped rather than refused so the
 * reference client works unmodified. heat-capacity `temperature`: the result covers t_min_K..t_max_K and reports
 * Cv at 300 K anyway. interaction-energy `grid_spacing` (the docs' name; the executor it describes
 * places the guest on `n_grid_points`, which the aliases carry).
 * bulk-modulus `fitting_method`: see `eos`.
 */
const DROPPED: Record<string, string[]> = {
  'heat-capacity': ['temperature'],
  'interaction-energy': ['grid_spacing'],
  'bulk-modulus': ['fitting_method'],
};

const TASK_PATH = /^\/api\/v1\/tasks\/(optimization|stability|bulk-modulus|heat-capacity|interaction-energy|single-point-energy|single-point)$/;

/** Maps one TaskCreate body (in place semantics avoided: returns a new object). */
export function canonicalTaskBody(taskType: string, body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  const b = { ...(body as Params) };
  const aliases = PARAMETER_ALIASES[taskType] ?? {};
  if (b.parameters && typeof b.parameters === 'object' && !Array.isArray(b.parameters)) {
    const p: Params = {};
    for (const [k, v] of Object.entries(b.parameters as Params)) {
      if ((DROPPED[taskType] ?? []).includes(k)) continue;
      const canonical = aliases[k] ?? k;
      if (taskType === 'bulk-modulus' && k === 'strain_range' && typeof v === 'number') {
        p.eps = v; // same meaning: the ± fractional volume strain
        continue;
      }
      if (taskType === 'heat-capacity' && k === 'temperature_range' && Array.isArray(v) && v.length === 2) {
        p.t_min_K = v[0];
        p.t_max_K = v[1];
        continue;
      }
      if (taskType === 'heat-capacity' && k === 'supercell' && Array.isArray(v)) { p.supercell = v; continue; }
      if (!(canonical in p) || canonical === k) p[canonical] = v;
    }
    b.parameters = p;
  }
  // Options: the SDK's `options.callback_url`, the docs' top-level `webhook_url`/`webhook_secret`/`webhook_events`/`priority`.
  const options: Params = b.options && typeof b.options === 'object' && !Array.isArray(b.options) ? { ...(b.options as Params) } : {};
  const url = options.callback_url ?? b.webhook_url;
  if (typeof url === 'string' && !options.callback) {
    const cb: Params = { url };
    const secret = options.callback_secret ?? b.webhook_secret;
    const events = options.callback_events ?? b.webhook_events;
    if (typeof secret === 'string') cb.secret = secret;
    if (Array.isArray(events)) cb.events = events;
    options.callback = cb;
  }
  for (const k of ['callback_url', 'callback_secret', 'callback_events']) delete options[k];
  for (const k of ['webhook_url', 'webhook_secret', 'webhook_events']) delete b[k];
  if (typeof b.priority === 'string' && options.priority === undefined) options.priority = b.priority;
  delete b.priority;
  if (b.options !== undefined || Object.keys(options).length) b.options = options;
  return b;
}

/** Express middleware (after express.json, before the OpenAPI validator). */
export function compatibility(req: Request, _res: Response, next: NextFunction) {
  if (req.method === 'POST') {
    const m = TASK_PATH.exec(req.path);
    if (m) {
      const type = m[1] === 'single-point' ? 'single-point-energy' : m[1]!;
      req.body = canonicalTaskBody(type, req.body);
    } else if (req.path === '/api/v1/tasks/batch' && req.body && Array.isArray(req.body.tasks)) {
      const type = typeof req.query.task_type === 'string' ? req.query.task_type : undefined;
      req.body = {
        ...req.body,
        tasks: req.body.tasks.map((item: Params) => {
          // The Python SDK documents batch items as {type, model, structure, parameters}: `type` is `task_type`.
          const t = item && typeof item === 'object' && !Array.isArray(item) && typeof item.type === 'string' && item.task_type === undefined
            ? (({ type: own, ...rest }) => ({ ...rest, task_type: own }))(item)
            : item;
          const tt = (typeof t?.task_type === 'string' ? t.task_type : type) ?? '';
          return canonicalTaskBody(tt === 'single-point' ? 'single-point-energy' : tt, t);
        }),
      };
    } else if (req.path === '/api/v1/tasks' && req.body && typeof req.body.task_type === 'string') {
      req.body = canonicalTaskBody(req.body.task_type === 'single-point' ? 'single-point-energy' : req.body.task_type, req.body);
    }
  }
  next();
}
