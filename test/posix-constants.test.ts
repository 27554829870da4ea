/**
 * The errno and signal numbers the runner's side of the POSIX runtime
 * answers with (ts/runner/common/posix/ops.ts) are the C compiler's
 * (test/c/posix_constants.c); the runtime's own call numbers are generated
 * from wasm/runtime/ops.h.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { Errno, Signal } from '../ts/runner/common/posix/ops.js';
import { TESTS, run } from './helpers.js';

it('errno and signal numbers are those of Emscripten\'s libc', async () => {
  const r = await run(path.join(TESTS, 'posix_constants.js'), { transport: 'sim' });
  expect(r.code).toBe(0);
  const c = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
  expect({ ...Errno, ...Signal }).toEqual(c);
});
