import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fit, minPerWindow, verdict, type Point } from './stats.js';

const series = (f: (t: number) => number, seconds: number, step = 10): Point[] =>
  Array.from({ length: Math.floor(seconds / step) + 1 }, (_, i) => ({
    t: i * step,
    v: f(i * step),
  }));

test('a flat series has slope 0; a line gives its slope per hour', () => {
  assert.equal(
    fit(
      series(() => 100, 1800),
      0,
    )!.perHour,
    0,
  );
  // 1 MiB per minute = 60 per hour
  const f = fit(
    series((t) => 50 + t / 60, 1800),
    0,
  )!;
  assert.ok(Math.abs(f.perHour - 60) < 1e-9, String(f.perHour));
  assert.equal(f.first, 50);
  assert.equal(f.last, 80);
});

test('the warm-up is left out: a rise in the first 3 minutes, then flat, is no leak', () => {
  const s = series((t) => (t < 180 ? 40 + t / 3 : 100), 1800);
  assert.ok(fit(s, 0)!.perHour > 30);
  const f = fit(s, 180)!;
  assert.equal(f.perHour, 0);
  assert.equal(f.n, 163);
  assert.equal(verdict(f, 24, 1620, 600), 'ok');
});

test('a sawtooth (garbage collection) around a level is not a leak; a slow climb under it is', () => {
  const saw = (t: number): number => 100 + ((t / 10) % 6) * 3;
  assert.equal(verdict(fit(series(saw, 1800), 180), 24, 1620, 600), 'ok');
  const climbing = (t: number): number => saw(t) + t / 100; // 36 per hour
  assert.equal(verdict(fit(series(climbing, 1800), 180), 24, 1620, 600), 'LEAK');
});

test('too short a window is not judged; no threshold is info; fewer than 3 points: no fit', () => {
  const f = fit(
    series((t) => t, 120),
    60,
  );
  assert.equal(verdict(f, 24, 60, 600), 'not judged');
  assert.equal(verdict(f, undefined, 1620, 600), 'info');
  assert.equal(
    fit(
      [
        { t: 0, v: 1 },
        { t: 10, v: 2 },
      ],
      0,
    ),
    undefined,
  );
});

test('minPerWindow: the floor of each minute; spikes of short runs do not make a slope', () => {
  // a baseline of 40 objects, and a run's 12 more at 5 of each minute's 6 samples
  const run = (t: number): number => ((t / 10) % 6 === 2 ? 0 : 12);
  const spiky = series((t) => 40 + run(t), 1790);
  const m = minPerWindow(spiky, 60);
  assert.equal(m.length, 30);
  assert.ok(m.every((p) => p.v === 40));
  assert.equal(fit(m, 180)!.perHour, 0);
  // a leak of one object every 5 minutes shows in the floor: 12 per hour
  const leaking = series((t) => 40 + Math.floor(t / 300) + run(t), 1790);
  const f = fit(minPerWindow(leaking, 60), 180)!;
  assert.ok(f.perHour > 10 && f.perHour < 14, String(f.perHour));
});
