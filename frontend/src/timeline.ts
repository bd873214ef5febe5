// The layout of the after-login timeline: each call as a bar on one time axis, the steps the API
// reports inside it. Pure: times in, percentages out; main.ts turns them into elements.

/** One call as the page saw it: `performance.now()` when it was sent and when its answer was read. */
export interface CallTiming {
  name: string;
  start: number;
  end: number;
  ok: boolean;
  /**
   * What the server reported running, in order, one after another: their durations, and the
   * total they took on the server (at least their sum). Only for work done during this call.
   */
  server?: { totalMs: number; steps: { name: string; durationMs: number; ok: boolean }[] };
}

export interface Bar {
  name: string;
  /** Milliseconds from the axis origin (the first call's start). */
  startMs: number;
  endMs: number;
  durationMs: number;
  ok: boolean;
  /** Position on the track, in percent of its width. */
  left: number;
  width: number;
}

export interface Lane {
  call: Bar;
  steps: Bar[];
}

export interface Tick {
  ms: number;
  left: number;
}

export interface TimelineLayout {
  /** The axis runs from 0 (the first call's start) to this. */
  spanMs: number;
  ticks: Tick[];
  lanes: Lane[];
  /** How long every call was in flight at once (0: they did not overlap). */
  overlapMs: number;
}

/** Narrowest bar drawn, in percent, so a 0.1 ms step stays visible. */
const MIN_WIDTH = 0.75;

/** A round tick step (1, 2 or 5 × 10ⁿ ms) that puts about `count` ticks on `span`. */
export function tickStep(span: number, count = 4): number {
  if (!(span > 0)) return 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  return step;
}

export function layoutTimeline(calls: CallTiming[]): TimelineLayout {
  if (calls.length === 0) return { spanMs: 0, ticks: [], lanes: [], overlapMs: 0 };
  const origin = Math.min(...calls.map((c) => c.start));
  const rawSpan = Math.max(...calls.map((c) => c.end)) - origin;
  const step = tickStep(rawSpan);
  // The axis ends on a tick, so its last label is a round number.
  const spanMs = Math.max(step, Math.ceil(rawSpan / step) * step);
  const pct = (ms: number) => (ms / spanMs) * 100;
  const bar = (name: string, start: number, end: number, ok: boolean): Bar => {
    const left = Math.min(pct(start), 100 - MIN_WIDTH);
    return {
      name,
      startMs: start,
      endMs: end,
      durationMs: end - start,
      ok,
      left,
      width: Math.min(Math.max(pct(end - start), MIN_WIDTH), 100 - left),
    };
  };

  const lanes = calls.map((call): Lane => {
    const start = call.start - origin;
    const end = call.end - origin;
    const lane: Lane = { call: bar(call.name, start, end, call.ok), steps: [] };
    if (call.server && call.server.steps.length > 0) {
      const inFlight = end - start;
      const total = Math.max(call.server.totalMs, call.server.steps.reduce((sum, s) => sum + s.durationMs, 0));
      // The server's clock is not ours: its run is placed inside the call with the time spent
      // on the network split evenly before and after, and scaled down if it reads longer.
      const scale = total > inFlight ? inFlight / total : 1;
      let at = start + Math.max(0, (inFlight - total) / 2);
      for (const s of call.server.steps) {
        const duration = s.durationMs * scale;
        const step = bar(s.name, at, at + duration, s.ok);
        // A sliver widened to stay visible pushes the next step along, so none overlap.
        const previous = lane.steps.at(-1);
        if (previous && step.left < previous.left + previous.width) {
          const naturalEnd = step.left + step.width;
          step.left = Math.min(previous.left + previous.width, 100 - MIN_WIDTH);
          step.width = Math.min(Math.max(MIN_WIDTH, naturalEnd - step.left), 100 - step.left);
        }
        lane.steps.push(step);
        at += duration;
      }
    }
    return lane;
  });

  const overlapMs = Math.max(0, Math.min(...calls.map((c) => c.end)) - Math.max(...calls.map((c) => c.start)));
  const ticks: Tick[] = [];
  for (let ms = 0; ms <= spanMs + step / 1000; ms += step) ticks.push({ ms: round(ms), left: pct(ms) });
  return { spanMs, ticks, lanes, overlapMs };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** `12.3 ms` below a second, `1.24 s` above. */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
