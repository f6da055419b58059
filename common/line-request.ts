/**
 * A task's requests for a worker slot are numbered: each time its workflow waits in the scheduler's line it asks
 * with the next number (`tasks.wait_seq`), and a grant answers one number, so a grant for an earlier request is
 * recognisably stale. The first is made for the workflow when the task is inserted (the task is in line from its
 * commit), so the workflow's first wait only waits for that number's grant.
 */
export const FIRST_REQUEST = 1;
