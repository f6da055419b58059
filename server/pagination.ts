/** Page parameters and the `{items, pagination}` shape shared with the Python service. */
export function pageOf(q: Record<string, unknown>): { page: number; pageSize: number } {
  const page = Math.max(1, Number(q.page ?? 1) || 1);
  const pageSize = Math.min(100, Math.max(1, Number(q.page_size ?? 20) || 20));
  return { page, pageSize };
}

/** `total_pages` is 1 for an empty list, as in the Python service. */
export function paginated<T>(items: T[], total: number, page: number, pageSize: number) {
  // `total` repeats total_items for the reference Python SDK, which reads pagination.total.
  return { items, pagination: { page, page_size: pageSize, total_items: total, total_pages: Math.max(1, Math.ceil(total / pageSize)), total } };
}
