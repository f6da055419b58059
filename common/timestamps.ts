/**
 * Strict RFC 3339 timestamps (`2024-05-01T12:00:00Z`, `…T12:00:00.5+02:00`): the calendar date must exist
 * (no 2024-02-30), hours ≤ 23, minutes ≤ 59, seconds ≤ 59 (a leap second `:60` has no representation in
 * JavaScript or PostgreSQL), offsets within ±23:59, and the instant between years 1 and 9999 in UTC (PostgreSQL's
 * and JavaScript's common range). Used as the OpenAPI `date-time` format, so every such field follows one rule.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** The instant `value` names, or null when it is not a strict RFC 3339 date-time. */
export function parseTimestamp(value: string): Date | null {
  const m = RFC3339.exec(value);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeap(year) ? 1 : 0);
  if (day > daysInMonth) return null;
  if (m[8] && (Number(m[9]) > 23 || Number(m[10]) > 59)) return null;
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) return null;
  const y = t.getUTCFullYear();
  return y >= 1 && y <= 9999 ? t : null;
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** True for a strict RFC 3339 date-time (the validator's `date-time` format). */
export const isTimestamp = (value: string): boolean => parseTimestamp(value) !== null;
