/**
 * The MOFSimBench reference data shipped under data/mofsimbench/ (MIT, see its LICENSE and PROVENANCE.md): DFT
 * volumes and bulk moduli (dft/bulk_modulus_dft.csv), DFT heat capacities at 300 K (dft/heat_capacity_dft_300K.csv)
 * and the classical UFF/UFF4MOF baseline results (uff/**). Read once, on first use.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { repoRoot } from '../common/config.js';

export const REFERENCE_DIR = join(repoRoot, 'data', 'mofsimbench');

export const REFERENCE_ATTRIBUTION =
  'MOFSimBench (GitHub AI4ChemS/mofsim-bench, MIT, Copyright (c) 2025 AI4ChemS – Moosavi Group, University of Toronto); ' +
  'Kraß, Huang, Moosavi, npj Comput Mater (2026), doi 10.1038/s41524-025-01872-3';

/**
 * The benchmark's structure key: file stem with "_primitive" removed, as its analysis looks references up
 * (`get_dft_structure(name.replace("_primitive", ""))`).
 */
export function structureKey(name: string): string {
  let stem = name.split('/').pop() ?? name;
  stem = stem.replace(/\.(cif|vasp|poscar|xyz|extxyz|json|pdb)$/i, '');
  return stem.replaceAll('_primitive', '');
}

export interface DftStructureReference {
  structure: string;
  cifName: string;
  /** The DFT equilibrium volume: the E(V) point at strain 1.000 (equal to the DFT CIF volume within 0.1 %). */
  volumeA3: number;
  /** 3rd-order Birch–Murnaghan B0 of the DFT E(V) points. */
  bulkModulusGPa: number;
}

export interface DftHeatCapacityReference {
  structure: string;
  /** Cv(300 K) in J/(K·g) = tot_cv_JperK / tot_mass_amu. */
  cv300JPerKg: number;
}

export interface ReferenceTables {
  structures: Map<string, DftStructureReference>;
  heatCapacity: Map<string, DftHeatCapacityReference>;
}

let cached: ReferenceTables | undefined;

function readCsv(relPath: string): Record<string, string>[] {
  return parse(readFileSync(join(REFERENCE_DIR, relPath), 'utf8'), { columns: true, skip_empty_lines: true });
}

/** The DFT reference tables, keyed by `structureKey`. */
export function referenceTables(): ReferenceTables {
  if (cached) return cached;
  const structures = new Map<string, DftStructureReference>();
  for (const row of readCsv('dft/bulk_modulus_dft.csv')) {
    const strains = JSON.parse(row.strains) as number[];
    const volumes = JSON.parse(row.volumes_A3) as number[];
    let centre = 0;
    for (let i = 1; i < strains.length; i++) if (Math.abs(strains[i] - 1) < Math.abs(strains[centre] - 1)) centre = i;
    structures.set(row.structure, {
      structure: row.structure, cifName: row.cif_name, volumeA3: volumes[centre], bulkModulusGPa: Number(row.B0_GPa),
    });
  }
  const heatCapacity = new Map<string, DftHeatCapacityReference>();
  for (const row of readCsv('dft/heat_capacity_dft_300K.csv')) {
    heatCapacity.set(row.cif_name, { structure: row.cif_name, cv300JPerKg: Number(row.cv_300K_JperKperg) });
  }
  cached = { structures, heatCapacity };
  return cached;
}

/** Rows of one CSV under data/mofsimbench/ (e.g. a UFF results file), as strings. */
export function referenceCsv(relPath: string): Record<string, string>[] {
  return readCsv(relPath);
}
