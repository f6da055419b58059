/**
 * Per-task-type parameter validation for the routes whose task type travels in the body (generic and batch
 * submit): the same schemas as the typed routes, read from the OpenAPI spec, so the rules live in one place.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import type { TaskType } from '../common/task-types.js';
import { apiSpecPath } from './app.js';
import { invalidParameter } from './errors.js';

const SCHEMA_OF: Record<TaskType, string> = {
  optimization: 'OptimizationParameters',
  'single-point-energy': 'SinglePointParameters',
  stability: 'StabilityParameters',
  'bulk-modulus': 'BulkModulusParameters',
  'heat-capacity': 'HeatCapacityParameters',
  'interaction-energy': 'InteractionEnergyParameters',
  speed: 'SpeedParameters',
};

let validators: Map<TaskType, ValidateFunction> | undefined;

function load() {
  const spec = parse(readFileSync(apiSpecPath, 'utf8')) as { components: { schemas: Record<string, object> } };
  const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });
  return new Map(Object.entries(SCHEMA_OF).map(([t, name]) => [t as TaskType, ajv.compile(spec.components.schemas[name]!)]));
}

/** Throws the same 400 / 40002 a typed submit route gives for bad parameters. */
export function checkParameters(taskType: TaskType, parameters: unknown): void {
  validators ??= load();
  const v = validators.get(taskType)!;
  if (v(parameters ?? {})) return;
  const e = v.errors![0]!;
  const prop = e.keyword === 'additionalProperties' ? `/${(e.params as { additionalProperty: string }).additionalProperty}` : e.instancePath;
  const field = `parameters${prop.replace(/\//g, '.')}`;
  throw invalidParameter(`${field} ${e.message ?? 'is invalid'}`, field);
}
