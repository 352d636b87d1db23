/** Fargate's task sizes: vCPU → the memory sizes (GiB) AWS allows with it. */
export const FARGATE_MEMORY_GIB: ReadonlyMap<number, readonly number[]> = new Map([
  [0.25, [0.5, 1, 2]],
  [0.5, steps(1, 4, 1)],
  [1, steps(2, 8, 1)],
  [2, steps(4, 16, 1)],
  [4, steps(8, 30, 1)],
  [8, steps(16, 60, 4)],
  [16, steps(32, 120, 8)],
]);

function steps(from: number, to: number, step: number): number[] {
  return Array.from({ length: (to - from) / step + 1 }, (_, index) => from + index * step);
}
