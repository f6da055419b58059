/** The shipped MOFSimBench structure sets (data/mofsimbench/structures, MIT), read from structures.yaml once. */
import { existsSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parse } from 'yaml';
import { builtinDir } from './structures.js';

export const ATTRIBUTION = {
  source: 'MOFSimBench, GitHub AI4ChemS/mofsim-bench',
  license: 'MIT, Copyright (c) 2025 AI4ChemS – Moosavi Group, University of Toronto',
  citation: 'Kraß, Huang, Moosavi, "MOFSimBench: Evaluating Universal Machine Learning Interatomic Potentials in Metal–Organic Framework Molecular Modeling", npj Comput Mater (2026), doi 10.1038/s41524-025-01872-3',
};

export interface BuiltinStructure {
  /** The name `structure: {source: "builtin", name}` accepts (the file stem). */
  name: string;
  /** `<set dir>/<stem>`, unambiguous when two sets share a stem. */
  path: string;
  file: string;
  format: string;
  /** The named sets of structures.yaml this file belongs to (e.g. essential, main_set). */
  sets: string[];
}

let catalogue: { items: BuiltinStructure[]; sets: Record<string, number> } | undefined;

function load() {
  const doc = parse(readFileSync(join(builtinDir, 'structures.yaml'), 'utf8')) as Record<string, unknown>;
  const raw: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(doc)) if (Array.isArray(v)) raw[k] = v.map(String);
  // The benchmark's speed task reads main_set/MOF-5.cif (the conventional 424-atom cell), which no set of
  // structures.yaml lists: the set `speed` names it, so `{source: "builtin", name: "MOF-5"}` works.
  raw.speed ??= ['main_set/MOF-5.cif'];
  // Sets may include other sets by name (main_set includes essential).
  const expand = (set: string, seen = new Set<string>()): string[] => {
    if (seen.has(set)) return [];
    seen.add(set);
    return (raw[set] ?? []).flatMap((e) => (raw[e] ? expand(e, seen) : [e]));
  };
  const byFile = new Map<string, BuiltinStructure>();
  const sets: Record<string, number> = {};
  for (const set of Object.keys(raw)) {
    // Only the files shipped here are listed (golddac is not shipped).
    const files = expand(set).filter((f) => existsSync(join(builtinDir, f)));
    if (!files.length) continue;
    sets[set] = files.length;
    for (const f of files) {
      const stem = basename(f, extname(f));
      const dir = f.split('/')[0]!;
      const item = byFile.get(f) ?? { name: stem, path: `${dir}/${stem}`, file: f, format: extname(f).slice(1), sets: [] };
      item.sets.push(set);
      byFile.set(f, item);
    }
  }
  return { items: [...byFile.values()].sort((a, b) => a.path.localeCompare(b.path)), sets };
}

/** The catalogue, optionally one named set. */
export function listBuiltinStructures(set?: string) {
  catalogue ??= load();
  const items = set ? catalogue.items.filter((i) => i.sets.includes(set)) : catalogue.items;
  return { items, sets: catalogue.sets };
}
