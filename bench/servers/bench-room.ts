/** The room every benchmark client joins and every push targets. */
export const BENCH_ROOM = { type: 'bench', id: '1', key: 'bench://1' };
/** Operation of the pushed messages; clients list it in their accepts. */
export const BENCH_OP = 1000;
