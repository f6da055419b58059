/**
 * Malformed structure files, generated from small templates: every one is refused with a 4xx carrying
 * `error.type` and `error.field` (never a 5xx, never "the engine is down"), and the API and its parse engine
 * answer normally afterwards.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { api, calfPath, startTestStack, upload, type TestStack } from './helpers/stack.js';

const MAX_ATOMS = 200;
let stack: TestStack;
before(async () => { stack = await startTestStack({ workers: 0, env: { MOFSIM_MAX_ATOMS: String(MAX_ATOMS) } }); });
after(async () => { await stack?.stop(); });

const LOOP = 'loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n';
function cif(o: { cell?: string[]; rows?: string[]; extra?: string; loop?: string } = {}): string {
  const [a, b, c, al, be, ga] = o.cell ?? ['10', '10', '10', '90', '90', '90'];
  return `data_x\n_cell_length_a ${a}\n_cell_length_b ${b}\n_cell_length_c ${c}\n_cell_angle_alpha ${al}\n`
    + `_cell_angle_beta ${be}\n_cell_angle_gamma ${ga}\n${o.extra ?? ''}${o.loop ?? LOOP}`
    + `${(o.rows ?? ['C1 C 0 0 0', 'O1 O 0.5 0.5 0.5']).join('\n')}\n`;
}
function poscar(o: { scale?: string; lattice?: string[]; species?: string; counts?: string; coords?: string[] } = {}): string {
  return `test\n${o.scale ?? '1.0'}\n${(o.lattice ?? ['5 0 0', '0 5 0', '0 0 5']).join('\n')}\n${o.species ?? 'C O'}\n`
    + `${o.counts ?? '1 1'}\nDirect\n${(o.coords ?? ['0 0 0', '0.5 0.5 0.5']).join('\n')}\n`;
}
function extxyz(o: { n?: string; lattice?: string; pbc?: string; rows?: string[] } = {}): string {
  const rows = o.rows ?? ['C 0 0 0', 'O 1.2 1.2 0.3'];
  return `${o.n ?? rows.length}\nLattice="${o.lattice ?? '6 0 0 0 6 0 0 0 6'}" Properties=species:S:1:pos:R:3 `
    + `pbc="${o.pbc ?? 'T T T'}"\n${rows.join('\n')}\n`;
}
const sites = (n: number, sym = 'C') => Array.from({ length: n }, (_, k) => `${sym}${k} ${sym} ${(0.01 + k / 100).toFixed(4)} 0.1 0.2`);

// [description, file name, content, expected error.type]
const cases: [string, string, string | Buffer, string][] = [
  // CIF: the cell
  ['a negative cell length', 'neg.cif', cif({ cell: ['-10', '10', '10', '90', '90', '90'] }), 'INVALID_CELL'],
  ['a zero cell length', 'zero.cif', cif({ cell: ['10', '0', '10', '90', '90', '90'] }), 'INVALID_CELL'],
  ['a cell length of 1e9', 'huge.cif', cif({ cell: ['10', '10', '1e9', '90', '90', '90'] }), 'INVALID_CELL'],
  ['a cell length below 1 Å', 'tiny.cif', cif({ cell: ['0.5', '10', '10', '90', '90', '90'] }), 'INVALID_CELL'],
  ['a NaN cell length', 'nan.cif', cif({ cell: ['nan', '10', '10', '90', '90', '90'] }), 'INVALID_CELL'],
  ['a cell length that is a word', 'word.cif', cif({ cell: ['ten', '10', '10', '90', '90', '90'] }), 'INVALID_CELL'],
  ['a zero angle', 'angle0.cif', cif({ cell: ['10', '10', '10', '0', '90', '90'] }), 'INVALID_CELL'],
  ['a 180° angle', 'angle180.cif', cif({ cell: ['10', '10', '10', '90', '90', '180'] }), 'INVALID_CELL'],
  ['a negative angle', 'angleneg.cif', cif({ cell: ['10', '10', '10', '90', '-90', '90'] }), 'INVALID_CELL'],
  ['angles that close no cell', 'angles.cif', cif({ cell: ['10', '10', '10', '150', '150', '150'] }), 'INVALID_CELL'],
  ['a nearly flat cell', 'flat.cif', cif({ cell: ['10', '10', '10', '90', '90', '0.001'] }), 'INVALID_CELL'],
  ['a missing cell length', 'nocellc.cif', cif().replace('_cell_length_c 10\n', ''), 'INVALID_CELL'],
  ['no cell at all', 'nocell.cif', `data_x\n${LOOP}C1 C 0 0 0\n`, 'NO_CELL'],
  // CIF: the atoms
  ['C and O at the same position', 'co.cif', cif({ rows: ['C1 C 0.2 0.2 0.2', 'O1 O 0.2 0.2 0.2'] }), 'OVERLAPPING_ATOMS'],
  ['C and O at the same position with occupancies', 'coocc.cif',
    cif({ loop: `${LOOP}_atom_site_occupancy\n`, rows: ['C1 C 0.2 0.2 0.2 1', 'O1 O 0.2 0.2 0.2 1'] }), 'OVERLAPPING_ATOMS'],
  ['two atoms 0.1 Å apart through the boundary', 'bound.cif',
    cif({ cell: ['100', '10', '10', '90', '90', '90'], rows: ['C1 C 0.0005 0.5 0.5', 'C2 C 0.9995 0.5 0.5'] }), 'OVERLAPPING_ATOMS'],
  ['an atom listed at 0 and at 1', 'twice.cif', cif({ rows: ['C1 C 0 0.5 0.5', 'C2 C 1 0.5 0.5'] }), 'OVERLAPPING_ATOMS'],
  ['a site listed with its symmetry image', 'symdup.cif',
    cif({ extra: "_symmetry_space_group_name_H-M 'P -1'\n", rows: ['C1 C 0.1 0.2 0.3', 'C2 C -0.1 -0.2 -0.3'] }), 'OVERLAPPING_ATOMS'],
  ['a site next to a special position', 'special.cif',
    cif({ extra: "_symmetry_space_group_name_H-M 'P -1'\n", rows: ['Zn1 Zn 0.005 0 0'] }), 'OVERLAPPING_ATOMS'],
  ['a coordinate of 1e300', 'big.cif', cif({ rows: ['C1 C 0 0 0', 'O1 O 0.5 1e300 0.5'] }), 'INVALID_COORDINATES'],
  ['a NaN coordinate', 'nanxyz.cif', cif({ rows: ['C1 C 0 0 0', 'O1 O 0.5 nan 0.5'] }), 'INVALID_COORDINATES'],
  ['a "?" coordinate', 'q.cif', cif({ rows: ['C1 C 0 0 0', 'O1 O 0.5 ? 0.5'] }), 'INVALID_COORDINATES'],
  ['a coordinate 50 cells away', 'far.cif', cif({ rows: ['C1 C 0 0 0', 'O1 O 0.5 50 0.5'] }), 'INVALID_COORDINATES'],
  ['a Cartesian coordinate of 1e300', 'cart.cif',
    cif({ loop: 'loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_Cartn_x\n_atom_site_Cartn_y\n_atom_site_Cartn_z\n',
      rows: ['C1 C 0 0 0', 'O1 O 1e300 1 1'] }), 'INVALID_COORDINATES'],
  ['an unknown element', 'qq.cif', cif({ rows: ['C1 C 0 0 0', 'Qq1 Qq 0.5 0.5 0.5'] }), 'UNKNOWN_ELEMENT'],
  ['the dummy element X', 'x.cif', cif({ rows: ['C1 C 0 0 0', 'X1 X 0.5 0.5 0.5'] }), 'UNKNOWN_ELEMENT'],
  ['a label with no element', 'nolabel.cif', cif({ rows: ['C1 C 0 0 0', '11 11 0.5 0.5 0.5'] }), 'UNKNOWN_ELEMENT'],
  ['a loop row with a value missing', 'short.cif', cif({ rows: ['C1 C 0 0 0', 'O1 O 0.5 0.5', 'N1 N 0.3 0.3 0.3'] }), 'PARSE_ERROR'],
  ['no atom loop', 'noatoms.cif', cif().split('loop_')[0], 'EMPTY_STRUCTURE'],
  ['an atom loop without coordinates', 'nocoords.cif', cif().split('loop_')[0] + 'loop_\n_atom_site_label\nC1\nO1\n', 'EMPTY_STRUCTURE'],
  ['more sites than the atom limit', 'many.cif',
    cif({ cell: ['300', '10', '10', '90', '90', '90'], rows: sites(MAX_ATOMS + 1) }), 'TOO_MANY_ATOMS'],
  ['a symmetry expansion past the atom limit', 'expand.cif',
    cif({ cell: ['80', '10', '10', '90', '90', '90'], extra: "_symmetry_space_group_name_H-M 'P m m m'\n", rows: sites(40) }), 'TOO_MANY_ATOMS'],
  ['an unknown space group', 'sg.cif', cif({ extra: "_symmetry_space_group_name_H-M 'Q 9 9'\n" }), 'PARSE_ERROR'],
  ['an unterminated text field', 'semi.cif', cif() + '_journal_name_full\n;\nnever closed\n', 'PARSE_ERROR'],
  ['garbage text', 'garbage.cif', 'hello\nthis is not a cif\n', 'PARSE_ERROR'],
  ['binary junk', 'junk.cif', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)), 'PARSE_ERROR'],
  ['an empty file', 'empty.cif', '', 'EMPTY_FILE'],
  // POSCAR
  ['3 species with 1 count', 'POSCAR', poscar({ species: 'C O N', counts: '1', coords: ['0 0 0'] }), 'COUNT_MISMATCH'],
  ['1 species with 2 counts', 'a.vasp', poscar({ species: 'C', counts: '1 1' }), 'COUNT_MISMATCH'],
  ['a count that is a word', 'b.vasp', poscar({ counts: '1 x' }), 'COUNT_MISMATCH'],
  ['a negative count', 'c.vasp', poscar({ counts: '1 -1' }), 'COUNT_MISMATCH'],
  ['fewer coordinate lines than atoms', 'd.vasp', poscar({ counts: '1 4' }), 'COUNT_MISMATCH'],
  ['more atoms than the limit', 'e.vasp', poscar({ counts: `1 ${MAX_ATOMS}` }), 'TOO_MANY_ATOMS'],
  ['a NaN lattice vector', 'f.vasp', poscar({ lattice: ['5 0 0', '0 5 0', '0 0 nan'] }), 'INVALID_CELL'],
  ['an infinite lattice vector', 'g.vasp', poscar({ lattice: ['inf 0 0', '0 5 0', '0 0 5'] }), 'INVALID_CELL'],
  ['a zero lattice vector', 'h.vasp', poscar({ lattice: ['5 0 0', '0 0 0', '0 0 5'] }), 'INVALID_CELL'],
  ['coplanar lattice vectors', 'i.vasp', poscar({ lattice: ['5 0 0', '0 5 0', '5 5 0'] }), 'INVALID_CELL'],
  ['a lattice line with two numbers', 'j.vasp', poscar({ lattice: ['5 0 0', '0 5', '0 0 5'] }), 'INVALID_CELL'],
  ['a zero scale factor', 'k.vasp', poscar({ scale: '0' }), 'INVALID_CELL'],
  ['a scale factor of 1e9', 'l.vasp', poscar({ scale: '1e9' }), 'INVALID_CELL'],
  ['a coordinate of 1e300', 'm.vasp', poscar({ coords: ['0 0 0', '0.5 0.5 1e300'] }), 'INVALID_COORDINATES'],
  ['a NaN coordinate', 'n.vasp', poscar({ coords: ['0 0 0', 'nan 0.5 0.5'] }), 'INVALID_COORDINATES'],
  ['overlapping atoms', 'o.vasp', poscar({ coords: ['0 0 0', '0.01 0 0'] }), 'OVERLAPPING_ATOMS'],
  ['overlap through the boundary', 'p.vasp', poscar({ coords: ['0.001 0 0', '0.999 0 0'] }), 'OVERLAPPING_ATOMS'],
  ['an unknown species', 'q.vasp', poscar({ species: 'Qq O' }), 'UNKNOWN_ELEMENT'],
  ['a truncated file', 'r.vasp', 'test\n1.0\n5 0 0\n', 'PARSE_ERROR'],
  // extxyz / xyz
  ['a NaN lattice', 'a.extxyz', extxyz({ lattice: 'nan 0 0 0 6 0 0 0 6' }), 'INVALID_CELL'],
  ['a lattice of 1e9', 'b.extxyz', extxyz({ lattice: '1e9 0 0 0 6 0 0 0 6' }), 'INVALID_CELL'],
  ['a flat lattice', 'c.extxyz', extxyz({ lattice: '6 0 0 0 6 0 0 0 0.5' }), 'INVALID_CELL'],
  ['a lattice with a zero vector', 'd.extxyz', extxyz({ lattice: '6 0 0 0 0 0 0 0 6' }), 'INVALID_CELL'],
  ['a header count above the atom lines', 'e.extxyz', extxyz({ n: '3' }), 'COUNT_MISMATCH'],
  ['a header count of 0', 'f.extxyz', extxyz({ n: '0', rows: [] }), 'EMPTY_STRUCTURE'],
  ['a header count above the limit', 'g.extxyz', extxyz({ n: String(MAX_ATOMS + 1) }), 'TOO_MANY_ATOMS'],
  ['a NaN position', 'h.extxyz', extxyz({ rows: ['C 0 0 0', 'O nan 1 1'] }), 'INVALID_COORDINATES'],
  ['a position of 1e300', 'i.extxyz', extxyz({ rows: ['C 0 0 0', 'O 1e300 1 1'] }), 'INVALID_COORDINATES'],
  ['overlap through the boundary', 'j.extxyz', extxyz({ rows: ['C 0.05 1 1', 'O 5.95 1 1'] }), 'OVERLAPPING_ATOMS'],
  ['an unknown element', 'k.extxyz', extxyz({ rows: ['C 0 0 0', 'Qq 1 1 1'] }), 'UNKNOWN_ELEMENT'],
  ['no periodic boundaries', 'l.extxyz', extxyz({ pbc: 'F F F' }), 'NO_CELL'],
  ['a plain xyz without a cell', 'm.xyz', '2\n\nO 0 0 0\nC 1.2 0 0\n', 'NO_CELL'],
  ['garbage', 'n.xyz', 'hello\nworld\n', 'PARSE_ERROR'],
  // other formats
  ['JSON that is not a structure', 'a.json', '{"hello": 1}', 'PARSE_ERROR'],
  ['a PDB without a cell', 'a.pdb', 'ATOM      1  C   MOL     1       0.000   0.000   0.000  1.00  0.00           C\nEND\n', 'NO_CELL'],
  ['an unsupported extension', 'calf.docx', 'hello', 'UNSUPPORTED_FORMAT'],
  ['no extension', 'structure', 'hello', 'UNSUPPORTED_FORMAT'],
];

describe('malformed structure files', () => {
  it(`has at least 60 cases (${cases.length})`, () => assert.ok(cases.length >= 60));

  for (const [what, name, content, type] of cases) {
    it(`refuses ${what} (${name}) with 400 / ${type}`, async () => {
      const { status, body } = await upload(stack.baseUrl, name, content);
      assert.equal(status, 400, JSON.stringify(body));
      assert.equal(body.success, false);
      assert.equal(body.error.type, type, body.error.detail);
      assert.equal(body.error.field, 'file');
      assert.ok(body.error.detail.length > 0);
    });
  }

  it('names the overlapping pair and its distance in error.details', async () => {
    const { body } = await upload(stack.baseUrl, 'co2.cif', cif({ rows: ['C1 C 0.2 0.2 0.2', 'O1 O 0.2 0.2 0.21'] }));
    assert.equal(body.error.type, 'OVERLAPPING_ATOMS');
    assert.deepEqual(body.error.details.pairs[0], { atoms: [0, 1], symbols: ['C', 'O'], distance_A: 0.1 });
    assert.match(body.error.detail, /0\.100 Å/);
    const neg = await upload(stack.baseUrl, 'neg2.cif', cif({ cell: ['-10', '10', '10', '90', '90', '90'] }));
    assert.deepEqual(neg.body.error.details, { tag: '_cell_length_a', value: -10 });
  });

  it('keeps answering afterwards: health, and a valid upload with its warnings', async () => {
    const health = await api(stack.baseUrl, '/api/v1/health');
    assert.equal(health.status, 200, JSON.stringify(health.body));
    const calf = await upload(stack.baseUrl, 'calf.cif', readFileSync(calfPath));
    assert.equal(calf.status, 200);
    assert.equal(calf.body.data.n_atoms, 44);
    const close = await upload(stack.baseUrl, 'h2.cif', cif({ rows: ['H1 H 0 0 0', 'H2 H 0.065 0 0'] }));
    assert.equal(close.status, 200, JSON.stringify(close.body));
    assert.ok(close.body.data.warnings.some((w: string) => w.includes('0.650 Å apart')), close.body.data.warnings);
  });
});
