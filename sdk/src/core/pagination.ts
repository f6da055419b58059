/** A page of a list endpoint that is also an async iterator over every item of every page. */
export interface PaginationInfo { page: number; page_size: number; total_items: number; total_pages: number }

export class Page<T> implements AsyncIterable<T> {
  constructor(
    readonly items: T[],
    readonly pagination: PaginationInfo,
    private readonly fetchPage: (page: number) => Promise<Page<T>>,
  ) {}
  get page(): number { return this.pagination.page; }
  get pageSize(): number { return this.pagination.page_size; }
  /** Total items over all pages (Python: `total`). */
  get total(): number { return this.pagination.total_items; }
  get totalPages(): number { return this.pagination.total_pages; }
  get hasNext(): boolean { return this.pagination.page < this.pagination.total_pages; }
  get hasPrev(): boolean { return this.pagination.page > 1; }
  /** The next page; throws when there is none. */
  async nextPage(): Promise<Page<T>> {
    if (!this.hasNext) throw new Error('no next page');
    return this.fetchPage(this.pagination.page + 1);
  }
  /** Every item from this page on. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the iterator walks from this page on
    let page: Page<T> = this;
    for (;;) {
      for (const item of page.items) yield item;
      if (!page.hasNext || page.items.length === 0) return;
      page = await page.nextPage();
    }
  }
}
