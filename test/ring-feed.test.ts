/**
 * RingFeed (ts/runner/common/posix/ring-feed.ts) against a ring whose lock
 * wait runs a queued "fill again" notice in the middle of a fill, as the
 * program's main runtime thread does: the bytes must come out in order,
 * each once (stdin was read out of order before the fill guarded itself).
 */
import { describe, expect, it } from 'vitest';
import { RingFeed } from '../ts/runner/common/posix/ring-feed.js';

const RING = 16;

/** A C-like ring of RING bytes; `onLock` runs inside every call that takes the lock. */
function ring() {
  const memory = new Uint8Array(64);
  const base = 8;
  const state = { head: 0, tail: 0, onLock: (): void => {} };
  const locked = <T>(f: () => T): T => {
    state.onLock();
    return f();
  };
  const ends = {
    space: () => locked(() => Math.min(RING - (state.tail - state.head), RING - (state.tail % RING))),
    writeAt: () => base + (state.tail % RING),
    commit: (n: number) => locked(() => { state.tail += n; }),
    heap: () => memory,
  };
  /** What a reader takes out. */
  const take = (max: number): number[] => {
    const out: number[] = [];
    while (state.head < state.tail && out.length < max) out.push(memory[base + (state.head++ % RING)]);
    return out;
  };
  return { ends, state, take };
}

const bytes = (from: number, n: number) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

describe('RingFeed', () => {
  it('moves queued chunks in order as the ring has room', () => {
    const r = ring();
    const feed = new RingFeed(r.ends);
    feed.push(bytes(0, 10));
    feed.push(bytes(10, 10));
    expect(feed.fill()).toBe(16);
    expect(feed.empty).toBe(false);
    expect(r.take(100)).toEqual([...bytes(0, 16)]);
    expect(feed.fill()).toBe(4);
    expect(feed.empty).toBe(true);
    expect(r.take(100)).toEqual([...bytes(16, 4)]);
  });

  it('a fill that starts inside another (a notice run by a lock wait) neither writes nor drops bytes twice', () => {
    const r = ring();
    const feed = new RingFeed(r.ends);
    const seen: number[] = [];
    let nested = 0;
    let calls = 0;
    let notice = false;
    // the reader (another thread) takes a little now and then, which queues a
    // "ring has room" notice; the feeder's lock waits run queued notices
    r.state.onLock = () => {
      if (calls++ % 3 === 1) {
        seen.push(...r.take(3));
        notice = true;
      }
      if (!notice) return;
      notice = false;
      nested++;
      expect(feed.fill()).toBeUndefined();
    };
    for (let i = 0; i < 20; i++) feed.push(bytes(i * 7, 7));
    let guard = 0;
    while (!feed.empty && guard++ < 1000) {
      feed.fill();
      seen.push(...r.take(5));
    }
    seen.push(...r.take(1000));
    expect(nested).toBeGreaterThan(0);
    expect(seen).toEqual([...bytes(0, 140)]);
  });
});
